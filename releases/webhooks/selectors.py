"""Reads of the webhook integration, shared by its pages and its API: inbound deliveries and
outbound status callbacks. Each list costs a fixed number of queries whatever its length."""

from django.db.models import Prefetch, QuerySet

from releases.webhooks.models import CallbackAttempt, CallbackDelivery, WebhookDelivery


def delivery_list() -> QuerySet:
    """Inbound deliveries with their source and change, without the (large) body and headers."""
    return WebhookDelivery.objects.select_related("source", "change_request").defer(
        "body", "headers"
    )


def callback_list() -> QuerySet:
    """Outbound callbacks, newest first, with their source, release and every attempt in order."""
    return (
        CallbackDelivery.objects.select_related("source", "release")
        .prefetch_related(
            Prefetch("attempts", queryset=CallbackAttempt.objects.order_by("at", "id"))
        )
        .order_by("-created_at", "-id")
    )
