"""Back-out alerts: when a release starts waiting for a back-out decision, every active user who
may approve back-outs is e-mailed a link to the decision, the condition and the figures in
words and the deadline in UTC; a chat webhook gets the same text when one is set. The task is
idempotent and a broker outage does not undo the halt."""

import json
import logging

import pytest
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.urls import reverse

from releasemgmt.core.models import AuditEvent
from releases import services
from releases.choices import ReleaseState as S
from releases.models import Release
from releases.services import alerts, reports
from releases.tasks import backout_alert_send_task
from tests.core.test_outbound import local_server
from tests.factories import UserFactory
from tests.releases.test_deployment import make_release

pytestmark = pytest.mark.django_db

SITE = "https://releases.example.com"


def halt(release: Release, failures: int = 3) -> Release:
    """Failed installation reports on the first targets until the release halts."""
    for target in release.targets.order_by("pk")[:failures]:
        reports.target_report(
            target_id=target.pk,
            kind="installation",
            status="failed",
            report_id=f"fail-{target.pk}",
        )
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    return release


@pytest.fixture
def halted(django_capture_on_commit_callbacks, settings):
    """A release of 10 targets (back-out above 20 %) halted by three failures; the alert's
    after-commit work not run yet."""
    settings.SITE_URL = SITE
    release = make_release(targets=10, threshold=20, title="Payroll client 5.2")
    with django_capture_on_commit_callbacks(execute=False):
        return halt(release)


def grant(user, codename="approve_backout"):
    user.user_permissions.add(Permission.objects.get(codename=codename))


# Recipients


def test_recipients_are_the_active_users_who_may_approve_back_outs():
    # given people with and without the permission, by role, by group and by direct grant
    UserFactory(username="ops-role", roles=["ops"], email="ops@example.com")
    UserFactory(username="gone", roles=["ops"], email="gone@example.com", is_active=False)
    UserFactory(username="manager", roles=["release_manager"], email="rm@example.com")
    UserFactory(username="nobody", email="nobody@example.com")
    UserFactory(username="no-address", roles=["ops"], email="")
    night_shift = Group.objects.create(name="night shift")
    night_shift.permissions.add(Permission.objects.get(codename="approve_backout"))
    UserFactory(username="night", email="night@example.com").groups.add(night_shift)
    grant(UserFactory(username="direct", email="direct@example.com"))
    UserFactory(username="root", email="root@example.com", is_superuser=True)
    UserFactory(username="root-no-mail", email="", is_superuser=True)
    UserFactory(username="root-gone", email="rg@example.com", is_superuser=True, is_active=False)

    # then
    assert alerts.backout_alert_recipients() == [
        "direct@example.com",
        "night@example.com",
        "ops@example.com",
        "root@example.com",
    ]


def test_recipients_are_read_in_one_query(django_assert_num_queries):
    for n in range(5):
        UserFactory(username=f"ops{n}", roles=["ops"], email=f"ops{n}@example.com")
    with django_assert_num_queries(1):
        assert len(alerts.backout_alert_recipients()) == 5


def test_a_person_holding_the_permission_twice_gets_one_message():
    user = UserFactory(username="twice", roles=["ops"], email="Twice@Example.com")
    grant(user)
    UserFactory(username="twin", roles=["ops"], email="twice@example.com")
    assert alerts.backout_alert_recipients() == ["Twice@Example.com"]


# The message


def test_the_message_links_to_the_decision_and_puts_condition_and_figures_in_words(halted):
    subject, body = alerts.backout_alert_message(halted)

    assert subject.startswith(f"[releasemgmt] Back-out required: {halted.number} Payroll client")
    assert f"decide by {halted.backout_deadline:%H:%M} UTC" in subject
    queue = f"{SITE}{reverse('releases:backout-queue')}#release-{halted.pk}"
    assert f"Decide here: {queue}" in body
    assert f"Release page: {SITE}/releases/{halted.pk}/" in body
    assert "Condition met: failure rate 30.0% is above 20.00%" in body
    assert (
        "Figures then: 3 of 10 targets failed (30 %), threshold 20 %; 0 installed; "
        "7 installations not yet started were halted." in body
    )
    assert "Declared failure conditions: failure rate above 20 %." in body
    assert f"Decide before: {halted.backout_deadline:%Y-%m-%d %H:%M} UTC" in body
    assert "the back-out starts automatically" in body
    assert "{" not in body, "no raw figures"


@pytest.mark.parametrize(
    ("figures", "words"),
    [
        (
            {"targets": 1, "installation_failed": 1, "failure_rate_percent": 100.0, "halted": 1},
            "1 of 1 target failed (100 %); 1 installation not yet started was halted",
        ),
        (
            {
                "targets": 20,
                "installation_failed": 4,
                "distribution_failed": 2,
                "installed": 9,
                "failure_rate_percent": 30.0,
                "halted": 8,
            },
            "6 of 20 targets failed (30 %); 2 of them in distribution; 9 installed; "
            "8 installations not yet started were halted",
        ),
        ({"targets": 3, "failure_rate_percent": 12.5}, "0 of 3 targets failed (12.5 %)"),
        ({}, "0 of 0 targets failed"),
    ],
)
def test_figures_in_words(figures, words):
    assert alerts.figures_in_words(figures) == words


# Sending: the task after the halt


