"""The KPI page, its CSV export, the API and /metrics: what they show, who may see them, bad
input, and that every number drills down to a list of exactly that many rows."""

import csv
import io
import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from kpis import services
from kpis.definitions import KPIS
from kpis.models import KpiTarget
from kpis.selectors import KpiFilters, kpi_report
from tests.kpis.fixtures import november

pytestmark = pytest.mark.django_db

NOVEMBER = {"period": "month", "from": "2026-06-01", "to": "2026-11-30"}


@pytest.fixture
def data(db):
    data = november(db)
    services.kpi_rollup_full()
    return data


@pytest.fixture
def auditor(role_user):
    return role_user("auditor", time_zone="Pacific/Auckland")


def test_page_shows_every_kpi_against_its_target(client, data, auditor):
    KpiTarget.objects.create(kpi="backout_rate", value=5)
    KpiTarget.objects.create(kpi="install_success_rate", value=75)
    client.force_login(auditor)
    response = client.get(reverse("kpis:kpi-page"), NOVEMBER)
    assert response.status_code == 200
    html = response.content.decode()
    for kpi in KPIS:
        assert f'id="kpi-{kpi.key}"' in html
        assert f'id="chart-{kpi.key}-title"' in html  # an SVG chart with a text alternative
    backout = html[html.index('id="kpi-backout_rate"') :]
    assert "40 %" in backout[:600] and "off target" in backout[:600]
    success = html[html.index('id="kpi-install_success_rate"') :]
    assert "on target" in success[:600]
    assert "<table" in backout  # the data table behind the chart


def test_every_drill_down_lists_exactly_the_number_shown(client, data, role_user):
    client.force_login(role_user("auditor"))
    for filters in (
        KpiFilters(period="month", last=date(2026, 11, 1)),
        KpiFilters(period="week", last=date(2026, 11, 30)),
        KpiFilters(period="month", last=date(2026, 11, 1), level="full"),
        KpiFilters(period="month", last=date(2026, 11, 1), environment="staging"),
    ):
        checked = 0
        for result in kpi_report(filters, today=date(2026, 12, 3)):
            for point in result.points[-2:]:
                for drill in point.drills:
                    page = client.get(drill["url"]).content.decode()
                    shown = re.search(r"(\d+) (release|error|override)s? (match|open)", page)
                    assert shown, drill["url"]
                    assert int(shown.group(1)) == drill["count"], (result.kpi.key, drill)
                    checked += 1
        assert checked > 20


def test_csv_export_parses_and_matches_the_page(client, data, auditor):
    client.force_login(auditor)
    response = client.get(reverse("kpis:kpi-export"), NOVEMBER)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    november_rows = {r["kpi"]: r for r in rows if r["period"] == "2026-11"}
    assert float(november_rows["backout_rate"]["value"]) == 40.0
    assert float(november_rows["releases"]["value"]) == 6
    assert november_rows["lead_time"]["unit"] == "hours"
    assert len(rows) == len(KPIS) * 6  # June to November


