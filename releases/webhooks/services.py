"""Every write of the inbound webhooks: sources and secrets, taking a delivery in (stored raw before
anything else), processing it (under a row lock, idempotent), the sweeper and replay."""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainError,
    DomainNotFound,
    DomainValidationError,
    error_text,
)
from releasemgmt.core.queue import delay_on_commit
from releasemgmt.core.services import audit_record, record_save
from releases.choices import CANCELLABLE_STATES, FINAL_STATES
from releases.models import ChangeRequest, Release
from releases.services import (
    change_request_upsert,
    release_create_from_change,
    release_transition,
    release_update_plan,
)
from releases.webhooks.adapters import APPROVED, CANCELLED, ChangeEvent, event_map
from releases.webhooks.models import (
    DeliveryAttention,
    DeliveryStatus,
    WebhookDelivery,
    WebhookPolicy,
    WebhookSecret,
    WebhookSource,
)
from releases.webhooks.secrets import secret_check, secret_generate, secret_seal
from releases.webhooks.signature import signature_verify

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_SECONDS = 5 * 60
# Never stored: credentials a proxy or a sender might add.
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}


class Unauthenticated(DomainError):
    status_code = 401
    default_message = "The webhook signature is missing or does not match."


class SourceGone(DomainError):
    status_code = 410
    default_message = "This webhook source is inactive: stop sending."


class PayloadTooLarge(DomainError):
    status_code = 413
    default_message = "The body is larger than 1 MiB."


class UnsupportedMediaType(DomainError):
    status_code = 415
    default_message = "Send the body as JSON (Content-Type: application/json)."


# Sources and secrets


@transaction.atomic
def webhook_source_create(
    *, name: str, adapter: str, by=None, secret: str | None = None, **fields
) -> tuple[WebhookSource, str]:
    """Create a source with one signing secret (generated when none is given). Returns the source
    and the secret in clear — the only time it is shown."""
    source = WebhookSource(name=name, adapter=adapter, created_by=by, **fields)
    record_save(instance=source, actor=by, action="webhook_source.create")
    _, plain = webhook_secret_add(source=source, by=by, secret=secret)
    return source, plain


@transaction.atomic
def webhook_secret_add(
    *, source: WebhookSource, by=None, secret: str | None = None
) -> tuple[WebhookSecret, str]:
    """Add a signing secret (rotation: the old ones stay valid until revoked). Returns the row and
    the secret in clear; the audit event records only its hint."""
    plain = secret_check(secret) if secret else secret_generate()
    row = WebhookSecret.objects.create(source=source, value=secret_seal(plain), hint=plain[:12])
    audit_record(
        actor=by, action="webhook_source.secret_add", target=source, after={"hint": row.hint}
    )
    return row, plain


@transaction.atomic
def webhook_secret_revoke(*, secret: WebhookSecret, by=None) -> WebhookSecret:
    """Stop accepting signatures made with ``secret``; a source keeps at least one live secret."""
    secret = WebhookSecret.objects.select_for_update().get(pk=secret.pk)
    if not secret.active:
        return secret
    if not secret.source.secrets.filter(active=True).exclude(pk=secret.pk).exists():
        raise DomainConflict("Add a new secret before revoking the last one.")
    secret.active = False
    secret.save(update_fields=["active"])
    audit_record(
        actor=by,
        action="webhook_source.secret_revoke",
        target=secret.source,
        after={"hint": secret.hint},
    )
    return secret


# Taking a delivery in


def _check_headers(headers) -> None:
    """Name what is wrong before the library's all-or-nothing check."""
    missing = [
        h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not headers.get(h)
    ]
    if missing:
        raise Unauthenticated(f"Missing header(s): {', '.join(missing)}.")
    stamp = headers.get("webhook-timestamp", "")
    if not stamp.isdigit():
        raise Unauthenticated("webhook-timestamp must be whole seconds since 1970 (UTC).")
    if abs(timezone.now().timestamp() - int(stamp)) > TOLERANCE_SECONDS:
        raise Unauthenticated(
            "webhook-timestamp is more than 5 minutes away from our clock: re-sign and resend."
        )
    if len(headers["webhook-id"]) > 200 or any(c.isspace() for c in headers["webhook-id"]):
        raise Unauthenticated("webhook-id must be at most 200 characters without spaces.")


