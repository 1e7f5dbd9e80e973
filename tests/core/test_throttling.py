"""API rate limits: one counter per client and window, O(1) per request, answered while the cache
is down. Runs on the local-memory cache, and on Redis when REDIS_URL is set."""

import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releasemgmt.core.api import throttling
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setattr(throttling.UserRateThrottle, "rate", "3/min", raising=False)
    # counters of their own: a user id can come back in the next test, the cache outlives it
    fresh = f"throttle_{uuid.uuid4().hex}_%(scope)s_%(ident)s"
    monkeypatch.setattr(throttling.UserRateThrottle, "cache_format", fresh)


def test_the_request_over_the_limit_is_refused_with_a_wait(three_a_minute, token_client, user):
    client = token_client(user)
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/me/")
    assert refused.status_code == 429
    assert 0 <= int(refused.headers["Retry-After"]) <= 61
    assert "throttled" in refused.json()["detail"].lower()


def test_each_client_has_its_own_counter(three_a_minute, token_client):
    first, second = token_client(UserFactory()), token_client(UserFactory())
    for _ in range(3):
        assert first.get("/api/v1/me/").status_code == 200
    assert first.get("/api/v1/me/").status_code == 429
    assert second.get("/api/v1/me/").status_code == 200


def test_the_count_is_one_entry_however_many_requests(three_a_minute, token_client, user):
    client = token_client(user)
    for _ in range(5):
        client.get("/api/v1/me/")
    throttle = throttling.UserRateThrottle()
    key = throttle.cache_format % {"scope": throttle.scope, "ident": user.pk}
    window = int(throttle.timer() // throttle.duration)
    assert cache.get(f"{key}:{window}") in (5, 6)  # a window edge may split the five


def test_the_api_answers_when_the_cache_is_down(three_a_minute, token_client, user, monkeypatch):
    client = token_client(user)

    def unreachable(self, key):
        raise ConnectionError("cache down")

    monkeypatch.setattr(throttling.FixedWindowMixin, "count", unreachable)
    assert [client.get("/api/v1/me/").status_code for _ in range(5)] == [200] * 5


def test_the_limit_costs_no_query(token_client, user):
    client = token_client(user)
    client.get("/api/v1/me/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/me/").status_code == 200
    # the token (with its user); role names and permissions are kept per stamp
    assert len(queries) == 1, [q["sql"] for q in queries]
