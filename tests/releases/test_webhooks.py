"""Inbound change-management webhooks (issue 6): the signed endpoint, raw storage, idempotency,
processing, the sweeper, replay, sources and secrets."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import override_settings

from releasemgmt.core.models import AuditEvent
from releases.models import (
    ChangeRequest,
    DeliveryAttention,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSecret,
    WebhookSource,
)
from releases.webhooks import services
from releases.webhooks.secrets import secret_generate, secret_open
from releases.webhooks.tasks import webhook_deliveries_sweep_task, webhook_delivery_process_task
from tests.concurrency import run_together
from tests.factories import (
    TEST_SECRET,
    ChangeRequestFactory,
    ReleaseFactory,
    WebhookDeliveryFactory,
    WebhookSourceFactory,
)
from tests.factories.webhooks import generic_event, post_signed, sign_headers

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def source():
    return WebhookSourceFactory(name="chg")


@pytest.fixture
def deliver(api_client, django_capture_on_commit_callbacks):
    """POST signed and run what is queued after commit (the eager Celery task)."""

    def send(source_name, payload, **kw):
        with django_capture_on_commit_callbacks(execute=True):
            return post_signed(api_client, source_name, payload, **kw)

    return send


@pytest.fixture
def worker_down():
    """The broker takes nothing: ``delay`` does nothing, deliveries stay "received"."""
    with mock.patch.object(webhook_delivery_process_task, "delay") as delay:
        yield delay


# The endpoint's answers


def test_accepted_delivery_is_stored_raw_and_processed(source, deliver):
    # given
    payload = generic_event(planned_start="2026-12-01T20:00:00Z")
    # when
    response = deliver("chg", payload, msg_id="msg_1")
    # then
    assert response.status_code == 202
    assert response.json() == {"delivery": mock.ANY, "status": "accepted"}
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.webhook_id == "msg_1"
    assert json.loads(delivery.body) == payload
    assert delivery.headers["webhook-id"] == "msg_1"
    assert delivery.status == DeliveryStatus.PROCESSED, delivery.outcome
    change = ChangeRequest.objects.get(source_system="chg", external_id="chg-1")
    assert delivery.change_request == change
    release = change.releases.get()
    assert release.state == "requested"
    assert release.installation_start == datetime(2026, 12, 1, 20, tzinfo=UTC)
    assert f"Created release {release.number}" in delivery.outcome


def test_stored_before_processing_when_worker_is_down(source, deliver, worker_down):
    response = deliver("chg", generic_event())
    assert response.status_code == 202
    assert worker_down.call_count == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RECEIVED
    assert not ChangeRequest.objects.exists()


def test_broker_failure_still_answers_202_and_keeps_the_delivery(source, deliver):
    with mock.patch.object(webhook_delivery_process_task, "delay", side_effect=OSError("refused")):
        response = deliver("chg", generic_event())
    assert response.status_code == 202
    assert WebhookDelivery.objects.get().status == DeliveryStatus.RECEIVED


def test_secret_headers_are_not_stored(source, api_client, django_capture_on_commit_callbacks):
    body = json.dumps(generic_event())
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/webhooks/chg/",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer not-for-the-log",
            **sign_headers(body),
        )
    assert response.status_code == 202
    headers = WebhookDelivery.objects.get().headers
    assert "authorization" not in headers
    assert headers["content-type"] == "application/json"


def test_repeated_webhook_id_is_a_duplicate_without_second_effect(source, deliver):
    first = deliver("chg", generic_event(), msg_id="msg_same")
    again = deliver("chg", generic_event(title="Changed"), msg_id="msg_same")
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "delivery": first.json()["delivery"]}
    assert WebhookDelivery.objects.count() == 1
    assert ChangeRequest.objects.get().title == "Upgrade Payroll"
    assert ChangeRequest.objects.get().releases.count() == 1


def test_same_webhook_id_from_another_source_is_its_own_delivery(source, deliver):
    WebhookSourceFactory(name="other")
    assert deliver("chg", generic_event(), msg_id="msg_x").status_code == 202
    assert deliver("other", generic_event(), msg_id="msg_x").status_code == 202


@pytest.mark.parametrize(
    "secret, skew, detail",
    [
        ("whsec_" + "Ag" * 22, timedelta(0), "does not match"),
        (TEST_SECRET, timedelta(minutes=-6), "5 minutes"),
        (TEST_SECRET, timedelta(minutes=6), "5 minutes"),
    ],
)
def test_bad_signature_or_stale_timestamp_is_401(source, deliver, secret, skew, detail):
    # the time is taken now, not at collection: a long run must not drift into the tolerance
    response = deliver("chg", generic_event(), secret=secret, when=datetime.now(UTC) + skew)
    assert response.status_code == 401
    assert detail in response.json()["detail"]
    assert not WebhookDelivery.objects.exists()


def test_timestamp_within_tolerance_is_accepted(source, deliver):
    response = deliver("chg", generic_event(), when=datetime.now(UTC) - timedelta(minutes=4))
    assert response.status_code == 202


@pytest.mark.parametrize(
    "missing", ["HTTP_WEBHOOK_ID", "HTTP_WEBHOOK_TIMESTAMP", "HTTP_WEBHOOK_SIGNATURE"]
)
def test_missing_header_is_401_naming_it(source, api_client, missing):
    body = json.dumps(generic_event())
    headers = sign_headers(body)
    del headers[missing]
    response = api_client.post(
        "/api/v1/webhooks/chg/", data=body, content_type="application/json", **headers
    )
    assert response.status_code == 401
    assert missing[5:].lower().replace("_", "-") in response.json()["detail"]


def test_tampered_body_is_401(source, api_client):
    body = json.dumps(generic_event())
    headers = sign_headers(body)
    response = api_client.post(
        "/api/v1/webhooks/chg/",
        data=body.replace("Payroll", "Payrol1"),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 401


def test_unknown_source_is_404(db, deliver):
    response = deliver("nobody", generic_event())
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


def test_inactive_source_is_410(deliver):
    WebhookSourceFactory(name="old", active=False)
    response = deliver("old", generic_event())
    assert response.status_code == 410
    assert "stop sending" in response.json()["detail"]


def test_body_over_one_mebibyte_is_413_before_reading(source, api_client):
    body = json.dumps({"pad": "x" * (1024 * 1024)})
    response = api_client.post(
        "/api/v1/webhooks/chg/", data=body, content_type="application/json", **sign_headers(body)
    )
    assert response.status_code == 413
    assert response.json()["detail"]


def test_not_json_content_type_is_415(source, deliver):
    response = deliver("chg", None, body="type=change.approved", content_type="text/plain")
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_json_suffix_content_type_is_accepted(source, deliver):
    response = deliver(
        "chg", generic_event(), content_type="application/cloudevents+json; charset=utf-8"
    )
    assert response.status_code == 202


def test_invalid_json_is_400(source, deliver):
    response = deliver("chg", None, body='{"type": ')
    assert response.status_code == 400
    assert response.json()["errors"] == {"body": "The body is not valid JSON."}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"type": "change.exploded", "data": {}}, "type"),
        ({"type": "change.approved"}, "data"),
        ({"type": "change.approved", "data": {"number": "C1", "title": "t"}}, "data.id"),
        ({"type": "change.approved", "data": {"id": "1", "number": "C1"}}, "data.title"),
        (
            {
                "type": "change.updated",
                "data": {"id": "1", "number": "C1", "title": "t", "planned_start": "soon"},
            },
            "data.planned_start",
        ),
        ([1, 2], "body"),
    ],
)
def test_unmappable_payload_is_400_naming_the_field(source, deliver, payload, field):
    response = deliver("chg", payload)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert field in response.json()["detail"]
    assert not WebhookDelivery.objects.exists()


def test_endpoint_needs_no_login_and_no_csrf(source):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    body = json.dumps(generic_event())
    response = client.post(
        "/api/v1/webhooks/chg/", data=body, content_type="application/json", **sign_headers(body)
    )
    assert response.status_code == 202


# Secrets: rotation and storage


def test_any_live_secret_may_sign_rotation(source, deliver):
    # given a second secret added for rotation
    _, new = services.webhook_secret_add(source=source)
    # then both sign
    assert deliver("chg", generic_event(), secret=TEST_SECRET).status_code == 202
    assert deliver("chg", generic_event(), secret=new).status_code == 202
    # when the old one is revoked, it no longer does
    services.webhook_secret_revoke(secret=source.secrets.get(hint=TEST_SECRET[:12]))
    assert deliver("chg", generic_event(), secret=TEST_SECRET).status_code == 401
    assert deliver("chg", generic_event(), secret=new).status_code == 202


def test_last_secret_cannot_be_revoked(source):
    from releasemgmt.core.exceptions import DomainConflict

    with pytest.raises(DomainConflict):
        services.webhook_secret_revoke(secret=source.secrets.get())


def test_secrets_are_encrypted_at_rest_when_a_key_is_configured(deliver):
    from cryptography.fernet import Fernet

    with override_settings(WEBHOOK_SECRET_KEY=Fernet.generate_key().decode()):
        source, plain = services.webhook_source_create(name="sealed", adapter="generic")
        stored = WebhookSecret.objects.get(source=source).value
        assert plain not in stored
        assert stored.startswith("fernet:")
        assert secret_open(stored) == plain
        assert deliver("sealed", generic_event(), secret=plain).status_code == 202
    # without the key the secret cannot be read back, so nothing verifies
    assert secret_open(stored) is None
    assert deliver("sealed", generic_event(), secret=plain).status_code == 401


def test_secrets_are_stored_as_given_without_a_key(db):
    source, plain = services.webhook_source_create(name="plain", adapter="generic")
    assert WebhookSecret.objects.get(source=source).value == plain


@pytest.mark.parametrize("bad", ["abc", "whsec_!!!", "whsec_AAAA"])
def test_bad_given_secret_is_refused(db, bad):
    from releasemgmt.core.exceptions import DomainValidationError

    with pytest.raises(DomainValidationError) as error:
        services.webhook_source_create(name="x", adapter="generic", secret=bad)
    assert "secret" in error.value.message
    assert not WebhookSource.objects.exists()


def test_secret_is_never_in_the_audit_log(db):
    _, plain = services.webhook_source_create(name="audited", adapter="jira")
    logged = json.dumps(list(AuditEvent.objects.values("before", "after", "reason")), default=str)
    assert plain not in logged
    assert plain[:12] in logged  # the hint identifies it


# Nothing lost: the sweeper


def test_sweeper_processes_what_the_worker_never_got(source, deliver, worker_down):
    # given three deliveries taken in while the worker is down
    for n in range(3):
        assert deliver("chg", generic_event(ext=f"c{n}")).status_code == 202
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"received"}
    # when the sweeper runs (their age reached)
    done = services.webhook_deliveries_sweep(older_than_seconds=0)
    # then every one is processed, once
    assert done == 3
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}
    assert ChangeRequest.objects.count() == 3
    assert services.webhook_deliveries_sweep(older_than_seconds=0) == 0


def test_sweeper_leaves_recent_deliveries_to_the_worker(source, deliver, worker_down):
    deliver("chg", generic_event())
    assert services.webhook_deliveries_sweep(older_than_seconds=3600) == 0
    assert WebhookDelivery.objects.get().status == DeliveryStatus.RECEIVED


def test_sweeper_task_uses_the_setting(source, deliver, worker_down):
    deliver("chg", generic_event())
    with override_settings(WEBHOOK_SWEEP_AFTER_SECONDS=3600):
        assert webhook_deliveries_sweep_task() == 0
    WebhookDelivery.objects.update(received_at=datetime.now(UTC) - timedelta(hours=2))
    with override_settings(WEBHOOK_SWEEP_AFTER_SECONDS=3600):
        assert webhook_deliveries_sweep_task() == 1


def test_processing_twice_has_no_second_effect(source, deliver, worker_down):
    deliver("chg", generic_event())
    delivery = WebhookDelivery.objects.get()
    webhook_delivery_process_task(delivery_id=delivery.pk)
    webhook_delivery_process_task(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert ChangeRequest.objects.get().releases.count() == 1


def test_beat_runs_the_sweeper():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "releases.tasks.sweep_webhook_deliveries" in tasks


def test_a_new_process_finds_each_webhook_task_by_its_celery_name():
    # given a process that has imported nothing but Django, as a web worker or Celery starts:
    # the tasks live in releases/webhooks/tasks.py, and Celery discovers only releases/tasks.py
    names = [
        "releases.tasks.process_webhook_delivery",
        "releases.tasks.sweep_webhook_deliveries",
        "releases.tasks.send_callback",
        "releases.tasks.dispatch_due_callbacks",
    ]
    script = (
        "import sys, django; django.setup()\n"
        "from releasemgmt.core.queue import task_get\n"
        "for name in sys.argv[1:]: print(task_get(name).__module__)"
    )
    # when each is looked up by name, as delay_on_commit does
    found = subprocess.run(
        [sys.executable, "-c", script, *names],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "releasemgmt.settings.test"},
        capture_output=True,
        text=True,
        check=False,
    )
    # then every one is registered, from the integration's task module
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["releases.webhooks.tasks"] * len(names)


# Mapping: ordering, cancellation, plans, policy


def test_older_delivery_never_overwrites_newer_data(source, deliver):
    deliver("chg", generic_event("updated", version=5, title="Fifth"))
    response = deliver("chg", generic_event("updated", version=3, title="Third"))
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.status == DeliveryStatus.PROCESSED
    assert "nothing changed" in delivery.outcome
    assert ChangeRequest.objects.get().title == "Fifth"


def test_older_cancellation_does_not_cancel(source, deliver):
    deliver("chg", generic_event("approved", version=5))
    deliver("chg", generic_event("cancelled", version=4))
    assert ChangeRequest.objects.get().releases.get().state == "requested"


def test_cancelled_change_cancels_releases_not_yet_deploying(source, deliver):
    # given
    change = ChangeRequestFactory(source_system="chg", external_id="chg-1", source_version="1")
    waiting = ReleaseFactory(state="accepted")
    done = ReleaseFactory(state="closed")
    waiting.change_requests.add(change)
    done.change_requests.add(change)
    # when
    response = deliver("chg", generic_event("cancelled", version=2))
    # then
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    waiting.refresh_from_db()
    assert waiting.state == "cancelled"
    assert f"Cancelled {waiting.number}" in delivery.outcome
    assert delivery.attention == DeliveryAttention.NONE
    done.refresh_from_db()
    assert done.state == "closed"


def test_cancelled_change_flags_releases_already_deploying(source, deliver):
    change = ChangeRequestFactory(source_system="chg", external_id="chg-1", source_version="1")
    deploying = ReleaseFactory(state="installing")
    deploying.change_requests.add(change)
    response = deliver("chg", generic_event("cancelled", version=2))
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    deploying.refresh_from_db()
    assert deploying.state == "installing"
    assert delivery.attention == DeliveryAttention.FLAGGED
    assert "deployment has started" in delivery.outcome
    assert AuditEvent.objects.filter(
        action="release.change_flagged", object_id=str(deploying.pk)
    ).exists()


def test_new_planned_dates_update_an_editable_plan(source, deliver):
    change = ChangeRequestFactory(source_system="chg", external_id="chg-1", source_version="1")
    release = ReleaseFactory(state="planned")
    release.change_requests.add(change)
    deliver(
        "chg",
        generic_event(
            "updated",
            version=2,
            planned_start="2026-12-05T08:00:00+01:00",
            planned_end="2026-12-05T10:00:00+01:00",
        ),
    )
    release.refresh_from_db()
    assert release.installation_start == datetime(2026, 12, 5, 7, tzinfo=UTC)
    assert release.installation_end == datetime(2026, 12, 5, 9, tzinfo=UTC)


def test_new_planned_dates_are_flagged_on_a_frozen_plan(source, deliver):
    change = ChangeRequestFactory(source_system="chg", external_id="chg-1", source_version="1")
    release = ReleaseFactory(state="accepted")
    release.change_requests.add(change)
    response = deliver(
        "chg", generic_event("updated", version=2, planned_start="2026-12-05T08:00:00Z")
    )
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    release.refresh_from_db()
    assert release.installation_start is None
    assert delivery.attention == DeliveryAttention.FLAGGED
    assert "frozen plan" in delivery.outcome


def test_triage_policy_queues_instead_of_creating(deliver):
    WebhookSourceFactory(name="tri", policy="triage")
    response = deliver("tri", generic_event())
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.attention == DeliveryAttention.TRIAGE
    assert not ChangeRequest.objects.get().releases.exists()


def test_updated_event_creates_no_release(source, deliver):
    deliver("chg", generic_event("updated"))
    assert not ChangeRequest.objects.get().releases.exists()


def test_processing_failure_is_kept_with_a_reason_and_rolled_back(source, deliver):
    with mock.patch(
        "releases.webhooks.services.release_create_from_change",
        side_effect=RuntimeError("disk full"),
    ):
        response = deliver("chg", generic_event())
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert delivery.status == DeliveryStatus.FAILED
    assert "disk full" in delivery.outcome
    assert not ChangeRequest.objects.exists()  # the half-done upsert rolled back


def test_failure_from_a_changed_source_setting_names_the_field(source, deliver, worker_down):
    deliver("chg", generic_event())
    WebhookDelivery.objects.update(
        body=json.dumps({"type": "change.approved", "data": {"id": "1"}})
    )
    services.webhook_deliveries_sweep(older_than_seconds=0)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "data.number" in delivery.outcome


# Replay


def test_replay_reprocesses_a_failed_delivery(
    source, role_user, token_client, django_capture_on_commit_callbacks
):
    delivery = WebhookDeliveryFactory(
        source=source, body=json.dumps(generic_event()), status="failed", outcome="x"
    )
    client = token_client(role_user("change_manager"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert response.status_code == 202
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert ChangeRequest.objects.get().releases.count() == 1
    assert AuditEvent.objects.filter(action="webhook_delivery.replay").exists()


def test_replaying_a_processed_delivery_has_no_second_effect(source, deliver):
    response = deliver("chg", generic_event())
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    services.webhook_delivery_replay(delivery=delivery)
    services.webhook_delivery_process(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert delivery.attempts == 2
    assert ChangeRequest.objects.get().releases.count() == 1


@pytest.mark.parametrize("role, expected", [("auditor", 403), ("release_manager", 403)])
def test_replay_needs_the_permission(source, role_user, token_client, role, expected):
    delivery = WebhookDeliveryFactory(source=source)
    response = token_client(role_user(role)).post(
        f"/api/v1/webhook-deliveries/{delivery.pk}/replay/"
    )
    assert response.status_code == expected


# Sources and deliveries API


def test_create_source_shows_the_secret_once(role_user, token_client):
    client = token_client(role_user("change_manager"))
    response = client.post(
        "/api/v1/webhook-sources/",
        {"name": "snow-prod", "adapter": "servicenow", "time_zone": "Europe/Berlin"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    assert response.json()["endpoint"].endswith("/api/v1/webhooks/snow-prod/")
    detail = client.get(f"/api/v1/webhook-sources/{response.json()['id']}/")
    assert secret not in json.dumps(detail.json())
    assert detail.json()["secrets"][0]["hint"] == secret[:12]


def test_create_source_refuses_bad_input(role_user, token_client):
    client = token_client(role_user("change_manager"))
    response = client.post(
        "/api/v1/webhook-sources/",
        {"name": "bad zone", "adapter": "nope", "time_zone": "Mars/Base"},
        format="json",
    )
    assert response.status_code == 400
    assert {"name", "adapter"} <= set(response.json()["errors"])
    response = client.post(
        "/api/v1/webhook-sources/",
        {"name": "z", "adapter": "jira", "time_zone": "Mars/Base"},
        format="json",
    )
    assert response.status_code == 400
    assert "time_zone" in response.json()["errors"]


def test_sources_api_permissions(role_user, token_client, api_client):
    WebhookSourceFactory()
    assert api_client.get("/api/v1/webhook-sources/").status_code == 401
    auditor = token_client(role_user("auditor"))
    assert auditor.get("/api/v1/webhook-sources/").status_code == 200
    assert (
        auditor.post(
            "/api/v1/webhook-sources/", {"name": "a", "adapter": "jira"}, format="json"
        ).status_code
        == 403
    )


def test_rotate_and_revoke_secrets_through_the_api(source, role_user, token_client, deliver):
    client = token_client(role_user("change_manager"))
    added = client.post(f"/api/v1/webhook-sources/{source.pk}/secrets/", {}, format="json")
    assert added.status_code == 201
    new = added.json()["secret"]
    old = source.secrets.get(hint=TEST_SECRET[:12])
    revoked = client.post(f"/api/v1/webhook-sources/{source.pk}/secrets/{old.pk}/revoke/")
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False
    assert deliver("chg", generic_event(), secret=new).status_code == 202
    assert deliver("chg", generic_event()).status_code == 401
    last = client.post(f"/api/v1/webhook-sources/{source.pk}/secrets/{added.json()['id']}/revoke/")
    assert last.status_code == 409


def test_source_with_deliveries_cannot_be_deleted(source, role_user, token_client):
    WebhookDeliveryFactory(source=source)
    client = token_client(role_user("change_manager"))
    assert client.delete(f"/api/v1/webhook-sources/{source.pk}/").status_code == 409


def test_deliveries_list_filters_and_has_a_fixed_query_count(
    source, role_user, token_client, django_assert_max_num_queries
):
    change = ChangeRequestFactory()
    WebhookDeliveryFactory.create_batch(
        30, source=source, change_request=change, status="processed"
    )
    WebhookDeliveryFactory.create_batch(5, source=WebhookSourceFactory(), status="failed")
    client = token_client(role_user("auditor"))
    with django_assert_max_num_queries(12):
        response = client.get("/api/v1/webhook-deliveries/?page_size=100")
    assert response.json()["count"] == 35
    assert "body" not in response.json()["results"][0]
    failed = client.get("/api/v1/webhook-deliveries/?status=failed")
    assert failed.json()["count"] == 5
    by_source = client.get("/api/v1/webhook-deliveries/?source=chg")
    assert by_source.json()["count"] == 30


def test_delivery_detail_shows_the_raw_body(source, role_user, token_client):
    delivery = WebhookDeliveryFactory(source=source, body='{"a": 1}')
    response = token_client(role_user("auditor")).get(f"/api/v1/webhook-deliveries/{delivery.pk}/")
    assert response.json()["body"] == '{"a": 1}'


# The command


def test_add_webhook_source_command_prints_the_secret(db, capsys):
    call_command(
        "add_webhook_source",
        "snow",
        "--adapter",
        "servicenow",
        "--callback-url",
        "https://x.example/cb",
    )
    out = capsys.readouterr().out
    source = WebhookSource.objects.get(name="snow")
    assert source.adapter == "servicenow"
    assert source.callback_url == "https://x.example/cb"
    secret = out.split("shown only now): ")[1].strip()
    assert secret_open(source.secrets.get().value) == secret


def test_add_webhook_source_command_takes_a_given_secret(db, capsys):
    given = secret_generate()
    call_command("add_webhook_source", "jsm", "--adapter", "jira", "--secret", given)
    assert given in capsys.readouterr().out
    assert secret_open(WebhookSource.objects.get(name="jsm").secrets.get().value) == given


def test_add_webhook_source_command_refuses_a_duplicate(db):
    from django.core.management.base import CommandError

    call_command("add_webhook_source", "dup", "--adapter", "generic")
    with pytest.raises(CommandError, match="already exists"):
        call_command("add_webhook_source", "dup", "--adapter", "generic")


# Concurrency (PostgreSQL: real row locks)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweepers_never_process_the_same_delivery():
    import threading

    from django.db import connection

    source = WebhookSourceFactory(name="race")
    for n in range(30):
        WebhookDeliveryFactory(source=source, body=json.dumps(generic_event(ext=f"r{n}")))
    barrier = threading.Barrier(3)
    counts = []

    def sweep():
        try:
            barrier.wait()
            counts.append(services.webhook_deliveries_sweep(older_than_seconds=0))
        finally:
            connection.close()

    run_together(sweep, sweep, sweep)
    assert sum(counts) == 30
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}
    assert ChangeRequest.objects.count() == 30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_duplicates_store_one_delivery(api_client):
    import threading

    from django.db import connection
    from django.test import Client

    WebhookSourceFactory(name="dup")
    body = json.dumps(generic_event())
    headers = sign_headers(body, msg_id="msg_race")
    barrier = threading.Barrier(4)
    answers = []

    def send():
        try:
            barrier.wait()
            response = Client().post(
                "/api/v1/webhooks/dup/", data=body, content_type="application/json", **headers
            )
            answers.append(response.json()["status"])
        finally:
            connection.close()

    run_together(send, send, send, send)
    assert sorted(answers) == ["accepted", "duplicate", "duplicate", "duplicate"]
    assert WebhookDelivery.objects.count() == 1
    assert ChangeRequest.objects.count() == 1


def test_deactivating_a_source_through_the_api_answers_410(
    source, role_user, token_client, deliver
):
    client = token_client(role_user("change_manager"))
    response = client.patch(
        f"/api/v1/webhook-sources/{source.pk}/", {"active": False}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert AuditEvent.objects.filter(object_id=str(source.pk), action__contains="update").exists()
    assert deliver("chg", generic_event()).status_code == 410


def test_a_malformed_secret_key_is_a_configuration_error(db):
    from django.core.exceptions import ImproperlyConfigured

    with (
        override_settings(WEBHOOK_SECRET_KEY="not-a-fernet-key"),
        pytest.raises(ImproperlyConfigured, match="WEBHOOK_SECRET_KEY"),
    ):
        services.webhook_source_create(name="k", adapter="generic")
