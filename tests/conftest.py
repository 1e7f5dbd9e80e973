"""Suite-wide fixtures and the markers' rules.

- ``@pytest.mark.postgres`` tests are skipped on SQLite — unless ``RELEASEMGMT_REQUIRE=postgres``
  is set (CI's PostgreSQL run), where a skip would hide a gap, so they fail instead.
- ``@pytest.mark.browser`` tests are skipped without Chromium, likewise failing under
  ``RELEASEMGMT_REQUIRE=browser``.
"""

import os
import shutil

import pytest
from django.conf import settings

from tests.factories import UserFactory

REQUIRED = {
    item.strip() for item in os.environ.get("RELEASEMGMT_REQUIRE", "").split(",") if item.strip()
}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_ran = {"postgres": 0, "browser": 0}


def _skip_or_fail(kind: str, reason: str):
    if kind in REQUIRED:
        pytest.fail(f"{reason} — but RELEASEMGMT_REQUIRE={kind} demands these tests run.")
    pytest.skip(reason)


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        if not settings.USING_POSTGRES:
            _skip_or_fail("postgres", "needs PostgreSQL: set DATABASE_URL=postgres://…")
        _ran["postgres"] += 1
    if item.get_closest_marker("browser"):
        if not CHROMIUM:
            _skip_or_fail("browser", "needs Chromium: apt-get install chromium")
        _ran["browser"] += 1


def pytest_sessionfinish(session, exitstatus):
    # A run told that PostgreSQL/browser tests must run fails when none did (e.g. all deselected).
    if session.config.option.collectonly or exitstatus != 0:
        return
    missing = sorted(kind for kind in REQUIRED if kind in _ran and _ran[kind] == 0)
    if missing:
        session.exitstatus = 1
        print(f"\nRELEASEMGMT_REQUIRE: no {', '.join(missing)} test ran.")


@pytest.fixture(autouse=True)
def _webhook_wake_forgotten():
    """A webhook drain wake left pending by a test (its task mocked away) lives on in a shared
    Redis cache; forget it so each test's deliveries wake their own drain."""
    if settings.REDIS_URL:
        from django.core.cache import cache

        from releases.webhooks.services import _wake_key

        cache.delete(_wake_key())
    yield


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def role_user(db):
    """``role_user("release_manager")``: a user holding that role."""

    def make(*role_names, **fields):
        return UserFactory(roles=list(role_names), **fields)

    return make


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def token_client(db):
    """``token_client(user)``: an APIClient authenticated with a fresh bearer token of ``user``."""
    from rest_framework.test import APIClient

    from releasemgmt.accounts.services import api_token_issue

    def make(user):
        _, raw = api_token_issue(user=user, name=f"test-{user.pk}-{os.urandom(3).hex()}", by=None)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make
