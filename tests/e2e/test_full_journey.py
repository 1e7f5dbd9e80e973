"""Issue 12's whole walk in a real browser: a new release goes from creation to ``closed`` with
four eyes, without leaving the UI. Rita, its owner, creates it, fills the plan (windows open now,
so nothing runs outside them; targets from the picker), plans, builds and starts the tests; Remy,
a second release manager, signs the tests off; Rita accepts and completes the roll-out tasks;
Remy verifies; Rita distributes and, once the agents have it, installs; Remy records the
post-implementation review; Rita closes. The agents' work is not people's work: the reference
agent (``run_agent``) does it over HTTP."""

import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from releasemgmt.accounts.services import api_token_issue
from releases.choices import OutsideWindowPolicy
from releases.choices import ReleaseState as S
from releases.models import Release
from tests.e2e.conftest import TIMEOUT_MS, confirm, open_dialog
from tests.factories import (
    ConfigurationItemFactory,
    LicenceFactory,
    RelationshipFactory,
    ReleaseCategoryFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZONE = "Europe/Berlin"
WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SERVERS = ("bill-prod-01", "bill-prod-02", "bill-prod-03")


def agents_poll(live_server, number: str, token: str) -> str:
    """One poll of the reference agents of every target of the release; what they printed."""
    out = io.StringIO()
    call_command(
        "run_agent",
        "--release",
        number,
        "--server",
        live_server.url,
        "--token",
        token,
        "--once",
        "--work-seconds",
        "0",
        stdout=out,
    )
    return out.getvalue()


def local(moment) -> str:
    return timezone.localtime(moment, ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")


def test_a_new_release_goes_from_creation_to_closed_with_four_eyes_in_the_browser(
    browser, live_server, page, login, screenshot, axe
):
    # given: the billing service runs on three production servers; an authorised, licensed
    # version in the DSL; a four-eyes category that never runs outside its windows; two release
    # managers and an integration token for the agents
    unit = ConfigurationItemFactory(service=True, identifier="billing", name="Billing service")
    for n, identifier in enumerate(SERVERS, start=1):
        server = ConfigurationItemFactory(identifier=identifier, name=f"Billing server {n}")
        RelationshipFactory(source=unit, target=server)
    product = SoftwareProductFactory(name="Billing app", licensed=True)
    SoftwareVersionFactory(product=product, version="4.0.0")
    LicenceFactory(licence_product=product.licence_product, seats=10)
    ReleaseCategoryFactory(
        name="Standard change", four_eyes=True, outside_window=OutsideWindowPolicy.REFUSE
    )
    owner = UserFactory(
        username="rita",
        first_name="Rita",
        last_name="Release",
        roles=["release_manager"],
        time_zone=ZONE,
    )
    colleague = UserFactory(
        username="remy",
        first_name="Remy",
        last_name="Release",
        roles=["release_manager"],
        time_zone=ZONE,
    )
    _, token = api_token_issue(user=UserFactory(roles=["integration"]), name="agents", by=None)
    page.set_viewport_size(WIDE)

    # Rita creates the release on the new-release page
    login(page, owner)
    page.goto("/releases/")
    page.get_by_role("button", name="New release").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New release")
    page.get_by_label("Title").fill("Billing 4.0.0")
    page.get_by_label("Level").select_option("delta")
    page.get_by_label("Category").select_option(label="Standard change")
    page.get_by_label("Release unit").select_option(label="billing — Billing service")
    page.get_by_label("Trigger", exact=True).select_option("vendor_update")
    page.get_by_label("Trigger reference").fill("VENDOR-ADV-2026-12")
    page.get_by_role("button", name="Create release").click()
    expect(page).to_have_url(re.compile(r"/releases/\d+/plan/$"))
    release = Release.objects.get(title="Billing 4.0.0")
    assert release.owner == owner
    number, detail = release.number, f"/releases/{release.pk}/"
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)

    # the plan: windows open now (ISO, in Rita's zone), the version, the unit's servers from the
    # picker, a back-out plan and a failure condition
    now = timezone.now().replace(second=0, microsecond=0)
    expect(page.locator("#schedule")).to_contain_text(f"YYYY-MM-DD HH:MM in {ZONE}")
    page.get_by_label("Distribution starts").fill(local(now))
    page.get_by_label("Distribution ends").fill(local(now + timedelta(hours=1)))
    page.get_by_label("Installation starts").fill(local(now))
    page.get_by_label("Installation ends").fill(local(now + timedelta(hours=2)))
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status")).to_have_text("Schedule saved.")
    page.get_by_label("Software version").select_option(label="Billing app 4.0.0")
    page.get_by_role("button", name="Add software").click()
    expect(page.get_by_role("status")).to_have_text("Item added.")
    expect(page.locator("#contents tbody")).to_contain_text("Billing app")
    targets = page.locator("#targets")
    for identifier in SERVERS:
        option = targets.locator(".picker-option", has_text=identifier)
        expect(option).to_contain_text("runs billing")
        option.click()
        expect(option).to_have_attribute("aria-pressed", "true")
    expect(targets.get_by_label("Target CIs")).to_have_value("\n".join(SERVERS))
    targets.get_by_role("button", name="Save targets").click()
    expect(page.get_by_role("status")).to_have_text("Targets saved.")
    expect(targets.locator("header")).to_contain_text("Targets (3)")
    page.get_by_label("Back-out steps").fill(
        "Stop the billing service\nUninstall Billing app 4.0.0\nStart the billing service"
    )
    page.get_by_role("button", name="Save back-out plan").click()
    expect(page.get_by_role("status")).to_have_text("Back-out plan saved.")
    page.get_by_label("Condition", exact=True).select_option("failure_rate_above")
    page.get_by_label("Threshold").fill("30")
    page.get_by_role("button", name="Add condition").click()
    expect(page.get_by_role("status")).to_have_text("Failure condition added.")
    expect(page.locator("#plan-status")).to_contain_text("The plan is complete.")
    expect(page.locator(".plan-section.is-dirty")).to_have_count(0)
    screenshot(page, "1-plan-complete")

    # plan, build, start the tests; the owner is told the sign-off needs someone else
    page.get_by_role("button", name=f"Back to {number}").click()
    expect(page).to_have_url(re.compile(rf"{detail}$"))
    confirm(page, open_dialog(page, "plan"), "CAB approved", "now planned")
    confirm(page, open_dialog(page, "build"), "Assembled from the DSL", "now built")
    confirm(page, open_dialog(page, "start_tests"), "Test environment ready", "now testing")
    expect(page.locator("#summary")).to_contain_text("Four eyes")
    expect(page.locator("#tests .four-eyes")).to_contain_text(
        "needs someone other than the owner, Rita Release (rita)"
    )
    expect(page.locator("#tests form.sign-off")).to_have_count(0)
    expect(page.locator("#tests .test-item")).to_have_count(2)
    screenshot(page, "2-owner-told")

    # Remy, in his own browser, signs off every test
    other = browser.new_context(base_url=live_server.url, viewport=WIDE, locale="en-GB")
    other.set_default_timeout(TIMEOUT_MS)
    second = other.new_page()
    try:
        login(second, colleague)
        second.goto(detail)
        expect(second.locator("#tests form.sign-off")).to_have_count(2)
        ids = second.locator("#tests .test-item").evaluate_all("items => items.map(i => i.id)")
        for id_ in ids:
            item = second.locator(f"#{id_}")
            item.get_by_label("Passed").check()
            item.get_by_label("Evidence").fill("Rehearsed in test: suite green, back-out restored")
            item.get_by_role("button", name="Sign off").click()
            expect(item.locator(".badge")).to_have_text("Passed")  # on the page after the post
        expect(second.get_by_role("status")).to_contain_text("signed off as passed")

        # Rita accepts, plans the roll-out and completes its tasks on the page; she may not verify
        page.goto(detail)
        confirm(page, open_dialog(page, "accept"), "Tests signed off by Remy", "now accepted")
        confirm(page, open_dialog(page, "plan_rollout"), "Comms and training set", "now roll-out")
        done = page.locator("#rollout").get_by_role("button", name="Mark done")
        expect(done).to_have_count(2)  # communication and training
        for left in (1, 0):
            done.first.click()
            expect(done).to_have_count(left)  # on the page after the post
        expect(page.get_by_role("status")).to_contain_text("marked done")
        expect(page.locator('#actions li[data-transition="verify"] > .problems')).to_contain_text(
            "needs someone other than the owner"
        )

        # Remy verifies: the checks pass (authorised version, active targets, licence seats)
        second.goto(detail)
        confirm(second, open_dialog(second, "verify"), "Checked against the CMDB", "now verified")
        expect(second.locator(".page-head .badge.state")).to_have_text("Verified")

        # Rita distributes inside the window: no confirmation asked
        page.goto(detail)
        dialog = open_dialog(page, "distribute")
        expect(dialog.locator(".outside-window")).to_have_count(0)
        confirm(page, dialog, "Window open", "now distributing")
        waiting = page.locator("#agents")
        expect(waiting).to_contain_text("Waiting for the agents")
        expect(waiting).to_contain_text("0 of 3")
        screenshot(page, "3-waiting-for-agents")

        # the agents download, check and report: the release is distributed by itself
        printed = agents_poll(live_server, number, token)
        assert printed.count("distribution succeeded") == 3, printed
        page.goto(detail)
        expect(page.locator(".page-head .badge.state")).to_have_text("Distributed")

        # Rita installs inside the window and releases each target's installation from the page
        dialog = open_dialog(page, "install")
        expect(dialog.locator(".outside-window")).to_have_count(0)
        confirm(page, dialog, "Installation window open", "now installing")
        for identifier in SERVERS:
            row = page.locator(f'#deployment tr[data-ci="{identifier}"]')
            row.get_by_role("button", name="Install now").click()
            expect(page.get_by_role("status")).to_contain_text(
                f"The installation on {identifier} is released to run now"
            )
        printed = agents_poll(live_server, number, token)
        assert printed.count("installation succeeded") == 3, printed
        page.goto(detail)
        expect(page.locator(".page-head .badge.state")).to_have_text("Installed")

        # the owner may not review her own release; Remy records the review
        expect(page.locator('#actions li[data-transition="review"] > .problems')).to_contain_text(
            "needs someone other than the owner"
        )
        second.goto(detail)
        dialog = open_dialog(second, "review")
        dialog.get_by_label("Outcome").select_option("successful")
        dialog.get_by_label("What went well").fill("All three servers installed in one wave.")
        dialog.get_by_label("What went badly").fill("Nothing of note.")
        dialog.get_by_label("Follow-up actions").fill("Retire 3.x artefacts from the DSL")
        confirm(second, dialog, "Reviewed with ops", "now reviewed")
        review = second.locator("#review")
        expect(review).to_contain_text("Successful")
        expect(review.locator("li")).to_have_text(["Retire 3.x artefacts from the DSL"])
    finally:
        other.close()

    # Rita closes it; the page and the database say closed, the timeline lists every step
    page.goto(detail)
    confirm(page, open_dialog(page, "close"), "Done", "now closed")
    expect(page.locator(".page-head .badge.state")).to_have_text("Closed")
    expect(page.locator("#actions")).to_contain_text("This release is closed")
    release.refresh_from_db()
    assert release.state == S.CLOSED
    steps = [
        ("plan", "Requested → Planned", "rita"),
        ("build", "Planned → Built", "rita"),
        ("start_tests", "Built → Testing", "rita"),
        ("accept", "Testing → Accepted", "rita"),
        ("plan_rollout", "Accepted → Roll-out planned", "rita"),
        ("verify", "Roll-out planned → Verified", "remy"),
        ("distribute", "Verified → Distributing", "rita"),
        ("complete_distribution", "Distributing → Distributed", "system"),
        ("install", "Distributed → Installing", "rita"),
        ("complete_installation", "Installing → Installed", "system"),
        ("review", "Installed → Reviewed", "remy"),
        ("close", "Reviewed → Closed", "rita"),
    ]
    timeline = page.locator("#timeline .timeline > li")
    expect(timeline).to_have_count(1 + len(steps))  # created + every transition
    expect(timeline.first).to_contain_text("Created")
    for name, step, by in steps:
        entry = page.locator(f'#timeline li[data-transition="{name}"]')
        expect(entry).to_contain_text(step)
        expect(entry.locator(".when")).to_contain_text(by)
    assert list(release.transitions.order_by("pk").values_list("name", "by_name")) == [
        (name, by) for name, _, by in steps
    ]
    assert axe(page) == []
    screenshot(page, "4-closed")

    # on a phone: the closed release, nothing sideways
    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.locator(".page-head .badge.state")).to_have_text("Closed")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "390-closed", full_page=False)
