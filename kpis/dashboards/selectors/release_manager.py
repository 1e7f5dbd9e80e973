"""The release manager: stuck releases, installations due, freezes coming, licence shortfalls."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Subquery,
)
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone

from cmdb.choices import LicenceMetric
from cmdb.models import InstalledSoftware, Licence
from cmdb.selectors import licence_is_valid_on, licences_with_usage
from dsl_dhs.models import LicenceProduct
from kpis.dashboards.selectors.common import (
    LIMIT,
    PRE_INSTALL_STATES,
    READY_TO_INSTALL,
    SEAT_TAKING_STATES,
    S,
    list_url,
    stuck_after,
)
from releases.models import (
    FreezeWindow,
    Release,
    ReleaseTarget,
)


def stuck_releases(*, now) -> dict:
    """Releases installing with no target report for ``DASHBOARD_STUCK_MINUTES`` (counted from
    when installation started if no target has reported since). Two queries."""
    cutoff = now - stuck_after()
    started = Coalesce("state_changed_at", "created_at")
    # the latest report per release read from the (release, last_report_at) index: no
    # aggregate over every target of every installing release
    latest = (
        ReleaseTarget.objects.filter(release=OuterRef("pk"), last_report_at__isnull=False)
        .order_by("-last_report_at")
        .values("last_report_at")[:1]
    )
    stuck = (
        Release.objects.filter(state=S.INSTALLING)
        .annotate(last_report=Subquery(latest))
        .annotate(quiet_since=Greatest(Coalesce("last_report", started), started))
        .filter(quiet_since__lt=cutoff)
    )
    rows = list(stuck.select_related("release_unit", "owner").order_by("quiet_since", "pk")[:LIMIT])
    for release in rows:
        release.quiet_minutes = int((now - release.quiet_since).total_seconds() // 60)
    return {
        "count": stuck.count(),
        "releases": rows,
        "minutes": settings.DASHBOARD_STUCK_MINUTES,
    }


def installations_due(*, now, hours: int = 48) -> dict:
    """Releases whose installation window opens in the next ``hours`` hours (or is open already)
    and that are not installing yet, soonest first; those not yet ready (before ``verified``)
    are marked. Two queries."""
    due = Release.objects.filter(
        state__in=PRE_INSTALL_STATES,
        installation_start__lt=now + timedelta(hours=hours),
        installation_end__gt=now,
    )
    rows = list(
        due.select_related("release_unit", "owner").order_by("installation_start", "pk")[:LIMIT]
    )
    for release in rows:
        release.is_ready = release.state in READY_TO_INSTALL
        release.window_open = release.installation_start <= now
    return {"count": due.count(), "releases": rows, "hours": hours}


def freeze_windows_coming(*, now, days: int = 14) -> dict:
    """Freeze windows in force now or starting in the next ``days`` days. Two queries."""
    windows = FreezeWindow.objects.filter(start__lt=now + timedelta(days=days), end__gt=now)
    rows = list(windows.select_related("release_unit").order_by("start", "pk")[:LIMIT])
    for window in rows:
        window.is_current = window.start <= now
    return {
        "count": windows.count(),
        "windows": rows,
        "days": days,
        "all_url": reverse("releases:freeze-window-list"),
    }


def licence_shortfalls(*, now) -> dict:
    """Licence products whose free seats planned releases would exhaust: for every release from
    ``planned`` to ``verified``, its new installations per licence product (targets that hold no
    seat of it yet, as verification counts them) against the free seats of that product's valid
    licences (``cmdb.selectors.licences_with_usage``). A product is listed when one release alone
    needs more than is free, or the planned releases together do. Four queries."""
    holds_seat = InstalledSoftware.objects.filter(
        ci_id=OuterRef("ci_id"),
        removed_at__isnull=True,
        licence__licence_product_id=OuterRef("licence_product_id"),
    )
    needs = list(
        ReleaseTarget.objects.filter(release__state__in=SEAT_TAKING_STATES)
        .annotate(
            licence_product_id=F("release__items__software_version__product__licence_product")
        )
        .filter(licence_product_id__isnull=False)
        .filter(~Exists(holds_seat))
        .values("release_id", "licence_product_id")
        .annotate(needed=Count("ci_id", distinct=True))
        .order_by()
    )
    if not needs:
        return {"count": 0, "products": []}
    product_ids = {row["licence_product_id"] for row in needs}
    today = timezone.localdate(now)
    licences = defaultdict(list)
    for licence in licences_with_usage(Licence.objects.filter(licence_product_id__in=product_ids)):
        if licence_is_valid_on(licence, today):
            licences[licence.licence_product_id].append(licence)
    releases = Release.objects.in_bulk({row["release_id"] for row in needs})
    products = LicenceProduct.objects.in_bulk(product_ids)
    by_product = defaultdict(list)
    for row in needs:
        by_product[row["licence_product_id"]].append((releases[row["release_id"]], row["needed"]))
    shortfalls = []
    for product_id, wanted in by_product.items():
        valid = licences[product_id]
        if any(licence.metric == LicenceMetric.SITE for licence in valid):
            continue
        free = sum(max(licence.seats - licence.seats_in_use, 0) for licence in valid)
        total = sum(needed for _, needed in wanted)
        if total <= free:
            continue
        wanted.sort(key=lambda pair: (-pair[1], pair[0].number))
        shortfalls.append(
            {
                "licence_product": products[product_id],
                "free": free,
                "has_licence": bool(valid),
                "needed": total,
                "releases": [
                    {"release": release, "needed": needed, "alone": needed > free}
                    for release, needed in wanted
                ],
                "url": list_url("cmdb:licence-list", licence_product=product_id),
            }
        )
    shortfalls.sort(key=lambda s: (s["free"] - s["needed"], s["licence_product"].name))
    return {"count": len(shortfalls), "products": shortfalls}
