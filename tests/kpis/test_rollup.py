"""The rollup against hand-computed figures (tests/kpis/fixtures.py): periods, boundaries,
filters, late data, idempotence and a failure half-way."""

from datetime import date, timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from kpis import services
from kpis.models import KpiDirtyPeriod, KpiRollupState, KpiSnapshot
from kpis.selectors import KpiFilters, kpi_report
from releases.choices import InstallationState
from tests.kpis.fixtures import at, november

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 3)


def values(filters: KpiFilters, start: date) -> dict:
    """Each KPI's value for the period starting on ``start``."""
    report = kpi_report(filters, today=TODAY)
    return {
        result.kpi.key: next(p.value for p in result.points if p.start == start)
        for result in report
    }


def month(**filters) -> dict:
    return values(KpiFilters(period="month", last=date(2026, 11, 1), **filters), date(2026, 11, 1))


@pytest.fixture
def data(db):
    data = november(db)
    services.kpi_rollup_full()
    return data


def test_november_by_hand(data):
    figures = month()
    assert figures["releases"] == 6
    assert figures["backout_rate"] == 40.0
    assert figures["change_failure_rate"] == 40.0
    assert figures["target_backout_rate"] == 40.0
    assert figures["install_success_rate"] == 80.0
    assert figures["on_schedule_rate"] == 87.5
    assert figures["decision_time"] == 20.0
    assert figures["time_to_restore"] == 75.0
    assert figures["lead_time"] == 24.0
    assert figures["deployment_frequency"] == 0.1
    assert figures["automatic_backouts"] == 1
    assert figures["overrides_requested"] == 1
    assert figures["overrides_confirmed"] == 1
    assert figures["licence_errors"] == 2
    assert figures["cmdb_errors"] == 1


def test_parts_and_sources(data):
    report = {
        r.kpi.key: r
        for r in kpi_report(KpiFilters(period="month", last=date(2026, 11, 1)), today=TODAY)
    }
    november_point = report["releases"].points[-1]
    assert november_point.parts == [("completed", 3), ("backed out", 2), ("cancelled", 1)]
    licence = report["licence_errors"].points[-1]
    assert licence.parts == [
        ("resolved", 1),
        ("still open", 1),
        ("found by agent report", 1),
        ("found by verification", 1),
    ]


def test_a_release_spanning_a_period_boundary_counts_where_it_ended(data):
    # R5 installed on 31 October and ended at 00:30 on Sunday 1 November: November, and the ISO
    # week that began on Monday 26 October.
    october = values(KpiFilters(period="month", last=date(2026, 10, 1)), date(2026, 10, 1))
    assert october["releases"] == 0
    week = values(KpiFilters(period="week", last=date(2026, 10, 26)), date(2026, 10, 26))
    assert week["releases"] == 1
    assert week["lead_time"] == 47.0
    day = values(KpiFilters(period="day", last=date(2026, 11, 1)), date(2026, 11, 1))
    assert day["releases"] == 1


def test_periods_are_utc_whatever_the_user_time_zone(data, settings):
    # R3 ended at 23:30 UTC on 30 November — already 1 December in Auckland — and counts in
    # November for everyone.
    settings.TIME_ZONE = "Pacific/Auckland"
    with timezone.override("Pacific/Auckland"):
        services.kpi_rollup_full()
        assert month(level="full")["releases"] == 2  # R3 and R7
        december = values(KpiFilters(period="month", last=date(2026, 12, 1)), date(2026, 12, 1))
    assert december["releases"] == 0


def test_filters(data):
    unit_a, unit_b = data["units"]
    assert month(level="full")["releases"] == 2
    assert month(unit=unit_b.pk)["releases"] == 1
    assert month(environment="staging")["releases"] == 1
    assert month(environment="staging")["lead_time"] == 12.0
    # errors follow only the environment of their CI
    assert month(environment="staging")["cmdb_errors"] == 1
    assert month(environment="staging")["licence_errors"] == 0
    assert month(level="full")["licence_errors"] == 2
    assert month(unit=unit_a.pk, level="delta")["backout_rate"] == 33.3  # R2 of R1, R2, R5


