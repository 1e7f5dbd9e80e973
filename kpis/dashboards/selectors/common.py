"""What the dashboard readers share: states, limits and list addresses."""

from datetime import timedelta

from django.conf import settings
from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.http import urlencode

from releases.choices import (
    InstallationState,
    ReleaseState,
)

S = ReleaseState
IS = InstallationState
LIMIT = 10  # rows listed on a card; its count covers every row
MY_RELEASES_LIMIT = 15

LIVE_STATES = (S.DISTRIBUTING, S.INSTALLING)
# Not yet installing: an installation window in the next hours is still to come.
PRE_INSTALL_STATES = (
    S.REQUESTED,
    S.PLANNED,
    S.BUILT,
    S.TESTING,
    S.ACCEPTED,
    S.ROLLOUT_PLANNED,
    S.VERIFICATION_FAILED,
    S.VERIFIED,
    S.DISTRIBUTING,
    S.DISTRIBUTED,
)
READY_TO_INSTALL = frozenset({S.VERIFIED, S.DISTRIBUTING, S.DISTRIBUTED})
# Planned but not yet deployed: their new installations will take licence seats.
SEAT_TAKING_STATES = (
    S.PLANNED,
    S.BUILT,
    S.TESTING,
    S.ACCEPTED,
    S.ROLLOUT_PLANNED,
    S.VERIFICATION_FAILED,
    S.VERIFIED,
)
UNFINISHED_INSTALLATION = (IS.PENDING, IS.SCHEDULED, IS.WAITING, IS.RUNNING)
# (label, youngest age in days, oldest age in days): open errors by how long they are open.
AGE_BUCKETS = (
    ("< 1 day", None, 1),
    ("1–7 days", 1, 7),
    ("7–30 days", 7, 30),
    ("> 30 days", 30, None),
)


def list_url(name: str, **params) -> str:
    """A list page's address with its filters (several values for a list: ``state=[...]``)."""
    path = reverse(name)
    return f"{path}?{urlencode(params, doseq=True)}" if params else path


def count_per_release(queryset) -> Coalesce:
    """How many rows of ``queryset`` belong to the outer release: a subquery, so several counts
    on one release list join nothing and multiply nothing."""
    counted = (
        queryset.filter(release=OuterRef("pk"))
        .order_by()
        .values("release")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def stuck_after() -> timedelta:
    return timedelta(minutes=settings.DASHBOARD_STUCK_MINUTES)


def quiet_since(last_report, state_changed_at, created_at):
    """When an installing release last showed a sign of life: its last target report, or when it
    started installing if that is later (or no target reported yet)."""
    started = state_changed_at or created_at
    return max(last_report, started) if last_report else started
