"""Back-out alerts: when a release starts waiting for a back-out decision, everyone who may
approve it is e-mailed (and, when ``BACKOUT_ALERT_WEBHOOK_URL`` is set, a chat channel is posted
to) with a link to the decision, the condition and the figures in words, and the deadline.

``require_backout`` enqueues ``backout_alert_send_task`` (after its commit); the task calls
``backout_alert_send``. A failed e-mail or chat post is logged and recorded, never raised: the
back-out queue and the top-bar badge show the waiting release whatever happens to the alert."""

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage, get_connection
from django.db.models import Q
from django.urls import reverse

from releasemgmt.core.models import AuditEvent
from releasemgmt.core.outbound import post_json
from releasemgmt.core.queue import delay_on_commit
from releasemgmt.core.services import audit_record
from releases.choices import FailureConditionKind, ReleaseState
from releases.models import Release

logger = logging.getLogger(__name__)

ALERT_ACTION = "release.backout_alert"
APPROVE_PERMISSION = ("releases", "approve_backout")


def backout_alert_enqueue(release_id: int) -> None:
    """Inside the transaction that halts the release: after commit, hand the alert to a worker.
    With the broker down the alert is lost — logged as an error — while the back-out queue and
    the badge still show the release."""
    delay_on_commit(
        "releases.tasks.backout_alert_send",
        release_id=release_id,
        if_lost="the back-out alert is lost; the back-out queue and the top-bar badge still show "
        "the release.",
        level=logging.ERROR,
    )


def backout_alert_recipients() -> list[str]:
    """E-mail addresses of the active users who may approve back-outs: through a role (group)
    or a direct grant, and superusers; users without an address are left out. One query."""
    user_model = get_user_model()
    app_label, codename = APPROVE_PERMISSION
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    via_role = user_model.groups.through.objects.filter(group__permissions__in=permission).values(
        "user_id"
    )
    direct = user_model.user_permissions.through.objects.filter(permission__in=permission).values(
        "user_id"
    )
    addresses = (
        user_model.objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(is_superuser=True) | Q(pk__in=via_role) | Q(pk__in=direct))
        .order_by("email")
        .values_list("email", flat=True)
    )
    unique: dict[str, str] = {}
    for address in addresses:
        unique.setdefault(address.strip().lower(), address.strip())
    return list(unique.values())


def _number(value) -> str:
    """20 → "20", Decimal("20.00") → "20", 12.5 → "12.5"."""
    number = Decimal(str(value)).normalize()
    return f"{number:f}"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def condition_words(condition) -> str:
    """A declared failure condition in words: "failure rate above 20 %"."""
    if condition.kind == FailureConditionKind.FAILURE_RATE_ABOVE:
        return f"failure rate above {_number(condition.threshold)} %"
    if condition.kind == FailureConditionKind.FAILED_TARGETS_AT_LEAST:
        return f"{_number(condition.threshold)} or more targets failed"
    return str(condition)


def figures_in_words(figures: dict, conditions=()) -> str:
    """The figures recorded when the condition was met, as a sentence: "3 of 10 targets failed
    (30 %), threshold 20 %; 2 installed; 5 installations not yet started were halted"."""
    figures = figures or {}
    targets = int(figures.get("targets") or 0)
    failed = int(figures.get("installation_failed") or 0) + int(
        figures.get("distribution_failed") or 0
    )
    failed_part = f"{failed} of {_plural(targets, 'target', 'targets')} failed"
    if "failure_rate_percent" in figures:
        failed_part += f" ({_number(figures['failure_rate_percent'])} %)"
    thresholds = [
        f"{_number(c.threshold)} %"
        for c in conditions
        if c.kind == FailureConditionKind.FAILURE_RATE_ABOVE and c.threshold is not None
    ]
    if thresholds:
        failed_part += f", threshold {' and '.join(thresholds)}"
    parts = [failed_part]
    if figures.get("distribution_failed"):
        parts.append(f"{figures['distribution_failed']} of them in distribution")
    if "installed" in figures:
        parts.append(f"{figures['installed']} installed")
    if "halted" in figures:
        halted = int(figures["halted"])
        parts.append(
            f"{_plural(halted, 'installation', 'installations')} not yet started "
            f"{'was' if halted == 1 else 'were'} halted"
        )
    return "; ".join(parts)


def _utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "(not set)"


def decision_url(release: Release) -> str:
    """The back-out queue at the release's card: the absolute link in every alert."""
    return f"{settings.SITE_URL}{reverse('releases:backout-queue')}#release-{release.pk}"


