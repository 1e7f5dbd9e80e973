"""Licences and their seats. Seats in use are never stored: they are counted from installations.
A new installation is allocated a licence with a free seat; the integrity check moves each
licence's seat alert (over-used, running low, fine), kept in the audit log, and a newly raised one
is e-mailed to the configuration managers by a worker after commit."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from cmdb.choices import LicenceMetric
from cmdb.models import ConfigurationItem, InstalledSoftware, Licence
from cmdb.selectors import licence_is_valid_on, licences_with_usage
from releasemgmt.accounts.roles import CONFIGURATION_MANAGER
from releasemgmt.core.exceptions import DomainValidationError
from releasemgmt.core.models import AuditEvent
from releasemgmt.core.queue import delay_on_commit
from releasemgmt.core.services import SYSTEM_ACTOR, person_or_none, record_delete, record_save


def licence_allocate(*, version, ci: ConfigurationItem, day=None) -> Licence | None:
    """The licence a new installation of ``version`` on ``ci`` should consume: a valid licence of
    the product's licence product with a free seat (a per-device licence the CI already uses
    costs nothing more). Locks the chosen licence row so two allocations cannot take the last
    seat. None when the product needs no licence or none has room."""
    licence_product_id = version.product.licence_product_id
    if licence_product_id is None:
        return None
    day = day or timezone.localdate()
    candidates = list(
        licences_with_usage(Licence.objects.filter(licence_product_id=licence_product_id)).order_by(
            "valid_until", "pk"
        )
    )
    for licence in candidates:
        if not licence_is_valid_on(licence, day):
            continue
        locked = Licence.objects.select_for_update().get(pk=licence.pk)
        fresh = licences_with_usage(Licence.objects.filter(pk=locked.pk)).get()
        if fresh.metric == LicenceMetric.SITE:
            return locked
        already_counted = (
            fresh.metric != LicenceMetric.PER_SEAT
            and InstalledSoftware.objects.filter(
                licence=locked, ci=ci, removed_at__isnull=True
            ).exists()
        )
        if already_counted or fresh.seats_in_use < fresh.seats:
            return locked
    return None


def _check_licence(licence: Licence) -> None:
    errors = {}
    if licence.metric != LicenceMetric.SITE and licence.seats is None:
        errors["seats"] = "Give the number of seats (only site licences have none)."
    if licence.metric == LicenceMetric.SITE and licence.seats is not None:
        licence.seats = None  # a site licence has no seat count to run out of
    if licence.valid_from and licence.valid_until and licence.valid_until < licence.valid_from:
        errors["valid_until"] = "The licence cannot end before it starts."
    if errors:
        raise DomainValidationError(errors)


@transaction.atomic
def licence_create(*, by, **fields) -> Licence:
    """Create a licence for a licence product (seats required unless it is a site licence)."""
    licence = Licence(**fields)
    _check_licence(licence)
    licence._history_user = person_or_none(by)
    return record_save(instance=licence, actor=by)


@transaction.atomic
def licence_update(*, licence: Licence, by, reason: str = "", **fields) -> Licence:
    """Change a licence's terms under a row lock. Lowering the seats below those in use is
    allowed (contracts shrink); the integrity check then reports the over-use."""
    licence = Licence.objects.select_for_update().get(pk=licence.pk)
    for name, value in fields.items():
        setattr(licence, name, value)
    _check_licence(licence)
    licence._history_user = person_or_none(by)
    return record_save(instance=licence, actor=by, reason=reason)


@transaction.atomic
def licence_delete(*, licence: Licence, by, reason: str = "") -> None:
    """Delete a licence no installation has ever consumed (otherwise 409: it is history)."""
    licence._history_user = person_or_none(by)
    record_delete(instance=licence, actor=by, reason=reason)


# Licence seat alerts are states kept in the audit log: the latest of these per licence.
ALERT_OVER = "cmdb.licence.seats_over"
ALERT_LOW = "cmdb.licence.seats_low"
ALERT_CLEARED = "cmdb.licence.seats_ok"


def _alert_states(licence_ids) -> dict[int, str]:
    """The latest seat-alert action per licence, from the audit log (one query)."""
    events = (
        AuditEvent.objects.filter(
            content_type=ContentType.objects.get_for_model(Licence),
            action__in=[ALERT_OVER, ALERT_LOW, ALERT_CLEARED],
        )
        .order_by("object_id", "occurred_at", "id")
        .values_list("object_id", "action")
    )
    states = {}
    for object_id, action in events:
        states[int(object_id)] = action  # later events overwrite earlier ones
    return {pk: states.get(pk, ALERT_CLEARED) for pk in licence_ids}


def licence_alerts_update(usage, *, notify: bool) -> list[dict]:
    """Move each licence's seat alert to its current state, recorded in the audit log; a newly
    raised alert is emailed once (after commit) to the configuration managers. Site and expired
    licences raise none (an expired licence in use is an error record instead)."""
    states = _alert_states([licence.pk for licence in usage])
    content_type = ContentType.objects.get_for_model(Licence)
    events, raised = [], []
    for licence in usage:
        if licence.metric == LicenceMetric.SITE or licence.is_expired:
            wanted = ALERT_CLEARED
        elif licence.is_over:
            wanted = ALERT_OVER
        elif licence.is_low:
            wanted = ALERT_LOW
        else:
            wanted = ALERT_CLEARED
        if states[licence.pk] == wanted:
            continue
        figures = {
            "seats": licence.seats,
            "in_use": licence.seats_in_use,
            "free": licence.seats_free,
            "threshold": licence.low_seat_threshold,
        }
        # What audit_record writes for the system, inserted in bulk: a first run over a large
        # estate can move hundreds of licences at once.
        events.append(
            AuditEvent(
                actor_name=SYSTEM_ACTOR,
                action=wanted,
                content_type=content_type,
                object_id=str(licence.pk),
                object_repr=str(licence)[:200],
                after=figures,
            )
        )
        if wanted != ALERT_CLEARED:
            raised.append(
                {"id": licence.pk, "name": str(licence), "over": wanted == ALERT_OVER, **figures}
            )
    AuditEvent.objects.bulk_create(events, batch_size=500)
    if raised and notify:
        delay_on_commit(
            "cmdb.tasks.licence_alerts_notify",
            alerts=raised,
            if_lost="the licence alerts are not e-mailed; the audit log records them.",
            level=logging.ERROR,
        )
    return raised


def licence_alerts_notify(*, alerts: list[dict]) -> int:
    """E-mail the configuration managers the licence seat alerts just raised (figures as they were
    when raised). Runs in a worker after the integrity check's commit, outside any transaction;
    returns the number of recipients (none, or no alerts: nothing is sent)."""
    recipients = sorted(
        set(
            get_user_model()
            .objects.filter(groups__name=CONFIGURATION_MANAGER, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients or not alerts:
        return 0
    over = [alert for alert in alerts if alert["over"]]
    subject = (
        f"Licence alert: {len(over)} over-used, {len(alerts) - len(over)} running low"
        if over
        else f"Licence alert: {len(alerts)} licence(s) running low on seats"
    )
    lines = ["These licences need attention:", ""]
    for alert in alerts:
        state = "OVER-USED" if alert["over"] else "low on seats"
        lines.append(
            f"- {alert['name']} ({state}): {alert['seats']} seats, {alert['in_use']} in use, "
            f"{alert['free']} free (alert at {alert['threshold']} free or fewer)"
        )
    lines += ["", "Licences: /cmdb/licences/", "— releasemgmt"]
    send_mail(subject, "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients)
    return len(recipients)
