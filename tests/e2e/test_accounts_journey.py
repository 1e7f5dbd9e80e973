"""Journeys through the accounts pages in a real browser: sign in, API tokens, sign out and the
API documentation."""

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from releasemgmt.accounts.models import ApiToken
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOGIN_PATH = "/accounts/login/"


def call_me(base_url: str, token: str) -> tuple[int, dict]:
    """GET /api/v1/me/ with only the bearer token: no cookies, no proxy."""
    request = urllib.request.Request(  # noqa: S310 (the live server's http:// URL)
        f"{base_url}/api/v1/me/",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"{}")


def login_url(live_server, next_path: str | None = None):
    url = re.escape(f"{live_server.url}{LOGIN_PATH}")
    if next_path:
        url += re.escape(f"?next={next_path}")
    return re.compile(f"^{url}$")


def test_sign_in_lands_on_home_with_name_roles_and_health(live_server, page, screenshot):
    user = UserFactory(
        username="rita", first_name="Rita", last_name="Rollout", roles=["release_manager"]
    )

    page.goto("/")
    expect(page).to_have_url(login_url(live_server, "/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "login")

    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page).to_have_url(re.compile(re.escape(f"{live_server.url}{LOGIN_PATH}")))
    expect(page.get_by_label("Username")).to_have_value("rita")
    screenshot(page, "wrong-password")

    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {user.get_full_name()}")
    expect(page.locator("hgroup")).to_contain_text("Signed in as rita")
    expect(page.locator("hgroup")).to_contain_text("Release manager")

    may_do = page.locator("article", has=page.get_by_text("What you may do", exact=True))
    expect(may_do).to_contain_text("Create and revoke own API tokens")
    health = page.locator("#health")
    expect(health).to_contain_text("System health")
    expect(health.locator(".checks li")).to_have_count(4)  # database, broker, worker, beat
    expect(health).to_have_attribute("hx-get", "/partials/health/")
    screenshot(page)


def test_api_token_is_shown_once_works_and_stops_working_when_revoked(
    live_server, page, login, screenshot
):
    user = UserFactory(username="carl", roles=["release_manager"])
    login(page, user)

    page.goto("/accounts/")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("ci-agent")
    page.get_by_role("button", name="Create token").click()
    new_token = page.locator("#new-token")
    expect(new_token).to_have_text(re.compile(r"^rm_\S{20,}$"))
    raw = new_token.inner_text().strip()
    row = page.locator("tbody tr", has_text="ci-agent")
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("active")
    expect(row).to_contain_text(raw[:10])
    screenshot(page, "token-created")

    # Shown once: creation redirected (post/redirect/get), so a reload shows it no more.
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.get_by_text(raw)).to_have_count(0)
    expect(row.locator(".badge")).to_have_text("active")
    assert raw not in page.content()

    status, body = call_me(live_server.url, raw)
    assert status == 200, body
    assert body["username"] == "carl"
    assert body["authenticated_by"] == "token"

    row.get_by_role("button", name="Revoke").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/")
    expect(page.get_by_role("status")).to_have_text("Token “ci-agent” revoked.")
    expect(row.locator(".badge")).to_have_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    assert ApiToken.objects.get(user=user, name="ci-agent").revoked_at is not None

    status, body = call_me(live_server.url, raw)
    assert status == 401, body
    screenshot(page)


def test_sign_out_from_the_top_bar(live_server, page, login):
    user = UserFactory(username="olga", roles=["ops"])
    login(page, user)
    expect(page).to_have_url(f"{live_server.url}/")

    page.locator("header.topbar").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(login_url(live_server))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

    page.goto("/accounts/")
    expect(page).to_have_url(login_url(live_server, "/accounts/"))


def test_api_docs_render_swagger_ui_from_local_static_files(live_server, page, login, screenshot):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    user = UserFactory(username="ada", roles=["auditor"])
    login(page, user)

    # With 150 or more tags and operations, Swagger UI renders only the rows around the scroll
    # position, so an operation far down the list is opened through its deep link (as a reader
    # scrolling to it would see it), not expected on the first screen.
    response = page.goto("/api/docs/#/me/me_retrieve")
    assert response is not None and response.status == 200
    expect(page.locator(".swagger-ui")).to_be_visible()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("releasemgmt API")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/me/")).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, full_page=False)  # the rows off screen are blank placeholders

    docs_requests = [url for url in requested if "/static/drf_spectacular_sidecar/" in url]
    assert docs_requests, "Swagger UI was not loaded from the sidecar's static files"
    external = [url for url in requested if not url.startswith(f"{live_server.url}/")]
    assert external == [], f"requests left the live server: {external}"
