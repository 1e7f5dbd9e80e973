"""Issue 12, "Pages": no page scrolls sideways on a phone (390 px) for any role, the top bar fits
at 1440 px with a long user name, and the reworked pages — the release list (progress, health,
sorting, mine), the pipeline (live states first), the release page (sections, the diagram folded
at the bottom, the wait for the agents) — read well at both widths, with no serious
accessibility violation. Screenshots of each at 1440 and 390 px (demo data)."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from releasemgmt.accounts.demo import DEMO_USERS
from releases.choices import ReleaseState as S
from releases.models import Release
from tests.e2e.conftest import TIMEOUT_MS
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def new_page(browser, live_server, viewport):
    context = browser.new_context(base_url=live_server.url, viewport=viewport, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context, context.new_page()


def page_width(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def navigation_pages(page) -> list[str]:
    """The top bar's links, the installing demo release's page and a CI's page."""
    links = page.eval_on_selector_all(
        ".topbar a[href^='/']", "links => links.map((a) => a.getAttribute('href'))"
    )
    release = Release.objects.get(state=S.INSTALLING, title__contains="pilot")
    ci = release.targets.select_related("ci").first().ci
    extra = [
        reverse("releases:release-detail", args=[release.pk]),
        reverse("cmdb:ci-detail", args=[ci.pk]),
        reverse("releases:agent-help"),
    ]
    return list(dict.fromkeys([*links, *extra]))


def test_no_page_scrolls_sideways_on_a_phone_for_any_role(live_server, browser, login, axe):
    # given the demo, and every role's demo user
    call_command("seed_demo", stdout=StringIO())
    users = UserFactory._meta.model.objects.filter(username__in=DEMO_USERS)
    assert users.count() == len(DEMO_USERS)
    wide = []
    for user in users:
        context, page = new_page(browser, live_server, PHONE)
        try:
            login(page, user, password=settings.DEMO_PASSWORD)
            pages = navigation_pages(page)
            assert len(pages) >= 4, f"{user} sees the top bar's links"
            for url in pages:
                response = page.goto(url)
                assert response.status < 400, f"{user} {url}: {response.status}"
                if page_width(page) > PHONE["width"] + 1:
                    wide.append(f"{user} {url}: {page_width(page)} px")
                # every page of ours, once, for the release manager (the API docs are Swagger's)
                if user.username == "release-manager" and not url.startswith("/api/"):
                    assert axe(page) == [], f"{url} has serious accessibility violations"
        finally:
            context.close()
    # then
    assert wide == []


def test_the_top_bar_fits_at_1440_with_a_long_user_name(
    live_server, browser, login, screenshot, axe
):
    long_name = "maximiliane.vandenberg-oppenheimer@example-holding.com"
    user = UserFactory(username=long_name, roles=["release_manager", "ops", "auditor"])
    context, page = new_page(browser, live_server, DESKTOP)
    try:
        login(page, user)
        page.goto("/releases/")
        assert page_width(page) <= DESKTOP["width"] + 1
        bar = page.locator("header.topbar")
        # every link of the bar is inside the window, and the bar stays within two rows
        assert page.evaluate(
            """() => [...document.querySelectorAll('header.topbar a, header.topbar button')]
                .every((el) => el.getBoundingClientRect().right <= window.innerWidth + 1)"""
        )
        assert bar.bounding_box()["height"] < 130
        expect(page.locator(".topbar-user a")).to_have_attribute(
            "title", f"{long_name}: your account and API tokens"
        )
        screenshot(page, "1440", full_page=False)
        assert axe(page) == []
    finally:
        context.close()


def test_the_reworked_pages_at_desktop_and_phone_width(
    live_server, browser, login, screenshot, axe
):
    # given the demo: the pilot release is installing, no agent has reported yet
    call_command("seed_demo", stdout=StringIO())
    manager = UserFactory._meta.model.objects.get(username="release-manager")
    pilot = Release.objects.get(state=S.INSTALLING, title__contains="pilot")
    for name, viewport in (("1440", DESKTOP), ("390", PHONE)):
        context, page = new_page(browser, live_server, viewport)
        try:
            login(page, manager, password=settings.DEMO_PASSWORD)

            # the release list: progress, sorting, mine
            page.goto("/releases/?state=installing&sort=-updated")
            row = page.locator(f'tr[data-release="{pilot.number}"]')
            expect(row.locator(".mini-bar")).to_be_visible()
            expect(row).to_contain_text(f"of {pilot.count_targets} installed")
            expect(page.locator("th[aria-sort='descending']")).to_contain_text("Updated")
            page.get_by_label("Only mine").check()
            page.get_by_role("button", name="Filter").click()
            expect(page.get_by_label("Only mine")).to_be_checked()
            assert page_width(page) <= viewport["width"] + 1
            assert axe(page) == []
            screenshot(page, f"list-{name}")

            # the pipeline: the live states first, in sight without scrolling sideways
            page.goto("/releases/pipeline/")
            columns = page.locator(".board-col")
            expect(columns.first).to_have_attribute("data-state", "distributing")
            installing = page.locator('.board-col[data-state="installing"]')
            expect(installing.locator(".card")).to_contain_text(pilot.number)
            if name == "1440":
                for state in ("distributing", "installing", "backout_required", "backing_out"):
                    box = page.locator(f'.board-col[data-state="{state}"]').bounding_box()
                    assert box["x"] + box["width"] <= viewport["width"], state
            assert page_width(page) <= viewport["width"] + 1
            assert axe(page) == []
            screenshot(page, f"pipeline-{name}")

            # the release page: sections, the wait for the agents, the diagram folded last
            page.goto(f"/releases/{pilot.pk}/")
            expect(page.get_by_role("navigation", name="Sections of this release")).to_be_visible()
            waiting = page.locator("#agents")
            expect(waiting).to_contain_text("Waiting for the agents")
            expect(waiting).to_contain_text(f"0 of {pilot.count_targets}")
            diagram = page.locator("details#diagram")
            expect(diagram).not_to_have_attribute("open", "")
            expect(page.locator(".state-diagram")).to_be_hidden()
            assert page_width(page) <= viewport["width"] + 1
            assert axe(page) == []
            screenshot(page, f"release-{name}")
            page.get_by_role("navigation", name="Sections of this release").get_by_role(
                "link", name="State diagram"
            ).click()
            expect(page.locator(".state-diagram svg")).to_be_visible()
            title = page.locator(".state-diagram g.node.current title")
            expect(title).to_have_text("Installing")

            # and the way to connect an agent
            waiting.get_by_role("link", name="How to connect an agent").click()
            expect(page.get_by_role("heading", name="Connecting an agent")).to_be_visible()
            expect(page.locator("main")).to_contain_text("/api/v1/agent/heartbeat/")
            assert page_width(page) <= viewport["width"] + 1
            assert axe(page) == []
            screenshot(page, f"agents-{name}")
        finally:
            context.close()
