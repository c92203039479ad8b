"""Hostile or broken input gets a 4xx or a form error, never a 500, and never reaches the database."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.helpers.forms import csrf_token


def _post(client: FlaskClient, body: bytes):  # type: ignore[no-untyped-def]
    token = csrf_token(client).encode()
    return client.post("/login", data=b"csrf_token=" + token + b"&" + body,
                       content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    "body",
    [
        b"identifier=" + b"1" * 10_240 + b"&password=x",  # 10 KB identifier
        b"identifier=0380%00901234&password=x",  # NUL byte in the identifier
        b"identifier=038090123456&password=a%00b",  # NUL byte in the password
        b"identifier=%ff%fe%fd&password=x",  # invalid UTF-8
        b"identifier=038090123456&password=%c3%28",  # invalid UTF-8 in the password
        b"identifier=&password=",  # empty
        b"identifier=abc",  # missing field
        b"identifier=a%0d%0aSet-Cookie:x=y&password=x",  # header injection attempt
    ],
)
def test_malformed_sign_in_is_a_form_error(client: FlaskClient, body: bytes) -> None:
    response = _post(client, body)
    # Either refused as malformed (400) or answered like any wrong credential: a form error either way.
    assert response.status_code in (200, 400)
    assert 'role="alert"' in response.get_data(as_text=True)
    assert "Set-Cookie: x" not in str(response.headers)


def test_ten_kilobyte_identifier_is_a_400_form_error(client: FlaskClient) -> None:
    token = csrf_token(client)
    response = client.post("/login", data={"csrf_token": token, "identifier": "1" * 10_240, "password": "x"})
    assert response.status_code == 400
    assert "Thông tin đã nhập không hợp lệ." in response.get_data(as_text=True)


def test_non_form_body_is_refused(client: FlaskClient) -> None:
    response = client.post("/login", data=b"\xff\x00\xfe", content_type="application/octet-stream")
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["next=%00", "next=//evil.example", "login_hint=%ff%fe", "ui_locales=%00",
                                   "next=" + "a" * 5000, "login_hint=" + "x" * 5000])
def test_malformed_query_strings_render(client: FlaskClient, query: str) -> None:
    assert client.get("/login?" + query).status_code == 200


def test_bad_cookies_are_ignored(client: FlaskClient) -> None:
    client.set_cookie("dn_sso", "x" * 4000)
    client.set_cookie("dn_lang", "\u0000zz")
    assert client.get("/account").status_code == 302
    assert client.get("/login").status_code == 200
