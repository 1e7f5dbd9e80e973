"""The ServiceNow and Jira adapters on realistic payloads (fixtures), end to end through the
signed endpoint."""

import copy
from datetime import UTC, datetime

import pytest

from releases.models import ChangeRequest, DeliveryAttention, DeliveryStatus, WebhookDelivery
from releases.webhooks.adapters import MappingError, jira_map, servicenow_map
from tests.factories import ReleaseFactory, WebhookSourceFactory
from tests.factories.webhooks import fixture, post_signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver(api_client, django_capture_on_commit_callbacks):
    def send(source_name, payload, **kw):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_signed(api_client, source_name, payload, **kw)
        assert response.status_code in (200, 202), response.json()
        return WebhookDelivery.objects.get(pk=response.json()["delivery"])

    return send


# ServiceNow


@pytest.fixture
def snow():
    return WebhookSourceFactory(name="snow", adapter="servicenow", time_zone="Europe/Berlin")


def test_servicenow_table_api_record_creates_change_and_release(snow, deliver):
    delivery = deliver("snow", fixture("servicenow_change_scheduled.json"))
    assert delivery.status == DeliveryStatus.PROCESSED, delivery.outcome
    change = ChangeRequest.objects.get(source_system="snow")
    assert change.external_id == "c83c5e5347c12200e0ef563dbb9a7190"
    assert change.number == "CHG0031234"
    assert change.title == "Upgrade Payroll to 4.2.0"
    assert change.state == "Scheduled"
    assert change.change_type == "normal"
    assert change.source_version == "7"
    # "2026-12-01 20:00:00" without offset, read in the source's zone (Berlin, UTC+1 in December)
    assert change.planned_start == datetime(2026, 12, 1, 19, tzinfo=UTC)
    assert change.planned_end == datetime(2026, 12, 1, 22, tzinfo=UTC)
    release = change.releases.get()
    assert release.state == "requested"
    assert release.trigger_reference == "CHG0031234"
    assert release.installation_start == change.planned_start


def test_servicenow_business_rule_cancellation_cancels_the_release(snow, deliver):
    deliver("snow", fixture("servicenow_change_scheduled.json"))
    release = ChangeRequest.objects.get().releases.get()
    delivery = deliver("snow", fixture("servicenow_change_canceled.json"))
    release.refresh_from_db()
    assert release.state == "cancelled"
    assert ChangeRequest.objects.get().state == "Canceled"
    assert f"Cancelled {release.number}" in delivery.outcome


def test_servicenow_out_of_order_cancellation_wins_over_older_schedule(snow, deliver):
    # given the cancellation (sys_mod_count 9) arrives before the schedule (7)
    deliver("snow", fixture("servicenow_change_canceled.json"))
    late = deliver("snow", fixture("servicenow_change_scheduled.json"))
    # then the older record changes nothing and no release is created
    assert "nothing changed" in late.outcome
    change = ChangeRequest.objects.get()
    assert change.state == "Canceled"
    assert not change.releases.exists()


def test_servicenow_reschedule_on_frozen_plan_is_flagged(snow, deliver):
    deliver("snow", fixture("servicenow_change_scheduled.json"))
    release = ChangeRequest.objects.get().releases.get()
    type(release).objects.filter(pk=release.pk).update(state="accepted")
    moved = fixture("servicenow_change_scheduled.json")
    moved["result"].update(
        sys_mod_count="8", start_date="2026-12-08 20:00:00", end_date="2026-12-08 23:00:00"
    )
    delivery = deliver("snow", moved)
    assert delivery.attention == DeliveryAttention.FLAGGED
    release.refresh_from_db()
    assert release.installation_start == datetime(2026, 12, 1, 19, tzinfo=UTC)


def test_servicenow_display_value_state_and_sys_id_references(snow):
    record = copy.deepcopy(fixture("servicenow_change_scheduled.json")["result"])
    record["state"] = {"display_value": "Implement", "value": "-1"}
    event = servicenow_map(record, snow)
    assert event.kind == "approved"
    assert event.fields["state"] == "Implement"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"state": "7"}, "result.state"),
        ({"sys_id": ""}, "result.sys_id"),
        ({"start_date": "01/12/2026 20:00"}, "result.start_date"),
        ({"sys_mod_count": "seven"}, "result.sys_mod_count"),
        ({"short_description": ["a"]}, "result.short_description"),
    ],
)
def test_servicenow_unmappable_fields_are_named(snow, change, field):
    payload = fixture("servicenow_change_scheduled.json")
    payload["result"].update(change)
    with pytest.raises(MappingError) as error:
        servicenow_map(payload, snow)
    assert error.value.field_path == field


