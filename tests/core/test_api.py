import pytest
from django.db import IntegrityError, OperationalError
from django.urls import path
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from releasemgmt.core.exceptions import DomainConflict, DomainValidationError
from releasemgmt.core.models import AuditEvent
from releasemgmt.core.services import audit_record
from tests import api_mixins as api
from tests.factories import AuditEventFactory, UserFactory


class TestAuditEventAPI(api.ListObjects, api.GetObject):
    url_name = "core-api:audit-event"
    factory = AuditEventFactory
    model = AuditEvent


@pytest.mark.django_db
def test_audit_events_filter_by_object_and_action(token_client, role_user):
    auditor = role_user("auditor")
    target = UserFactory()
    audit_record(actor=auditor, action="user.note", target=target, reason="checked")
    AuditEventFactory.create_batch(3)
    response = token_client(auditor).get(
        "/api/v1/audit-events/",
        {"object_type": "user", "object_id": target.pk, "action": "user.note"},
    )
    assert response.status_code == 200
    (event,) = response.json()["results"]
    assert event["object_type"] == "accounts.user"
    assert event["actor_name"] == auditor.username
    assert event["reason"] == "checked"


@pytest.mark.django_db
def test_audit_events_are_read_only(token_client, role_user):
    assert token_client(role_user("auditor")).post("/api/v1/audit-events/", {}).status_code == 403
    # not even an administrator can write the trail through the API
    admin = token_client(UserFactory(superuser=True))
    assert admin.post("/api/v1/audit-events/", {}).status_code == 405
    event = AuditEventFactory()
    assert admin.delete(f"/api/v1/audit-events/{event.pk}/").status_code == 405


@pytest.mark.django_db
def test_api_root_lists_collections(token_client, user):
    body = token_client(user).get("/api/v1/").json()
    assert body["audit-events"].endswith("/api/v1/audit-events/")
    assert {"me", "schema", "docs"} <= body.keys()


@pytest.mark.django_db
def test_bad_query_parameters_are_400_json(token_client, role_user):
    client = token_client(role_user("auditor"))
    response = client.get("/api/v1/audit-events/", {"occurred_after": "yesterday-ish"})
    assert response.status_code == 400
    body = response.json()
    assert "occurred_after" in body["errors"]
    assert body["detail"].startswith("occurred_after:")
    assert client.get("/api/v1/audit-events/", {"page": 999}).status_code == 404


def deadlock() -> OperationalError:
    """What Django raises when PostgreSQL picks this transaction as a deadlock's victim."""

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    error = OperationalError("deadlock detected")
    error.__cause__ = DeadlockDetected("deadlock detected")
    return error


class Raiser(APIView):
    error = None

    def post(self, request):
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (
            DomainConflict("Release is closed.", extra={"state": "closed"}),
            409,
            "Release is closed.",
        ),
        (DomainValidationError({"title": "Required."}), 400, "title: Required."),
        (ValidationError({"seats": ["Must be positive."]}), 400, "seats: Must be positive."),
        (IntegrityError("duplicate key"), 409, "This conflicts with existing data"),
        (deadlock(), 503, "The database was busy with a conflicting change"),
        (OperationalError("database is locked"), 503, "The database was busy"),
    ],
)
@pytest.mark.django_db
def test_exception_handler_answers_json_a_person_can_act_on(user, error, status, detail):
    request = APIRequestFactory().post("/x/", {}, format="json")
    force_authenticate(request, user=user)
    response = Raiser.as_view(error=error)(request)
    assert response.status_code == status
    assert response.data["detail"].startswith(detail)
    if isinstance(error, DomainConflict):
        assert response.data["state"] == "closed"


@pytest.mark.django_db
def test_unknown_api_path_is_404_json(client, user):
    client.force_login(user)
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "Nothing is here. Check the address, or go back to the dashboard."
    }


urlpatterns = [path("x/", Raiser.as_view())]
