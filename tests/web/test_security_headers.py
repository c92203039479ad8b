"""Headers every page carries, and the caching rules."""

from __future__ import annotations

import re

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
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", body, re.S)
    assert scripts == [(' src="/static/js/submit_once.js" defer', "")]  # a static file, nothing inline
    assert "style=" not in body and "<style" not in body


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


def test_a_views_own_values_are_kept_and_nothing_is_sent_twice(app_config) -> None:
    """What a view set itself stays (a page that may be framed, a cacheable document), but
    X-Content-Type-Options is ours on every response; every header appears once."""
    from flask import Response

    from tests.conftest import make_app

    app = make_app(app_config)
    app.add_url_rule("/framed", "framed", lambda: Response("ok", headers={
        "X-Frame-Options": "SAMEORIGIN", "Cache-Control": "public, max-age=60", "X-Content-Type-Options": "other"}))
    response = app.test_client().get("/framed")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Cache-Control"] == "public, max-age=60" and "Pragma" not in response.headers
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    names = [name.lower() for name, _ in response.headers]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
def test_responses_kept_past_flask_carry_them_once(client: FlaskClient, path: str) -> None:
    first, second = client.get(path), client.get(path)  # the second is the kept response
    assert list(first.headers) == list(second.headers)
    names = [name.lower() for name, _ in second.headers]
    assert len(names) == len(set(names)) and "x-frame-options" in names and "x-content-type-options" in names


def test_https_deployments_get_hsts(app_config) -> None:
    from tests.conftest import make_app

    secure = make_app({**app_config, "IDP_ISSUER": "https://dangnhap.thanhhoa.gov.vn"}).test_client()
    assert secure.get("/login", base_url="https://localhost").headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in make_app(app_config).test_client().get("/login").headers
