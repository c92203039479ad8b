"""`make run`'s promise, in a real browser: sign in once at one portal, use the other without a
password, sign out at one and be signed out of both.

The provider (``live_server``), both demo portals (demo/portals.py, seeded and served as `make run`
does, each on its own loopback port, so each its own origin) and headless Chromium
(tests/helpers/browser.py). Each step's screenshot goes to tests/output/browser/<test name>/.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from idp import demo
from tests.helpers.browser import Screenshots, WatchedPage, chromium_page, screenshots  # noqa: F401
from tests.helpers.demo_portals import ServedPortals, claim, served_portals  # noqa: F401
from tests.helpers.live_server import LiveServer, live_server  # noqa: F401


def test_the_demo_citizen_signs_in_once_and_out_everywhere(
        chromium_page: WatchedPage, screenshots: Screenshots,  # noqa: F811
        live_server: LiveServer, served_portals: ServedPortals) -> None:  # noqa: F811
    page = chromium_page.page
    first, second = served_portals.portals
    password = (Path(live_server.app.instance_path) / "demo-credentials").read_text().strip()

    # The first portal sends the person to the provider's sign-in page, and gets them back signed in.
    page.goto(first.home)
    page.get_by_role("link", name="Đăng nhập", exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/login\?interaction="))
    page.locator("#identifier").fill(demo.DEMO_ID_NUMBER)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Đăng nhập", exact=True).click()
    expect(page).to_have_url(first.home)
    expect(page.locator("h1")).to_have_text(f"Xin chào, {demo.DEMO_NAME}")
    expect(claim(page, 1, "email")).to_have_text(demo.DEMO_EMAIL)
    screenshots.take(page, "first-portal")

    # The second portal: no password again, only its consent page.
    page.get_by_role("link", name=f"Mở {second.name}").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/interaction/"))
    screenshots.take(page, "consent")
    page.get_by_role("button", name="Cho phép", exact=True).click()
    expect(page).to_have_url(second.home)
    expect(page.locator("h1")).to_have_text(f"Xin chào, {demo.DEMO_NAME}")
    screenshots.take(page, "second-portal")

    # Signing out at the second portal ends the provider's session, tells the first, and comes back.
    page.get_by_role("button", name="Đăng xuất", exact=True).click()
    expect(page).to_have_url(second.home)
    expect(page.locator(".notice")).to_contain_text("Bạn đã đăng xuất khỏi cổng này")
    expect(page.locator("h1")).to_have_text(second.name)
    screenshots.take(page, "signed-out")
    page.goto(first.home)
    expect(page.locator("h1")).to_have_text(first.name)
    page.goto(f"{live_server.url}/account")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/login\b"))

    assert chromium_page.problems == []
