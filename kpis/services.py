"""The KPI rollup: snapshot rows written from SQL aggregates, by the database itself.

Each family of measures is one ``INSERT … SELECT … GROUP BY period, level, unit, environment,
category[, source]`` over the records it counts — releases by when they ended, their targets,
CMDB and licence errors by when they were found, overrides by when they were requested and
confirmed, back-out decisions by when they were taken. No row passes through Python.

- Days are computed from the records; weeks and months are added up from their days' rows
  (every measure is a count or a list of samples, so the sums are exact and cheap).
- ``kpi_rollup_full()`` recomputes everything, one transaction per period kind.
- ``kpi_rollup_dirty()`` (beat, every ``KPI_ROLLUP_SECONDS``) finds records changed since its
  watermark, marks the periods they count in dirty, always refreshes the current periods, and
  recomputes exactly the dirty ones — one transaction per period, so a failure half-way writes
  nothing for that period and leaves it dirty for the next run.
- ``kpi_periods_mark_dirty(since=…)`` reopens every period from a date (``manage.py kpi_rollup
  --since``)."""

import logging
import time
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import (
    Count,
    DateField,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Trunc
from django.utils import timezone

from cmdb.models import Discrepancy
from kpis.definitions import (
    COUNT_MEASURES,
    SAMPLE_MEASURES,
    UTC,
    PeriodKind,
    day_bounds,
    period_end,
    period_start,
)
from kpis.models import KpiDirtyPeriod, KpiRollupState, KpiSnapshot
from kpis.sql import JsonArray, SecondsBetween
from releases.choices import InstallationState, Outcome
from releases.models import BackoutOverride, ChangeRequest, Release, ReleaseTarget

logger = logging.getLogger(__name__)

DIMENSIONS = ("level", "unit_id", "environment", "category_id", "source")
# Records that change close to a run may commit after it read them: look back this far.
WATERMARK_OVERLAP = timedelta(minutes=2)
COMPLETED, BACKED_OUT, CANCELLED = Outcome.COMPLETED, Outcome.BACKED_OUT, Outcome.CANCELLED


def _period(field: str, kind: str):
    return Trunc(field, kind, output_field=DateField(), tzinfo=UTC)


def _release_dimensions(prefix: str = "") -> dict:
    return {
        "k_level": F(f"{prefix}level"),
        "k_unit_id": F(f"{prefix}release_unit_id"),
        "k_environment": Coalesce(F(f"{prefix}release_unit__environment"), Value("")),
        "k_category_id": F(f"{prefix}category_id"),
        "k_source": Value(""),
    }


def _released(kind, low, high):
    """Releases by the time they ended: counts, targets and the lead-time and restore samples."""
    approved = (
        ChangeRequest.objects.filter(releases=OuterRef("pk"), approved_at__isnull=False)
        .order_by()
        .values("releases")
        .annotate(first=Min("approved_at"))
        .values("first")
    )
    deployed = Q(outcome__in=[COMPLETED, BACKED_OUT])
    return (
        Release.objects.filter(ended_at__gte=low, ended_at__lt=high)
        .annotate(k_start=_period("ended_at", kind), **_release_dimensions())
        .values("k_start", *(f"k_{d}" for d in DIMENSIONS))
        .annotate(
            releases_completed=Count("pk", filter=Q(outcome=COMPLETED)),
            releases_backed_out=Count("pk", filter=Q(outcome=BACKED_OUT)),
            releases_cancelled=Count("pk", filter=Q(outcome=CANCELLED)),
            targets_total=Coalesce(Sum("count_targets", filter=deployed), 0),
            targets_backed_out=Coalesce(Sum("count_backed_out", filter=deployed), 0),
            lead_time_seconds=JsonArray(
                SecondsBetween("installed_at", Coalesce(Subquery(approved), F("created_at"))),
                filter=Q(outcome=COMPLETED, installed_at__isnull=False),
            ),
            restore_seconds=JsonArray(
                SecondsBetween("ended_at", "backout_required_at"),
                filter=Q(outcome=BACKED_OUT, backout_required_at__isnull=False),
            ),
        )
    )


def _targets(kind, low, high):
    """Targets of the releases whose deployment ended: attempted, installed, on schedule."""
    attempted = (
        Q(attempts__gt=0)
        | Q(installed_at__isnull=False)
        | Q(installation_state=InstallationState.FAILED)
    )
    on_schedule = Q(
        installed_at__gte=F("release__installation_start"),
        installed_at__lte=F("release__installation_end"),
    )
    return (
        ReleaseTarget.objects.filter(
            release__ended_at__gte=low,
            release__ended_at__lt=high,
            release__outcome__in=[COMPLETED, BACKED_OUT],
        )
        .annotate(k_start=_period("release__ended_at", kind), **_release_dimensions("release__"))
        .values("k_start", *(f"k_{d}" for d in DIMENSIONS))
        .annotate(
            targets_attempted=Count("pk", filter=attempted),
            targets_installed=Count("pk", filter=Q(installed_at__isnull=False)),
            targets_on_schedule=Count("pk", filter=on_schedule),
        )
    )


def _errors(kind, low, high):
    """CMDB and licence errors by the time they were found, and how many are resolved now."""
    resolved = Q(resolved_at__isnull=False)
    return (
        Discrepancy.objects.filter(detected_at__gte=low, detected_at__lt=high)
        .annotate(
            k_start=_period("detected_at", kind),
            k_level=Value(""),
            k_unit_id=Cast(Value(None), IntegerField()),
            k_environment=Coalesce(F("ci__environment"), Value("")),
            k_category_id=Cast(Value(None), IntegerField()),
            k_source=F("source"),
        )
        .values("k_start", *(f"k_{d}" for d in DIMENSIONS))
        .annotate(
            cmdb_errors_found=Count("pk", filter=Q(category="cmdb")),
            cmdb_errors_resolved=Count("pk", filter=Q(category="cmdb") & resolved),
            licence_errors_found=Count("pk", filter=Q(category="licence")),
            licence_errors_resolved=Count("pk", filter=Q(category="licence") & resolved),
        )
    )


def _overrides(field: str, measure: str):
    def family(kind, low, high):
        return (
            BackoutOverride.objects.filter(**{f"{field}__gte": low, f"{field}__lt": high})
            .annotate(k_start=_period(field, kind), **_release_dimensions("release__"))
            .values("k_start", *(f"k_{d}" for d in DIMENSIONS))
            .annotate(**{measure: Count("pk")})
        )

    return family


def _decisions(kind, low, high):
    """Back-out decisions by when they were taken: how many, how many automatic, how long."""
    return (
        Release.objects.filter(backout_decided_at__gte=low, backout_decided_at__lt=high)
        .annotate(k_start=_period("backout_decided_at", kind), **_release_dimensions())
        .values("k_start", *(f"k_{d}" for d in DIMENSIONS))
        .annotate(
            backouts_decided=Count("pk"),
            backouts_automatic=Count("pk", filter=Q(backout_started_automatically=True)),
            decision_seconds=JsonArray(
                SecondsBetween("backout_decided_at", "backout_required_at"),
                filter=Q(backout_required_at__isnull=False),
            ),
        )
    )


FAMILIES = (
    ("releases", _released),
    ("targets", _targets),
    ("errors", _errors),
    ("overrides requested", _overrides("requested_at", "overrides_requested")),
    ("overrides confirmed", _overrides("confirmed_at", "overrides_confirmed")),
    ("decisions", _decisions),
)


def _insert(queryset, kind: str, computed_at: datetime) -> int:
    """``INSERT INTO snapshot SELECT …`` from an aggregate queryset whose columns are named
    ``k_start``, ``k_<dimension>`` and the measures; the measures it does not produce are 0."""
    sql, params = queryset.query.sql_with_params()
    produced = [name for name in queryset.query.annotation_select if not name.startswith("k_")]
    quote = connection.ops.quote_name
    columns, values = ["period", "start"], ["%s", f"q.{quote('k_start')}"]
    columns += [KpiSnapshot._meta.get_field(d.removesuffix("_id")).column for d in DIMENSIONS]
    values += [f"q.{quote('k_' + d)}" for d in DIMENSIONS]
    for measure in (*COUNT_MEASURES, *SAMPLE_MEASURES):
        columns.append(measure)
        if measure in produced:
            values.append(f"q.{quote(measure)}")
        else:
            values.append("NULL" if measure in SAMPLE_MEASURES else "0")
    columns.append("computed_at")
    values.append("%s")
    # only model column names and this module's aliases are formatted in; values are parameters
    statement = (
        f"INSERT INTO {quote(KpiSnapshot._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM ({sql}) q"
    )
    # placeholders in text order: the period kind, the computation time, then the SELECT's own
    with connection.cursor() as cursor:
        cursor.execute(statement, [kind, computed_at, *params])
        return cursor.rowcount


def _compute(kind: str, first: date, end: date, computed_at: datetime) -> int:
    """Write the snapshot rows of every ``kind`` period from ``first`` to ``end`` (exclusive);
    the caller has deleted what stood there, in the same transaction."""
    low, high = day_bounds(first, end)
    return sum(_insert(family(kind, low, high), kind, computed_at) for _, family in FAMILIES)


def _data_span() -> tuple[date, date] | None:
    """The first and last day any counted record falls on (to bound a full rollup)."""
    earliest = [
        Release.objects.filter(ended_at__isnull=False).aggregate(t=Min("ended_at"))["t"],
        Release.objects.aggregate(t=Min("backout_decided_at"))["t"],
        Discrepancy.objects.aggregate(t=Min("detected_at"))["t"],
        BackoutOverride.objects.aggregate(t=Min("requested_at"))["t"],
    ]
    earliest = [t for t in earliest if t is not None]
    if not earliest:
        return None
    return min(earliest).astimezone(UTC).date(), timezone.now().astimezone(UTC).date()


def kpi_rollup_full() -> dict:
    """Recompute every snapshot from the records: one transaction per period kind (its rows are
    replaced whole, or not at all). Clears every dirty mark it covers. Idempotent."""
    started = time.monotonic()
    run_at = timezone.now()
    span = _data_span()
    rows = 0
    for kind in PeriodKind.values:  # days first: weeks and months are added up from them
        with transaction.atomic():
            KpiSnapshot.objects.filter(period=kind).delete()
            if span is not None:
                start, last = period_start(kind, span[0]), span[1]
                if kind == PeriodKind.DAY:
                    rows += _compute(kind, start, period_end(kind, last), run_at)
                else:
                    while start <= last:
                        rows += _compute_from_days(kind, start, run_at)
                        start = period_end(kind, start)
            KpiDirtyPeriod.objects.filter(period=kind).delete()
    seconds = time.monotonic() - started
    KpiRollupState.objects.update_or_create(
        pk=1,
        defaults={
            "watermark": run_at,
            "last_full_at": run_at,
            "last_run_at": run_at,
            "last_run_seconds": seconds,
        },
    )
    logger.info("KPI rollup (full): %s rows in %.2f s", rows, seconds)
    return {"rows": rows, "seconds": seconds}


def _periods_of(moments) -> set[tuple[str, date]]:
    periods = set()
    for moment in moments:
        if moment is None:
            continue
        day = moment.astimezone(UTC).date()
        periods.update((kind, period_start(kind, day)) for kind in PeriodKind.values)
    return periods


def _changed_periods(since: datetime) -> set[tuple[str, date]]:
    """The periods that records changed since ``since`` count in (three queries)."""
    moments = []
    for ended, decided in Release.objects.filter(updated_at__gte=since).values_list(
        "ended_at", "backout_decided_at"
    ):
        moments += [ended, decided]
    moments += Discrepancy.objects.filter(updated_at__gte=since).values_list(
        "detected_at", flat=True
    )
    for requested, confirmed in BackoutOverride.objects.filter(
        Q(requested_at__gte=since) | Q(confirmed_at__gte=since)
    ).values_list("requested_at", "confirmed_at"):
        moments += [requested, confirmed]
    return _periods_of(moments)


def _mark(periods) -> None:
    KpiDirtyPeriod.objects.bulk_create(
        [KpiDirtyPeriod(period=kind, start=start) for kind, start in periods],
        ignore_conflicts=True,
    )


def kpi_periods_mark_dirty(*, since: date) -> int:
    """Reopen every period from the one holding ``since`` up to today."""
    today = timezone.now().astimezone(UTC).date()
    periods = set()
    for kind in PeriodKind.values:
        start = period_start(kind, since)
        while start <= today:
            periods.add((kind, start))
            start = period_end(kind, start)
    _mark(periods)
    return len(periods)


def _samples_merged(column: str) -> str:
    """SQL merging the JSON sample arrays of a group into one (NULL when every row has none).
    The samples are whole numbers, so joining the arrays' inner texts is exact."""
    if connection.vendor == "postgresql":
        inner = f"string_agg(NULLIF(btrim({column}::text, '[]'), ''), ',')"
        merged = f"('[' || COALESCE({inner}, '') || ']')::jsonb"
    else:
        inner = f"group_concat(NULLIF(trim({column}, '[]'), ''), ',')"
        merged = f"'[' || COALESCE({inner}, '') || ']'"
    return f"CASE WHEN count({column}) = 0 THEN NULL ELSE {merged} END"


def _compute_from_days(kind: str, start: date, computed_at: datetime) -> int:
    """Write a week's or a month's snapshot rows by adding up its days' rows: every measure is
    a count or a list of samples, both additive, so this equals computing it from the records
    — at the cost of reading a few hundred snapshot rows instead of the period's records."""
    quote = connection.ops.quote_name
    table = quote(KpiSnapshot._meta.db_table)
    dimensions = [
        quote(KpiSnapshot._meta.get_field(d.removesuffix("_id")).column) for d in DIMENSIONS
    ]
    counts = [f"SUM({quote(m)})" for m in COUNT_MEASURES]
    samples = [_samples_merged(quote(m)) for m in SAMPLE_MEASURES]
    measures = [quote(m) for m in (*COUNT_MEASURES, *SAMPLE_MEASURES)]
    columns = [quote("period"), quote("start"), *dimensions, *measures, quote("computed_at")]
    # only model column names are formatted in; values are parameters
    statement = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT %s, %s, {', '.join(dimensions)}, {', '.join(counts + samples)}, %s "
        f"FROM {table} WHERE {quote('period')} = %s AND {quote('start')} >= %s "
        f"AND {quote('start')} < %s GROUP BY {', '.join(dimensions)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            [kind, start, computed_at, PeriodKind.DAY, start, period_end(kind, start)],
        )
        return cursor.rowcount


