"""The auditor: back-out overrides."""

from datetime import timedelta

from django.db.models import (
    Count,
    Q,
)

from kpis.dashboards.selectors.common import (
    LIMIT,
    list_url,
)
from releases.choices import (
    OverrideStatus,
)
from releases.models import (
    BackoutOverride,
)


def backout_overrides(*, now, days: int = 30) -> dict:
    """Back-out overrides requested in the last ``days`` days, newest first, with how many are
    awaiting confirmation, confirmed and withdrawn. Two queries."""
    since = now - timedelta(days=days)
    recent = BackoutOverride.objects.filter(requested_at__gte=since)
    counts = recent.aggregate(
        requested=Count("pk", filter=Q(status=OverrideStatus.REQUESTED)),
        confirmed=Count("pk", filter=Q(status=OverrideStatus.CONFIRMED)),
        withdrawn=Count("pk", filter=Q(status=OverrideStatus.WITHDRAWN)),
    )
    rows = list(
        recent.select_related("release", "requested_by", "confirmed_by").order_by(
            "-requested_at", "-id"
        )[:LIMIT]
    )
    return {
        "count": counts["requested"] + counts["confirmed"] + counts["withdrawn"],
        **counts,
        "overrides": rows,
        "days": days,
        "url": list_url("releases:override-list", requested_after=since.isoformat()),
    }
