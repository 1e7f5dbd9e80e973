"""Outbound status callbacks: signed like inbound deliveries, retried with back-off from the
delivery log, switched off by 410 — against a real HTTP server on the loopback (allowed here by
``OUTBOUND_ALLOW_PRIVATE_ADDRESSES``; the guard's own tests switch it off)."""

import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from releasemgmt.core import outbound
from releasemgmt.core.models import AuditEvent
from releases import services
from releases.choices import ReleaseState as S
from releases.models import CallbackDelivery, WebhookSource
from releases.webhooks import callbacks
from releases.webhooks.models import CallbackAttempt
from releases.webhooks.secrets import secret_seal
from tests.factories import ChangeRequestFactory, ReleaseFactory
from tests.factories.webhooks import TEST_SECRET, WebhookSourceFactory

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on 127.0.0.1 answering ``status`` and keeping what it received."""

    def __init__(self):
        self.status = 200
        self.delay = 0.0  # seconds before answering: a slow or hanging receiver
        self.headers = {}
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append((dict(self.headers), body))
                time.sleep(receiver.delay)
                try:
                    self.send_response(receiver.status)
                    for name, value in receiver.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/callbacks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def linked(receiver):
    """A requested release with a complete plan, triggered by a change from a source that has a
    callback URL."""
    source = WebhookSourceFactory(name="snow-prod", callback_url=receiver.url)
    change = ChangeRequestFactory(
        source_system="snow-prod", external_id="abc123", number="CHG0031234"
    )
    release = ReleaseFactory(planned=True)
    release.change_requests.add(change)
    return source, release


def test_a_transition_is_posted_back_signed(
    linked, receiver, role_user, django_capture_on_commit_callbacks
):
    source, release = linked
    with django_capture_on_commit_callbacks(execute=True):
        services.release_transition(release=release, name="plan", by=role_user("release_manager"))
    (delivery,) = CallbackDelivery.objects.all()
    assert (delivery.status, delivery.event, delivery.attempt_count) == (
        "delivered",
        "release.planned",
        1,
    )
    (headers, body) = receiver.received[0]
    # verifies with the independent implementation and the source's own secret
    headers = {k.lower(): v for k, v in headers.items()}
    payload = Webhook(TEST_SECRET).verify(body, headers)
    assert payload["type"] == "release.planned"
    assert payload["data"]["release"] == release.number
    assert payload["data"]["change_requests"] == [{"id": "abc123", "number": "CHG0031234"}]
    assert headers["webhook-id"] == delivery.message_id


def test_only_the_states_that_matter_are_posted(linked, django_capture_on_commit_callbacks):
    source, release = linked
    with django_capture_on_commit_callbacks(execute=True):
        release = services.release_transition(release=release, name="plan", by=None)
        services.release_transition(release=release, name="build", by=None)  # built: not posted
    assert list(CallbackDelivery.objects.values_list("event", flat=True)) == ["release.planned"]


def test_failures_are_retried_with_back_off_then_given_up(
    linked, receiver, django_capture_on_commit_callbacks
):
    source, release = linked
    receiver.status = 503
    (delivery,) = callbacks.callbacks_enqueue(
        release=release, transition="plan", previous="requested"
    )
    assert callbacks.callback_send(delivery_id=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert (delivery.attempt_count, delivery.last_status_code) == (1, 503)
    assert (
        timedelta(seconds=25) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    )
    assert callbacks.callback_send(delivery_id=delivery.pk) == "skipped"  # not due yet
    assert [callbacks.backoff(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [
        30,
        60,
        120,
        3600,
        3600,
    ]
    for _ in range(callbacks.MAX_ATTEMPTS - 1):
        CallbackDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            callbacks.callbacks_dispatch_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts.count()) == ("failed", callbacks.MAX_ATTEMPTS)


def test_410_switches_the_source_callbacks_off(
    linked, receiver, django_capture_on_commit_callbacks
):
    source, release = linked
    receiver.status = 410
    with django_capture_on_commit_callbacks(execute=True):
        release = services.release_transition(release=release, name="plan", by=None)
    source.refresh_from_db()
    assert not source.callback_enabled
    assert "410 Gone" in source.callback_disabled_reason
    assert CallbackDelivery.objects.get().status == "disabled"
    with django_capture_on_commit_callbacks(execute=True):
        services.release_transition(release=release, name="cancel", by=None, reason="withdrawn")
    assert CallbackDelivery.objects.count() == 1  # nothing more is queued for a disabled source


def test_an_unreachable_receiver_is_an_attempt_with_the_reason(linked):
    source, release = linked
    WebhookSource.objects.filter(pk=source.pk).update(callback_url="http://127.0.0.1:9/nowhere")
    (delivery,) = callbacks.callbacks_enqueue(
        release=release, transition="plan", previous="requested"
    )
    callbacks.callback_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "Connection" in delivery.last_error or "refused" in delivery.last_error


def test_optional_authorization_header(linked, receiver):
    source, release = linked
    WebhookSource.objects.filter(pk=source.pk).update(
        callback_authorization=secret_seal("Bearer s3cr3t")
    )
    (delivery,) = callbacks.callbacks_enqueue(
        release=release, transition="plan", previous="requested"
    )
    callbacks.callback_send(delivery_id=delivery.pk)
    headers, body = receiver.received[0]
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer s3cr3t"
    assert json.loads(body)["data"]["state"] == release.state


def test_releases_without_a_linked_source_post_nothing(
    receiver, django_capture_on_commit_callbacks
):
    release = ReleaseFactory(planned=True)
    release.change_requests.add(ChangeRequestFactory(source_system="manual"))
    with django_capture_on_commit_callbacks(execute=True):
        services.release_transition(release=release, name="plan", by=None)
    assert not CallbackDelivery.objects.exists()
    assert S.PLANNED in callbacks.NOTIFY_STATES


def test_the_callbacks_page_shows_attempts_with_a_fixed_query_count(
    linked, receiver, client, role_user, django_assert_max_num_queries
):
    source, release = linked
    receiver.status = 503
    for _ in range(12):
        (delivery,) = callbacks.callbacks_enqueue(
            release=release, transition="plan", previous="requested"
        )
        callbacks.callback_send(delivery_id=delivery.pk)
    client.force_login(role_user("change_manager"))
    with django_assert_max_num_queries(12):
        response = client.get("/releases/webhooks/callbacks/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "HTTP 503" in page and release.number in page
    assert client.get("/releases/webhooks/callbacks/", {"status": "delivered"}).status_code == 200
    client.force_login(role_user())  # no role: no view permission
    assert client.get("/releases/webhooks/callbacks/").status_code == 403


def test_the_callbacks_page_filters_with_the_apis_filterset(linked, receiver, client, role_user):
    """The page and `GET /api/v1/webhook-callbacks/` take the same filters (issue 11)."""
    source, release = linked
    (delivery,) = callbacks.callbacks_enqueue(
        release=release, transition="plan", previous="requested"
    )
    client.force_login(role_user("change_manager"))

    by_release = client.get("/releases/webhooks/callbacks/", {"release": release.number})
    by_other = client.get("/releases/webhooks/callbacks/", {"release": "REL-NONE"})
    bad = client.get("/releases/webhooks/callbacks/", {"status": "lost"})

    assert by_release.status_code == 200 and release.number in by_release.content.decode()
    assert "No status callback yet" in by_other.content.decode()
    assert bad.status_code == 400 and "status:" in bad.content.decode()


@pytest.fixture
def given_up(linked, receiver):
    """A callback that failed every try (the receiver answered 503)."""
    source, release = linked
    receiver.status = 503
    (delivery,) = callbacks.callbacks_enqueue(
        release=release, transition="plan", previous="requested"
    )
    for _ in range(callbacks.MAX_ATTEMPTS):
        CallbackDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        callbacks.callback_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    return delivery


def test_the_api_lists_callbacks_with_their_attempts(
    given_up, token_client, role_user, django_assert_max_num_queries
):
    client = token_client(role_user("auditor"))
    for _ in range(30):
        (delivery,) = callbacks.callbacks_enqueue(
            release=given_up.release, transition="plan", previous="requested"
        )
        callbacks.callback_send(delivery_id=delivery.pk)  # one attempt each (503)
    with django_assert_max_num_queries(6):  # token, count, page, attempts (+ permissions once)
        everything = client.get("/api/v1/webhook-callbacks/", {"page_size": 100})
    assert everything.json()["count"] == 31
    listed = client.get("/api/v1/webhook-callbacks/", {"status": "failed"})
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert (row["source"], row["release"], row["event"]) == (
        "snow-prod",
        given_up.release.number,
        given_up.event,
    )
    assert len(row["attempts"]) == callbacks.MAX_ATTEMPTS
    assert row["attempts"][0]["status_code"] == 503
    assert client.get("/api/v1/webhook-callbacks/", {"status": "pending"}).json()["count"] == 30
    assert client.get("/api/v1/webhook-callbacks/", {"release": "REL-0000"}).json()["count"] == 0
    detail = client.get(f"/api/v1/webhook-callbacks/{given_up.pk}/").json()
    assert detail["payload"]["type"] == given_up.event
    assert client.get("/api/v1/webhook-callbacks/999999/").status_code == 404


def test_resend_sends_again_with_fresh_tries(
    given_up, receiver, token_client, role_user, django_capture_on_commit_callbacks
):
    receiver.status = 200
    client = token_client(role_user("change_manager"))
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/api/v1/webhook-callbacks/{given_up.pk}/resend/")
    assert answer.status_code == 202
    given_up.refresh_from_db()
    assert (given_up.status, given_up.attempt_count) == ("delivered", 1)
    headers = {k.lower(): v for k, v in receiver.received[-1][0].items()}
    assert headers["webhook-id"] == given_up.message_id  # the same id: receivers can dedupe
    assert AuditEvent.objects.filter(action="webhook_callback.resend").exists()


def test_resend_is_refused_while_queued_or_switched_off(
    given_up, token_client, role_user, django_capture_on_commit_callbacks
):
    client = token_client(role_user("change_manager"))
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(f"/api/v1/webhook-callbacks/{given_up.pk}/resend/").status_code == 202
    queued = client.post(f"/api/v1/webhook-callbacks/{given_up.pk}/resend/")
    assert queued.status_code == 409 and "already queued" in queued.json()["detail"]
    CallbackDelivery.objects.filter(pk=given_up.pk).update(status="failed")
    WebhookSource.objects.filter(pk=given_up.source_id).update(
        callback_enabled=False, callback_disabled_reason="answered 410 Gone"
    )
    off = client.post(f"/api/v1/webhook-callbacks/{given_up.pk}/resend/")
    assert off.status_code == 409 and "switched off" in off.json()["detail"]
    reader = token_client(role_user("auditor"))
    assert reader.post(f"/api/v1/webhook-callbacks/{given_up.pk}/resend/").status_code == 403
    assert client.post("/api/v1/webhook-callbacks/999999/resend/").status_code == 404
    assert client.get(f"/api/v1/webhook-callbacks/{given_up.pk}/resend/").status_code == 405
    assert client.get("/api/v1/webhook-callbacks/", {"status": "exploded"}).status_code == 400
    from rest_framework.test import APIClient

    anonymous = APIClient().post(f"/api/v1/webhook-callbacks/{given_up.pk}/resend/")
    assert anonymous.status_code == 401
    given_up.refresh_from_db()
    assert given_up.status == "failed"  # nothing of the refused attempts was written


def test_the_page_resends_a_given_up_callback(
    given_up, receiver, client, role_user, django_capture_on_commit_callbacks
):
    receiver.status = 200
    client.force_login(role_user("change_manager"))
    page = client.get("/releases/webhooks/callbacks/").content.decode()
    assert "Resend" in page
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/releases/webhooks/callbacks/{given_up.pk}/resend/", follow=True)
    assert "will be sent again now" in answer.content.decode()
    given_up.refresh_from_db()
    assert given_up.status == "delivered"
    client.force_login(role_user("auditor"))
    assert "Resend" not in client.get("/releases/webhooks/callbacks/").content.decode()
    assert client.post(f"/releases/webhooks/callbacks/{given_up.pk}/resend/").status_code == 403
    client.force_login(role_user("change_manager"))
    assert client.get(f"/releases/webhooks/callbacks/{given_up.pk}/resend/").status_code == 405
    assert client.post("/releases/webhooks/callbacks/999999/resend/").status_code == 404
    WebhookSource.objects.filter(pk=given_up.source_id).update(callback_enabled=False)
    refused = client.post(f"/releases/webhooks/callbacks/{given_up.pk}/resend/", follow=True)
    assert "switched off" in refused.content.decode()


# Fan-out: a slow or dead receiver holds one task, never the picker, a row lock or the watchdog


def _pending(release, count: int) -> list[CallbackDelivery]:
    return [
        callbacks.callbacks_enqueue(release=release, transition="plan", previous="requested")[0]
        for _ in range(count)
    ]


def test_the_picker_claims_and_fans_out_without_waiting_for_a_hanging_receiver(
    linked, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    """Issue 12: 50 deliveries were posted in a row by the picker, 10 s each, under row locks."""
    # given: a receiver that hangs longer than the timeout, and five due callbacks
    source, release = linked
    receiver.delay = 3
    monkeypatch.setattr(callbacks, "TIMEOUT_SECONDS", 0.5)
    deliveries = _pending(release, 5)

    # when the picker runs
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=False) as sends:
        claimed = callbacks.callbacks_dispatch_due()
    took = time.monotonic() - started

    # then it returns at once, having posted nothing: one send task per callback after commit
    assert claimed == 5 and took < 0.5
    assert receiver.received == [] and not CallbackAttempt.objects.exists()
    assert len(sends) == 5
    # the claimed callbacks are in flight: the next run does not claim them again
    leased = set(CallbackDelivery.objects.values_list("next_attempt_at", flat=True))
    assert len(leased) == 1 and leased.pop() > timezone.now() + timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=False) as again:
        assert callbacks.callbacks_dispatch_due() == 0
    assert again == []
    # and each send task tries its own callback (here: times out, retried later)
    for send in sends:
        send()
    assert sorted(d.attempts.count() for d in deliveries) == [1] * 5
    assert {d.status for d in CallbackDelivery.objects.all()} == {"pending"}
    assert "timed out" in CallbackDelivery.objects.first().last_error


def test_a_callback_is_posted_outside_any_transaction(linked, receiver, monkeypatch):
    # given a callback, and a transport that notes the transaction depth while it posts
    source, release = linked
    (delivery,) = _pending(release, 1)
    outside = len(connection.atomic_blocks)
    seen = []

    def post(url, body, **kwargs):
        seen.append(len(connection.atomic_blocks))
        # claimed and committed: another sender (a repeat of the task) skips it while in flight
        assert callbacks.callback_send(delivery_id=delivery.pk) == "skipped"
        return outbound.post_body(url, body, **kwargs)

    monkeypatch.setattr(callbacks, "post_body", post)

    # when it is sent
    outcome = callbacks.callback_send(delivery_id=delivery.pk)

    # then no transaction (and so no row lock) was open while the receiver answered
    assert outcome == "delivered" and seen == [outside]
    assert len(receiver.received) == 1
    # and a repeat finds it done
    assert callbacks.callback_send(delivery_id=delivery.pk) == "skipped"


def test_a_task_of_a_lapsed_claim_does_nothing(
    linked, receiver, django_capture_on_commit_callbacks
):
    # given a callback claimed by the picker whose task never ran (lost with the broker)
    source, release = linked
    (delivery,) = _pending(release, 1)
    with django_capture_on_commit_callbacks(execute=False) as lost:
        assert callbacks.callbacks_dispatch_due() == 1
    # when the claim lapses, the next run claims it again and sends it
    CallbackDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert callbacks.callbacks_dispatch_due() == 1
    # then the lost task, delivered late, finds it done: one post, one attempt
    (late,) = lost
    late()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts.count(), len(receiver.received)) == (
        "delivered",
        1,
        1,
    )


def test_callbacks_can_be_sent_from_a_queue_of_their_own():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import django; django.setup()\n"
        "from releasemgmt.celery import app\n"
        "for name in ('releases.tasks.send_callback', 'releases.tasks.watchdog',"
        " 'releases.tasks.dispatch_due_callbacks'):\n"
        "    print(app.amqp.router.route({}, name)['queue'].name)"
    )

    def queues(**variables) -> list[str]:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "releasemgmt.settings.test", **variables}
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()

    assert queues(CELERY_CALLBACK_QUEUE="callbacks", CELERY_DEFAULT_QUEUE="main") == [
        "callbacks",
        "main",
        "main",
    ]
    assert queues(CELERY_CALLBACK_QUEUE="", CELERY_DEFAULT_QUEUE="main") == ["main"] * 3


# The outbound guard: public addresses only, no redirects


def test_a_callback_to_a_loopback_address_is_refused_unless_allowed(linked, receiver, settings):
    source, release = linked
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    (delivery,) = _pending(release, 1)

    assert callbacks.callback_send(delivery_id=delivery.pk) == "pending"

    delivery.refresh_from_db()
    assert receiver.received == []
    assert delivery.last_error.startswith("Refused:") and "127.0.0.1" in delivery.last_error
    assert delivery.attempts.get().status_code is None


def test_a_callback_host_resolving_to_a_private_address_is_refused(linked, monkeypatch, settings):
    source, release = linked
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    WebhookSource.objects.filter(pk=source.pk).update(
        callback_url="https://change.example.com/callbacks"
    )
    monkeypatch.setattr(
        outbound.socket,
        "getaddrinfo",
        lambda host, port, **kwargs: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))
        ],
    )
    (delivery,) = _pending(release, 1)

    callbacks.callback_send(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert "change.example.com resolves to 10.20.30.40" in delivery.last_error


def test_a_redirect_is_not_followed(linked, receiver):
    source, release = linked
    receiver.status, receiver.headers = 302, {"Location": "http://127.0.0.1:9/elsewhere"}
    (delivery,) = _pending(release, 1)

    assert callbacks.callback_send(delivery_id=delivery.pk) == "pending"

    delivery.refresh_from_db()
    assert (delivery.last_status_code, len(receiver.received)) == (302, 1)


# Concurrency (PostgreSQL: real row locks)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_hanging_receiver_holds_no_row_lock_nor_the_picker_nor_the_watchdog(
    settings, monkeypatch
):
    """Issue 12: a slow receiver tied up the worker for 50 × 10 s under row locks."""
    from django.db import DatabaseError, transaction

    from releases.services import failure_conditions
    from tests.concurrency import run_together

    # given: a receiver that hangs past the timeout, one callback to it, three more due behind it
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    monkeypatch.setattr(callbacks, "TIMEOUT_SECONDS", 4)
    hanging = Receiver()
    hanging.delay = 30
    source = WebhookSourceFactory(name="snow-prod", callback_url=hanging.url)
    release = ReleaseFactory(planned=True)

    def due() -> CallbackDelivery:  # a row only: no send enqueued
        return CallbackDelivery.objects.create(
            source=source,
            release=release,
            event="release.planned",
            payload={"type": "release.planned"},
            message_id=f"msg_{time.monotonic_ns()}",
        )

    stuck = due()
    checked = []

    def send_to_the_hanging_receiver():
        try:
            callbacks.callback_send(delivery_id=stuck.pk)
        finally:
            connection.close()

    def meanwhile():
        try:
            deadline = time.monotonic() + 10
            while not hanging.received and time.monotonic() < deadline:
                time.sleep(0.05)
            checked.append(bool(hanging.received))
            for _ in range(3):
                due()
            started = time.monotonic()
            try:  # the row being posted is not locked ...
                with transaction.atomic():
                    CallbackDelivery.objects.select_for_update(nowait=True).get(pk=stuck.pk)
                checked.append("unlocked")
            except DatabaseError:
                checked.append("locked")
            # ... the picker claims the three others at once (their sends run eagerly here, to
            # the same hanging receiver: captured, not run), and the watchdog runs
            with monkeypatch.context() as patched:
                patched.setattr(callbacks, "delay_on_commit", lambda *a, **k: None)
                claimed = callbacks.callbacks_dispatch_due()
            failure_conditions.watchdog()
            checked.append((claimed, time.monotonic() - started))
        finally:
            connection.close()

    # when a worker posts to the hanging receiver while the picker and the watchdog run
    try:
        run_together(send_to_the_hanging_receiver, meanwhile)
    finally:
        hanging.close()

    # then neither waited for it, and the hanging try is recorded as a timeout
    assert checked[:2] == [True, "unlocked"]
    claimed, took = checked[2]
    assert claimed == 3 and took < 2
    stuck.refresh_from_db()
    assert (stuck.status, stuck.attempt_count) == ("pending", 1)
    assert "timed out" in stuck.last_error
