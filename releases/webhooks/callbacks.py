"""Outbound status callbacks: release state changes that matter to Change Management are posted
to the source system's callback URL, signed the same way as inbound deliveries (Standard
Webhooks), plus an optional Authorization header. Each event is a row (the delivery log) with a
due time; a periodic picker sends due rows with ``skip_locked`` and retries with exponential
back-off. A 410 Gone switches the source's callbacks off."""

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from releasemgmt.core.exceptions import DomainConflict
from releasemgmt.core.queue import delay_on_commit
from releasemgmt.core.services import audit_record
from releases.choices import ReleaseState
from releases.models import Release
from releases.webhooks.models import (
    CallbackAttempt,
    CallbackDelivery,
    CallbackStatus,
    WebhookSource,
)
from releases.webhooks.secrets import secret_open

logger = logging.getLogger(__name__)

NOTIFY_STATES = frozenset(
    {
        ReleaseState.PLANNED,
        ReleaseState.VERIFIED,
        ReleaseState.INSTALLING,
        ReleaseState.INSTALLED,
        ReleaseState.BACKOUT_REQUIRED,
        ReleaseState.BACKED_OUT,
        ReleaseState.CLOSED,
        ReleaseState.CANCELLED,
    }
)
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
TIMEOUT_SECONDS = 10


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at an hour."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_WAIT)


def callbacks_on_transition(release: Release, name: str, source_state: str, by) -> None:
    """After every transition: a status callback when the release entered a state that matters
    to Change Management."""
    if release.state in NOTIFY_STATES:
        callbacks_enqueue(release=release, transition=name, previous=source_state)


def callbacks_enqueue(
    *, release: Release, transition: str, previous: str
) -> list[CallbackDelivery]:
    """One delivery per source that sent a change linked to the release and has a live callback
    URL. Runs in the transition's transaction; sending starts after commit."""
    changes = list(release.change_requests.values("source_system", "external_id", "number"))
    if not changes:
        return []
    sources = list(
        WebhookSource.objects.filter(
            name__in={c["source_system"] for c in changes}, callback_enabled=True
        ).exclude(callback_url="")
    )
    now = timezone.now()
    created = []
    for source in sources:
        payload = {
            "type": f"release.{release.state}",
            "timestamp": now.isoformat(),
            "data": {
                "release": release.number,
                "title": release.title,
                "state": release.state,
                "previous_state": previous,
                "transition": transition,
                "level": release.level,
                "change_requests": [
                    {"id": c["external_id"], "number": c["number"]}
                    for c in changes
                    if c["source_system"] == source.name
                ],
                "backout_condition": release.backout_condition or None,
            },
        }
        created.append(
            CallbackDelivery.objects.create(
                source=source,
                release=release,
                event=payload["type"],
                payload=payload,
                message_id=f"msg_{uuid.uuid4().hex}",
                next_attempt_at=now,
            )
        )
    for delivery in created:
        _enqueue(delivery.pk)
    return created


def _enqueue(delivery_id: int) -> None:
    """After commit, send the callback now; with the broker down the picker sends it (it is due)."""
    delay_on_commit(
        "releases.tasks.send_callback",
        delivery_id=delivery_id,
        if_lost="the picker will send the callback.",
    )


def _post(
    delivery: CallbackDelivery, source: WebhookSource, now: datetime
) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, separators=(",", ":"))
    headers = {"Content-Type": "application/json", "User-Agent": "releasemgmt-callbacks/1"}
    secret = next(
        (
            s
            for s in (
                secret_open(row.value)
                for row in source.secrets.filter(active=True).order_by("-created_at")
            )
            if s
        ),
        None,
    )
    if secret is not None:
        headers.update(
            {
                "webhook-id": delivery.message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(secret).sign(delivery.message_id, now, body),
            }
        )
    authorization = (
        secret_open(source.callback_authorization) if source.callback_authorization else None
    )
    if authorization:
        headers["Authorization"] = authorization
    if not source.callback_url.startswith(("http://", "https://")):
        return None, "The callback URL is not http(s)."
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        source.callback_url, data=body.encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return None, f"{type(error).__name__}: {getattr(error, 'reason', error)}"


