"""The KPI page in a real browser: every card with its chart and target, the period switch, a
drill-down that lands on a list of exactly that many releases — at 1440 and 390 px, with axe
finding nothing serious."""

import re

import pytest
from playwright.sync_api import expect

from kpis import services
from kpis.models import KpiTarget
from tests.e2e.conftest import TIMEOUT_MS
from tests.kpis.fixtures import november

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def kpis(db):
    data = november(db)
    KpiTarget.objects.create(kpi="backout_rate", value=5, note="one in twenty")
    KpiTarget.objects.create(kpi="install_success_rate", value=75)
    services.kpi_rollup_full()
    return data


def test_kpi_page_drills_down_and_reads_on_a_phone(page, login, role_user, kpis, screenshot, axe):
    auditor = role_user("auditor", time_zone="Europe/Berlin")
    login(page, auditor)
    page.goto("/kpis/?period=month&to=2026-11-30")
    card = page.locator("#kpi-backout_rate")
    expect(card).to_contain_text("40 %")
    expect(card).to_contain_text("off target")
    expect(page.locator("#kpi-install_success_rate")).to_contain_text("on target")
    assert page.locator("svg.kpi-chart").count() >= 15
    assert axe(page) == []
    screenshot(page, "months-1440")

    # the data table behind a chart opens for a keyboard or screen-reader user
    page.locator("#kpi-releases summary").click()
    expect(page.locator("#kpi-releases table")).to_be_visible()

    # weeks
    page.get_by_role("button", name="Weeks").click()
    expect(page).to_have_url(re.compile(r"period=week"))

    # a number drills down to the list behind it
    page.goto("/kpis/?period=month&to=2026-11-30")
    link = page.locator("#kpi-backout_rate .kpi-drills a").first
    expect(link).to_contain_text("2 backed-out releases")
    link.click()
    expect(page.get_by_text(re.compile(r"^2 releases match the filters"))).to_be_visible(
        timeout=TIMEOUT_MS
    )
    expect(page.locator(".drill-filters")).to_contain_text("ended from")

    # a phone: no sideways scrolling
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/kpis/?period=month&to=2026-11-30")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the KPI page scrolls sideways at 390 px ({width} px wide)"
    assert axe(page) == []
    screenshot(page, "months-390")
