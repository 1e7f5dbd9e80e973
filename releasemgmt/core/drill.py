"""Filters a list page receives from a drill-down (the KPI page, a dashboard card) but has no
control for: kept as hidden fields when the page's own form is submitted, and named above the
list so nobody wonders why it is shorter than expected."""

from datetime import datetime

from django.utils.dateparse import parse_datetime

LABELS = {
    "outcome": "outcome",
    "environment": "environment",
    "category": "category",
    "ended_after": "ended from",
    "ended_before": "ended before",
    "decided_after": "back-out decided from",
    "decided_before": "back-out decided before",
    "backout_automatic": "back-out started by itself",
    "detected_after": "found from",
    "detected_before": "found before",
    "requested_after": "requested from",
    "requested_before": "requested before",
    "confirmed_after": "confirmed from",
    "confirmed_before": "confirmed before",
}


def _shown(value: str) -> str:
    moment = parse_datetime(value) if "T" in value else None
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return value.replace("_", " ")


def drill_filters(request, names) -> list[dict]:
    """``[{"name", "value", "label", "shown"}]`` for each of ``names`` present in the query."""
    found = []
    for name in names:
        for value in request.GET.getlist(name):
            if value:
                found.append(
                    {
                        "name": name,
                        "value": value,
                        "label": LABELS.get(name, name),
                        "shown": _shown(value),
                    }
                )
    return found
