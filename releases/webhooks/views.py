"""The webhook deliveries pages: what came in, how processing went, and replay. Thin: the
filterset and the services are the API's."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from releasemgmt.core.exceptions import DomainConflict
from releasemgmt.core.presentation import paginate
from releases.webhooks import callbacks, selectors, services
from releases.webhooks.filtersets import CallbackDeliveryFilterSet, WebhookDeliveryFilterSet
from releases.webhooks.models import (
    CallbackDelivery,
    CallbackStatus,
    DeliveryAttention,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSource,
)

PAGE_SIZE = 50


@permission_required("releases.view_webhookdelivery", raise_exception=True)
def delivery_list(request):
    """Deliveries, newest first, filtered by source, status and attention; 50 a page."""
    filterset = WebhookDeliveryFilterSet(request.GET or None, queryset=selectors.delivery_list())
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    context = {
        "filterset": filterset,
        **paginate(request, queryset, per_page=PAGE_SIZE),
        "sources": WebhookSource.objects.values_list("name", flat=True),
        "statuses": DeliveryStatus.choices,
        "attentions": DeliveryAttention.choices[1:],
    }
    return render(
        request, "releases/webhooks/delivery_list.html", context, status=200 if valid else 400
    )


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@permission_required("releases.view_webhookdelivery", raise_exception=True)
def delivery_detail(request, pk):
    """One delivery as received (headers, body) with its processing outcome."""
    delivery = get_object_or_404(
        WebhookDelivery.objects.select_related("source", "change_request"), pk=pk
    )
    context = {
        "delivery": delivery,
        "body": _pretty(delivery.body),
        "headers": sorted(delivery.headers.items()),
        "can_replay": request.user.has_perm("releases.replay_webhookdelivery"),
    }
    return render(request, "releases/webhooks/delivery_detail.html", context)


@require_POST
@permission_required("releases.replay_webhookdelivery", raise_exception=True)
def delivery_replay(request, pk):
    """Process the stored delivery again; the worker picks it up after commit."""
    delivery = get_object_or_404(WebhookDelivery, pk=pk)
    services.webhook_delivery_replay(delivery=delivery, by=request.user)
    messages.success(request, f"Delivery {delivery.webhook_id} queued for processing again.")
    return redirect("webhooks:delivery-detail", pk=delivery.pk)


@permission_required("releases.view_webhookdelivery", raise_exception=True)
def callback_list(request):
    """Outbound status callbacks, newest first, each with its attempts, filtered by the API's
    filters (status, source, release, event, created after/before); 50 a page."""
    filterset = CallbackDeliveryFilterSet(request.GET or None, queryset=selectors.callback_list())
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if filterset.is_bound and valid else filterset.queryset
    context = {
        "filterset": filterset,
        **paginate(request, queryset, per_page=PAGE_SIZE),
        "statuses": CallbackStatus.choices,
        "status": request.GET.get("status", ""),
        "disabled_sources": WebhookSource.objects.filter(callback_enabled=False).exclude(
            callback_url=""
        ),
        "can_resend": request.user.has_perm("releases.replay_webhookdelivery"),
    }
    return render(
        request, "releases/webhooks/callback_list.html", context, status=200 if valid else 400
    )


@require_POST
@permission_required("releases.replay_webhookdelivery", raise_exception=True)
def callback_resend(request, pk):
    """Send a status event again now; a refusal (callbacks off, already queued) is shown."""
    delivery = get_object_or_404(CallbackDelivery.objects.select_related("release"), pk=pk)
    try:
        callbacks.callback_resend(delivery=delivery, by=request.user)
    except DomainConflict as refused:
        messages.error(request, refused.message)
    else:
        messages.success(
            request, f"{delivery.event} for {delivery.release.number} will be sent again now."
        )
    return redirect("webhooks:callback-list")
