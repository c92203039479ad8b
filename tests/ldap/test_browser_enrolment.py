"""An official's first sign-in, in a real browser: password, forced enrolment of an authenticator, portal.

Everything is real and on loopback: the provider (``live_server``, configured by this folder's
``app_config`` for the primary slapd over StartTLS) checks the password against the private slapd, the
demo portal (demo/portals.py, as `make run` serves it) runs the code flow over HTTP, and headless
Chromium (tests/helpers/browser.py) clicks through the pages. The test plays the phone: it reads the
key printed under the QR code and computes the code with pyotp.

Each step's screenshot goes to tests/output/browser/<test name>/ (git-ignored), to look at the pages.
"""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import expect

from idp.authn.levels import ACR_MFA
from tests.helpers import directory_data as data
from tests.helpers.browser import Screenshots, WatchedPage, chromium_page, screenshots  # noqa: F401
from tests.helpers.demo_portals import ServedPortals, claim, served_portals  # noqa: F401
from tests.helpers.live_server import LiveServer, live_server  # noqa: F401

OFFICIAL = data.OFFICIALS_BY_UID["lan.nt"]  # Nguyễn Thị Lan, Sở Nội vụ: no authenticator yet


def test_official_enrols_an_authenticator_at_first_sign_in(
        chromium_page: WatchedPage, screenshots: Screenshots,  # noqa: F811 (first: no Chromium, no server started)
        live_server: LiveServer, served_portals: ServedPortals) -> None:  # noqa: F811
    page, portal = chromium_page.page, served_portals.portals[0]

    # The portal, signed out.
    page.goto(portal.home)
    expect(page.locator("h1")).to_have_text(portal.name)
    screenshots.take(page, "portal")

    # Đăng nhập: the provider's sign-in page, in Vietnamese.
    page.get_by_role("link", name="Đăng nhập", exact=True).click()
    page.wait_for_url(re.compile(rf"^{re.escape(live_server.url)}/login\b"))
    expect(page.locator("h1")).to_have_text("Đăng nhập")
    page.locator("#identifier").fill(OFFICIAL.uid)
    page.locator("#password").fill(OFFICIAL.password)
    screenshots.take(page, "sign-in")
    page.get_by_role("button", name="Đăng nhập", exact=True).click()

    # Officials must use a second factor and Lan has none: enrolment comes first, before the portal.
    page.wait_for_url(re.compile(rf"^{re.escape(live_server.url)}/login/enrol\b"))
    expect(page.locator("h1")).to_have_text("Thiết lập xác thực hai bước")
    expect(page.locator(".qr svg")).to_be_visible()
    key = page.locator("#secret-key").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", key), key  # base32, in groups of 4
    screenshots.take(page, "enrol")

    # The phone: the authenticator app computes the code from the key.
    page.locator("#code").fill(pyotp.TOTP("".join(key.split())).now())
    screenshots.take(page, "enrol-code")
    page.get_by_role("button", name="Xác nhận", exact=True).click()

    # The recovery codes, shown once.
    expect(page.locator("h1")).to_have_text("Mã khôi phục")
    expect(page.locator("#recovery-codes li")).not_to_have_count(0)
    screenshots.take(page, "recovery-codes")
    page.get_by_role("link", name="Tiếp tục", exact=True).click()

    # Back at the portal, signed in with both factors.
    page.wait_for_url(portal.home)
    expect(page.locator("h1")).to_have_text(f"Xin chào, {OFFICIAL.cn}")
    expect(claim(page, 0, "acr")).to_have_text(ACR_MFA)
    amr = claim(page, 0, "amr").inner_text().split(", ")
    assert {"pwd", "otp", "mfa"} <= set(amr), amr
    expect(claim(page, 1, "name")).to_have_text(OFFICIAL.cn)
    expect(claim(page, 1, "email")).to_have_text(OFFICIAL.mail)
    screenshots.take(page, "portal-signed-in")

    assert chromium_page.problems == []
    assert [path.name for path in screenshots.taken] == [
        "01-portal.png", "02-sign-in.png", "03-enrol.png", "04-enrol-code.png", "05-recovery-codes.png",
        "06-portal-signed-in.png"]
