"""Reading the KPIs from their snapshots: a fixed number of queries whatever the history.

``kpi_report(filters)`` gives every KPI's series over the chosen periods, the current value
against its target, its parts and the lists behind each number; the page, the API, the CSV export
and /metrics all read it."""

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import quote, urlencode

from django.db.models import Count, Max, Q, Sum
from django.urls import reverse
from django.utils import timezone

from kpis.definitions import (
    COUNT,
    COUNT_MEASURES,
    ERROR_MEASURES,
    ERRORS,
    KPIS,
    PER_DAY,
    PERCENT,
    RELEASE_MEASURES,
    SAMPLE_MEASURES,
    UNIT_SECONDS,
    UNIT_SUFFIX,
    UTC,
    Kpi,
    PeriodKind,
    period_end,
    period_label,
    period_shift,
    period_start,
)
from kpis.models import KpiRollupState, KpiSnapshot, KpiTarget

MAX_RANGE_DAYS = 5 * 366
DEFAULT_PERIODS = {PeriodKind.DAY: 30, PeriodKind.WEEK: 12, PeriodKind.MONTH: 12}


@dataclass(frozen=True)
class KpiFilters:
    """The page's and the API's filters; ``first``/``last`` are days inside the first and last
    period shown (UTC)."""

    period: str = PeriodKind.MONTH
    first: date | None = None
    last: date | None = None
    level: str = ""
    unit: int | None = None
    environment: str = ""
    category: int | None = None

    def starts(self, today: date) -> list[date]:
        last = period_start(self.period, self.last or today)
        if self.first is not None:
            first = period_start(self.period, self.first)
        else:
            first = period_shift(self.period, last, -(DEFAULT_PERIODS[self.period] - 1))
        starts = []
        while first <= last:
            starts.append(first)
            first = period_end(self.period, first)
        return starts

    def release_query(self) -> Q:
        query = Q(source="")
        if self.level:
            query &= Q(level=self.level)
        if self.unit is not None:
            query &= Q(unit_id=self.unit)
        if self.environment:
            query &= Q(environment=self.environment)
        if self.category is not None:
            query &= Q(category_id=self.category)
        return query

    def error_query(self) -> Q:
        # errors are not tied to a release: only the environment (of their CI) applies
        query = ~Q(source="")
        if self.environment:
            query &= Q(environment=self.environment)
        return query

    def page_params(self) -> dict:
        params = {"level": self.level, "unit": self.unit, "environment": self.environment}
        params["category"] = self.category
        return {k: v for k, v in params.items() if v not in ("", None)}


@dataclass
class Point:
    start: date
    end: date
    label: str
    value: float | None
    measures: dict
    parts: list[tuple[str, int]] = field(default_factory=list)
    drills: list[dict] = field(default_factory=list)


@dataclass
class KpiResult:
    kpi: Kpi
    points: list[Point]
    target: float | None
    target_note: str = ""

    @property
    def current(self) -> Point:
        return self.points[-1]

    @property
    def previous(self) -> Point | None:
        return self.points[-2] if len(self.points) > 1 else None

    @property
    def status(self) -> str:
        """``met``, ``missed`` or ``none`` (no target or no value)."""
        value = self.current.value
        if self.target is None or value is None:
            return "none"
        met = value <= self.target if self.kpi.better == "lower" else value >= self.target
        return "met" if met else "missed"


def _measure(totals: dict, names) -> int:
    """The sum of measures; a name starting with ``-`` is subtracted."""
    return sum(-totals[n[1:]] if n.startswith("-") else totals[n] for n in names)


def _value(kpi: Kpi, totals: dict, samples: dict, days: int) -> float | None:
    if kpi.formula == "sum":
        return _measure(totals, kpi.numerator)
    if kpi.formula == "per_day":
        return round(_measure(totals, kpi.numerator) / days, 2) if days else None
    if kpi.formula == "ratio":
        denominator = _measure(totals, kpi.denominator)
        if not denominator:
            return None
        return round(100 * _measure(totals, kpi.numerator) / denominator, 1)
    values = samples.get(kpi.samples) or []
    if not values:
        return None
    return round(statistics.median(values) / UNIT_SECONDS[kpi.unit], 1)


