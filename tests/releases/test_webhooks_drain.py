"""Webhook deliveries processed by a batching drain woken by a debounced signal (issue 13): the
batch claim, a failure kept to its delivery, the wake-key protocol, outages of the cache, and
fixed query counts on the receiver and per batch."""

import json
import threading
from unittest import mock

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from releasemgmt.core.models import AuditEvent
from releases.models import ChangeRequest, DeliveryStatus, Release, WebhookDelivery
from releases.webhooks import services
from releases.webhooks.tasks import webhook_delivery_process_task
from tests.concurrency import run_together
from tests.factories import ChangeRequestFactory, WebhookDeliveryFactory, WebhookSourceFactory
from tests.factories.webhooks import generic_event, post_signed

pytestmark = pytest.mark.django_db

REDIS_AT_A_DEAD_PORT = {
    "default": {
        "BACKEND": "releasemgmt.core.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


@pytest.fixture
def source():
    return WebhookSourceFactory(name="chg")


@pytest.fixture
def wakes():
    """The wakes published (nothing runs: deliveries stay "received" until drained)."""
    with mock.patch.object(webhook_delivery_process_task, "delay") as delay:
        yield delay


@pytest.fixture
def shared_cache(settings):
    """A cache every process shares, as Redis is (the local-memory cache of this one process
    stands in for it): the wake is debounced."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    caches["default"].clear()  # local-memory caches outlive a change of settings
    with mock.patch.object(services, "_wake_is_debounced", return_value=True):
        yield


def _received(source, n, *, kind="approved", start=0):
    return [
        WebhookDeliveryFactory(
            source=source, body=json.dumps(generic_event(kind, ext=f"c{start + i}"))
        )
        for i in range(n)
    ]


def _post(api_client, payload, django_capture_on_commit_callbacks, **kw):
    with django_capture_on_commit_callbacks(execute=True):
        return post_signed(api_client, "chg", payload, **kw)


# The drain


def test_the_drain_processes_every_received_delivery_in_batches_oldest_first(source):
    # given 7 deliveries, and a drain taking 3 at a time
    deliveries = _received(source, 7)
    # when
    done = services.webhook_deliveries_drain(batch_size=3)
    # then each is processed once, in the order received
    assert done == 7
    stored = list(WebhookDelivery.objects.order_by("processed_at", "pk"))
    assert [d.pk for d in stored] == [d.pk for d in deliveries]
    assert {(d.status, d.attempts) for d in stored} == {(DeliveryStatus.PROCESSED, 1)}
    assert ChangeRequest.objects.count() == Release.objects.count() == 7
    assert services.webhook_deliveries_drain() == 0


def test_one_batch_applies_the_events_of_one_change_in_order(source):
    # given one change's events in one batch: approved, retitled, an older one, then cancelled;
    # and an existing change updated in the same batch
    ChangeRequestFactory(source_system="chg", external_id="old", source_version="1", title="Old")
    bodies = [
        generic_event("approved", ext="c", version=1),
        generic_event("updated", ext="c", version=2, title="Retitled"),
        generic_event("updated", ext="old", version=2, title="New title"),
        generic_event("updated", ext="c", version=1, title="Stale"),
        generic_event("cancelled", ext="c", version=3, title="Retitled"),
    ]
    deliveries = [WebhookDeliveryFactory(source=source, body=json.dumps(b)) for b in bodies]
    # when
    assert services.webhook_deliveries_drain() == 5
    # then each delivery saw what the ones before it did, as if processed one by one
    outcomes = [WebhookDelivery.objects.get(pk=d.pk).outcome for d in deliveries]
    change = ChangeRequest.objects.get(external_id="c")
    release = change.releases.get()
    assert "Created release" in outcomes[0]
    assert outcomes[3].startswith("Older than the stored")
    assert f"Cancelled {release.number}" in outcomes[4]
    assert (change.title, change.source_version, release.state) == ("Retitled", "3", "cancelled")
    assert change.approved_at is not None
    assert ChangeRequest.objects.get(external_id="old").title == "New title"


def test_a_failing_delivery_does_not_spoil_its_batch(source):
    # given three deliveries, the middle one failing half-way through being applied
    first, middle, last = _received(source, 3)
    apply = services.change_event_apply

    def apply_or_fail(*, source, event):
        result = apply(source=source, event=event)
        if event.external_id == "c1":
            raise RuntimeError("disk full")
        return result

    # when one batch takes all three
    with mock.patch.object(services, "change_event_apply", side_effect=apply_or_fail):
        assert services.webhook_deliveries_drain(batch_size=10) == 3
    # then the middle one is failed with its reason and left nothing behind; the others applied
    middle.refresh_from_db()
    assert middle.status == DeliveryStatus.FAILED
    assert middle.outcome == "Unexpected error (RuntimeError): disk full"
    for delivery in (first, last):
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PROCESSED, delivery.outcome
    assert set(ChangeRequest.objects.values_list("external_id", flat=True)) == {"c0", "c2"}
    # and the pass that was rolled back to isolate the failure left no trace
    assert AuditEvent.objects.filter(action="change_request.create").count() == 2


def test_a_mapping_failure_inside_a_batch_names_the_field(source):
    bad = WebhookDeliveryFactory(source=source, body=json.dumps({"type": "change.approved"}))
    good = _received(source, 1)[0]
    services.webhook_deliveries_drain()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == DeliveryStatus.FAILED
    assert "data" in bad.outcome
    assert good.status == DeliveryStatus.PROCESSED


def test_a_lost_lock_conflict_is_tried_again_not_failed(source):
    # given a delivery losing a deadlock to another drain in its batch and in the batch's
    # retry with savepoints
    (delivery,) = _received(source, 1)
    apply = services.change_event_apply
    tries = []

    def deadlocked_twice(**kw):
        tries.append(1)
        if len(tries) <= 2:
            from django.db import OperationalError

            raise OperationalError("deadlock detected")
        return apply(**kw)

    # when
    with mock.patch.object(services, "change_event_apply", side_effect=deadlocked_twice):
        assert services.webhook_deliveries_drain() == 1
    # then it stayed "received" with one attempt, and the drain's next batch processed it
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PROCESSED, 2)


def test_old_messages_naming_one_delivery_still_process_it(source):
    # given a message queued before the drain existed (it carries the delivery's id)
    (delivery,) = _received(source, 1)
    # when the worker runs it
    webhook_delivery_process_task(delivery_id=delivery.pk)
    # then the delivery is processed
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED


def test_the_sweeper_drains_only_what_is_old_enough(source):
    old = _received(source, 2)
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in old]).update(
        received_at="2026-01-01T00:00:00Z"
    )
    recent = _received(source, 1, start=2)[0]
    assert services.webhook_deliveries_sweep(older_than_seconds=60) == 2
    recent.refresh_from_db()
    assert recent.status == DeliveryStatus.RECEIVED


# Waking the drain


def test_one_wake_is_pending_at_a_time(
    source, api_client, shared_cache, wakes, django_capture_on_commit_callbacks
):
    # given / when: three deliveries while no drain has started
    for n in range(3):
        response = _post(api_client, generic_event(ext=f"c{n}"), django_capture_on_commit_callbacks)
        assert response.status_code == 202
    # then one wake was published for the three
    assert wakes.call_count == 1


def test_a_delivery_after_the_drain_forgot_the_wake_publishes_a_new_one(
    source, api_client, shared_cache, wakes, django_capture_on_commit_callbacks
):
    # given a pending wake
    _post(api_client, generic_event(ext="c0"), django_capture_on_commit_callbacks)
    assert wakes.call_count == 1
    drain = services.webhook_deliveries_drain
    arrived = []

    def drain_while_one_arrives(**kw):
        # a delivery committed after the woken drain deleted the key, while it drains
        arrived.append(
            _post(api_client, generic_event(ext="c1"), django_capture_on_commit_callbacks)
        )
        return drain(**kw)

    # when the wake runs
    with mock.patch.object(services, "webhook_deliveries_drain", drain_while_one_arrives):
        services.webhook_deliveries_woken()
    # then the late delivery published a wake of its own (its drain is coming)
    assert arrived[0].status_code == 202
    assert wakes.call_count == 2
    # and a delivery while that wake is pending publishes none
    _post(api_client, generic_event(ext="c2"), django_capture_on_commit_callbacks)
    assert wakes.call_count == 2


def test_a_wake_the_broker_refused_is_not_left_pending(
    source, api_client, shared_cache, wakes, django_capture_on_commit_callbacks
):
    # given the broker refuses the first wake
    wakes.side_effect = [OSError("broker down"), None]
    assert (
        _post(api_client, generic_event(ext="c0"), django_capture_on_commit_callbacks).status_code
        == 202
    )
    # when the next delivery arrives
    _post(api_client, generic_event(ext="c1"), django_capture_on_commit_callbacks)
    # then it published again (the refused wake did not keep the key)
    assert wakes.call_count == 2


def test_without_a_shared_cache_every_delivery_wakes(
    source, api_client, settings, wakes, django_capture_on_commit_callbacks
):
    # the embedded default: each process has its own local-memory cache
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    for n in range(3):
        _post(api_client, generic_event(ext=f"c{n}"), django_capture_on_commit_callbacks)
    assert wakes.call_count == 3


def test_redis_down_answers_202_stores_and_the_sweeper_processes_later(
    source, api_client, wakes, django_capture_on_commit_callbacks, caplog
):
    # given the cache and the broker (one Redis) are down
    wakes.side_effect = OSError("broker down")
    with override_settings(CACHES=REDIS_AT_A_DEAD_PORT):
        # when a delivery arrives
        response = _post(api_client, generic_event(), django_capture_on_commit_callbacks)
        # then it is accepted and stored, the outage logged
        assert response.status_code == 202
        delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
        assert delivery.status == DeliveryStatus.RECEIVED
        assert "cache is unreachable" in caplog.text
        # and the sweeper (beat → worker, once Redis is back) processes it
        assert services.webhook_deliveries_sweep(older_than_seconds=0) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED


# Fixed query counts

# a drain of one (short) batch: its transaction (a savepoint inside the test's) and its release,
# the claim, the lock of the batch's existing change requests, the update of the results
FIXED_PER_DRAIN = 5


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: no savepoint
def test_the_receiver_costs_two_queries_per_delivery(
    source, api_client, wakes, django_assert_num_queries
):
    # one query for the source and its live secrets, one INSERT (autocommit)
    for n in range(3):
        with django_assert_num_queries(2):
            response = post_signed(api_client, "chg", generic_event(ext=f"c{n}"))
        assert response.status_code == 202


def _drain_queries(n, source, *, kind="approved", start=0):
    _received(source, n, kind=kind, start=start)
    with CaptureQueriesContext(connection) as queries:
        assert services.webhook_deliveries_drain(batch_size=100) == n
    return len(queries)


@pytest.mark.parametrize("kind", ["approved", "updated"])
def test_a_batch_costs_a_fixed_number_of_queries_per_delivery(kind, settings):
    # given a triage source (no release created: what is left is the drain's own cost)
    triage = WebhookSourceFactory(name="tri", policy="triage")
    # when batches of 10 and of 20 new changes are drained
    ten = _drain_queries(10, triage, kind=kind)
    twenty = _drain_queries(20, triage, kind=kind, start=10)
    # then each delivery adds the same two queries: the insert of its change (approved_at
    # included) and the audit event (no savepoint while nothing fails)
    per_delivery = (twenty - ten) // 10
    assert twenty - ten == 10 * per_delivery
    assert per_delivery == 2
    assert ten - 10 * per_delivery == FIXED_PER_DRAIN


# Concurrency (PostgreSQL: real row locks)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_never_process_one_delivery_twice():
    # given 150 deliveries and three drains taking 20 at a time
    source = WebhookSourceFactory(name="race")
    _received(source, 150)
    barrier = threading.Barrier(3)
    counts = []

    def drain():
        try:
            barrier.wait()
            counts.append(services.webhook_deliveries_drain(batch_size=20))
        finally:
            connection.close()

    # when they run at once
    run_together(drain, drain, drain)
    # then each delivery was processed by exactly one of them
    assert sum(counts) == 150
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("processed", 1)}
    assert ChangeRequest.objects.count() == Release.objects.count() == 150
