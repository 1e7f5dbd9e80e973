"""Every routed URL refuses anonymous visitors, except the allow-list.

The walk expands every pattern of the root URLconf (converters get a sample value), so a URL added
later without protection fails here."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Reachable without signing in, and why.
ALLOWED = {
    "healthz": "health probe",
    "accounts/login/": "the login page",
    "admin/login/": "the admin's login page",
    "api/v1/webhooks/": "signed webhooks (authenticated by signature)",
    "metrics": "Prometheus scrapes (a bearer token or an allow-listed address; else 401)",
    "calendar/feed/": "calendar feeds (the secret token in the address is the credential)",
}
# htmx fragments polled from every page: anonymous callers get 403, so an expired session never
# swaps the login page into the page.
REFUSED_WITH_403 = {"releases/backout-queue/badge/": "the top bar's back-out badge"}
SAMPLES = {
    "int": "1",
    "id": "1",
    "slug": "sample",
    "str": "sample",
    "uuid": "00000000-0000-0000-0000-000000000001",
    "path": "x",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _concrete(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + _concrete(entry.pattern)


def _concrete(pattern) -> str:
    text = str(pattern)
    text = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "sample"), text)
    # regex patterns (admin, DRF format suffixes): drop anchors and optional groups
    text = re.sub(r"\(\?P<\w+>[^)]*\)", "1", text)
    text = re.sub(r"\\\.\(\?P<format>[^)]*\)", "", text)
    return text.replace("^", "").replace("$", "").replace("\\", "")


def all_paths():
    paths = sorted({"/" + p for p in _walk(get_resolver().url_patterns)})
    return [p for p in paths if "(" not in p and "[" not in p and "?" not in p]


def protected_paths():
    return [p for p in all_paths() if not any(p.startswith("/" + allowed) for allowed in ALLOWED)]


def test_walk_finds_the_routes():
    paths = all_paths()
    assert "/" in paths and "/api/v1/me/" in paths and "/admin/" in paths
    assert len(paths) > 30


@pytest.mark.parametrize("path", protected_paths())
def test_anonymous_visitors_are_refused(client, path):
    response = client.get(path)
    if path.startswith(("/api/v1/", "/api/schema/")):
        assert response.status_code == 401, f"{path} answered {response.status_code}"
        assert response["Content-Type"].startswith(
            ("application/json", "application/vnd.oai.openapi")
        )
    elif path.startswith("/admin/"):
        assert response.status_code == 302 and "/login/" in response["Location"], path
    elif path.lstrip("/") in REFUSED_WITH_403:
        assert response.status_code == 403, f"{path} answered {response.status_code}"
    else:
        assert response.status_code == 302, f"{path} answered {response.status_code}"
        assert response["Location"].startswith("/accounts/login/"), path


def test_allow_listed_pages_answer_anonymously(client):
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/metrics").status_code == 401


def test_anonymous_api_post_is_401_not_a_csrf_error(client):
    response = client.post("/api/v1/audit-events/", {}, content_type="application/json")
    assert response.status_code == 401
