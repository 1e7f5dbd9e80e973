"""The change manager: deliveries needing attention, releases of cancelled changes."""

from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
)

from kpis.dashboards.selectors.common import (
    LIMIT,
    S,
    list_url,
)
from releases.choices import (
    FINAL_STATES,
)
from releases.models import (
    ChangeRequest,
    DeliveryAttention,
    DeliveryStatus,
    Release,
    WebhookDelivery,
)


def deliveries_needing_attention(*, now) -> dict:
    """Webhook deliveries waiting for triage, flagged for a person, and failed: three counts in
    one aggregate, and the newest of them. Two queries."""
    needing = Q(attention__in=[DeliveryAttention.TRIAGE, DeliveryAttention.FLAGGED]) | Q(
        status=DeliveryStatus.FAILED
    )
    counts = WebhookDelivery.objects.aggregate(
        triage=Count("pk", filter=Q(attention=DeliveryAttention.TRIAGE)),
        flagged=Count("pk", filter=Q(attention=DeliveryAttention.FLAGGED)),
        failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
    )
    rows = list(
        WebhookDelivery.objects.filter(needing)
        .select_related("source", "change_request")
        .defer("body", "headers")
        .order_by("-received_at", "-id")[:5]
    )
    groups = [
        ("triage", "Waiting for triage", list_url("webhooks:delivery-list", attention="triage")),
        (
            "flagged",
            "Flagged for a person",
            list_url("webhooks:delivery-list", attention="flagged"),
        ),
        ("failed", "Failed", list_url("webhooks:delivery-list", status="failed")),
    ]
    return {
        "count": counts["triage"] + counts["flagged"] + counts["failed"],
        "groups": [
            {"key": key, "label": label, "count": counts[key], "url": url}
            for key, label, url in groups
        ],
        "deliveries": rows,
    }


def releases_of_cancelled_changes(*, now) -> dict:
    """Releases that go on (neither closed nor cancelled) although a change request they serve
    was cancelled (state "cancelled" or "canceled", in any case), with those changes. Three
    queries; the open states are named so that the state index finds the few releases that go
    on instead of testing the change links of every closed one."""
    cancelled = ChangeRequest.objects.cancelled()
    links = Release.change_requests.through.objects.filter(
        release_id=OuterRef("pk"), changerequest__in=cancelled
    )
    going_on = [state for state in S.values if state not in FINAL_STATES]
    found = Release.objects.filter(state__in=going_on).filter(Exists(links))
    rows = list(
        found.select_related("owner")
        .prefetch_related(
            Prefetch("change_requests", queryset=cancelled.order_by("number"), to_attr="cancelled")
        )
        .order_by("-created_at", "-id")[:LIMIT]
    )
    return {"count": found.count(), "releases": rows}
