"""Page-only middleware is skipped for calls that carry their own credentials, and still runs for
pages and for the API used with a session."""

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_bearer_call_neither_reads_nor_writes_a_session(token_client, user):
    client = token_client(user)
    other = UserFactory()
    client.force_login(other)  # a stray session cookie of someone else
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == user.username
    assert response.json()["authenticated_by"] == "token"
    assert "sessionid" not in response.cookies
    assert not hasattr(response.wsgi_request, "session")


def test_a_bad_bearer_token_is_not_rescued_by_a_session(user):
    client = APIClient()
    client.force_login(user)
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer rm_not-a-token")
    assert response.status_code == 401


def test_the_api_with_a_session_still_works_and_still_needs_csrf(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["authenticated_by"] == "session"
    refused = client.post("/api/v1/releases/", {}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_pages_keep_sessions_messages_and_htmx(client, user):
    client.force_login(user)
    response = client.get("/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    request = response.wsgi_request
    assert request.user == user
    assert request.htmx
    assert hasattr(request, "_messages")


def test_the_signed_receiver_and_health_skip_page_middleware(client):
    response = client.get("/healthz")
    assert response.status_code in (200, 503)
    assert not hasattr(response.wsgi_request, "session")
