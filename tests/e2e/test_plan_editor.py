"""A release manager fills a plan in a real browser (issue 12, "Plan editor"): targets picked from
the unit's suggestions and a search, a pasted list with a wrong line named by its number, windows
typed as ISO dates in their own time zone — and saving one section never drops what is typed in
another; leaving with unsaved changes asks first. At 1440 and 390 px, with axe."""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from cmdb.choices import Environment
from tests.factories import (
    ConfigurationItemFactory,
    RelationshipFactory,
    ReleaseFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def billing():
    """billing runs on bill-prod-01..03 (production); a test server and web servers besides."""
    unit = ConfigurationItemFactory(service=True, identifier="billing", name="Billing service")
    for n in (1, 2, 3):
        server = ConfigurationItemFactory(identifier=f"bill-prod-0{n}", name=f"Billing server {n}")
        RelationshipFactory(source=unit, target=server)
    ConfigurationItemFactory(
        identifier="bill-test-01", name="Billing test server", environment=Environment.TEST
    )
    for n in (1, 2):
        ConfigurationItemFactory(identifier=f"web-prod-0{n}", name=f"Web server {n}")
    return ReleaseFactory(release_unit=unit, title="Billing 3.7.0")


def test_the_plan_editor_picks_targets_keeps_typed_input_and_speaks_iso_in_the_users_zone(
    page, login, screenshot, axe, billing
):
    release = billing
    manager = UserFactory(username="rita", roles=["release_manager"], time_zone="Europe/Berlin")
    page.set_viewport_size({"width": 1440, "height": 900})
    login(page, manager)
    page.goto(f"/releases/{release.pk}/plan/")
    targets = page.locator("#targets")
    backout = page.locator("#backout")

    # the windows are ISO text in the user's zone, named
    start = page.get_by_label("Distribution starts")
    expect(start).to_have_attribute("placeholder", "YYYY-MM-DD HH:MM")
    expect(page.locator("#schedule")).to_contain_text(
        "YYYY-MM-DD HH:MM in Europe/Berlin (your time zone)."
    )

    # something typed in the back-out plan and not saved is flagged
    backout.get_by_label("Back-out steps").fill("Stop billing\nReinstall 3.6.0")
    expect(backout.locator(".unsaved-mark")).to_be_visible()

    # the picker suggests the unit's servers first (production, where they run)
    expect(targets.get_by_label("Environment")).to_have_value("production")
    suggestion = targets.locator(".picker-option", has_text="bill-prod-01")
    expect(suggestion).to_contain_text("runs billing")
    expect(targets.locator(".picker-option").first).to_contain_text("bill-prod-01")
    expect(targets.locator(".picker-option", has_text="bill-test-01")).to_have_count(0)
    suggestion.click()
    expect(suggestion).to_have_attribute("aria-pressed", "true")
    expect(targets.locator(".chip")).to_have_text(["bill-prod-01×"])

    # a search by name adds a web server; a chip takes one away again
    targets.get_by_label("Find a CI by identifier or name").fill("web server 2")
    found = targets.locator(".picker-option")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("web-prod-02")
    found.click()
    expect(targets.get_by_label("Target CIs")).to_have_value("bill-prod-01\nweb-prod-02")
    targets.get_by_role("button", name="Remove bill-prod-01").click()
    expect(targets.locator(".chip")).to_have_text(["web-prod-02×"])
    expect(targets.get_by_label("Target CIs")).to_have_value("web-prod-02")
    expect(targets.locator(".unsaved-mark")).to_be_visible()

    # a pasted list with a wrong third line: refused, that line named, nothing saved or lost
    targets.get_by_label("Target CIs").fill("bill-prod-01\nbill-prod-02, web-prod-02\nbil-prod-09")
    targets.get_by_role("button", name="Save targets").click()
    expect(targets.locator(".field-error")).to_have_text(["line 3: no CI 'bil-prod-09'"])
    expect(targets.get_by_role("alert")).to_contain_text("Not saved")
    expect(targets.get_by_label("Target CIs")).to_have_value(
        "bill-prod-01\nbill-prod-02, web-prod-02\nbil-prod-09"
    )
    assert not release.targets.exists()
    expect(targets.locator(".chip.wrong")).to_contain_text("bil-prod-09")
    expect(backout.get_by_label("Back-out steps")).to_have_value("Stop billing\nReinstall 3.6.0")
    screenshot(page, "1440-pasted-list-refused")

    # fixed and saved: the other section's typed steps are still there, still unsaved
    targets.get_by_label("Target CIs").fill("bill-prod-01\nbill-prod-02, web-prod-02\nbill-prod-03")
    targets.get_by_role("button", name="Save targets").click()
    expect(page.get_by_role("status")).to_have_text("Targets saved.")
    expect(targets.locator("header")).to_contain_text("Targets (4)")
    expect(backout.get_by_label("Back-out steps")).to_have_value("Stop billing\nReinstall 3.6.0")
    expect(backout.locator(".unsaved-mark")).to_be_visible()
    expect(targets.locator(".unsaved-mark")).to_be_hidden()
    assert sorted(t.ci.identifier for t in release.targets.all()) == [
        "bill-prod-01",
        "bill-prod-02",
        "bill-prod-03",
        "web-prod-02",
    ]

    # the windows: a wrong date is named; ISO dates are read in Berlin time and shown back
    page.get_by_label("Distribution starts").fill("12/01/2026 8:00 AM")
    page.get_by_label("Distribution ends").fill("2026-12-01 20:00")
    page.get_by_label("Installation starts").fill("2026-12-02 06:00")
    page.get_by_label("Installation ends").fill("2026-12-02T10:00")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#schedule .field-error")).to_have_text(
        ["Enter the date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-01 08:00."]
    )
    page.get_by_label("Distribution starts").fill("2026-12-01 08:00")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status")).to_have_text("Schedule saved.")
    expect(page.get_by_label("Installation ends")).to_have_value("2026-12-02 10:00")
    release.refresh_from_db()
    assert release.distribution_start == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # CET = UTC+1
    assert release.installation_end == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    expect(backout.get_by_label("Back-out steps")).to_have_value("Stop billing\nReinstall 3.6.0")

    # leaving with the back-out plan unsaved asks first; staying keeps it
    asked = []

    def stay(dialog):
        asked.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.get_by_role("button", name=f"Back to {release.number}").click()
    page.wait_for_timeout(300)
    assert asked == ["beforeunload"]
    expect(page).to_have_url(re.compile(rf"/releases/{release.pk}/plan/"))

    # the network fails once: the section says so and keeps the steps
    page.route("**/plan/backout/", lambda route: route.abort())
    backout.get_by_role("button", name="Save back-out plan").click()
    expect(backout.get_by_role("alert")).to_contain_text(
        "Not saved: the server could not be reached."
    )
    expect(backout.get_by_label("Back-out steps")).to_have_value("Stop billing\nReinstall 3.6.0")
    page.unroute("**/plan/backout/")
    backout.get_by_role("button", name="Save back-out plan").click()
    expect(page.get_by_role("status")).to_have_text("Back-out plan saved.")
    assert [s.description for s in release.backout_steps.all()] == [
        "Stop billing",
        "Reinstall 3.6.0",
    ]
    expect(page.locator(".plan-section.is-dirty")).to_have_count(0)
    expect(page.locator("#plan-status")).not_to_contain_text("Add at least one target CI.")
    assert axe(page) == []
    screenshot(page, "1440")

    # on a phone: the same page, nothing sideways, axe clean
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(targets.locator(".chip")).to_have_count(4)
    assert no_sideways_scroll(page)
    assert axe(page) == []
    screenshot(page, "390")
    targets.get_by_label("Find a CI by identifier or name").fill("bill")
    expect(targets.locator(".picker-option")).to_have_count(3)  # production only
    targets.scroll_into_view_if_needed()
    screenshot(page, "390-targets", full_page=False)
    assert no_sideways_scroll(page)


def test_without_script_the_targets_are_a_list_of_identifiers(
    browser, live_server, login, screenshot, billing
):
    release = billing
    manager = UserFactory(username="rita", roles=["release_manager"], time_zone="Europe/Berlin")
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    try:
        login(page, manager)
        page.goto(f"/releases/{release.pk}/plan/")
        expect(page.locator("[data-target-picker]")).to_be_hidden()
        page.get_by_label("Target CIs").fill("bill-prod-01\nbill-prod-9")
        page.get_by_role("button", name="Save targets").click()
        expect(page.locator("#targets .field-error")).to_have_text(["line 2: no CI 'bill-prod-9'"])
        page.get_by_label("Target CIs").fill("bill-prod-01, bill-prod-02")
        page.get_by_role("button", name="Save targets").click()
        expect(page.get_by_role("status")).to_have_text("Targets saved.")
        expect(page.locator("#targets header")).to_contain_text("Targets (2)")
        screenshot(page, "390-no-script", full_page=False)
    finally:
        context.close()
