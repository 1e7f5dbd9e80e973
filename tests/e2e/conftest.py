"""Browser fixtures: headless Chromium (Debian's, not a Playwright download) driven through
Playwright's sync API against pytest-django's ``live_server``.

- ``browser`` is shared by the session; ``context`` and ``page`` are fresh for every test, with
  ``base_url`` set to the live server so ``page.goto("/accounts/")`` works.
- ``login(page, user, password="pw-for-tests")`` signs in through the real form.
- ``screenshot(page)`` saves ``test-results/screenshots/<test name>.png``; a failing test's page
  is saved as ``<test name>-failed.png`` whether or not it asked for a screenshot.
- ``open_dialog(page, name)`` opens a transition's dialog from its button on the release page;
  ``confirm(page, dialog, reason, done)`` gives the reason, confirms and waits for the message.
- ``axe(page)`` runs axe-core (vendored: ``tests/e2e/vendor/axe.min.js``) with the WCAG 2.1 A/AA
  rules and returns the serious and critical violations, so a test can ``assert axe(page) == []``.

Every test module here sets ``pytestmark = [pytest.mark.browser, ...]``: the suite-wide conftest
skips them when no Chromium is installed.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in the main thread; Django then refuses ORM
# calls made by the test itself (SynchronousOnlyOperation) although they are plain sync code.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DEFAULT_PASSWORD = "pw-for-tests"
AXE_SCRIPT = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 800}


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"


def open_dialog(page, name: str):
    """Click the transition's button in the release page's next steps; its open dialog."""
    from playwright.sync_api import expect

    page.locator(f'#actions li[data-transition="{name}"] > button').click()
    dialog = page.locator(f"#dialog-{name}")
    expect(dialog).to_be_visible()
    return dialog


def confirm(page, dialog, reason: str, done: str) -> None:
    """Give the reason, confirm, and wait for the status message that contains ``done``."""
    from playwright.sync_api import expect

    dialog.get_by_label(re.compile(r"^Reason")).fill(reason)
    dialog.get_by_role("button", name=re.compile(r"^Confirm")).click()
    expect(page.get_by_role("status")).to_contain_text(done)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so the page fixture can tell a failing test.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def screenshot_dir(pytestconfig) -> Path:
    folder = pytestconfig.rootpath / "test-results" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:  # the suite-wide conftest has already skipped browser-marked tests
        pytest.skip("needs Chromium: apt-get install chromium")
    browser = playwright_instance.chromium.launch(
        executable_path=executable, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context, request, screenshot_dir):
    page = context.new_page()
    yield page
    failed_path = screenshot_dir / f"{_safe_name(request.node.name)}-failed.png"
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed:
        failed_path.unlink(missing_ok=True)  # an earlier run's, no longer true
    elif not page.is_closed():
        try:
            page.screenshot(path=failed_path, full_page=True)
        except Exception as error:  # a diagnostic only: never mask the real failure
            print(f"could not save the failure screenshot: {error}")


@pytest.fixture
def screenshot(request, screenshot_dir):
    """``screenshot(page)`` → ``test-results/screenshots/<test name>.png`` (full page);
    ``screenshot(page, "step")`` → ``<test name>-step.png``. Returns the path."""

    def take(page, suffix: str = "", *, full_page: bool = True) -> Path:
        name = _safe_name(request.node.name)
        if suffix:
            name = f"{name}-{_safe_name(suffix)}"
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=path, full_page=full_page)
        return path

    return take


@pytest.fixture
def login(live_server):
    """``login(page, user)``: sign in through the login form and wait until it is left."""
    from playwright.sync_api import expect

    def sign_in(page, user, password: str = DEFAULT_PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.get_username())
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
        return page

    return sign_in


@pytest.fixture
def axe():
    """``axe(page)`` → the serious and critical WCAG 2.1 A/AA violations on the page as it is
    now, each ``{"id", "impact", "help", "nodes": [selector, …]}``; ``[]`` when there are none.
    ``axe(page, include="#content")`` checks a part only."""

    def run(page, include: str | None = None) -> list[dict]:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE_SCRIPT))
        results = page.evaluate(
            """async ([include, tags]) => {
                const context = include ? { include: [include] } : document;
                return await window.axe.run(context, {
                    runOnly: { type: "tag", values: tags },
                    resultTypes: ["violations"],
                });
            }""",
            [include, AXE_TAGS],
        )
        return [
            {
                "id": violation["id"],
                "impact": violation["impact"],
                "help": violation["help"],
                "nodes": [", ".join(map(str, node["target"])) for node in violation["nodes"]][:5],
            }
            for violation in results["violations"]
            if violation["impact"] in ("serious", "critical")
        ]

    return run
