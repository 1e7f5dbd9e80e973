"""The configuration manager: open errors by age, verification failures, quarantined versions, licences near exhaustion."""

from datetime import timedelta

from django.db.models import (
    Count,
    F,
    OuterRef,
    Q,
    Subquery,
)

from cmdb.choices import ErrorCategory
from cmdb.models import Discrepancy
from cmdb.selectors import licences_with_usage
from dsl_dhs.choices import VersionStatus
from dsl_dhs.models import SoftwareVersion
from kpis.dashboards.selectors.common import (
    AGE_BUCKETS,
    LIMIT,
    S,
    list_url,
)
from releases.choices import (
    FINAL_STATES,
)
from releases.models import (
    Release,
    VerificationRun,
)


def open_errors_by_age(*, now) -> dict:
    """Open CMDB and licence errors by how long they have been open: one aggregate query. Each
    figure links to the error list filtered to the same category and detection times."""
    cells = {}
    for category in ErrorCategory.values:
        for index, (_, young, old) in enumerate(AGE_BUCKETS):
            condition = Q(category=category)
            if old is not None:
                condition &= Q(detected_at__gte=now - timedelta(days=old))
            if young is not None:
                condition &= Q(detected_at__lt=now - timedelta(days=young))
            cells[f"{category}_{index}"] = Count("pk", filter=condition)
    counts = Discrepancy.objects.filter(resolved_at__isnull=True).aggregate(**cells)
    categories = [
        {
            "category": category,
            "label": label,
            "count": sum(counts[f"{category}_{i}"] for i in range(len(AGE_BUCKETS))),
            "url": list_url("cmdb:error-list", category=category, open="true"),
        }
        for category, label in ErrorCategory.choices
    ]
    rows = []
    for index, (bucket, young, old) in enumerate(AGE_BUCKETS):
        times = {}
        if old is not None:
            times["detected_after"] = (now - timedelta(days=old)).isoformat()
        if young is not None:
            times["detected_before"] = (now - timedelta(days=young)).isoformat()
        cells = [
            {
                "category": category,
                "count": counts[f"{category}_{index}"],
                "url": list_url("cmdb:error-list", category=category, open="true", **times),
            }
            for category in ErrorCategory.values
        ]
        rows.append({"label": bucket, "cells": cells, "oldest": old is None})
    return {
        "count": sum(c["count"] for c in categories),
        "categories": categories,
        "rows": rows,
    }


def verification_failures(*, now) -> dict:
    """Releases in ``verification_failed`` with their latest run's figures, and the latest
    failed verification runs of any release. Three queries."""
    failed = Release.objects.filter(state=S.VERIFICATION_FAILED)
    latest = VerificationRun.objects.filter(release=OuterRef("pk")).order_by("-started_at", "-id")
    rows = list(
        failed.annotate(
            checks_failed=Subquery(latest.values("checks_failed")[:1]),
            checks_total=Subquery(latest.values("checks_total")[:1]),
        )
        .select_related("owner")
        .order_by(F("state_changed_at").desc(nulls_last=True), "-id")[:LIMIT]
    )
    runs = list(
        VerificationRun.objects.filter(passed=False)
        .select_related("release", "by")
        .order_by("-started_at", "-id")[:5]
    )
    return {
        "count": failed.count(),
        "releases": rows,
        "runs": runs,
        "url": list_url("releases:release-list", state=S.VERIFICATION_FAILED),
    }


def quarantined_versions(*, now) -> dict:
    """DSL versions in quarantine, newest first, each with the open releases that carry it.
    Two queries."""
    quarantined = SoftwareVersion.objects.filter(status=VersionStatus.QUARANTINED)
    rows = list(
        quarantined.select_related("product")
        .annotate(
            open_releases=Count(
                "release_items__release",
                filter=~Q(release_items__release__state__in=FINAL_STATES),
                distinct=True,
            )
        )
        .order_by(F("status_changed_at").desc(nulls_last=True), "-id")[:LIMIT]
    )
    return {"count": quarantined.count(), "versions": rows}


def licences_near_exhaustion(*, now) -> dict:
    """Licences at or below their low-seat threshold (over-used ones included): the licence
    list's ``low`` filter. Two queries."""
    low = licences_with_usage().filter(is_low=True)
    rows = list(low.order_by("seats_free", "licence_product__name", "name", "pk")[:LIMIT])
    return {
        "count": low.count(),
        "licences": rows,
        "url": list_url("cmdb:licence-list", low="true"),
    }