def test_the_halt_emails_each_approver_separately_after_commit(
    django_capture_on_commit_callbacks, settings
):
    # given two ops users and one who may not approve
    settings.SITE_URL = SITE
    UserFactory(username="otto", roles=["ops"], email="otto@example.com")
    UserFactory(username="olga", roles=["ops"], email="olga@example.com")
    UserFactory(username="rita", roles=["release_manager"], email="rita@example.com")
    release = make_release(targets=10, threshold=20)

    # when the release halts
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        release = halt(release)
    assert mail.outbox == [], "nothing is sent before the commit"
    for callback in callbacks:
        callback()

    # then each approver gets their own message, with the link to the decision
    assert sorted(m.to[0] for m in mail.outbox) == ["olga@example.com", "otto@example.com"]
    assert all(len(m.to) == 1 and not m.cc and not m.bcc for m in mail.outbox)
    assert f"{SITE}/releases/backout-queue/#release-{release.pk}" in mail.outbox[0].body
    event = AuditEvent.objects.get(action=alerts.ALERT_ACTION, object_id=str(release.pk))
    assert event.after == {
        "recipients": 2,
        "emails_sent": 2,
        "email_error": "",
        "chat": "not configured",
    }


def test_a_repeated_task_sends_nothing_more(halted):
    UserFactory(username="otto", roles=["ops"], email="otto@example.com")
    assert backout_alert_send_task.delay(release_id=halted.pk).get() == "sent"
    assert backout_alert_send_task.delay(release_id=halted.pk).get() == "already sent"
    assert len(mail.outbox) == 1


def test_a_release_no_longer_waiting_is_not_alerted(halted, role_user):
    # given ops decided before the worker ran
    UserFactory(username="otto", roles=["ops"], email="otto@example.com")
    services.release_transition(
        release=halted, name="approve_backout", by=role_user("ops"), reason=""
    )

    # when the task runs
    assert alerts.backout_alert_send(release_id=halted.pk) == "not waiting"
    assert alerts.backout_alert_send(release_id=999_999) == "not waiting"

    # then
    assert mail.outbox == []
    assert not AuditEvent.objects.filter(action=alerts.ALERT_ACTION).exists()


def test_a_second_halt_of_the_same_release_is_alerted_again(halted):
    UserFactory(username="otto", roles=["ops"], email="otto@example.com")
    alerts.backout_alert_send(release_id=halted.pk)
    # the alert event is older than the next halt
    AuditEvent.objects.filter(action=alerts.ALERT_ACTION).update(
        occurred_at=halted.backout_required_at.replace(year=2000)
    )
    assert alerts.backout_alert_send(release_id=halted.pk) == "sent"
    assert len(mail.outbox) == 2


def test_a_mail_server_failure_is_recorded_not_raised(halted, settings, caplog):
    UserFactory(username="otto", roles=["ops"], email="otto@example.com")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 1

    with caplog.at_level(logging.ERROR):
        assert alerts.backout_alert_send(release_id=halted.pk) == "sent"

    event = AuditEvent.objects.get(action=alerts.ALERT_ACTION)
    assert event.after["emails_sent"] == 0 and event.after["email_error"]
    assert "e-mail not sent" in caplog.text


def test_the_email_timeout_comes_from_the_settings():
    from django.conf import settings

    assert settings.EMAIL_TIMEOUT == 10


def test_a_broker_outage_does_not_undo_the_halt(
    django_capture_on_commit_callbacks, monkeypatch, caplog
):
    # given a broker that refuses every message
    def down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(backout_alert_send_task, "delay", down)
    release = make_release(targets=10, threshold=20)

    # when the release halts
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        release = halt(release)

    # then it stays halted and the lost alert is logged
    release.refresh_from_db()
    assert release.state == S.BACKOUT_REQUIRED
    assert "not enqueued" in caplog.text


# The chat webhook


def test_the_alert_is_posted_to_the_chat_webhook_when_set(halted, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    with local_server() as (url, received):
        settings.BACKOUT_ALERT_WEBHOOK_URL = f"{url}/services/T000/B000/XXXX"
        alerts.backout_alert_send(release_id=halted.pk)

    (request,) = received
    assert request["path"] == "/services/T000/B000/XXXX"
    payload = json.loads(request["body"])
    assert list(payload) == ["text"]
    assert payload["text"].startswith(f"[releasemgmt] Back-out required: {halted.number}")
    assert f"{SITE}/releases/backout-queue/#release-{halted.pk}" in payload["text"]
    assert "3 of 10 targets failed (30 %), threshold 20 %" in payload["text"]
    event = AuditEvent.objects.get(action=alerts.ALERT_ACTION)
    assert event.after["chat"] == "posted (HTTP 200)"


def test_a_loopback_chat_webhook_is_refused_by_default_and_the_email_still_goes(
    halted, settings, caplog
):
    UserFactory(username="otto", roles=["ops"], email="otto@example.com")
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    with local_server() as (url, received), caplog.at_level(logging.WARNING):
        settings.BACKOUT_ALERT_WEBHOOK_URL = f"{url}/hook"
        assert alerts.backout_alert_send(release_id=halted.pk) == "sent"

    assert received == []
    assert len(mail.outbox) == 1
    event = AuditEvent.objects.get(action=alerts.ALERT_ACTION)
    assert event.after["chat"].startswith("Refused: 127.0.0.1 resolves to 127.0.0.1")
    assert "refused" in caplog.text
