"""The back-out queue in a real browser (issue 5): failed installation reports cross a release's
failure condition, the release halts and lights up the queue with its condition, figures and a
live countdown; one ops user requests an override with a reason and a second one, in another
browser, confirms it — the release installs again. In the other scenario ops approve the back-out
and the release page shows it backing out. Screenshots: the queue, the release page in
``backout_required`` and while installing, and the freeze windows page."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from releases.choices import ReleaseState
from releases.models import BackoutOverride, FreezeWindow, Release
from releases.services import reports
from tests.e2e.conftest import TIMEOUT_MS, VIEWPORT
from tests.factories import UserFactory
from tests.releases.test_deployment import make_release

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

S = ReleaseState
REASON = "The three failures are lab hosts with a known-bad disk image; production hosts are fine."


def halted_release(**fields) -> Release:
    """A release installing on 10 targets (back-out above a 20 % failure rate), its first
    targets installed, then failed reports until the condition is met."""
    release = make_release(targets=10, threshold=20, **fields)
    targets = list(release.targets.order_by("ci__identifier"))
    for target in targets[:2]:
        reports.target_report(
            target_id=target.pk,
            kind="installation",
            status="succeeded",
            report_id=f"ok-{target.pk}",
            detail="installed 2.0; service healthy",
        )
    for target in targets[2:]:
        release.refresh_from_db()
        if release.state != S.INSTALLING:
            break
        reports.target_report(
            target_id=target.pk,
            kind="installation",
            status="failed",
            report_id=f"fail-{target.pk}",
            detail="msiexec exit 1603: fatal error during installation",
        )
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    return release


def open_context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def test_an_override_is_requested_by_one_ops_user_and_confirmed_by_another(
    live_server, browser, page, login, screenshot
):
    # given a release whose failures crossed its condition, and two ops users
    release = halted_release(title="Payroll client 5.2")
    first = UserFactory(
        username="otto", first_name="Otto", roles=["ops"], time_zone="Europe/Berlin"
    )
    second = UserFactory(username="olga", first_name="Olga", roles=["ops"])

    # when the first opens the back-out queue
    login(page, first)
    page.goto("/releases/backout-queue/")
    card = page.locator(f"#release-{release.pk}")
    expect(card).to_contain_text(release.number)
    expect(card).to_contain_text("failure rate 30.0% is above 20.00%")
    expect(card.locator("dl.figures")).to_contain_text("Halted at once")
    # the countdown runs, in the user's zone
    countdown = card.locator("[data-countdown-left]")
    expect(countdown).to_have_text(re.compile(r"^\d+:\d\d left$"))
    before = countdown.inner_text()
    page.wait_for_timeout(1300)
    assert countdown.inner_text() != before, "the countdown ticks every second"
    expect(card.locator(".countdown time")).to_contain_text(re.compile(r"CES?T"))
    screenshot(page, "queue")

    # the second opens the queue too, in another browser
    other = open_context(browser, live_server)
    try:
        other_page = other.new_page()
        login(other_page, second)
        other_page.goto("/releases/backout-queue/")
        expect(other_page.locator(f"#release-{release.pk}")).to_be_visible()
        expect(other_page.get_by_role("button", name="Confirm override")).to_have_count(0)

        # a half-typed reason survives the live refresh (it pauses while someone writes)
        reason = card.get_by_label("Why continuing is safer than backing out")
        reason.fill("The three failures are lab hosts")
        page.wait_for_timeout(6000)
        expect(reason).to_have_value("The three failures are lab hosts")
        expect(page.locator("[data-live-status]")).to_have_text(
            "Live updates paused while you write"
        )
        reason.fill(REASON)
        card.get_by_role("button", name="Request override").click()
        expect(page.get_by_role("status")).to_contain_text("override requested")
        card = page.locator(f"#release-{release.pk}")
        expect(card).to_contain_text("Override awaiting confirmation")
        expect(card).to_contain_text("nobody confirms their own override")
        expect(card.get_by_role("button", name="Confirm override")).to_have_count(0)
        override = BackoutOverride.objects.get(release=release)
        assert (override.requested_by, override.reason) == (first, REASON)

        # then the second user's queue shows it by itself (live refresh) and they confirm it
        other_card = other_page.locator(f"#release-{release.pk}")
        expect(other_card).to_contain_text(REASON, timeout=12_000)
        other_card.get_by_role("button", name="Confirm override").click()
        expect(other_page.get_by_role("status")).to_contain_text("override confirmed")
        expect(
            other_page.get_by_text("No release is waiting for a back-out decision.")
        ).to_be_visible()
    finally:
        other.close()

    release.refresh_from_db()
    assert release.state == S.INSTALLING
    override.refresh_from_db()
    assert (override.status, override.confirmed_by) == ("confirmed", second)

    # the release page shows it installing again: progress and the per-target table
    page.goto(f"/releases/{release.pk}/")
    deployment_card = page.locator("#deployment")
    expect(deployment_card.locator('[data-stage="installed"]')).to_contain_text("2 of 10")
    expect(deployment_card.locator('[data-stage="failed"]')).to_contain_text("3 of 10")
    expect(deployment_card.locator("table.targets tbody tr")).to_have_count(10)
    expect(deployment_card.locator('tr[data-installation="scheduled"]')).to_have_count(5)
    expect(page.locator("#timeline")).to_contain_text("Override back-out")
    screenshot(page, "release-installing")


def test_ops_approve_the_back_out_and_the_release_backs_out(live_server, page, login, screenshot):
    # given a release waiting for a decision and a freeze window declared
    release = halted_release(title="VPN client 7.1")
    now = timezone.now()
    FreezeWindow.objects.create(
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=5),
        scope="environment",
        environment="production",
        reason="Payroll run: no changes to production",
    )
    FreezeWindow.objects.create(
        start=now + timedelta(days=20), end=now + timedelta(days=34), reason="Year-end freeze"
    )
    ops = UserFactory(username="otto", roles=["ops"], time_zone="Europe/Berlin")
    login(page, ops)

    # the release page shows the red banner with the condition, the figures and the countdown
    page.goto(f"/releases/{release.pk}/")
    banner = page.locator("#backout-decision")
    expect(banner).to_contain_text("Back-out required")
    expect(banner).to_contain_text("failure rate 30.0% is above 20.00%")
    expect(banner.locator("dl.figures")).to_contain_text(re.compile(r"Failure rate\s*30\.0 %"))
    expect(banner.locator("[data-countdown-left]")).to_have_text(re.compile(r"^\d+:\d\d left$"))
    expect(page.locator('#deployment [data-stage="halted"]')).to_contain_text("5 of 10")
    screenshot(page, "release-backout-required")

    # when ops approve the back-out from the queue
    page.goto("/releases/backout-queue/")
    card = page.locator(f"#release-{release.pk}")
    card.get_by_label("Reason (optional)").fill("Three hosts failed: undo the pilot")
    card.get_by_role("button", name="Approve back-out").click()
    expect(page.get_by_role("status")).to_contain_text("back-out approved")
    expect(page.get_by_text("No release is waiting for a back-out decision.")).to_be_visible()
    backing = page.locator(f"#release-{release.pk}.backing-out")
    expect(backing).to_contain_text("Backed out")
    expect(backing).to_contain_text("0 of 5")

    # then the release page shows it backing out
    page.get_by_role("link", name=release.number).click()
    expect(page.locator("h1")).to_contain_text(release.number)
    expect(page.locator("#backout-decision")).to_contain_text("Backing out")
    expect(page.locator('#deployment [data-stage="backing_out"]')).to_contain_text("5 of 10")
    release.refresh_from_db()
    assert release.state == S.BACKING_OUT

    # and the freeze windows page shows the one in force
    page.goto("/releases/freeze-windows/")
    expect(page.locator("#current")).to_contain_text("Payroll run: no changes to production")
    expect(page.locator("#upcoming")).to_contain_text("Year-end freeze")
    screenshot(page, "freeze-windows")