def format_value(kpi: Kpi, value) -> str:
    if value is None:
        return "—"
    if kpi.unit == COUNT:
        return f"{int(value):,}"
    number = f"{value:,.1f}".rstrip("0").rstrip(".") if kpi.unit != PER_DAY else f"{value:,.2f}"
    return number + UNIT_SUFFIX[kpi.unit]


def _iso(day: date) -> str:
    return datetime.combine(day, time.min, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _drill_parts(drill, filters: KpiFilters) -> tuple[str, str, str]:
    """(list page name, its fixed query, the name prefix of its period filters)."""
    page = dict(filters.page_params())
    params = dict(drill.params)
    if drill.target == "errors":
        page = {"environment": filters.environment} if filters.environment else {}
        params.setdefault("open", "")  # the error list shows only open ones unless told
        name, prefix = "cmdb:error-list", "detected"
    elif drill.target == "overrides":
        name, prefix = "releases:override-list", params.pop("by")
    else:
        name = "releases:release-list"
        prefix = "decided" if params.pop("decided", None) else "ended"
    return name, urlencode({**page, **params}, doseq=True), prefix


def drill_url(drill, filters: KpiFilters, start: date, end: date, *, cache=None) -> str:
    """The list behind a number, filtered so that its count equals the number. ``cache`` (a
    dict) keeps what does not depend on the period across the calls of one report."""
    cache = {} if cache is None else cache
    key = id(drill)  # one report: one set of filters; drills are module constants
    if key not in cache:
        name, fixed, prefix = _drill_parts(drill, filters)
        if name not in cache:
            cache[name] = reverse(name)
        cache[key] = (cache[name], fixed, prefix)
    path, fixed, prefix = cache[key]
    window = f"{prefix}_after={quote(_iso(start))}&{prefix}_before={quote(_iso(end))}"
    return f"{path}?{fixed}&{window}" if fixed else f"{path}?{window}"


def _snapshot_sums(filters: KpiFilters, starts: list[date]) -> tuple[dict, dict, dict]:
    """Per period start: the summed measures, the merged samples, and errors by source —
    three queries."""
    rows = KpiSnapshot.objects.filter(period=filters.period, start__in=starts)
    release_q, error_q = filters.release_query(), filters.error_query()
    sums = (
        rows.filter(release_q | error_q)
        .values("start")
        .annotate(
            **{m: Sum(m, filter=release_q, default=0) for m in RELEASE_MEASURES},
            **{m: Sum(m, filter=error_q, default=0) for m in ERROR_MEASURES},
        )
        .order_by()
    )
    totals = {row.pop("start"): row for row in sums}
    samples: dict[date, dict[str, list]] = {}
    with_samples = Q()
    for name in SAMPLE_MEASURES:
        with_samples |= Q(**{f"{name}__isnull": False})
    for row in rows.filter(release_q & with_samples).values("start", *SAMPLE_MEASURES):
        bucket = samples.setdefault(row["start"], {})
        for name in SAMPLE_MEASURES:
            bucket.setdefault(name, []).extend(row[name] or [])
    by_source: dict[date, dict[str, dict]] = {}
    for row in (
        rows.filter(error_q)
        .values("start", "source")
        .annotate(**{m: Sum(m, default=0) for m in ERROR_MEASURES})
        .order_by()
    ):
        by_source.setdefault(row.pop("start"), {})[row.pop("source")] = row
    return totals, samples, by_source


SINGULAR = {
    "releases": "release",
    "errors": "error",
    "requests": "request",
    "overrides": "override",
    "decisions": "decision",
    "back-outs": "back-out",
}


def _counted(label: str, count: int) -> str:
    """The drill label agreeing with its count ("1 completed release")."""
    if count != 1:
        return label
    return " ".join(SINGULAR.get(word, word) for word in label.split(" "))


def _days(kind: str, start: date, end: date, today: date) -> int:
    if start <= today < end:
        return (today - start).days + 1
    return (end - start).days


def kpi_report(filters: KpiFilters, *, keys=None, today: date | None = None) -> list[KpiResult]:
    """Every KPI (or those named) over the periods the filters select: four queries."""
    today = today or timezone.now().astimezone(UTC).date()
    starts = filters.starts(today)
    totals, samples, by_source = _snapshot_sums(filters, starts)
    targets = {t.kpi: t for t in KpiTarget.objects.all()}
    zero = dict.fromkeys(COUNT_MEASURES, 0)
    urls: dict = {}
    results = []
    for kpi in KPIS:
        if keys is not None and kpi.key not in keys:
            continue
        points = []
        for start in starts:
            end = period_end(filters.period, start)
            measures = totals.get(start, zero)
            point = Point(
                start=start,
                end=end,
                label=period_label(filters.period, start),
                value=_value(
                    kpi, measures, samples.get(start, {}), _days(filters.period, start, end, today)
                ),
                measures=measures,
                parts=[(label, _measure(measures, names)) for label, names in kpi.parts],
                drills=[
                    {
                        "label": _counted(drill.label, _measure(measures, drill.measures)),
                        "count": _measure(measures, drill.measures),
                        "url": drill_url(drill, filters, start, end, cache=urls),
                    }
                    for drill in kpi.drills
                ],
            )
            if kpi.samples:
                point.measures = {
                    **measures,
                    "samples": len(samples.get(start, {}).get(kpi.samples, [])),
                }
            if kpi.scope == ERRORS:
                found = f"{kpi.key.removesuffix('_errors')}_errors_found"
                point.parts += [
                    (f"found by {source.replace('_', ' ')}", figures[found])
                    for source, figures in sorted(by_source.get(start, {}).items())
                    if figures[found]
                ]
            points.append(point)
        target = targets.get(kpi.key)
        results.append(
            KpiResult(
                kpi=kpi,
                points=points,
                target=float(target.value) if target else None,
                target_note=target.note if target else "",
            )
        )
    return results


SUMMARY_KEYS = (
    "releases",
    "backout_rate",
    "licence_errors",
    "cmdb_errors",
    "overrides_confirmed",
    "automatic_backouts",
    "decision_time",
)


def kpi_summary(*, today: date) -> dict:
    """The month so far for the dashboards: the four process KPIs and the discipline ones, each
    against its target (four queries); ``count`` is how many miss their target."""
    month = KpiFilters(period=PeriodKind.MONTH, first=today, last=today)
    results = kpi_report(month, keys=set(SUMMARY_KEYS), today=today)
    order = {key: index for index, key in enumerate(SUMMARY_KEYS)}
    results.sort(key=lambda r: order[r.kpi.key])
    rows = [
        {
            "key": r.kpi.key,
            "label": r.kpi.label,
            "value": format_value(r.kpi, r.current.value),
            "target": format_value(r.kpi, r.target) if r.target is not None else "",
            "better": r.kpi.better,
            "status": r.status,
            "drill": r.current.drills[0] if r.current.drills else None,
        }
        for r in results
    ]
    return {
        "rows": rows,
        "month": period_label(PeriodKind.MONTH, month.starts(today)[-1]),
        # how many miss their target; no list shows exactly those, so the count links nowhere
        "count": sum(1 for row in rows if row["status"] == "missed"),
    }


def kpi_rollup_status() -> dict:
    """When the rollup last ran, whether that is too long ago, and a ``stamp`` that changes
    whenever the snapshots or the targets may have changed (for caching what they show): two
    queries."""
    state = KpiRollupState.objects.filter(pk=1).first()
    targets = KpiTarget.objects.aggregate(changed=Max("updated_at"), count=Count("pk"))
    last_run_at = state.last_run_at if state is not None else None
    stamp = "|".join(
        str(part)
        for part in (
            last_run_at,
            state.last_full_at if state is not None else None,
            targets["changed"],
            targets["count"],
        )
    )
    if last_run_at is None:
        return {"last_run_at": None, "stale": True, "stamp": stamp}
    stale = timezone.now() - last_run_at > timedelta(minutes=30)
    return {"last_run_at": last_run_at, "stale": stale, "stamp": stamp}


__all__ = ["PERCENT", "KpiFilters", "KpiResult", "drill_url", "format_value", "kpi_report"]
