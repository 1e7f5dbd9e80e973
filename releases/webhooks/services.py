"""Every write of the inbound webhooks: sources and secrets, taking a delivery in (stored raw before
anything else), processing it (claimed in batches under row locks, idempotent), the sweeper and
replay."""

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from releasemgmt.core.db import CompiledQuery, insert_once
from releasemgmt.core.exceptions import (
    DomainConflict,
    DomainError,
    DomainNotFound,
    DomainValidationError,
    error_text,
)
from releasemgmt.core.queue import task_get
from releasemgmt.core.services import audit_record, record_save
from releases.choices import CANCELLABLE_STATES, FINAL_STATES
from releases.models import ChangeRequest, Release
from releases.services import (
    change_request_record,
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
    before a drain is woken (after commit, see ``_wake``), so a broker outage loses nothing."""
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
    _wake()  # at once when not in a transaction
    return delivery, True


# Run on every delivery: compiled once per thread instead of on every call.
_live_secrets = CompiledQuery(
    WebhookSecret,
    lambda name: (
        WebhookSecret.objects.filter(source__name=name, active=True)
        .select_related("source")
        .order_by()
    ),
)


def _source_and_secrets(name: str) -> tuple[WebhookSource | None, list[str]]:
    """The source and its live secrets (stored form) in one query; a second one only when it
    has none (to tell a missing or inactive source from a bad signature)."""
    rows = _live_secrets.all(name)
    if rows:
        return rows[0].source, [row.value for row in rows]
    return WebhookSource.objects.filter(name=name).order_by().first(), []


def _store_once(delivery: WebhookDelivery) -> WebhookDelivery | None:
    """Store the delivery, or return the one already stored under its ``webhook-id`` (a repeat
    or a race; the unique constraint decides). One statement that stores nothing on a repeat
    (``insert_once``): no error to recover from, inside a caller's transaction or not."""
    if insert_once(delivery, "releases_webhook_delivery_unique_id"):
        return None
    return (
        WebhookDelivery.objects.filter(source=delivery.source, webhook_id=delivery.webhook_id)
        .order_by()
        .first()
    )


# Waking the drain
#
# A delivery costs no broker message of its own: after its INSERT commits, the receiver sets the
# shared "a drain is pending" key (SET NX) and publishes a wake only when it set it. The woken
# drain deletes the key FIRST, then drains until nothing is left: a delivery committed before the
# delete is visible to the drain's queries, one committed after it finds the key gone and
# publishes a wake of its own. So every committed delivery has a drain coming that will see it.

WAKE_TASK = "releases.tasks.process_webhook_delivery"
# A wake lost with its worker (SIGKILL) holds off new wakes at most this long; the sweeper is the
# backstop behind it.
WAKE_TIMEOUT_SECONDS = 10
DRAIN_BATCH = 100
# Tries of a delivery that lost a lock conflict with another drain (a deadlock, two drains
# inserting the same new change) before it is marked failed.
DRAIN_TRIES = 3
# A drain under a steady stream hands over to a fresh task after this long (well inside the task
# time limits), so one task never runs unbounded.
DRAIN_BUDGET_SECONDS = 60.0


def _wake_key() -> str:
    # one key per deployment: deployments (and test runs) sharing a Redis pick their own queue
    return f"webhook-drain-pending:{settings.CELERY_TASK_DEFAULT_QUEUE}"


def _wake_is_debounced() -> bool:
    """Only a cache every process shares can tell them all that a drain is pending; the embedded
    local-memory cache cannot, so there every delivery publishes its wake."""
    return not isinstance(caches["default"], LocMemCache | DummyCache)


def _wake() -> None:
    """After the current transaction commits (at once outside one), make sure a drain runs that
    will see what it wrote. Never raises: with the cache or the broker down the rows stay
    "received" for the next wake or the sweeper."""
    transaction.on_commit(_wake_send)


def _wake_send() -> None:
    debounced = _wake_is_debounced()
    if debounced:
        try:
            if not caches["default"].add(_wake_key(), 1, timeout=WAKE_TIMEOUT_SECONDS):
                return  # a wake is pending and its drain has not started: it will see our rows
        except Exception:  # the cache is down: publish, the broker may still be up
            logger.warning("Webhook drain: the cache is unreachable, waking anyway.", exc_info=True)
            debounced = False
    try:
        task_get(WAKE_TASK).delay()
    except Exception:  # the broker is down: the sweeper processes the deliveries later
        logger.warning(
            "%s not enqueued; the sweeper will process the deliveries.", WAKE_TASK, exc_info=True
        )
        if debounced:
            try:
                caches["default"].delete(_wake_key())  # so the next delivery tries again
            except Exception:
                logger.warning("Webhook drain: the cache is unreachable.", exc_info=True)


# Processing


@dataclass
class Applied:
    outcome: str
    attention: str
    change: ChangeRequest | None


PROCESSED_FIELDS = [
    "status",
    "outcome",
    "attention",
    "change_request",
    "event_type",
    "attempts",
    "processed_at",
]


def webhook_deliveries_woken() -> int:
    """What a wake runs: forget the pending wake first (deliveries committed from now on publish
    a new one), then drain every "received" delivery. Returns how many it processed."""
    try:
        caches["default"].delete(_wake_key())
    except Exception:  # the key expires by itself; until then the sweeper covers
        logger.warning("Webhook drain: the cache is unreachable.", exc_info=True)
    return webhook_deliveries_drain()


def webhook_deliveries_drain(
    *,
    older_than_seconds: int | None = None,
    batch_size: int = DRAIN_BATCH,
    budget_seconds: float = DRAIN_BUDGET_SECONDS,
) -> int:
    """Process "received" deliveries (only those received ``older_than_seconds`` ago or earlier,
    when given), oldest first, in batches of ``batch_size``, each batch one transaction, until a
    batch comes back short. Rows another drain holds are skipped (``skip_locked``), so drains
    running at once never process one delivery twice. After ``budget_seconds`` it stops and wakes
    a fresh drain for the rest. Returns how many it processed."""
    cutoff = None
    if older_than_seconds is not None:
        cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    started = time.monotonic()
    done = 0
    while True:
        queryset = WebhookDelivery.objects.all()
        if cutoff is not None:
            queryset = queryset.filter(received_at__lte=cutoff)
        batch = _process_batch(queryset, limit=batch_size, skip_locked=True)
        left = sum(delivery.status == DeliveryStatus.RECEIVED for delivery in batch)
        done += len(batch) - left
        if len(batch) < batch_size and not left:
            return done
        if time.monotonic() - started > budget_seconds:
            _wake()
            return done


def webhook_delivery_process(
    *, delivery_id: int, skip_locked: bool = False
) -> WebhookDelivery | None:
    """Process one "received" delivery under its row lock (waiting for it, or skipping it when
    another worker holds it and ``skip_locked``). Idempotent: a delivery no longer "received" is
    left alone. Returns the delivery, or None when skipped."""
    batch = _process_batch(
        WebhookDelivery.objects.filter(pk=delivery_id), limit=1, skip_locked=skip_locked
    )
    return batch[0] if batch else None


class _Isolate(Exception):
    """A delivery of a batch processed without savepoints failed: roll the batch back and
    process it again, each delivery under a savepoint of its own."""


def _process_batch(queryset, *, limit: int, skip_locked: bool) -> list[WebhookDelivery]:
    """Claim up to ``limit`` "received" deliveries of ``queryset`` (oldest first) with their rows
    locked, and process them: map, apply, store processed or failed with a readable reason. The
    status is part of the locking query, so PostgreSQL re-checks it once the lock is held: a
    delivery another drain processed meanwhile is never claimed. One transaction: the results
    commit together, or (the worker killed) every claimed delivery stays "received".

    The first pass locks the change requests the batch names in one query (in id order, so two
    drains never wait on each other in a circle) and runs without savepoints (two round trips
    less per delivery). A failure never spoils the batch: when a delivery fails in that pass,
    the whole pass is rolled back — nothing of
    it remains — and the batch is processed again with a savepoint per delivery, so the failure
    rolls back only what that delivery half did (one that lost a lock conflict to another drain
    stays "received" for the next batch, up to ``DRAIN_TRIES``)."""
    try:
        return _claim_and_process(queryset, limit=limit, skip_locked=skip_locked, isolate=False)
    except _Isolate:
        return _claim_and_process(queryset, limit=limit, skip_locked=skip_locked, isolate=True)


def _claim_and_process(queryset, *, limit, skip_locked, isolate) -> list[WebhookDelivery]:
    with transaction.atomic():
        batch = list(
            # of=self: locking the joined source row too would serialise a source's deliveries
            queryset.select_for_update(skip_locked=skip_locked, of=("self",))
            .select_related("source")
            .filter(status=DeliveryStatus.RECEIVED)
            .order_by("received_at", "pk")[:limit]
        )
        if isolate:
            for delivery in batch:
                _process_one(delivery)
        elif batch:
            _process_all_or_isolate(batch)
        if batch:
            _store_results(batch)
    return batch


def _process_all_or_isolate(batch: list[WebhookDelivery]) -> None:
    """The first pass: map every delivery, lock the change requests the batch names in one
    query (by id: drains lock in one order), apply each; any failure raises ``_Isolate``."""
    events = []
    for delivery in batch:
        delivery.attempts += 1
        try:
            events.append(event_map(json.loads(delivery.body), delivery.source))
        except Exception as error:
            raise _Isolate from error
    locked = _changes_locked(batch, events)
    for delivery, event in zip(batch, events, strict=True):
        try:
            applied = change_event_apply(source=delivery.source, event=event, locked=locked)
        except Exception as error:
            raise _Isolate from error
        _processed(delivery, event, applied)


def _changes_locked(batch: list[WebhookDelivery], events: list[ChangeEvent]) -> dict:
    """The existing change requests of the batch's events, locked, by (source, external id)."""
    wanted: dict[str, set[str]] = {}
    for delivery, event in zip(batch, events, strict=True):
        wanted.setdefault(delivery.source.name, set()).add(event.external_id)
    named = Q()
    for system, external_ids in wanted.items():
        named |= Q(source_system=system, external_id__in=external_ids)
    changes = ChangeRequest.objects.select_for_update().filter(named).order_by("pk")
    return {(change.source_system, change.external_id): change for change in changes}


def _processed(delivery: WebhookDelivery, event: ChangeEvent, applied: Applied) -> None:
    delivery.status = DeliveryStatus.PROCESSED
    delivery.outcome = applied.outcome
    delivery.attention = applied.attention
    delivery.change_request = applied.change
    delivery.event_type = event.kind
    delivery.processed_at = timezone.now()


def _store_results(batch: list[WebhookDelivery]) -> None:
    """One UPDATE statement for the batch, sent with every row's values at once (psycopg
    pipelines ``executemany``): ``bulk_update``'s CASE expressions cost more time than the
    processing itself."""
    meta = WebhookDelivery._meta
    fields = [meta.get_field(name) for name in PROCESSED_FIELDS]
    quote = connection.ops.quote_name
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608 (quoted names from the model)
        quote(meta.db_table),
        ", ".join(f"{quote(field.column)} = %s" for field in fields),
        quote(meta.pk.column),
    )
    rows = [
        [field.get_db_prep_save(getattr(delivery, field.attname), connection) for field in fields]
        + [delivery.pk]
        for delivery in batch
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _process_one(delivery: WebhookDelivery) -> None:
    """Process one claimed delivery under a savepoint; its fields are set here, stored by the
    batch."""
    delivery.attempts += 1
    try:
        with transaction.atomic():  # a failure rolls back everything it half did
            event = event_map(json.loads(delivery.body), delivery.source)
            applied = change_event_apply(source=delivery.source, event=event)
    except DomainError as error:
        delivery.status = DeliveryStatus.FAILED
        delivery.outcome = f"Could not apply: {error_text(error, with_fields=True)}"
    except (OperationalError, IntegrityError) as error:
        # a deadlock with another drain, or both inserting the same new change: try again later
        logger.warning("Webhook delivery %s: %s", delivery.pk, error)
        if delivery.attempts < DRAIN_TRIES:
            return
        delivery.status = DeliveryStatus.FAILED
        delivery.outcome = f"Unexpected error ({type(error).__name__}): {error}"[:2000]
    except Exception as error:  # kept on the delivery, never lost
        logger.exception("Webhook delivery %s failed", delivery.pk)
        delivery.status = DeliveryStatus.FAILED
        delivery.outcome = f"Unexpected error ({type(error).__name__}): {error}"[:2000]
    else:
        _processed(delivery, event, applied)
        return
    delivery.processed_at = timezone.now()


def webhook_deliveries_sweep(*, older_than_seconds: int | None = None) -> int:
    """The backstop: drain deliveries still "received" ``older_than_seconds`` after arrival
    (default ``WEBHOOK_SWEEP_AFTER_SECONDS``; their wake was lost with a broker or worker
    outage). Returns how many it processed."""
    age = settings.WEBHOOK_SWEEP_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    return webhook_deliveries_drain(older_than_seconds=age)


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery, by=None) -> WebhookDelivery:
    """Process a delivery again from its stored body (after fixing a mapping or a source's
    settings): status back to "received", a drain woken after commit. Applying a change
    twice is harmless (upserts and ``release_create_from_change`` are idempotent)."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    before = {"status": delivery.status, "outcome": delivery.outcome}
    delivery.status = DeliveryStatus.RECEIVED
    delivery.outcome = ""
    delivery.attention = DeliveryAttention.NONE
    delivery.processed_at = None
    delivery.save(update_fields=["status", "outcome", "attention", "processed_at"])
    audit_record(actor=by, action="webhook_delivery.replay", target=delivery, before=before)
    _wake()
    return delivery


# Mapping onto change requests and releases

PLAN_DATES = (("planned_start", "installation_start"), ("planned_end", "installation_end"))


def change_event_apply(
    *, source: WebhookSource, event: ChangeEvent, locked: dict | None = None
) -> Applied:
    """Upsert the change request and act on its releases: an approved change gets a release in
    ``requested`` (or waits for triage, per the source's policy); a cancelled one cancels releases
    that have not started deploying and flags those that have; new planned dates update editable
    plans and are flagged on frozen ones. An older delivery than the stored change does nothing.
    Runs inside the caller's transaction; ``locked``: see ``change_request_record``."""
    recorded = change_request_record(
        source_system=source.name,
        external_id=event.external_id,
        source_version=event.version,
        approved_at=timezone.now() if event.kind == APPROVED else None,
        locked=locked,
        **event.fields,
    )
    change = recorded.change
    if not recorded.changed:
        return Applied(
            f"Older than the stored {change.number} (version {event.version} < "
            f"{change.source_version}); nothing changed.",
            DeliveryAttention.NONE,
            change,
        )
    lines = [f"Change {change.number} recorded ({change.state or 'no state'})."]
    if event.note:
        lines.append(event.note)
    attention = DeliveryAttention.NONE
    releases = [] if recorded.created else list(change.releases.order_by("pk"))
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
