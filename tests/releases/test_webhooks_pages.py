"""The webhook deliveries pages and the admin, at the project's URLs (``/releases/webhooks/``, and
the project's admin, where ``releases/admin.py`` registers the webhook models)."""

import json

import pytest
from django.contrib import admin

from releases.models import DeliveryStatus, WebhookDelivery, WebhookSource
from tests.factories import ChangeRequestFactory, WebhookDeliveryFactory, WebhookSourceFactory
from tests.factories.webhooks import generic_event

pytestmark = pytest.mark.django_db


def test_pages_refuse_anonymous_visitors(client):
    delivery = WebhookDeliveryFactory()
    for url in ("/releases/webhooks/", f"/releases/webhooks/{delivery.pk}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


def test_delivery_list_filters_with_a_fixed_query_count(
    client, role_user, django_assert_max_num_queries
):
    # given
    source = WebhookSourceFactory(name="snow")
    change = ChangeRequestFactory(number="CHG0099")
    WebhookDeliveryFactory.create_batch(
        40, source=source, change_request=change, status="processed"
    )
    WebhookDeliveryFactory(
        source=source, status="failed", outcome="Could not apply: data.id: required"
    )
    client.force_login(role_user("auditor"))
    # when
    with django_assert_max_num_queries(15):
        response = client.get("/releases/webhooks/")
    # then
    assert response.status_code == 200
    assert "41 deliveries" in response.content.decode()
    failed = client.get("/releases/webhooks/?status=failed").content.decode()
    assert "Could not apply: data.id: required" in failed
    assert "CHG0099" not in failed


def test_bad_filter_is_400_with_the_reason(client, role_user):
    client.force_login(role_user("auditor"))
    response = client.get("/releases/webhooks/?status=exploded")
    assert response.status_code == 400
    assert "status" in response.content.decode()


def test_detail_shows_raw_body_and_headers(client, role_user):
    delivery = WebhookDeliveryFactory(
        body=json.dumps({"type": "change.approved", "data": {"id": "x-1"}}),
        headers={"webhook-id": "msg_abc", "content-type": "application/json"},
    )
    client.force_login(role_user("auditor"))
    page = client.get(f"/releases/webhooks/{delivery.pk}/").content.decode()
    assert "change.approved" in page
    assert "msg_abc" in page
    assert "Replay" not in page  # the auditor may not replay


def test_replay_button_reprocesses(client, role_user, django_capture_on_commit_callbacks):
    source = WebhookSourceFactory(name="gen")
    delivery = WebhookDeliveryFactory(
        source=source, body=json.dumps(generic_event()), status="failed", outcome="old"
    )
    client.force_login(role_user("change_manager"))
    assert "Replay" in client.get(f"/releases/webhooks/{delivery.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/releases/webhooks/{delivery.pk}/replay/", follow=True)
    assert response.status_code == 200
    assert "queued for processing again" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED


def test_replay_needs_the_permission(client, role_user):
    delivery = WebhookDeliveryFactory(status="failed")
    client.force_login(role_user("release_manager"))
    assert client.post(f"/releases/webhooks/{delivery.pk}/replay/").status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == "failed"


def test_admin_creates_a_source_and_shows_its_secret_once(admin_client):
    assert admin.site.is_registered(WebhookSource)
    response = admin_client.post(
        "/admin/releases/webhooksource/add/",
        {
            "name": "jsm",
            "adapter": "jira",
            "active": "on",
            "policy": "auto_release",
            "time_zone": "UTC",
            "approved_statuses": "Awaiting implementation",
            "cancelled_statuses": "Canceled",
            "secrets-TOTAL_FORMS": "0",
            "secrets-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    source = WebhookSource.objects.get(name="jsm")
    assert source.secrets.count() == 1
    assert "shown only now" in response.content.decode()


def test_admin_delivery_list_is_read_only(admin_client):
    delivery = WebhookDeliveryFactory()
    assert admin_client.get("/admin/releases/webhookdelivery/").status_code == 200
    page = admin_client.get(f"/admin/releases/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert WebhookDelivery.objects.count() == 1
