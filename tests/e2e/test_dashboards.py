"""The role dashboards in a real browser: the release manager's names what blocks each of their
releases; on a phone, ops see a waiting back-out with its live countdown and approve it from the
dashboard; every role's dashboard reads without sideways scrolling at 390 px and has no serious
accessibility violation. Screenshots at 1440 and 390 px for each role (demo data)."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from releasemgmt.core.services import heartbeat_record
from releases.choices import ReleaseLevel, ReleaseState
from releases.models import FreezeWindow, Release, TestScopeItem
from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.test_backout_queue import halted_release
from tests.factories import ReleaseFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

S = ReleaseState
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def new_page(browser, live_server, viewport):
    context = browser.new_context(base_url=live_server.url, viewport=viewport, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context, context.new_page()


def scrolls_sideways(page) -> bool:
    """Whether anything in the page's content reaches past the window's right edge (the top
    bar is the base layout's, checked by its own tests)."""
    return page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const main = document.querySelector("main");
            return main.scrollWidth > main.clientWidth
                || [...main.querySelectorAll("*")].some(
                    (el) => el.getBoundingClientRect().right > width + 1);
        }"""
    )


def accessibility_problems(request, page) -> list:
    """Serious and critical axe-core violations, when the suite has the ``axe`` fixture."""
    try:
        axe = request.getfixturevalue("axe")
    except pytest.FixtureLookupError:
        return []
    return axe(page)


def test_the_release_manager_sees_what_blocks_each_release(
    live_server, page, login, screenshot, request
):
    # given a release manager's releases, each held up by something else
    rita = UserFactory(username="rita", first_name="Rita", roles=["release_manager"])
    requested = ReleaseFactory(
        state=S.REQUESTED, owner=rita, level=ReleaseLevel.PACKAGE, title="Payroll bundle"
    )
    testing = ReleaseFactory(state=S.TESTING, owner=rita, title="Portal 2.1")
    TestScopeItem.objects.create(release=testing, kind="changed_item", title="Checkout flow")
    distributed = ReleaseFactory(
        state=S.DISTRIBUTED, owner=rita, planned=True, title="VPN client 7.3"
    )
    FreezeWindow.objects.create(
        start=distributed.installation_start,
        end=distributed.installation_end,
        reason="Quarter-end close",
    )
    ready = ReleaseFactory(state=S.BUILT, owner=rita, title="Antivirus definitions")

    # when she signs in
    login(page, rita)
    page.set_viewport_size(DESKTOP)
    page.goto("/")

    # then her releases card names what blocks each next step
    card = page.locator("#card-my-releases")
    expect(card.locator("header")).to_contain_text("4")

    def row(release):
        return card.locator(f'li[data-release="{release.number}"]')

    expect(
        row(requested).get_by_role("list", name=f"What blocks {requested.number}")
    ).to_contain_text("Add at least one target CI.")
    expect(row(requested)).to_contain_text("Next: Plan")
    expect(row(requested)).to_contain_text("link at least two")
    expect(row(testing)).to_contain_text("Next: Accept")
    expect(row(testing)).to_contain_text("Checkout flow: pending")
    expect(row(distributed)).to_contain_text("Next: Install")
    expect(row(distributed)).to_contain_text("overlaps a freeze: Quarter-end close")
    expect(row(ready)).to_contain_text("Next: Start tests")
    expect(row(ready)).to_contain_text("nothing blocks it")
    # the count opens the release list with the same releases
    card.locator("[data-list-link]").click()
    expect(page).to_have_url(re.compile(r"/releases/\?owner=rita&state="))
    for release in (requested, testing, distributed, ready):
        expect(page.get_by_role("link", name=release.number, exact=True)).to_be_visible()
    page.go_back()
    assert accessibility_problems(request, page) == []
    screenshot(page, "1440")

    page.set_viewport_size(PHONE)
    page.reload()
    expect(row(testing)).to_contain_text("Checkout flow: pending")
    assert not scrolls_sideways(page)
    screenshot(page, "390")


def test_on_a_phone_ops_see_the_countdown_and_approve_the_back_out(
    live_server, browser, login, screenshot, request
):
    # given a release whose failures crossed its condition
    release = halted_release(title="Payroll client 5.2")
    olga = UserFactory(username="olga", first_name="Olga", roles=["ops"])
    context, phone = new_page(browser, live_server, PHONE)
    try:
        # when ops open the dashboard on a phone
        login(phone, olga)
        phone.goto("/")
        card = phone.locator("#card-backouts")
        entry = card.locator(f'li[data-release="{release.number}"]')
        expect(entry).to_contain_text("failure rate 30.0% is above 20.00%")
        countdown = entry.locator("[data-countdown-left]")
        expect(countdown).to_have_text(re.compile(r"^\d+:\d\d left$"))
        before = countdown.inner_text()
        phone.wait_for_timeout(1300)
        assert countdown.inner_text() != before, "the countdown ticks every second"
        # the back-outs come first, and nothing scrolls sideways
        first = phone.locator(".dash-grid > article").first
        expect(first).to_have_attribute("id", "card-backouts")
        assert not scrolls_sideways(phone)
        assert accessibility_problems(request, phone) == []
        screenshot(phone, "390")

        # then one click approves it
        entry.get_by_role("button", name="Approve back-out").click()
        expect(phone.get_by_role("status")).to_contain_text("back-out approved")
        release.refresh_from_db()
        assert release.state == S.BACKING_OUT
        phone.goto("/")
        expect(phone.locator("#card-backouts")).to_contain_text(
            "No release is waiting for a back-out decision."
        )
    finally:
        context.close()


def demo_estate():
    """The demo data, plus what lights up the ops, release-manager and auditor cards."""
    call_command("seed_demo", stdout=StringIO())
    heartbeat_record(component="worker", detail="celery@demo")
    heartbeat_record(component="beat", detail="celery beat")
    manager = UserFactory._meta.model.objects.get(username="release-manager")
    halted_release(title="Payroll client 5.2", owner=manager)
    stuck = ReleaseFactory(
        state=S.INSTALLING,
        owner=manager,
        title="Print drivers 2026.11",
        installation_start=timezone.now() - timedelta(hours=3),
        installation_end=timezone.now() + timedelta(hours=5),
    )
    Release.objects.filter(pk=stuck.pk).update(
        state_changed_at=timezone.now() - timedelta(hours=2), count_targets=12
    )
    FreezeWindow.objects.create(
        start=timezone.now() + timedelta(days=5),
        end=timezone.now() + timedelta(days=6),
        reason="Year-end change freeze",
    )


@pytest.mark.parametrize(
    "username", ["release-manager", "ops", "change-manager", "config-manager", "auditor"]
)
def test_each_role_dashboard_at_desktop_and_phone_width(
    live_server, browser, login, screenshot, request, username
):
    demo_estate()
    user = UserFactory._meta.model.objects.get(username=username)
    for name, viewport in (("1440", DESKTOP), ("390", PHONE)):
        context, page = new_page(browser, live_server, viewport)
        try:
            login(page, user, password=settings.DEMO_PASSWORD)
            page.goto("/")
            expect(page.locator(".dash-grid > article").first).to_be_visible()
            expect(page.locator("#health")).to_be_visible()
            assert not scrolls_sideways(page), f"{username} at {name} px scrolls sideways"
            assert accessibility_problems(request, page) == []
            screenshot(page, name)
        finally:
            context.close()
