"""Demo data: sensible KPI targets, then the rollup over everything the other apps seeded, so the
KPI page shows its trends right after ``make run``."""

from decimal import Decimal

from kpis.models import KpiTarget
from kpis.services import kpi_rollup_full

TARGETS = {
    "backout_rate": (Decimal("5"), "At most one release in twenty backed out."),
    "change_failure_rate": (Decimal("5"), "DORA's 'high performers' band."),
    "install_success_rate": (Decimal("98"), ""),
    "on_schedule_rate": (Decimal("95"), "Installed inside the planned window."),
    "decision_time": (Decimal("15"), "Ops decide within a quarter of an hour."),
    "time_to_restore": (Decimal("60"), ""),
    "lead_time": (Decimal("120"), "Five days from approval to installed."),
    "automatic_backouts": (Decimal("0"), "Nobody should let the deadline decide."),
}


def seed(stdout) -> None:
    for key, (value, note) in TARGETS.items():
        KpiTarget.objects.get_or_create(kpi=key, defaults={"value": value, "note": note})
    result = kpi_rollup_full()
    stdout.write(f"  KPIs: {result['rows']} snapshot rows rolled up in {result['seconds']:.1f} s")
