"""Outbound status callbacks: release state changes that matter to Change Management are posted
to the source system's callback URL, signed the same way as inbound deliveries (Standard
Webhooks), plus an optional Authorization header. Each event is a row (the delivery log) with a
due time; a periodic picker claims due rows with ``skip_locked`` and hands each to its own task,
which posts it outside any transaction through the outbound guard (``releasemgmt.core.outbound``:
public addresses only unless ``OUTBOUND_ALLOW_PRIVATE_ADDRESSES``, no redirects), so a slow or dead
receiver holds one task for at most its timeout and never the picker, a row lock or the watchdog.
Failures are retried with exponential back-off; a 410 Gone switches the source's callbacks off."""

import json
import logging
import time
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from releasemgmt.core.exceptions import DomainConflict
from releasemgmt.core.outbound import post_body
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
# How long a claimed delivery stays in flight before it is due again (its sender died, its task
# was lost): well beyond a try (``TIMEOUT_SECONDS``) and the worker's time limit.
CLAIM_LEASE = timedelta(minutes=6)


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


def _enqueue(delivery_id: int, claimed_until: datetime | None = None) -> None:
    """After commit, send the callback now; with the broker down the picker sends it (it is due,
    or due again when the claim lapses)."""
    delay_on_commit(
        "releases.tasks.send_callback",
        delivery_id=delivery_id,
        **({"claimed_until": claimed_until.isoformat()} if claimed_until else {}),
        if_lost="the picker will send the callback.",
    )


def _request(
    delivery: CallbackDelivery, source: WebhookSource, now: datetime
) -> tuple[bytes, dict]:
    """The signed body and headers of one try (read in the claim's transaction)."""
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
    return body.encode(), headers


def _claim(delivery_id: int, claimed_until: datetime | None) -> tuple | str:
    """Take one delivery for a try in a short transaction: due now, or claimed for this task by
    the picker (its ``next_attempt_at`` still the lease the picker set). The lease moves on, so
    neither the picker nor another sender takes it while it is in flight; a sender that dies
    leaves it due again when the lease lapses. Returns what the post needs, or the outcome."""
    now = timezone.now()
    with transaction.atomic():
        rows = CallbackDelivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            pk=delivery_id, status=CallbackStatus.PENDING
        )
        if claimed_until is None:
            rows = rows.filter(next_attempt_at__lte=now)
        else:
            rows = rows.filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at=claimed_until))
        delivery = rows.select_related("source").first()
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
        lease = now + CLAIM_LEASE
        delivery.next_attempt_at = lease
        delivery.save(update_fields=["next_attempt_at"])
        body, headers = _request(delivery, source, now)
        return delivery.pk, source.pk, source.callback_url, body, headers, lease, now


def callback_send(*, delivery_id: int, claimed_until: datetime | str | None = None) -> str:
    """Try one delivery, in three steps so that no transaction or row lock is held while the
    receiver answers: claim it (a short transaction, see ``_claim``) → POST it through the
    outbound guard (public addresses only unless allowed, no redirects, ``TIMEOUT_SECONDS``) →
    record the attempt and the outcome (a short transaction). Idempotent: a delivered, given-up,
    disabled, not-yet-due or in-flight row is left alone (``"skipped"``); ``claimed_until`` is
    the lease the picker set when it claimed the row for this task."""
    if isinstance(claimed_until, str):
        claimed_until = datetime.fromisoformat(claimed_until)
    claim = _claim(delivery_id, claimed_until)
    if isinstance(claim, str):
        return claim
    pk, source_id, url, body, headers, lease, now = claim
    started = time.monotonic()
    result = post_body(url, body, timeout=TIMEOUT_SECONDS, headers=headers)
    return _record(pk, source_id, url, lease, now, result, time.monotonic() - started)


@transaction.atomic
def _record(pk, source_id, url, lease, now, result, seconds: float) -> str:
    """The try's attempt row and outcome. The row is ours while it is pending with our lease;
    if the lease lapsed and another sender took it, only a success is recorded on it (the other
    sender schedules the next try)."""
    delivery = CallbackDelivery.objects.select_for_update(of=("self",)).filter(pk=pk).first()
    if delivery is None:  # deleted with its release meanwhile
        return "skipped"
    code, error = result.status, result.error
    CallbackAttempt.objects.create(
        delivery=delivery, at=now, status_code=code, error=error, duration_ms=int(seconds * 1000)
    )
    ours = delivery.status == CallbackStatus.PENDING and delivery.next_attempt_at == lease
    delivery.attempt_count += 1
    delivery.last_status_code, delivery.last_error = code, error
    if result.ok:
        if delivery.status == CallbackStatus.PENDING:
            delivery.status, delivery.delivered_at = CallbackStatus.DELIVERED, timezone.now()
    elif not ours:
        pass
    elif code == 410:
        delivery.status = CallbackStatus.DISABLED
        reason = f"{url} answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC."
        WebhookSource.objects.filter(pk=source_id).update(
            callback_enabled=False, callback_disabled_reason=reason
        )
        CallbackDelivery.objects.filter(source_id=source_id, status=CallbackStatus.PENDING).exclude(
            pk=delivery.pk
        ).update(status=CallbackStatus.DISABLED, last_error=reason)
        audit_record(
            actor=None,
            action="webhook_source.callbacks_disabled",
            target=WebhookSource.objects.get(pk=source_id),
            reason=reason,
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


def callbacks_dispatch_due(*, limit: int = 200) -> int:
    """The periodic picker (30 s): claim the due deliveries and hand each to its own
    ``send_callback`` task — it never posts itself. One short transaction: due rows are locked
    with ``skip_locked`` (two pickers never claim one row), marked in flight with a lease (their
    ``next_attempt_at`` moves ``CLAIM_LEASE`` ahead, so the next run does not claim them again),
    and the tasks are sent after commit. A task lost with the broker, or a worker that died,
    leaves its row due again when the lease lapses. Returns how many were claimed."""
    now = timezone.now()
    lease = now + CLAIM_LEASE
    with transaction.atomic():
        ids = list(
            CallbackDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=CallbackStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        CallbackDelivery.objects.filter(pk__in=ids).update(next_attempt_at=lease)
        for delivery_id in ids:
            _enqueue(delivery_id, claimed_until=lease)
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