def callback_send(*, delivery_id: int) -> str:
    """Try one due delivery (idempotent: a delivered, given-up or not-yet-due row is left alone).
    The row is locked while the request runs, so two senders never post it twice at once."""
    with transaction.atomic():
        delivery = (
            CallbackDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("source")
            .filter(
                pk=delivery_id, status=CallbackStatus.PENDING, next_attempt_at__lte=timezone.now()
            )
            .first()
        )
        if delivery is None:
            return "skipped"
        source = delivery.source
        if not source.callback_enabled or not source.callback_url:
            delivery.status, delivery.last_error = (
                CallbackStatus.DISABLED,
                source.callback_disabled_reason or "No callback URL.",
            )
            delivery.save(update_fields=["status", "last_error"])
            return delivery.status
        now = timezone.now()
        started = time.monotonic()
        code, error = _post(delivery, source, now)
        CallbackAttempt.objects.create(
            delivery=delivery,
            at=now,
            status_code=code,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        delivery.attempt_count += 1
        delivery.last_status_code, delivery.last_error = code, error
        if code is not None and 200 <= code < 300:
            delivery.status, delivery.delivered_at = CallbackStatus.DELIVERED, timezone.now()
        elif code == 410:
            delivery.status = CallbackStatus.DISABLED
            reason = f"{source.callback_url} answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC."
            WebhookSource.objects.filter(pk=source.pk).update(
                callback_enabled=False, callback_disabled_reason=reason
            )
            CallbackDelivery.objects.filter(source=source, status=CallbackStatus.PENDING).exclude(
                pk=delivery.pk
            ).update(status=CallbackStatus.DISABLED, last_error=reason)
            audit_record(
                actor=None, action="webhook_source.callbacks_disabled", target=source, reason=reason
            )
        elif delivery.attempt_count >= MAX_ATTEMPTS:
            delivery.status = CallbackStatus.FAILED
        else:
            delivery.next_attempt_at = timezone.now() + backoff(delivery.attempt_count)
        delivery.save(
            update_fields=[
                "attempt_count",
                "last_status_code",
                "last_error",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
        return delivery.status


def callbacks_dispatch_due(*, limit: int = 50) -> int:
    """The periodic picker: send every due delivery (bounded per run)."""
    ids = list(
        CallbackDelivery.objects.filter(
            status=CallbackStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in ids:
        callback_send(delivery_id=delivery_id)
    return len(ids)


@transaction.atomic
def callback_resend(*, delivery: CallbackDelivery, by=None) -> CallbackDelivery:
    """Send a status event again now, with a fresh set of tries: after the receiving system was
    fixed, or when it lost an event it had acknowledged. The same ``webhook-id`` is sent, so a
    receiver that deduplicates sees a repeat. Refused (409) while the source's callbacks are off —
    switch them on first — and for an event already waiting for its next try."""
    delivery = (
        CallbackDelivery.objects.select_for_update(of=("self",))
        .select_related("source")
        .get(pk=delivery.pk)
    )
    source = delivery.source
    if not source.callback_enabled or not source.callback_url:
        raise DomainConflict(
            f"Callbacks of {source.name} are switched off"
            f" ({source.callback_disabled_reason or 'no callback URL'}): switch them on first."
        )
    if delivery.status == CallbackStatus.PENDING:
        raise DomainConflict(
            f"This event is already queued (next try {delivery.next_attempt_at:%Y-%m-%d %H:%M} UTC)."
        )
    before = {"status": delivery.status, "attempt_count": delivery.attempt_count}
    delivery.status, delivery.attempt_count = CallbackStatus.PENDING, 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "attempt_count", "next_attempt_at"])
    audit_record(actor=by, action="webhook_callback.resend", target=delivery, before=before)
    _enqueue(delivery.pk)
    return delivery
