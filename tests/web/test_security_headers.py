"""Headers every page carries, and the caching rules."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

PAGES = ["/login", "/logout", "/account", "/does-not-exist", "/lang/en?next=/login"]


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_every_page(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client: FlaskClient) -> None:
    body = client.get("/login").get_data(as_text=True)
    assert "<script" not in body and "style=" not in body and "<style" not in body


def test_static_files_may_be_cached(client: FlaskClient) -> None:
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_branding_css_comes_from_configuration(app_config) -> None:
    from tests.conftest import make_app

    app_config.update(IDP_BRAND_PRIMARY_COLOR="#004b87", IDP_BRAND_ACCENT_COLOR="red;}body{x:y",
                      IDP_PROVINCE_NAME="Nghệ An")
    client = make_app(app_config).test_client()
    css = client.get("/branding.css").get_data(as_text=True)
    assert "--brand-primary: #004b87;" in css
    assert "body" not in css  # a colour that is not a colour is dropped, not injected
    assert "Ủy ban nhân dân tỉnh Nghệ An" in client.get("/login").get_data(as_text=True)
