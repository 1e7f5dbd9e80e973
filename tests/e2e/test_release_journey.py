"""A release manager walks a release from ``requested`` to ``accepted`` in a real browser: create
it, fill the plan, plan, build, start the tests, sign every test off, accept — and the timeline
and the state diagram tell the story."""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from releases.models import Release
from tests.factories import (
    ConfigurationItemFactory,
    SoftwareProductFactory,
    SoftwareVersionFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HIGHLIGHT_FILL = "rgb(29, 78, 216)"  # .state-diagram g.node.current in releases.css


def take_transition(page, name: str, reason: str, done: str) -> None:
    """Open the transition's dialog from its button, give the reason, confirm."""
    page.locator(f'#actions li[data-transition="{name}"] > button').click()
    dialog = page.locator(f"#dialog-{name}")
    expect(dialog).to_be_visible()
    dialog.get_by_label(re.compile(r"^Reason")).fill(reason)
    dialog.get_by_role("button", name=re.compile(r"^Confirm")).click()
    expect(page.get_by_role("status")).to_contain_text(done)


def test_a_release_manager_takes_a_release_from_requested_to_accepted(
    live_server, page, login, screenshot
):
    # given a unit, an authorised version and a target CI in the CMDB/DSL
    ConfigurationItemFactory(service=True, identifier="billing", name="Billing service")
    SoftwareVersionFactory(product=SoftwareProductFactory(name="Billing app"), version="3.6.0")
    ConfigurationItemFactory(identifier="app-prod-01")
    manager = UserFactory(
        username="rita",
        first_name="Rita",
        last_name="Release",
        roles=["release_manager"],
        time_zone="Europe/Berlin",
    )
    login(page, manager)

    # the release is created from the list
    page.goto("/releases/")
    expect(page.get_by_text("No releases.")).to_be_visible()
    page.get_by_role("button", name="New release").click()
    page.get_by_label("Title").fill("Billing 3.6.0")
    page.get_by_label("Level").select_option("delta")
    page.get_by_label("Release unit").select_option(label="billing — Billing service")
    page.get_by_label("Trigger", exact=True).select_option("vendor_update")
    page.get_by_label("Trigger reference").fill("VENDOR-ADV-2026-11")
    page.get_by_role("button", name="Create release").click()
    expect(page).to_have_url(re.compile(r"/releases/\d+/plan/$"))
    release = Release.objects.get(title="Billing 3.6.0")
    expect(page.get_by_role("heading", level=1)).to_contain_text(release.number)
    needs = page.locator("#plan-status")
    expect(needs).to_contain_text("Add at least one target CI.")

    # the plan is filled in: windows (in Berlin time), an item, a target, back-out, a condition
    page.get_by_label("Distribution starts").fill("2026-12-01T08:00")
    page.get_by_label("Distribution ends").fill("2026-12-01T20:00")
    page.get_by_label("Installation starts").fill("2026-12-02T06:00")
    page.get_by_label("Installation ends").fill("2026-12-02T10:00")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status")).to_have_text("Schedule saved.")
    page.get_by_label("Software version").select_option(label="Billing app 3.6.0")
    page.get_by_role("button", name="Add software").click()
    expect(page.get_by_role("status")).to_have_text("Item added.")
    expect(page.locator("#contents tbody")).to_contain_text("Billing app")
    page.get_by_label("Target CIs").fill("app-prod-01")
    page.get_by_role("button", name="Save targets").click()
    expect(page.get_by_role("status")).to_have_text("Targets saved.")
    page.get_by_label("Back-out steps").fill(
        "Stop the billing service\nReinstall 3.5.0 from the DSL"
    )
    page.get_by_role("button", name="Save back-out plan").click()
    expect(page.get_by_role("status")).to_have_text("Back-out plan saved.")
    page.get_by_label("Condition", exact=True).select_option("failure_rate_above")
    expect(page.get_by_label("Health signal")).to_be_hidden()  # not used by this kind
    page.get_by_label("Threshold").fill("10")
    page.get_by_role("button", name="Add condition").click()
    expect(page.get_by_role("status")).to_have_text("Failure condition added.")
    expect(page.locator("#plan-status")).to_contain_text("The plan is complete.")
    release.refresh_from_db()
    assert release.distribution_start == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # CET = UTC+1

    # plan, build and start the tests from the release page
    page.get_by_role("button", name=f"Back to {release.number}").click()
    expect(page.locator("#actions li[data-transition='plan'] .problems")).to_have_count(0)
    take_transition(page, "plan", "CAB approved on 24 Nov", "now planned")
    take_transition(page, "build", "Assembled from the DSL", "now built")
    take_transition(page, "start_tests", "Test environment ready", "now testing")
    expect(page.locator("#tests .test-item")).to_have_count(2)
    # accepting is not possible yet, and the page says why before the click
    accept = page.locator("#actions li[data-transition='accept']")
    expect(accept.locator("> .problems")).to_contain_text("pending")
    screenshot(page, "detail-testing")

    # every test is signed off; the back-out rehearsal with its evidence
    evidence = {
        "Changed": "Regression suite run #4711 green",
        "Back-out rehearsal": "Rolled back to 3.5.0 in test; smoke tests green",
    }
    for title, note in evidence.items():
        item = page.locator("#tests .test-item", has_text=title)
        item.get_by_label("Passed").check()
        item.get_by_label("Evidence").fill(note)
        item.get_by_role("button", name="Sign off").click()
        expect(page.get_by_role("status")).to_contain_text("signed off as passed")
        expect(page.locator("#tests .test-item", has_text=title).locator(".badge")).to_have_text(
            "Passed"
        )
    expect(accept.locator("> .problems")).to_have_count(0)
    take_transition(page, "accept", "All tests passed", "now accepted")

    # the timeline shows every step with who and why; the diagram highlights `accepted`
    expect(page.get_by_role("heading", level=1)).to_contain_text(release.number)
    timeline = page.locator("#timeline .timeline > li")
    expect(timeline).to_have_count(5)  # created + four transitions
    for name, step, reason in (
        ("plan", "Requested → Planned", "CAB approved on 24 Nov"),
        ("build", "Planned → Built", "Assembled from the DSL"),
        ("start_tests", "Built → Testing", "Test environment ready"),
        ("accept", "Testing → Accepted", "All tests passed"),
    ):
        entry = page.locator(f'#timeline li[data-transition="{name}"]')
        expect(entry).to_contain_text(step)
        expect(entry).to_contain_text("Rita Release (rita)")
        expect(entry).to_contain_text(reason)
        # the user's time zone (Berlin: +01:00 or, in summer, +02:00), in the pages' one format
        expect(entry.locator("time")).to_have_attribute("datetime", re.compile(r"\+0[12]:00$"))
        expect(entry.locator("time")).to_have_text(re.compile(r"^\d{1,2} \w{3} \d{4} \d{2}:\d{2}$"))
    current = page.locator(".state-diagram g.node.current")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-state", "accepted")
    fill = current.locator("path").first.evaluate("node => getComputedStyle(node).fill")
    assert fill == HIGHLIGHT_FILL
    expect(page.locator(".page-head .badge.state")).to_have_text("Accepted")
    release.refresh_from_db()
    assert release.state == "accepted"
    assert all(item.result == "passed" for item in release.test_scope.all())
    screenshot(page, "detail-accepted")

    # the list and the pipeline show it
    page.goto("/releases/")
    row = page.locator("table.releases tbody tr", has_text=release.number)
    expect(row.locator(".badge.state")).to_have_text("Accepted")
    expect(row).to_contain_text("billing")
    screenshot(page, "list")
    page.goto("/releases/pipeline/")
    column = page.locator('.board-col[data-state="accepted"]')
    expect(column.locator(".count")).to_have_text("1")
    expect(column.locator(".card")).to_contain_text(release.number)
    expect(page.locator("#pipeline")).to_have_attribute("hx-trigger", "every 30s")
    screenshot(page, "pipeline")