def test_full_rollup_is_idempotent(data):
    def snapshot():
        return sorted(
            KpiSnapshot.objects.values_list(
                "period",
                "start",
                "level",
                "unit_id",
                "environment",
                "source",
                "releases_completed",
                "targets_installed",
                "licence_errors_found",
            )
        )

    first = snapshot()
    services.kpi_rollup_full()
    assert snapshot() == first
    services.kpi_periods_mark_dirty(since=date(2026, 10, 1))
    services.kpi_rollup_dirty()
    assert snapshot() == first


def test_late_report_recomputes_its_periods(data):
    r1 = data["releases"][0]
    # given the rollup has run, a target of R1 is reported late: installed inside the window
    late = r1.targets.filter(installed_at=at(2, 7)).get()
    late.installed_at = at(1, 22)
    late.save()
    r1.save()  # the service's save renews updated_at
    assert month()["on_schedule_rate"] == 87.5
    # when the periodic rollup runs
    result = services.kpi_rollup_dirty()
    # then November (and its day and week) are recomputed
    assert month()["on_schedule_rate"] == 100.0
    assert result["periods"] >= 3
    assert not KpiDirtyPeriod.objects.exists()


def test_reopened_and_resolved_errors_recompute(data):
    e1, e2, _ = data["errors"]
    e1.resolved_at = None
    e1.save()
    e2.resolved_at = timezone.now()
    e2.save()
    services.kpi_rollup_dirty()
    report = {
        r.kpi.key: r
        for r in kpi_report(KpiFilters(period="month", last=date(2026, 11, 1)), today=TODAY)
    }
    assert report["licence_errors"].points[-1].parts[:2] == [("resolved", 1), ("still open", 1)]
    e2.resolved_at = None
    e2.save()
    services.kpi_rollup_dirty()
    report = {
        r.kpi.key: r
        for r in kpi_report(KpiFilters(period="month", last=date(2026, 11, 1)), today=TODAY)
    }
    assert report["licence_errors"].points[-1].parts[:2] == [("resolved", 0), ("still open", 2)]


def test_a_rollup_failing_half_way_writes_nothing_and_the_next_run_repairs(data):
    before = month()
    r4 = data["releases"][3]
    r4.outcome = "completed"
    r4.save()
    real = services._insert
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    with mock.patch.object(services, "_insert", flaky), pytest.raises(RuntimeError):
        services.kpi_rollup_dirty()
    assert month() == before  # the period being written kept its old rows
    assert KpiDirtyPeriod.objects.exists()
    KpiRollupState.objects.filter(pk=1).update(watermark=timezone.now() - timedelta(hours=1))
    services.kpi_rollup_dirty()
    assert month()["releases"] == 6
    assert month()["deployment_frequency"] == round(4 / 30, 2)
    assert not KpiDirtyPeriod.objects.exists()


def test_the_current_period_is_kept_fresh(db):
    services.kpi_rollup_full()
    from tests.factories.cmdb import DiscrepancyFactory

    DiscrepancyFactory(kind="licence_missing")
    result = services.kpi_rollup_dirty()
    assert result["periods"] == 3
    today = timezone.now().date()
    assert values(KpiFilters(period="day", last=today), today)["licence_errors"] == 1


def test_command_recomputes_since_a_date(data, capsys):
    KpiSnapshot.objects.filter(period="month").delete()
    call_command("kpi_rollup", "--since", "2026-11-01")
    assert month()["releases"] == 6
    call_command("kpi_rollup")
    assert month()["releases"] == 6
    assert "KPI" in capsys.readouterr().out


def test_targets_ignore_installation_state_of_halted_targets(data):
    r1 = data["releases"][0]
    r1.targets.create(ci=data["errors"][0].ci, installation_state=InstallationState.HALTED)
    r1.save()
    services.kpi_rollup_dirty()
    assert month()["install_success_rate"] == 80.0