def _is_json(content_type: str) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def webhook_delivery_receive(
    *, source_name: str, headers, content_type: str, content_length: int | None, read_body
) -> tuple[WebhookDelivery, bool]:
    """Check and store one POST; returns ``(delivery, created)`` — ``created`` is False for a
    repeated ``webhook-id`` (nothing else happens then). Raises 404 unknown source, 410 inactive,
    413 over 1 MiB (from Content-Length, before reading), 415 not JSON, 401 bad signature or stale
    timestamp, 400 invalid JSON or a payload the adapter cannot map. The delivery row commits
    before processing is enqueued (after commit), so a broker outage loses nothing."""
    source, secrets = _source_and_secrets(source_name)
    if source is None:
        raise DomainNotFound(f"There is no webhook source named {source_name!r}.")
    if not source.active:
        raise SourceGone(f"The webhook source {source.name!r} is inactive: stop sending.")
    if content_length is not None and content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body has {content_length} bytes; at most {MAX_BODY_BYTES}.")
    if not _is_json(content_type):
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'} is not JSON: send application/json."
        )
    raw = read_body()
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthenticated("The body is not UTF-8, so its signature cannot match.") from None
    _check_headers(headers)
    if not signature_verify(body=body, headers=headers, stored_secrets=secrets):
        raise Unauthenticated("The webhook signature does not match any of this source's secrets.")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise DomainValidationError({"body": "The body is not valid JSON."}) from None
    event = event_map(payload, source)
    stored_headers = {k.lower(): v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
    delivery = WebhookDelivery(
        source=source,
        webhook_id=headers["webhook-id"],
        headers=stored_headers,
        body=body,
        event_type=event.kind,
    )
    first = _store_once(delivery)
    if first is not None:
        return first, False
    _enqueue(delivery.pk)  # at once when not in a transaction
    return delivery, True


def _source_and_secrets(name: str) -> tuple[WebhookSource | None, list[str]]:
    """The source and its live secrets (stored form) in one query; a second one only when it
    has none (to tell a missing or inactive source from a bad signature)."""
    rows = list(
        WebhookSecret.objects.filter(source__name=name, active=True)
        .select_related("source")
        .order_by()
    )
    if rows:
        return rows[0].source, [row.value for row in rows]
    return WebhookSource.objects.filter(name=name).order_by().first(), []


def _store_once(delivery: WebhookDelivery) -> WebhookDelivery | None:
    """Store the delivery, or return the one already stored under its ``webhook-id`` (a repeat
    or a race; the unique constraint decides). Outside a transaction the INSERT commits by
    itself — one round trip at the rate change systems burst at; inside a caller's transaction a
    savepoint keeps a refused insert from spoiling it."""
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                delivery.save(force_insert=True)
        else:
            delivery.save(force_insert=True)
    except IntegrityError:
        first = (
            WebhookDelivery.objects.filter(source=delivery.source, webhook_id=delivery.webhook_id)
            .order_by()
            .first()
        )
        if first is None:
            raise
        return first
    return None


def _enqueue(delivery_id: int) -> None:
    """After commit, hand the delivery to a worker; with the broker down it stays "received" for
    the sweeper."""
    delay_on_commit(
        "releases.tasks.process_webhook_delivery",
        delivery_id=delivery_id,
        if_lost="the sweeper will process the delivery.",
    )


# Processing


@dataclass
class Applied:
    outcome: str
    attention: str
    change: ChangeRequest | None


def webhook_delivery_process(
    *, delivery_id: int, skip_locked: bool = False
) -> WebhookDelivery | None:
    """Process a "received" delivery under a row lock: map it, apply it, store processed or
    failed with a readable reason. Idempotent: a delivery already processed (or locked by another
    worker when ``skip_locked``) is left alone. Returns the delivery, or None when skipped."""
    with transaction.atomic():
        delivery = (
            # of=self: locking the joined source row too would serialise a source's deliveries
            WebhookDelivery.objects.select_for_update(skip_locked=skip_locked, of=("self",))
            .select_related("source")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.RECEIVED:
            return None
        delivery.attempts += 1
        try:
            with transaction.atomic():  # a failure rolls back everything it half did
                event = event_map(json.loads(delivery.body), delivery.source)
                applied = change_event_apply(source=delivery.source, event=event)
        except DomainError as error:
            delivery.status = DeliveryStatus.FAILED
            delivery.outcome = f"Could not apply: {error_text(error, with_fields=True)}"
        except Exception as error:  # kept on the delivery, never lost
            logger.exception("Webhook delivery %s failed", delivery.pk)
            delivery.status = DeliveryStatus.FAILED
            delivery.outcome = f"Unexpected error ({type(error).__name__}): {error}"[:2000]
        else:
            delivery.status = DeliveryStatus.PROCESSED
            delivery.outcome = applied.outcome
            delivery.attention = applied.attention
            delivery.change_request = applied.change
            delivery.event_type = event.kind
        delivery.processed_at = timezone.now()
        delivery.save(
            update_fields=[
                "status",
                "outcome",
                "attention",
                "change_request",
                "event_type",
                "attempts",
                "processed_at",
            ]
        )
        return delivery


def webhook_deliveries_sweep(*, older_than_seconds: int | None = None, limit: int = 500) -> int:
    """Process deliveries still "received" ``older_than_seconds`` after arrival (the worker or
    broker was down). Each is claimed with ``skip_locked``, so sweepers and workers never process
    one twice. Returns how many it processed."""
    age = settings.WEBHOOK_SWEEP_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=age)
    ids = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.RECEIVED, received_at__lte=cutoff)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for delivery_id in ids:
        if webhook_delivery_process(delivery_id=delivery_id, skip_locked=True) is not None:
            done += 1
    return done


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery, by=None) -> WebhookDelivery:
    """Process a delivery again from its stored body (after fixing a mapping or a source's
    settings): status back to "received", processing enqueued after commit. Applying a change
    twice is harmless (upserts and ``release_create_from_change`` are idempotent)."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    before = {"status": delivery.status, "outcome": delivery.outcome}
    delivery.status = DeliveryStatus.RECEIVED
    delivery.outcome = ""
    delivery.attention = DeliveryAttention.NONE
    delivery.processed_at = None
    delivery.save(update_fields=["status", "outcome", "attention", "processed_at"])
    audit_record(actor=by, action="webhook_delivery.replay", target=delivery, before=before)
    _enqueue(delivery.pk)
    return delivery


# Mapping onto change requests and releases

PLAN_DATES = (("planned_start", "installation_start"), ("planned_end", "installation_end"))


def change_event_apply(*, source: WebhookSource, event: ChangeEvent) -> Applied:
    """Upsert the change request and act on its releases: an approved change gets a release in
    ``requested`` (or waits for triage, per the source's policy); a cancelled one cancels releases
    that have not started deploying and flags those that have; new planned dates update editable
    plans and are flagged on frozen ones. An older delivery than the stored change does nothing.
    Runs inside the caller's transaction."""
    change, changed = change_request_upsert(
        source_system=source.name,
        external_id=event.external_id,
        source_version=event.version,
        **event.fields,
    )
    if not changed:
        return Applied(
            f"Older than the stored {change.number} (version {event.version} < "
            f"{change.source_version}); nothing changed.",
            DeliveryAttention.NONE,
            change,
        )
    if event.kind == APPROVED and change.approved_at is None:
        change.approved_at = timezone.now()
        change.save(update_fields=["approved_at"])
    lines = [f"Change {change.number} recorded ({change.state or 'no state'})."]
    if event.note:
        lines.append(event.note)
    attention = DeliveryAttention.NONE
    releases = list(change.releases.order_by("pk"))
    if event.kind == CANCELLED:
        if not releases:
            lines.append("No release is linked to it.")
        for release in releases:
            line, flagged = _cancel(release, change, source)
            lines.append(line)
            attention = DeliveryAttention.FLAGGED if flagged else attention
    else:
        if event.kind == APPROVED and not releases:
            if source.policy == WebhookPolicy.AUTO_RELEASE:
                release = release_create_from_change(change=change)
                releases = [release]
                lines.append(f"Created release {release.number} in requested.")
            else:
                attention = DeliveryAttention.TRIAGE
                lines.append("Queued for a release manager to triage (no release created).")
        dates = {
            target: getattr(change, name) for name, target in PLAN_DATES if name in event.fields
        }
        for release in releases:
            line, flagged = _replan(release, change, dates)
            if line:
                lines.append(line)
            attention = DeliveryAttention.FLAGGED if flagged else attention
    return Applied(" ".join(lines), attention, change)


def _flag(release: Release, change: ChangeRequest, what: str) -> str:
    """Tell people about a change we may not apply by ourselves: an audit event on the release
    (shown in its history) and the delivery marked "flagged"."""
    audit_record(
        action="release.change_flagged",
        target=release,
        reason=f"{change.number}: {what}",
        after={"change": change.number, "state": release.state},
    )
    return f"Flagged {release.number} ({release.get_state_display()}): {what}"


def _cancel(release: Release, change: ChangeRequest, source: WebhookSource) -> tuple[str, bool]:
    if release.state in FINAL_STATES:
        return f"{release.number} is already {release.get_state_display().lower()}.", False
    if release.state not in CANCELLABLE_STATES:
        return _flag(release, change, "the change was cancelled but deployment has started."), True
    try:
        with transaction.atomic():
            release_transition(
                release=release,
                name="cancel",
                reason=f"Change {change.number} was cancelled in {source.name}.",
            )
    except DomainError as error:
        return _flag(
            release,
            change,
            f"the change was cancelled; cancelling failed: {error_text(error, with_fields=True)}",
        ), True
    return f"Cancelled {release.number}.", False


def _replan(release: Release, change: ChangeRequest, dates: dict) -> tuple[str, bool]:
    wanted = {k: v for k, v in dates.items() if getattr(release, k) != v}
    if not wanted or release.state in FINAL_STATES:
        return "", False
    shown = ", ".join(
        f"{k.replace('_', ' ')} {v:%Y-%m-%d %H:%M} UTC" if v else f"{k} cleared"
        for k, v in wanted.items()
    )
    if not release.is_editable:
        return _flag(
            release, change, f"new planned dates not applied to a frozen plan ({shown})."
        ), True
    try:
        with transaction.atomic():
            release_update_plan(release=release, by=None, **wanted)
    except DomainError as error:
        return _flag(
            release, change, f"new planned dates refused: {error_text(error, with_fields=True)}"
        ), True
    return f"Updated the plan of {release.number}: {shown}.", False
