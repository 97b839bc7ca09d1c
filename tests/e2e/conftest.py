"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

They skip where /usr/bin/chromium is missing (`apt-get install chromium`), except in CI (CI=true),
where they fail: a CI run without its browser tests must not look green. Playwright's own browser
download is never used (the stores' build machines cannot reach it).

The last page of every test is saved as a screenshot in E2E_SCREENSHOTS (default: a folder under
pytest's temporary directory, printed in the summary), prefixed FAILED- when the test failed.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest

from ..conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium phones home at start-up, and on a closed
# network those connections are refused (slowly); the tests need only the live server.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_CHROMIUM = "install Debian's chromium (apt-get install chromium) to run the browser tests"
NO_PLAYWRIGHT = "install the playwright package (pip install -r requirements-dev.txt) to run the browser tests"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI requires them.", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Kept on the test item so that the page fixture knows, at teardown, whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def _sync_orm_beside_playwright():
    """Playwright's sync API runs an asyncio loop in the test thread; Django's ORM refuses to run
    while a loop is running there, unless told that this is safe. It is: the loop only waits for
    the browser. Set for the browser tests only, so that the check still guards every other test."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_sync_orm_beside_playwright):
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(NO_CHROMIUM)
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable(NO_PLAYWRIGHT)
    expect.set_options(timeout=TIMEOUT_MS)
    # Per module, not per session: the running loop must be gone before non-browser tests run.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


SCREENSHOT_DIR = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def screenshot_dir(request, tmp_path_factory) -> Path:
    configured = os.environ.get("E2E_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("e2e-screenshots", numbered=True)
    path.mkdir(parents=True, exist_ok=True)
    request.config.stash[SCREENSHOT_DIR] = path
    return path


def _open_page(request, browser, live_server, screenshot_dir, **context_options):
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",  # Accept-Language: the pages in Chinese, as the stores use them
        timezone_id="Asia/Shanghai",
        **context_options,
    )
    # Fail in seconds, not Playwright's 30, when something a person should see never appears.
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    # What a person would notice besides the page: app.js alerts when an htmx request fails.
    page.problems = []
    page.on("dialog", lambda dialog: (page.problems.append(f"alert: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: page.problems.append(f"javascript error: {error}"))
    yield page
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    name = ("FAILED-" if failed else "") + re.sub(r"[^\w.-]+", "_", request.node.name) + ".png"
    try:
        page.screenshot(path=screenshot_dir / name, full_page=True)
    except Exception as e:  # a crashed page must not hide the test's own outcome
        warnings.warn(f"no screenshot of {request.node.name}: {e}", stacklevel=1)
    finally:
        context.close()


@pytest.fixture
def page(request, browser, live_server, screenshot_dir):
    """A desk-sized browser tab."""
    yield from _open_page(request, browser, live_server, screenshot_dir, viewport=DESKTOP)


@pytest.fixture
def phone_page(request, browser, live_server, screenshot_dir):
    """A phone-sized tab (390×844, touch), as consultants use the app on the shop floor."""
    yield from _open_page(
        request, browser, live_server, screenshot_dir, viewport=PHONE, is_mobile=True, has_touch=True
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    path = config.stash.get(SCREENSHOT_DIR, None)
    if path is not None:
        terminalreporter.write_line(f"browser test screenshots: {path}")
