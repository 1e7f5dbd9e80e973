"""The DSL upload journey in a real browser: the progress bar of static/js/dsl-upload.js, the
server's error shown beside the field, a successful upload, authorisation and the download link.

Each journey runs in its own thread with its own Playwright (headless Debian Chromium), so it
never meets another module's session-wide Playwright loop; database checks stay in the test's
thread, outside Playwright's event loop."""

import hashlib
import re
import shutil
import threading
from pathlib import Path

import pytest

from dsl_dhs.models import SoftwareVersion
from tests.dsl_dhs.conftest import stored_files
from tests.factories import SoftwareProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
PASSWORD = "pw-for-tests"
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


def in_browser(base_url: str, journey) -> dict:
    """Run ``journey(page, seen)`` in a fresh browser on its own thread; return ``seen``."""
    from playwright.sync_api import sync_playwright

    seen: dict = {}
    failure: list[BaseException] = []

    def run():
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
                    headless=True,
                    args=CHROMIUM_ARGS,
                )
                try:
                    context = browser.new_context(
                        base_url=base_url, viewport={"width": 1280, "height": 900}
                    )
                    context.set_default_timeout(15_000)
                    journey(context.new_page(), seen)
                finally:
                    browser.close()
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=180)
    assert not thread.is_alive(), "the browser journey did not finish"
    if failure:
        raise failure[0]
    return seen


def sign_in(page, username: str):
    from playwright.sync_api import expect

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def throttle_uploads(page, bytes_per_second: int):
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


@pytest.fixture
def artefact(tmp_path):
    path = tmp_path / "portal-2.1.0.tar.gz"
    path.write_bytes(hashlib.sha256(b"portal").digest() * (3 * 1024 * 1024 // 32))
    return path


def test_upload_with_progress_error_then_success_and_authorise(live_server, artefact, media):
    user = UserFactory(roles=["configuration_manager"])
    product = SoftwareProductFactory(name="Customer Portal")
    expected = hashlib.sha256(artefact.read_bytes()).hexdigest()

    def journey(page, seen):
        from playwright.sync_api import expect

        # given a configuration manager on the upload page of a product
        sign_in(page, user.username)
        page.goto(f"/dsl/versions/new/?product={product.pk}")
        page.get_by_label("Version").fill("2.1.0")
        page.get_by_label("Artefact").set_input_files(str(artefact))
        page.get_by_label("SHA-256 (optional)").fill("ab" * 32)
        throttle_uploads(page, 2 * 1024 * 1024)

        # when it is sent with a wrong declared checksum, the bar moves, then the refusal shows
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("[data-upload-progress] progress")).to_be_visible()
        page.wait_for_function(
            "() => { const p = document.querySelector('[data-upload-progress] progress');"
            " return p && p.value > 0 && p.value < 100; }"
        )
        expect(page.locator("[data-upload-status]")).to_contain_text(" of ")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "dsl-upload-progress.png", full_page=True)
        error = page.locator(".field-error[data-js-error]")
        expect(error).to_contain_text("does not match the uploaded file", timeout=30_000)
        expect(page.locator("[data-upload-error]")).to_contain_text("Nothing was stored")
        seen["url_after_refusal"] = page.url

        # when it is sent again without the wrong checksum, it lands on the new version
        page.get_by_label("SHA-256 (optional)").fill("")
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url("**/dsl/versions/*/", timeout=30_000)
        expect(page.locator("#sha256")).to_have_text(expected)
        expect(page.locator("h1 .badge")).to_have_text("draft")
        seen["download_before"] = page.get_by_role("button", name="Download").count()

        # then authorising it offers the download
        page.get_by_role("button", name="Authorise").click()
        expect(page.locator("h1 .badge")).to_have_text("authorised")
        download = page.get_by_role("button", name="Download")
        expect(download).to_be_visible()
        seen["download_href"] = download.get_attribute("href")
        page.screenshot(path=SHOTS / "dsl-upload-authorised.png", full_page=True)

    seen = in_browser(live_server.url, journey)

    assert seen["url_after_refusal"].endswith(f"/dsl/versions/new/?product={product.pk}")
    assert seen["download_before"] == 0
    version = SoftwareVersion.objects.get(product=product)  # exactly one: the refusal stored none
    assert (version.version, version.sha256, version.status) == ("2.1.0", expected, "authorised")
    assert seen["download_href"].endswith(f"/api/v1/dsl/versions/{version.pk}/download/")
    assert stored_files(media) == [version.artefact.name]


def test_a_file_over_the_limit_is_refused_before_sending(live_server, artefact, settings):
    settings.DSL_MAX_ARTEFACT_BYTES = 1024 * 1024
    user = UserFactory(roles=["configuration_manager"])
    product = SoftwareProductFactory()

    def journey(page, seen):
        from playwright.sync_api import expect

        sign_in(page, user.username)
        page.goto(f"/dsl/versions/new/?product={product.pk}")
        page.get_by_label("Version").fill("9.0")
        page.get_by_label("Artefact").set_input_files(str(artefact))
        page.get_by_role("button", name="Upload").click()
        expect(page.locator(".field-error[data-js-error]")).to_contain_text("accepts at most 1.0")
        expect(page.locator("[data-upload-progress]")).to_be_hidden()

    in_browser(live_server.url, journey)
    assert not SoftwareVersion.objects.exists()