def test_servicenow_unmappable_is_400_at_the_endpoint(snow, api_client):
    payload = fixture("servicenow_change_scheduled.json")
    payload["result"]["state"] = "99"
    response = post_signed(api_client, "snow", payload)
    assert response.status_code == 400
    assert "result.state" in response.json()["detail"]


# Jira / Jira Service Management


@pytest.fixture
def jsm():
    return WebhookSourceFactory(
        name="jsm",
        adapter="jira",
        planned_start_field="customfield_10035",
        planned_end_field="customfield_10036",
    )


def test_jira_created_issue_records_the_change_without_a_release(jsm, deliver):
    delivery = deliver("jsm", fixture("jira_issue_created.json"))
    assert delivery.status == DeliveryStatus.PROCESSED, delivery.outcome
    change = ChangeRequest.objects.get(source_system="jsm")
    assert (change.external_id, change.number, change.state) == ("10482", "OPS-812", "Planning")
    assert change.change_type == "Change"
    assert change.url == "https://example.atlassian.net/browse/OPS-812"
    assert change.planned_start == datetime(2026, 12, 1, 19, tzinfo=UTC)
    assert not change.releases.exists()


def test_jira_approval_creates_release_and_cancellation_cancels_it(jsm, deliver):
    deliver("jsm", fixture("jira_issue_created.json"))
    approved = deliver("jsm", fixture("jira_issue_updated_approved.json"))
    change = ChangeRequest.objects.get()
    release = change.releases.get()
    assert "Awaiting CAB approval → Awaiting implementation" in approved.outcome
    assert release.installation_start == datetime(2026, 12, 2, 19, tzinfo=UTC)
    deliver("jsm", fixture("jira_issue_updated_canceled.json"))
    release.refresh_from_db()
    assert release.state == "cancelled"


def test_jira_status_names_are_configurable(deliver):
    WebhookSourceFactory(name="custom", adapter="jira", approved_statuses="Planning")
    deliver("custom", fixture("jira_issue_created.json"))
    assert ChangeRequest.objects.get().releases.count() == 1


def test_jira_late_older_update_is_ignored(jsm, deliver):
    deliver("jsm", fixture("jira_issue_updated_canceled.json"))
    late = deliver("jsm", fixture("jira_issue_updated_approved.json"))
    assert "nothing changed" in late.outcome
    assert ChangeRequest.objects.get().state == "Canceled"
    assert not ChangeRequest.objects.get().releases.exists()


def test_jira_cancellation_flags_a_deploying_release(jsm, deliver):
    deliver("jsm", fixture("jira_issue_updated_approved.json"))
    release = ChangeRequest.objects.get().releases.get()
    type(release).objects.filter(pk=release.pk).update(state="distributing")
    delivery = deliver("jsm", fixture("jira_issue_updated_canceled.json"))
    assert delivery.attention == DeliveryAttention.FLAGGED
    release.refresh_from_db()
    assert release.state == "distributing"


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda p: p.update(webhookEvent="jira:issue_deleted"), "webhookEvent"),
        (lambda p: p["issue"]["fields"].pop("summary"), "issue.fields.summary"),
        (lambda p: p["issue"]["fields"].update(status="Open"), "issue.fields.status"),
        (lambda p: p["issue"].pop("key"), "issue.key"),
        (
            lambda p: p["issue"]["fields"].update(customfield_10035="next week"),
            "issue.fields.customfield_10035",
        ),
    ],
)
def test_jira_unmappable_fields_are_named(jsm, mutate, field):
    payload = fixture("jira_issue_updated_approved.json")
    mutate(payload)
    with pytest.raises(MappingError) as error:
        jira_map(payload, jsm)
    assert error.value.field_path == field


def test_ordering_across_a_jira_change_uses_the_updated_time(jsm):
    older = jira_map(fixture("jira_issue_updated_approved.json"), jsm)
    newer = jira_map(fixture("jira_issue_updated_canceled.json"), jsm)
    assert older.version < newer.version


def test_a_release_linked_by_hand_is_replanned_by_jira(jsm, deliver):
    deliver("jsm", fixture("jira_issue_created.json"))
    change = ChangeRequest.objects.get()
    release = ReleaseFactory(state="planned")
    release.change_requests.add(change)
    deliver("jsm", fixture("jira_issue_updated_approved.json"))
    release.refresh_from_db()
    assert release.installation_end == datetime(2026, 12, 2, 22, tzinfo=UTC)
    assert change.releases.count() == 1  # no second release: the change already had one