def kpi_period_recompute(*, kind: str, start: date, computed_at: datetime | None = None) -> bool:
    """Recompute one dirty period in one transaction; False when another run holds it. A day is
    computed from the records; a week or a month from its days — so it waits (stays dirty, False)
    while any of its days is dirty, rather than add up figures about to change."""
    computed_at = computed_at or timezone.now()
    with transaction.atomic():
        claimed = (
            KpiDirtyPeriod.objects.select_for_update(skip_locked=True)
            .filter(period=kind, start=start)
            .first()
        )
        if claimed is None:
            return False
        end = period_end(kind, start)
        if (
            kind != PeriodKind.DAY
            and KpiDirtyPeriod.objects.filter(
                period=PeriodKind.DAY, start__gte=start, start__lt=end
            ).exists()
        ):
            return False
        KpiSnapshot.objects.filter(period=kind, start=start).delete()
        if kind == PeriodKind.DAY:
            _compute(kind, start, end, computed_at)
        else:
            _compute_from_days(kind, start, computed_at)
        claimed.delete()
    return True


def kpi_rollup_dirty(*, now: datetime | None = None) -> dict:
    """The periodic rollup: mark the periods of records changed since the watermark and the
    current periods dirty, then recompute every dirty period, each in its own transaction."""
    started = time.monotonic()
    now = now or timezone.now()
    state, _ = KpiRollupState.objects.get_or_create(pk=1)
    if state.watermark is None:
        return {**kpi_rollup_full(), "periods": None}
    periods = _changed_periods(state.watermark - WATERMARK_OVERLAP)
    periods |= _periods_of([now])
    _mark(periods)
    done = 0
    # days first: weeks and months are added up from them
    dirty = KpiDirtyPeriod.objects.values_list("period", "start")
    for kind, start in sorted(dirty, key=lambda p: (p[0] != PeriodKind.DAY, p[1], p[0])):
        done += kpi_period_recompute(kind=kind, start=start, computed_at=now)
    seconds = time.monotonic() - started
    KpiRollupState.objects.filter(pk=1).update(
        watermark=now, last_run_at=now, last_run_seconds=seconds, last_periods=done
    )
    return {"periods": done, "seconds": seconds}
