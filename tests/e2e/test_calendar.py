"""The release calendar in a real browser: a release manager opens the calendar from the
navigation, sees a release's distribution and installation windows and a freeze, the conflict
with another release on a shared CI, and opens the release by clicking its window. At 390 px the
month is an agenda list without sideways scrolling. Screenshots: month and week at 1440 px,
month at 390 px."""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from releases.models import FreezeWindow, ReleaseTarget
from tests.factories import ConfigurationItemFactory, ReleaseFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MONTH = "/calendar/?view=month&date=2027-03-01"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def month_of_releases():
    shared = ConfigurationItemFactory(identifier="payroll-web-01")
    payroll = ReleaseFactory(
        title="Payroll client 5.2",
        state="verified",
        distribution_start=utc(2027, 3, 8, 6),
        distribution_end=utc(2027, 3, 9, 18),
        installation_start=utc(2027, 3, 10, 18),
        installation_end=utc(2027, 3, 10, 22),
        with_plan=False,
    )
    ReleaseTarget.objects.create(release=payroll, ci=shared)
    hr = ReleaseFactory(
        title="HR portal 3.1",
        state="planned",
        distribution_start=utc(2027, 3, 9, 8),
        distribution_end=utc(2027, 3, 9, 12),
        installation_start=utc(2027, 3, 10, 20),
        installation_end=utc(2027, 3, 11, 2),
        with_plan=False,
    )
    ReleaseTarget.objects.create(release=hr, ci=shared)
    # midnight to midnight in Berlin, 25 to 29 March: summer time starts on the 28th
    FreezeWindow.objects.create(
        start=utc(2027, 3, 24, 23), end=utc(2027, 3, 28, 22), reason="Quarter close"
    )
    return payroll, hr


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_calendar_shows_windows_and_a_freeze_and_opens_a_release(
    page, login, screenshot, axe, month_of_releases
):
    # given a release manager in Berlin
    payroll, hr = month_of_releases
    manager = UserFactory(username="rita", roles=["release_manager"], time_zone="Europe/Berlin")
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, manager)

    # when she opens the calendar from the navigation and goes to March 2027
    page.get_by_role("link", name="Calendar", exact=True).click()
    expect(page.get_by_role("heading", name="Release calendar")).to_be_visible()
    page.goto(MONTH)

    # then both windows of the release, the freeze and the conflict are there
    expect(page.get_by_role("heading", name="March 2027")).to_be_visible()
    expect(page.get_by_text("Times in Europe/Berlin")).to_be_visible()
    installation = page.locator(f'a[data-release="{payroll.number}"][data-kind="installation"]')
    distribution = page.locator(f'a[data-release="{payroll.number}"][data-kind="distribution"]')
    expect(installation).to_have_count(1)  # 19:00–23:00 in Berlin
    expect(distribution).to_have_count(2)  # the 8th and the 9th
    expect(installation).to_contain_text("19:00–23:00")
    expect(installation).to_contain_text("Conflict")
    expect(page.locator(".cal-day.is-frozen")).to_have_count(4)
    expect(page.get_by_text("Freeze: Quarter close").first).to_be_visible()
    conflicts = page.locator("#conflicts")
    expect(conflicts).to_contain_text(f"Shares target CI payroll-web-01 with {hr.number}")
    assert axe(page) == []
    screenshot(page, "month-1440")

    # the week view holds the conflict in words
    page.goto("/calendar/?view=week&date=2027-03-10")
    expect(page.get_by_role("heading", name=re.compile(r"Week 10"))).to_be_visible()
    expect(page.locator(".cal-week")).to_contain_text(
        f"Shares target CI payroll-web-01 with {hr.number}"
    )
    screenshot(page, "week-1440")

    # when she clicks the installation window, the release opens
    page.goto(MONTH)
    installation.click()
    expect(page).to_have_url(re.compile(rf"/releases/{payroll.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(payroll.number)


def test_on_a_phone_the_month_is_an_agenda_without_sideways_scrolling(
    page, login, screenshot, axe, month_of_releases
):
    payroll, _ = month_of_releases
    manager = UserFactory(username="rafa", roles=["release_manager"], time_zone="Europe/Berlin")
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, manager)

    page.goto(MONTH)

    expect(page.locator(".cal-weekdays")).to_be_hidden()
    expect(page.locator(".cal-day.is-empty").first).to_be_hidden()
    installation = page.locator(f'a[data-release="{payroll.number}"][data-kind="installation"]')
    expect(installation).to_be_visible()
    expect(page.locator(".cal-day", has=installation)).to_contain_text("Wed 10 Mar")
    assert no_sideways_scroll(page)
    assert axe(page) == []
    screenshot(page, "month-390")

    page.goto("/calendar/?view=week&date=2027-03-10")
    assert no_sideways_scroll(page)
    screenshot(page, "week-390")


def test_subscribing_shows_the_feed_address_once_and_the_feed_answers(
    page, login, screenshot, month_of_releases
):
    from icalendar import Calendar

    # given a release manager on her account page, on a phone
    manager = UserFactory(username="rosa", roles=["release_manager"], time_zone="Europe/Berlin")
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, manager)
    page.goto("/calendar/")
    page.get_by_role("button", name="Subscribe").click()

    # when she creates the feed address
    page.get_by_role("button", name="Create feed address").click()

    # then the address is shown once, with how to subscribe, and it serves the calendar
    address = page.locator("#new-feed-url")
    expect(address).to_contain_text("/calendar/feed/rmf_")
    feed = page.request.get(address.inner_text().strip())
    assert feed.status == 200 and feed.headers["content-type"].startswith("text/calendar")
    summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(feed.body()).walk("VEVENT")]
    assert any("Payroll client 5.2 · Installation" in s for s in summaries)
    page.get_by_text("How to subscribe").click()
    assert no_sideways_scroll(page)
    screenshot(page, "account-390")
    page.reload()
    expect(page.locator("#new-feed-url")).to_have_count(0)
    expect(page.get_by_role("button", name="Renew address")).to_be_visible()
