"""What each KPI counts, in one place: the page, the API, the CSV export, /metrics and the README
read these definitions. Periods are calendar days, ISO weeks (Monday first) and months in UTC."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import models

UTC = UTC


class PeriodKind(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"


def period_start(kind: str, day: date) -> date:
    """The first day of the ``kind`` period holding ``day``."""
    if kind == PeriodKind.DAY:
        return day
    if kind == PeriodKind.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_end(kind: str, start: date) -> date:
    """The first day after the period that starts on ``start`` (exclusive end)."""
    if kind == PeriodKind.DAY:
        return start + timedelta(days=1)
    if kind == PeriodKind.WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def period_shift(kind: str, start: date, count: int) -> date:
    """The start of the period ``count`` periods after (or before, when negative) ``start``."""
    if kind == PeriodKind.DAY:
        return start + timedelta(days=count)
    if kind == PeriodKind.WEEK:
        return start + timedelta(days=7 * count)
    months = start.year * 12 + start.month - 1 + count
    return date(months // 12, months % 12 + 1, 1)


def period_starts(kind: str, first: date, last: date) -> list[date]:
    """Every period start from the period holding ``first`` to the one holding ``last``."""
    starts, current = [], period_start(kind, first)
    while current <= last:
        starts.append(current)
        current = period_end(kind, current)
    return starts


def period_label(kind: str, start: date) -> str:
    if kind == PeriodKind.DAY:
        return start.isoformat()
    if kind == PeriodKind.WEEK:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%Y-%m")


def day_bounds(first: date, end: date) -> tuple[datetime, datetime]:
    """UTC datetimes from the start of ``first`` to the start of ``end`` (exclusive)."""
    return datetime.combine(first, time.min, UTC), datetime.combine(end, time.min, UTC)


# Units a KPI is shown in, with how a value is written.
PERCENT, COUNT, PER_DAY, MINUTES, HOURS = "percent", "count", "per_day", "minutes", "hours"
UNIT_SECONDS = {MINUTES: 60, HOURS: 3600}
UNIT_SUFFIX = {PERCENT: " %", COUNT: "", PER_DAY: " / day", MINUTES: " min", HOURS: " h"}

RELEASES, ERRORS = "releases", "errors"  # which snapshot rows a KPI reads


@dataclass(frozen=True)
class Drill:
    """A list behind a number: ``target`` names the page (see kpis.selectors.drill_url), ``params``
    the filters it adds to the period and the page filters, ``measure`` the figure whose count the
    list shows (a sum of snapshot measures)."""

    label: str
    target: str
    params: dict
    measures: tuple[str, ...]


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    group: str
    unit: str
    formula: str  # "sum", "ratio", "per_day" or "median"
    what: str  # what counts
    when: str  # which time puts it in a period
    numerator: tuple[str, ...] = ()
    denominator: tuple[str, ...] = ()
    samples: str = ""
    better: str = "lower"
    scope: str = RELEASES
    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    drills: tuple[Drill, ...] = field(default=())


ENDED = (
    "when it ended: its post-implementation review (completed — until then a back-out can still "
    "follow), the end of its back-out, or its cancellation"
)
DEPLOYED = ("releases_completed", "releases_backed_out")


def _release_drill(label: str, measures: tuple[str, ...], **params) -> Drill:
    return Drill(label, "releases", params, measures)


COMPLETED_LIST = _release_drill("completed releases", ("releases_completed",), outcome="completed")
BACKED_OUT_LIST = _release_drill(
    "backed-out releases", ("releases_backed_out",), outcome="backed_out"
)
DEPLOYED_LIST = _release_drill(
    "releases whose deployment ended", DEPLOYED, outcome=["completed", "backed_out"]
)


def _error_kpi(category: str, label: str) -> Kpi:
    found, resolved = f"{category}_errors_found", f"{category}_errors_resolved"
    return Kpi(
        key=f"{category}_errors",
        label=label,
        group="Process",
        unit=COUNT,
        formula="sum",
        numerator=(found,),
        scope=ERRORS,
        what=(
            f"{label} recorded, by whoever found them (verification, agent report, import, the "
            "hourly integrity check, a person); of those, how many are resolved and how many are "
            "still open. Level, unit and category filters do not apply: errors belong to CIs and "
            "licences, not to one release."
        ),
        when="when it was found (detected)",
        parts=(("resolved", (resolved,)), ("still open", (found, f"-{resolved}"))),
        drills=(
            Drill(label.lower(), "errors", {"category": category}, (found,)),
            Drill(
                "still open",
                "errors",
                {"category": category, "open": "true"},
                (found, f"-{resolved}"),
            ),
        ),
    )


KPIS: tuple[Kpi, ...] = (
    Kpi(
        key="releases",
        label="Releases",
        group="Process",
        unit=COUNT,
        formula="sum",
        numerator=("releases_completed", "releases_backed_out", "releases_cancelled"),
        better="higher",
        what="Releases that ended: completed, backed out or cancelled.",
        when=ENDED,
        parts=(
            ("completed", ("releases_completed",)),
            ("backed out", ("releases_backed_out",)),
            ("cancelled", ("releases_cancelled",)),
        ),
        drills=(
            _release_drill(
                "releases that ended",
                ("releases_completed", "releases_backed_out", "releases_cancelled"),
                outcome=["completed", "backed_out", "cancelled"],
            ),
            COMPLETED_LIST,
            BACKED_OUT_LIST,
            _release_drill("cancelled", ("releases_cancelled",), outcome="cancelled"),
        ),
    ),
    Kpi(
        key="backout_rate",
        label="Back-outs",
        group="Process",
        unit=PERCENT,
        formula="ratio",
        numerator=("releases_backed_out",),
        denominator=DEPLOYED,
        what="Releases whose deployment ended backed out ÷ releases whose deployment ended (completed or backed out).",
        when=ENDED,
        drills=(BACKED_OUT_LIST, DEPLOYED_LIST),
    ),
    Kpi(
        key="target_backout_rate",
        label="Targets backed out",
        group="Process",
        unit=PERCENT,
        formula="ratio",
        numerator=("targets_backed_out",),
        denominator=("targets_total",),
        what="Targets restored by a back-out ÷ all targets of the releases whose deployment ended.",
        when=ENDED,
        drills=(DEPLOYED_LIST,),
    ),
    _error_kpi("licence", "Licence errors"),
    _error_kpi("cmdb", "CMDB errors"),
    Kpi(
        key="overrides_requested",
        label="Overrides requested",
        group="Discipline",
        unit=COUNT,
        formula="sum",
        numerator=("overrides_requested",),
        what="Requests to continue an installation although a failure condition was met.",
        when="when it was requested",
        drills=(
            Drill("override requests", "overrides", {"by": "requested"}, ("overrides_requested",)),
        ),
    ),
    Kpi(
        key="overrides_confirmed",
        label="Overrides confirmed",
        group="Discipline",
        unit=COUNT,
        formula="sum",
        numerator=("overrides_confirmed",),
        what="Override requests a second person confirmed: the release went on installing.",
        when="when it was confirmed",
        drills=(
            Drill(
                "confirmed overrides", "overrides", {"by": "confirmed"}, ("overrides_confirmed",)
            ),
        ),
    ),
    Kpi(
        key="automatic_backouts",
        label="Automatic back-outs",
        group="Discipline",
        unit=COUNT,
        formula="sum",
        numerator=("backouts_automatic",),
        what="Back-outs that started by themselves because nobody decided before the deadline.",
        when="when the back-out started",
        drills=(
            _release_drill(
                "automatic back-outs",
                ("backouts_automatic",),
                decided="1",
                backout_automatic="true",
            ),
        ),
    ),
    Kpi(
        key="decision_time",
        label="Time to decide",
        group="Discipline",
        unit=MINUTES,
        formula="median",
        samples="decision_seconds",
        what="Median time from a failure condition met to the decision: back-out approved, override confirmed, or the automatic start.",
        when="when it was decided",
        drills=(_release_drill("decisions", ("backouts_decided",), decided="1"),),
    ),
    Kpi(
        key="deployment_frequency",
        label="Deployment frequency",
        group="Delivery",
        unit=PER_DAY,
        formula="per_day",
        numerator=("releases_completed",),
        better="higher",
        what="Completed releases per day of the period (so far, for the current one).",
        when=ENDED,
        drills=(COMPLETED_LIST,),
    ),
    Kpi(
        key="change_failure_rate",
        label="Change failure rate",
        group="Delivery",
        unit=PERCENT,
        formula="ratio",
        numerator=("releases_backed_out",),
        denominator=DEPLOYED,
        what="DORA's change failure rate read for release management: the back-out rate.",
        when=ENDED,
        drills=(BACKED_OUT_LIST, DEPLOYED_LIST),
    ),
    Kpi(
        key="lead_time",
        label="Lead time",
        group="Delivery",
        unit=HOURS,
        formula="median",
        samples="lead_time_seconds",
        what="Median time from the change's approval (the earliest linked change; the release's creation when no change is linked) to every target installed, for completed releases.",
        when=ENDED,
        drills=(COMPLETED_LIST,),
    ),
    Kpi(
        key="time_to_restore",
        label="Time to restore",
        group="Delivery",
        unit=MINUTES,
        formula="median",
        samples="restore_seconds",
        what="Median time from a failure condition met to the release backed out.",
        when=ENDED,
        drills=(BACKED_OUT_LIST,),
    ),
    Kpi(
        key="install_success_rate",
        label="Installation success",
        group="Delivery",
        unit=PERCENT,
        formula="ratio",
        numerator=("targets_installed",),
        denominator=("targets_attempted",),
        better="higher",
        what="Targets installed ÷ targets an installation was attempted on, for releases whose deployment ended.",
        when=ENDED,
        drills=(DEPLOYED_LIST,),
    ),
    Kpi(
        key="on_schedule_rate",
        label="On schedule",
        group="Delivery",
        unit=PERCENT,
        formula="ratio",
        numerator=("targets_on_schedule",),
        denominator=("targets_installed",),
        better="higher",
        what="Targets installed inside the plan's installation window ÷ targets installed.",
        when=ENDED,
        drills=(DEPLOYED_LIST,),
    ),
)

KPI_BY_KEY = {kpi.key: kpi for kpi in KPIS}
KPI_CHOICES = [(kpi.key, kpi.label) for kpi in KPIS]

# The additive measures of a snapshot row, and those that hold duration samples.
COUNT_MEASURES = (
    "releases_completed",
    "releases_backed_out",
    "releases_cancelled",
    "targets_total",
    "targets_backed_out",
    "targets_attempted",
    "targets_installed",
    "targets_on_schedule",
    "overrides_requested",
    "overrides_confirmed",
    "backouts_decided",
    "backouts_automatic",
    "cmdb_errors_found",
    "cmdb_errors_resolved",
    "licence_errors_found",
    "licence_errors_resolved",
)
ERROR_MEASURES = tuple(m for m in COUNT_MEASURES if "_errors_" in m)
RELEASE_MEASURES = tuple(m for m in COUNT_MEASURES if m not in ERROR_MEASURES)
SAMPLE_MEASURES = ("lead_time_seconds", "restore_seconds", "decision_seconds")
