from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from releasemgmt.core.models import Heartbeat
from releasemgmt.core.services import heartbeat_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_heartbeats():
    heartbeat_record(component="worker", detail="celery@test")
    heartbeat_record(component="beat", detail="celery beat")


def test_healthy(client, fresh_heartbeats):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "worker": "ok", "beat": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


def test_stale_worker_heartbeat_is_503_with_the_reason(client, fresh_heartbeats):
    Heartbeat.objects.filter(component="worker").update(
        last_seen=timezone.now() - timedelta(seconds=settings.HEARTBEAT_MAX_AGE_SECONDS + 30)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["worker"].startswith("stale: last heartbeat")
    assert body["checks"]["beat"] == "ok"


def test_missing_beat_is_503(client):
    heartbeat_record(component="worker")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] == "no heartbeat yet: is it running?"


def test_database_down_is_503(client, fresh_heartbeats):
    from django.db import OperationalError

    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("boom")
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "unreachable: OperationalError"
    assert checks["worker"] == "unknown: database unreachable"


def test_broker_down_is_503(client, fresh_heartbeats):
    with mock.patch("kombu.Connection.ensure_connection", side_effect=ConnectionRefusedError()):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable: ConnectionRefusedError"


def test_health_reveals_no_versions_or_secrets(client, fresh_heartbeats):
    text = client.get("/healthz").content.decode()
    for secret in (
        settings.SECRET_KEY,
        "Django",
        "python",
        "celery@test",
        str(settings.DATABASES["default"]["NAME"]),
    ):
        assert secret not in text


def test_pages_show_a_clear_error_when_the_database_is_down(client, user):
    from django.db import OperationalError

    client.force_login(user)
    client.raise_request_exception = False
    with mock.patch("kpis.dashboards.views.cards.assemble", side_effect=OperationalError("down")):
        response = client.get("/")
    assert response.status_code == 503
    assert "The database is unavailable right now" in response.content.decode()


def test_home_health_panel_refreshes(client, user, fresh_heartbeats):
    client.force_login(user)
    response = client.get("/partials/health/")
    assert response.status_code == 200
    assert 'hx-trigger="every 15s"' in response.content.decode()