def release_url(release: Release) -> str:
    return f"{settings.SITE_URL}{reverse('releases:release-detail', args=[release.pk])}"


def backout_alert_message(release: Release) -> tuple[str, str]:
    """The alert's subject and plain text (the chat channel gets the same text)."""
    conditions = list(release.failure_conditions.all())
    subject = f"[releasemgmt] Back-out required: {release.number} {release.title}"
    if release.backout_deadline:
        subject += f" — decide by {release.backout_deadline:%H:%M} UTC"
    declared = "; ".join(condition_words(c) for c in conditions) or "(none recorded)"
    lines = [
        f"{release.number} “{release.title}” met a failure condition and waits for a back-out "
        "decision.",
        "",
        f"Condition met: {release.backout_condition or '(not recorded)'}"
        f" (at {_utc(release.backout_required_at)}).",
        f"Figures then: {figures_in_words(release.backout_figures, conditions)}.",
        f"Declared failure conditions: {declared}.",
        "",
        f"Decide before: {_utc(release.backout_deadline)} ({release.backout_decision_minutes} "
        "minutes after the condition was met).",
        "Without a decision by then, the back-out starts automatically: every target that "
        "started installing is restored to the version it had before the release.",
        "",
        f"Decide here: {decision_url(release)}",
        f"Release page: {release_url(release)}",
        "",
        "Approve the back-out, or request an override with a written reason (a second person "
        "with the override permission must confirm it). Until then every installation not yet "
        "started stays halted.",
    ]
    return subject, "\n".join(lines)


def _already_alerted(release: Release) -> bool:
    """This halt was already alerted (a repeated task run)."""
    return AuditEvent.objects.filter(
        action=ALERT_ACTION,
        content_type=ContentType.objects.get_for_model(Release),
        object_id=str(release.pk),
        occurred_at__gte=release.backout_required_at,
    ).exists()


def _send_email(subject: str, body: str, recipients: list[str]) -> tuple[int, str]:
    """One message per recipient over one connection (nobody sees the others' addresses),
    bounded by ``EMAIL_TIMEOUT``. Returns (sent, error)."""
    if not recipients:
        return 0, ""
    messages = [
        EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
        for to in recipients
    ]
    try:
        with get_connection(fail_silently=False) as connection:
            return connection.send_messages(messages) or 0, ""
    except Exception as error:  # server down, refused, timed out: logged and recorded
        logger.error("Back-out alert e-mail not sent: %s", error, exc_info=True)
        return 0, f"{type(error).__name__}: {error}"


def _post_chat(subject: str, body: str) -> str:
    """Post the alert to the chat webhook when one is set; what happened, in words."""
    url = settings.BACKOUT_ALERT_WEBHOOK_URL
    if not url:
        return "not configured"
    result = post_json(
        url, {"text": f"{subject}\n\n{body}"}, timeout=settings.OUTBOUND_TIMEOUT_SECONDS
    )
    if result.ok:
        return f"posted (HTTP {result.status})"
    return result.error or f"HTTP {result.status}"


def backout_alert_send(release_id: int) -> str:
    """Alert everyone who may approve back-outs that the release waits for a decision: an
    e-mail to each of ``backout_alert_recipients()``, and a post to the chat webhook when
    ``BACKOUT_ALERT_WEBHOOK_URL`` is set.

    Idempotent: nothing happens when the release no longer waits for a decision, or when this
    halt was already alerted. Runs outside any transaction (network calls, each with a timeout);
    the outcome goes to the audit log. Returns "sent", "not waiting" or "already sent"."""
    release = Release.objects.filter(pk=release_id).first()
    if release is None or release.state != ReleaseState.BACKOUT_REQUIRED:
        return "not waiting"
    if release.backout_required_at and _already_alerted(release):
        return "already sent"
    subject, body = backout_alert_message(release)
    recipients = backout_alert_recipients()
    if not recipients:
        logger.warning(
            "Back-out alert for %s: nobody allowed to approve back-outs has an e-mail address.",
            release.number,
        )
    sent, email_error = _send_email(subject, body, recipients)
    chat = _post_chat(subject, body)
    audit_record(
        actor=None,
        action=ALERT_ACTION,
        target=release,
        after={
            "recipients": len(recipients),
            "emails_sent": sent,
            "email_error": email_error,
            "chat": chat,
        },
        reason="Ops alerted: the release waits for a back-out decision.",
    )
    return "sent"