@pytest.mark.parametrize(
    "params, name",
    [
        ({"period": "year"}, "period"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2019-01-01", "to": "2026-01-01"}, "from"),
        ({"from": "2026-12-01", "to": "2026-01-01"}, "from"),
        ({"level": "huge"}, "level"),
        ({"unit": "abc"}, "unit"),
        ({"unit": "999999"}, "unit"),
        ({"category": "x"}, "category"),
        ({"environment": "moon"}, "environment"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(client, api_client, data, auditor, params, name):
    client.force_login(auditor)
    page = client.get(reverse("kpis:kpi-page"), params)
    assert page.status_code == 400
    assert name in page.content.decode()
    export = client.get(reverse("kpis:kpi-export"), params)
    assert export.status_code == 400 and name in export.content.decode()
    api_client.force_authenticate(auditor)
    for url in (reverse("kpis-api:kpi-list"), reverse("kpis-api:kpi-series", args=["releases"])):
        answer = api_client.get(url, params)
        assert answer.status_code == 400
        assert name in answer.json()["errors"], answer.json()
        assert answer.json()["detail"]


def test_api_current_values_and_series(api_client, data, auditor):
    KpiTarget.objects.create(kpi="backout_rate", value=5)
    api_client.force_authenticate(auditor)
    answer = api_client.get(reverse("kpis-api:kpi-list"), {"period": "month", "to": "2026-11-30"})
    assert answer.status_code == 200
    by_key = {k["key"]: k for k in answer.json()}
    assert set(by_key) == {k.key for k in KPIS}
    assert by_key["backout_rate"]["current"]["value"] == 40.0
    assert by_key["backout_rate"]["current"]["numerator"] == 2
    assert by_key["backout_rate"]["current"]["denominator"] == 5
    assert by_key["backout_rate"]["status"] == "missed"
    assert by_key["decision_time"]["current"]["samples"] == 3
    series = api_client.get(
        reverse("kpis-api:kpi-series", args=["releases"]),
        {"period": "week", "from": "2026-10-26", "to": "2026-11-30", "level": "delta"},
    )
    assert series.status_code == 200
    points = series.json()["points"]
    assert [p["label"] for p in points][:2] == ["2026-W44", "2026-W45"]
    assert points[0]["value"] == 1  # R5, ended on Sunday 1 November
    assert sum(p["value"] for p in points) == 4  # R1, R2, R4, R5


def test_unknown_kpi_is_404(api_client, auditor):
    api_client.force_authenticate(auditor)
    answer = api_client.get(reverse("kpis-api:kpi-series", args=["happiness"]))
    assert answer.status_code == 404
    assert answer.json()["detail"]


def test_without_the_read_permission_everything_is_403(client, api_client, user):
    client.force_login(user)
    assert client.get(reverse("kpis:kpi-page")).status_code == 403
    assert client.get(reverse("kpis:kpi-export")).status_code == 403
    api_client.force_authenticate(user)
    assert api_client.get(reverse("kpis-api:kpi-list")).status_code == 403
    assert api_client.get(reverse("kpis-api:kpi-series", args=["releases"])).status_code == 403


def test_anonymous_is_sent_to_login_or_401(client, api_client):
    assert client.get(reverse("kpis:kpi-page")).status_code == 302
    assert api_client.get(reverse("kpis-api:kpi-list")).status_code == 401


def test_reads_take_a_fixed_number_of_queries(client, data, auditor, django_assert_max_num_queries):
    client.force_login(auditor)
    client.get(reverse("kpis:kpi-page"))  # warm the session and permission caches
    services.kpi_periods_mark_dirty(since=date(2025, 1, 1))
    services.kpi_rollup_dirty()
    with django_assert_max_num_queries(13):
        assert client.get(reverse("kpis:kpi-page"), {"period": "day"}).status_code == 200
    with django_assert_max_num_queries(13):
        assert (
            client.get(
                reverse("kpis:kpi-page"), {"period": "week", "from": "2024-01-01"}
            ).status_code
            == 200
        )


def test_cards_are_rendered_once_per_rollup_and_targets(
    client, data, auditor, django_assert_max_num_queries
):
    """The cards are cached, but a new target or a new rollup shows at once."""
    client.force_login(auditor)
    page = reverse("kpis:kpi-page")

    def cards():
        html = client.get(page, NOVEMBER).content.decode()
        return html[html.index('<section class="kpi-group"') :]

    first = cards()
    assert "target ≤ 5 %" not in first
    with django_assert_max_num_queries(9):  # no snapshot or target read: the cards are cached
        assert cards() == first
    target = KpiTarget.objects.create(kpi="backout_rate", value=5)
    assert "target ≤ 5 %" in cards()
    target.value = 7
    target.save()
    assert "target ≤ 7 %" in cards()
    target.delete()
    assert "target ≤" not in cards()

    services.kpi_rollup_full()
    with CaptureQueriesContext(connection) as queries:
        assert cards() == first  # the same figures …
    assert any("kpis_kpisnapshot" in q["sql"] for q in queries)  # … read afresh after a rollup


class TestMetrics:
    def test_without_token_401(self, client, settings):
        settings.METRICS_TOKEN = "s3cret-token-for-tests"
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 401
        assert wrong["WWW-Authenticate"].startswith("Bearer")

    def test_token_and_text_format(self, client, settings, data):
        settings.METRICS_TOKEN = "s3cret-token-for-tests"
        answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-for-tests")
        assert answer.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(answer.content.decode())}
        states = {s.labels["state"]: s.value for s in families["releasemgmt_releases"].samples}
        assert states["installing"] == 1  # R6
        assert states["closed"] == 3
        assert "releasemgmt_kpi" in families
        assert "releasemgmt_backouts_waiting" in families

    def test_allow_list(self, client, settings, db):
        settings.METRICS_TOKEN = ""
        settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
        assert client.get("/metrics", REMOTE_ADDR="192.168.1.2").status_code == 401
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200

    def test_live_deployment_counters(self, client, settings, db):
        from tests.releases.test_deployment import make_release

        release = make_release(targets=4, threshold=90)
        settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
        answer = client.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(answer.content.decode())}
        samples = {
            (s.labels["release"], s.labels["progress"]): s.value
            for s in families["releasemgmt_deployment_targets"].samples
        }
        assert samples[(release.number, "targets")] == 4


def test_readme_names_every_kpi():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## KPIs") : readme.index("## API overview")]
    for kpi in KPIS:
        assert f"**{kpi.label}** (`{kpi.key}`)" in section, kpi.key


def test_auditor_dashboard_summarises_the_month(client, role_user, db):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories.cmdb import ConfigurationItemFactory
    from tests.kpis.fixtures import ended_release

    unit = ConfigurationItemFactory(service=True)
    now = timezone.now()
    ended_release(unit, state="closed", outcome="completed", ended_at=now - timedelta(minutes=5))
    ended_release(unit, state="closed", outcome="backed_out", ended_at=now - timedelta(minutes=4))
    KpiTarget.objects.create(kpi="backout_rate", value=5)
    services.kpi_rollup_full()
    client.force_login(role_user("auditor"))
    html = client.get("/").content.decode()
    card = html[html.index('id="card-kpi-summary"') :]
    card = card[: card.index("</article>")]
    assert "Back-outs" in card and "50 %" in card and "off target" in card
    assert 'data-count="1"' in html[html.index('id="card-kpi-summary"') - 400 :][:600]
    client.force_login(role_user("release_manager"))
    assert 'id="card-kpi-summary"' not in client.get("/").content.decode()


def test_overrides_page_filters_and_refuses_bad_input(client, data, role_user, user):
    client.force_login(role_user("auditor"))
    listed = client.get(
        reverse("releases:override-list"),
        {"confirmed_after": "2026-11-01T00:00:00Z", "confirmed_before": "2026-12-01T00:00:00Z"},
    )
    assert listed.status_code == 200
    assert "1 override match the filters" in listed.content.decode()
    bad = client.get(reverse("releases:override-list"), {"requested_after": "yesterday-ish"})
    assert bad.status_code == 400
    assert "requested_after" in bad.content.decode()
    client.force_login(user)
    assert client.get(reverse("releases:override-list")).status_code == 403
