"""Back-out alerts in a real browser: ops are on an unrelated page when a release starts waiting
for a back-out decision; the top bar's badge appears by itself with a countdown and the page
title is prefixed. On a phone (390 px) they open the back-out queue from the badge and approve
the back-out; another release's override is requested by one ops user and confirmed by another,
all without sideways scrolling. axe finds nothing serious on those pages. Screenshots: the CMDB
list with the badge at 1440 and 390 px (menu closed and open), the queue at 390 px."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from releases.choices import ReleaseState
from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.test_backout_queue import halted_release
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

S = ReleaseState
WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
LONG_NAME = "otto.von.operations-and-the-night-shift-lead"
REASON = "The failures are lab hosts with a known-bad disk image; production hosts are fine."
BADGE = re.compile(r"^1 back-out waiting · \d+:\d\d left$")


def assert_no_sideways_scroll(page):
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the page scrolls sideways: {scroll} px wide in a {inner} px window"


def test_the_badge_finds_ops_on_any_page_and_leads_to_the_decision_on_a_phone(
    page, login, screenshot, axe
):
    # given an ops user with a long name on the CMDB list, nothing waiting
    ops = UserFactory(username=LONG_NAME, roles=["ops"], email="otto@example.com")
    page.set_viewport_size(WIDE)
    login(page, ops)
    page.goto("/cmdb/")
    expect(page.locator("h1")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#backout-badge")).to_be_attached()
    expect(page.locator("#backout-badge a")).to_have_count(0)
    assert not page.title().startswith("(")

    # the bar fits at 1440 px: the long name is cut with an ellipsis, nothing overflows
    user_link = page.locator(".topbar-user a")
    expect(user_link).to_be_visible()
    assert user_link.evaluate("a => a.scrollWidth > a.clientWidth"), "the name is truncated"
    assert user_link.evaluate("a => getComputedStyle(a).textOverflow") == "ellipsis"
    assert page.locator(".topbar nav").evaluate("n => n.scrollWidth <= n.clientWidth")
    assert_no_sideways_scroll(page)
    expect(page.locator(".topbar-menu summary")).to_be_hidden()

    # the first Tab reaches "Skip to content", which moves to the main content
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#content$"))
    expect(page.locator("main#content")).to_be_focused()

    # when a release starts waiting for a back-out decision
    release = halted_release(title="Payroll client 5.2")

    # then the badge appears without a reload, the countdown ticks and the title is prefixed
    badge = page.locator("#backout-badge a")
    expect(badge).to_have_text(BADGE, timeout=15_000)
    expect(page).to_have_title(re.compile(r"^\(1\) Back-out waiting · CMDB"))
    left = badge.locator("[data-badge-left]")
    before = left.inner_text()
    page.wait_for_timeout(2100)  # two ticks: one may fall in the same second as the swap
    assert left.inner_text() != before, "the countdown ticks every second"
    assert_no_sideways_scroll(page)
    assert axe(page) == []
    screenshot(page, "cmdb-1440", full_page=False)
    page.set_viewport_size({"width": 1024, "height": 768})
    assert_no_sideways_scroll(page)
    # and each ops user was e-mailed the link to the decision
    assert [m.to for m in mail.outbox] == [["otto@example.com"]]
    assert f"/releases/backout-queue/#release-{release.pk}" in mail.outbox[0].body

    # on a phone the navigation collapses into a menu button, the badge stays in view
    page.set_viewport_size(PHONE)
    summary = page.locator(".topbar-menu summary")
    expect(summary).to_be_visible()
    expect(page.get_by_role("link", name="Releases", exact=True)).to_be_hidden()
    expect(badge).to_be_visible()
    assert_no_sideways_scroll(page)
    screenshot(page, "cmdb-390", full_page=False)
    summary.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Releases", exact=True)).to_be_visible()
    assert_no_sideways_scroll(page)
    assert axe(page) == []
    screenshot(page, "cmdb-390-menu", full_page=False)
    page.keyboard.press("Escape")
    expect(page.get_by_role("link", name="Releases", exact=True)).to_be_hidden()
    expect(summary).to_be_focused()

    # when ops open the back-out queue from the badge and approve the back-out
    badge.click()
    expect(page).to_have_url(re.compile(r"/releases/backout-queue/$"))
    card = page.locator(f"#release-{release.pk}")
    expect(card).to_contain_text("failure rate 30.0% is above 20.00%")
    expect(page.locator("#backout-badge a")).to_have_text(BADGE)
    assert_no_sideways_scroll(page)
    assert axe(page) == []
    screenshot(page, "queue-390")
    card.get_by_label("Reason (optional)").fill("Three hosts failed: undo the pilot")
    card.get_by_role("button", name="Approve back-out").click()

    # then the release backs out, the badge goes and the title is plain again
    expect(page.get_by_role("status")).to_contain_text("back-out approved")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#backout-badge a")).to_have_count(0)
    expect(page).to_have_title(re.compile(r"^Back-out queue · releasemgmt$"))
    assert_no_sideways_scroll(page)
    screenshot(page, "queue-390-backing-out")
    release.refresh_from_db()
    assert release.state == S.BACKING_OUT


def test_an_override_is_requested_and_confirmed_on_a_phone(
    browser, live_server, page, login, screenshot, axe
):
    # given a release waiting for a decision and two ops users on phones
    release = halted_release(title="VPN client 7.1")
    first = UserFactory(username="otto", roles=["ops"])
    second = UserFactory(username="olga", roles=["ops"])
    page.set_viewport_size(PHONE)
    login(page, first)

    # when the first requests an override from the queue
    page.goto("/releases/backout-queue/")
    card = page.locator(f"#release-{release.pk}")
    card.get_by_label("Why continuing is safer than backing out").fill(REASON)
    assert_no_sideways_scroll(page)
    card.get_by_role("button", name="Request override").click()
    expect(page.get_by_role("status")).to_contain_text("override requested")
    expect(page.locator(f"#release-{release.pk}")).to_contain_text("Override awaiting confirmation")
    assert_no_sideways_scroll(page)

    # then the second confirms it on their phone
    other = browser.new_context(base_url=live_server.url, viewport=PHONE, locale="en-GB")
    other.set_default_timeout(TIMEOUT_MS)
    try:
        other_page = other.new_page()
        login(other_page, second)
        other_page.goto("/releases/backout-queue/")
        other_card = other_page.locator(f"#release-{release.pk}")
        expect(other_card.get_by_role("button", name="Confirm override")).to_be_visible()
        assert_no_sideways_scroll(other_page)
        assert axe(other_page) == []
        screenshot(other_page, "confirm-390")
        other_card.get_by_role("button", name="Confirm override").click()
        expect(other_page.get_by_role("status")).to_contain_text("override confirmed")
        expect(other_page.locator("#backout-badge a")).to_have_count(0)
        assert_no_sideways_scroll(other_page)
    finally:
        other.close()
    release.refresh_from_db()
    assert release.state == S.INSTALLING


def test_people_who_may_not_approve_back_outs_get_no_badge_and_no_polling(page, login, screenshot):
    # given a release waiting and a release manager (no approve_backout permission)
    halted_release()
    manager = UserFactory(username="rita", roles=["release_manager"])
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "badge" in r.url else None)

    # when they browse
    page.set_viewport_size(WIDE)
    login(page, manager)
    page.goto("/cmdb/")
    page.wait_for_timeout(1500)
    assert_no_sideways_scroll(page)
    screenshot(page, "1440", full_page=False)

    # then no badge, no polling, a plain title
    expect(page.locator("#backout-badge")).to_have_count(0)
    assert requests == []
    assert not page.title().startswith("(")
