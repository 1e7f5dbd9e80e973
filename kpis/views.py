"""The KPI page and its CSV export: both read the snapshots through ``kpi_report``."""

import csv
import hashlib

from django.contrib.auth.decorators import permission_required
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from kpis.charts import bar_chart
from kpis.definitions import UTC, PeriodKind
from kpis.forms import KpiFilterForm
from kpis.selectors import format_value, kpi_report, kpi_rollup_status

GROUPS = ("Process", "Discipline", "Delivery")
# A new rollup or target changes the stamp, hence the key; this only bounds what stays cached.
CARDS_CACHE_SECONDS = 15 * 60


def _form(request) -> KpiFilterForm:
    return KpiFilterForm(request.GET or None)


@permission_required("kpis.view_kpisnapshot", raise_exception=True)
def kpi_page(request):
    """One chart per KPI over the last 12 weeks or months (or 30 days), the current value
    against its target, the parts, and the list behind every number."""
    form = _form(request)
    if form.is_bound and not form.is_valid():
        return render(request, "kpis/kpi_page.html", {"form": form, "has_cards": False}, status=400)
    filters = form.filters()
    today = timezone.now().astimezone(UTC).date()
    rollup = kpi_rollup_status()
    cards_html = _cards_html(filters, today, stamp=rollup["stamp"])
    query = request.GET.copy()
    switch = {}
    for kind in PeriodKind.values:
        query["period"] = kind
        query.pop("from", None)
        switch[kind] = query.urlencode()
    context = {
        "form": form,
        "filters": filters,
        "cards_html": cards_html,
        "has_cards": True,
        "period": filters.period,
        "period_label": PeriodKind(filters.period).label.lower(),
        "switch": switch,
        "export_query": request.GET.urlencode(),
        "rollup": rollup,
        "active_filters": _described(form) if form.is_bound else [],
        "now": timezone.now(),
    }
    return render(request, "kpis/kpi_page.html", context)


def _cards_html(filters, today, *, stamp: str) -> str:
    """The KPI cards, rendered once for each state of the snapshots and targets (``stamp``),
    filters and day: they are the same for every reader, and 15 charts with their tables of
    links cost far more to render than the four queries behind them."""
    key = "kpis:cards:" + hashlib.sha256(repr((stamp, filters, today)).encode()).hexdigest()
    html = cache.get(key)
    if html is None:
        report = kpi_report(filters, today=today)
        cards = [
            {
                "result": result,
                "value": format_value(result.kpi, result.current.value),
                "previous": format_value(result.kpi, result.previous.value)
                if result.previous
                else "",
                "target": format_value(result.kpi, result.target)
                if result.target is not None
                else "",
                "rows": [(p, format_value(result.kpi, p.value)) for p in reversed(result.points)],
                "running": result.current.end > today,
                "chart": mark_safe(  # noqa: S308 — built by kpis.charts, every text escaped there
                    bar_chart(result, chart_id=f"chart-{result.kpi.key}", period=filters.period)
                ),
            }
            for result in report
        ]
        groups = [(name, [c for c in cards if c["result"].kpi.group == name]) for name in GROUPS]
        html = render_to_string(
            "kpis/_kpi_groups.html",
            {"groups": groups, "period_label": PeriodKind(filters.period).label.lower()},
        )
        cache.set(key, html, CARDS_CACHE_SECONDS)
    return mark_safe(html)  # noqa: S308 — rendered by the template engine above, autoescaped


def _described(form) -> list[str]:
    """The filters in force, as people read them."""
    described = []
    for name in ("level", "unit", "environment", "category"):
        value = form.cleaned_data.get(name)
        if value:
            field = form.fields[name]
            label = (
                dict(field.choices).get(value, value)
                if hasattr(field, "choices") and not hasattr(value, "pk")
                else value
            )
            described.append(f"{name}: {label}")
    for name, word in (("from", "from"), ("to", "to")):
        if form.cleaned_data.get(name):
            described.append(f"{word} {form.cleaned_data[name]:%Y-%m-%d}")
    return described


@permission_required("kpis.view_kpisnapshot", raise_exception=True)
def kpi_export(request):
    """What the page shows, as CSV: one row per KPI and period."""
    form = _form(request)
    if form.is_bound and not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(m)}" for name, m in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    filters = form.filters()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="kpis-{filters.period}-{timezone.now():%Y%m%d}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(
        [
            "kpi",
            "label",
            "unit",
            "period",
            "period_start",
            "period_end",
            "value",
            "target",
            "status",
            "level",
            "unit_id",
            "environment",
            "category_id",
        ]
    )
    for result in kpi_report(filters):
        for point in result.points:
            current = point is result.current
            writer.writerow(
                [
                    result.kpi.key,
                    result.kpi.label,
                    result.kpi.unit,
                    point.label,
                    point.start.isoformat(),
                    point.end.isoformat(),
                    "" if point.value is None else point.value,
                    "" if result.target is None else result.target,
                    result.status if current else "",
                    filters.level,
                    filters.unit or "",
                    filters.environment,
                    filters.category or "",
                ]
            )
    return response
