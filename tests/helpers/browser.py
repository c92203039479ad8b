"""A real browser for the tests: Debian's Chromium, headless, driven by Playwright; screenshots on disk.

Playwright's own browsers are never downloaded (``playwright install`` would fetch them from the
network): the system's Chromium is launched by its path. Playwright expects a newer Chromium than
Debian's, yet pages, forms, navigation and screenshots work. Without Chromium the tests fail (never
skip): ``make test`` installs it.

Use the fixtures with ``from tests.helpers.browser import chromium_page, screenshots  # noqa: F401``:

- ``chromium_page``: a page in a fresh browser (Vietnamese locale, Vietnam's time zone); every wait is
  bounded (``ACTION_TIMEOUT_MS``, ``NAVIGATION_TIMEOUT_MS``) and the browser is closed when the test ends.
  Errors the pages report (script errors, console errors such as a Content-Security-Policy violation,
  responses of 400 and above) are collected in ``chromium_page.problems``;
- ``screenshots``: ``screenshots.take(page, "portal")`` writes ``01-portal.png``, ``02-…`` into
  ``tests/output/browser/<test name>/`` (git-ignored); the last run's PNGs are removed first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, Response, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = (
    "the browser tests need Debian's Chromium: `make test` installs it when run as root; otherwise run "
    "`sudo apt-get install --no-install-recommends chromium` (never `playwright install`)"
)
# Debian's Chromium in a container: no sandbox (root, no user namespaces), no GPU, /dev/shm may be tiny,
# and nothing phoned home (updates, sync, field trials) during a test.
LAUNCH_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)
LAUNCH_TIMEOUT_MS = 30_000
ACTION_TIMEOUT_MS = 10_000  # clicks, fills, expect(...) assertions
NAVIGATION_TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1280, "height": 900}
OUTPUT_DIR = Path(__file__).resolve().parents[1] / "output" / "browser"


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: {INSTALL_HINT}", pytrace=False)


@dataclass
class WatchedPage:
    """The Playwright page, and what went wrong on it that a person would not see."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {message.location.get('url')}: {message.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status} for {response.request.method} {response.url}")

    def _page_error(self, error: Error) -> None:
        self.problems.append(f"script error: {error}")

    def watch(self) -> None:
        self.page.on("console", self._console)
        self.page.on("response", self._response)
        self.page.on("pageerror", self._page_error)


@pytest.fixture
def chromium_page() -> Iterator[WatchedPage]:
    """A page in a fresh headless Chromium, closed (with the browser) when the test ends."""
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(LAUNCH_ARGS),
                                             timeout=LAUNCH_TIMEOUT_MS)
        try:
            context = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", viewport=VIEWPORT)
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
            watched = WatchedPage(context.new_page())
            watched.watch()
            yield watched
            context.close()
        finally:
            browser.close()


@dataclass
class Screenshots:
    directory: Path
    taken: list[Path] = field(default_factory=list)

    def take(self, page: Page, name: str) -> Path:
        """A full-page PNG named after the step, numbered in the order taken."""
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True, timeout=ACTION_TIMEOUT_MS)
        self.taken.append(path)
        return path


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Screenshots:
    """Screenshots of this test, in tests/output/browser/<test name>/ (last run's PNGs removed first)."""
    directory = OUTPUT_DIR / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):
        old.unlink(missing_ok=True)  # another run of the same test may be at it too
    return Screenshots(directory)
