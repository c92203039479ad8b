"""The sign-in page: success, indistinguishable failures, cookie, session id, sign-out, CSRF."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.storage import db
from idp.storage.sessions import SsoSession
from tests.conftest import make_app, new_id_number
from tests.helpers.forms import csrf_token, sign_in, sign_out, without_csrf_token


def _sessions() -> list[SsoSession]:
    return list(db.session.execute(select(SsoSession)).scalars())


def test_citizen_signs_in_with_id_number(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen(full_name="Trần Văn Bình")
    response = sign_in(client, citizen.id_number, citizen.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    page = client.get("/account")
    assert page.status_code == 200
    assert "Trần Văn Bình" in page.get_data(as_text=True)
    [row] = _sessions()
    assert row.subject_id == citizen.subject.id and row.amr == "pwd"


def test_citizen_signs_in_with_verified_email_in_any_case(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen(email="hoa.le@example.vn")
    assert sign_in(client, "  Hoa.Le@Example.VN ", citizen.password).status_code == 302


def test_next_must_be_a_local_path(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    response = sign_in(client, citizen.id_number, citizen.password, next="https://evil.example/")
    assert response.headers["Location"] == "/account"
    sign_out(client)
    response = sign_in(client, citizen.id_number, citizen.password, next="/account?tab=1")
    assert response.headers["Location"] == "/account?tab=1"


def _normalised(body: str, identifier: str) -> str:
    return without_csrf_token(body.replace(identifier, "IDENTIFIER"))


def test_wrong_password_and_unknown_identifier_answer_identically(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    unknown = new_id_number()
    wrong = sign_in(client, citizen.id_number, "not the password")
    missing = sign_in(client, unknown, "not the password")
    assert wrong.status_code == missing.status_code == 200
    assert _normalised(wrong.get_data(as_text=True), citizen.id_number) == _normalised(
        missing.get_data(as_text=True), unknown
    )
    assert sorted(k for k, _ in wrong.headers if k != "Content-Length") == sorted(
        k for k, _ in missing.headers if k != "Content-Length"
    )
    assert "Số định danh/email hoặc mật khẩu không đúng." in wrong.get_data(as_text=True)
    assert _sessions() == []


def test_session_cookie_flags_over_http(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    response = sign_in(client, citizen.id_number, citizen.password)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("dn_sso="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie and "Expires" not in cookie  # browser-session cookie
    token = re.match(r"dn_sso=([^;]+)", cookie).group(1)
    assert len(token) >= 43  # 256 random bits
    # Only the hash is stored.
    assert db.session.execute(select(func.count()).where(SsoSession.token_hash == token)).scalar() == 0


def test_session_cookie_is_secure_host_cookie_when_issuer_is_https(app_config, make_citizen) -> None:
    app_config["IDP_ISSUER"] = "https://dangnhap.thanhhoa.gov.vn"
    app = make_app(app_config)
    with app.app_context():
        citizen = make_citizen()
        client = app.test_client()
        client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": "https://localhost/login"})
        response = sign_in(client, citizen.id_number, citizen.password)
    cookies = response.headers.getlist("Set-Cookie")
    sso = next(c for c in cookies if c.startswith("__Host-dn_sso="))
    assert "Secure" in sso and "HttpOnly" in sso and "SameSite=Lax" in sso and "Domain" not in sso
    assert "Strict-Transport-Security" in response.headers


def test_sign_in_issues_a_new_session_id_and_ends_the_old_one(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    first = sign_in(client, citizen.id_number, citizen.password)
    old_cookie = client.get_cookie("dn_sso").value
    # A planted or previous cookie never survives a sign-in.
    second = sign_in(client, citizen.id_number, citizen.password, form_page="/account")
    new_cookie = client.get_cookie("dn_sso").value
    assert first.status_code == second.status_code == 302
    assert old_cookie != new_cookie
    assert len(_sessions()) == 1


def test_planted_cookie_is_not_adopted(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    client.set_cookie("dn_sso", "attacker-chosen-value")
    sign_in(client, citizen.id_number, citizen.password)
    assert client.get_cookie("dn_sso").value != "attacker-chosen-value"


def test_sign_out_deletes_the_session_row(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    stolen = client.get_cookie("dn_sso").value
    assert len(_sessions()) == 1
    response = sign_out(client)
    assert response.status_code == 200
    assert "Bạn đã đăng xuất" in response.get_data(as_text=True)
    assert _sessions() == []
    assert client.get_cookie("dn_sso") is None
    # The old cookie value is worthless now.
    client.set_cookie("dn_sso", stolen)
    assert client.get("/account").status_code == 302


def test_logout_link_asks_for_confirmation(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    page = client.get("/logout")
    assert page.status_code == 200 and 'action="/logout"' in page.get_data(as_text=True)
    assert len(_sessions()) == 1


def test_post_without_csrf_token_is_refused(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    response = client.post("/login", data={"identifier": citizen.id_number, "password": citizen.password})
    assert response.status_code == 400
    assert "Biểu mẫu đã hết hạn" in response.get_data(as_text=True)
    assert _sessions() == []
    forged = client.post("/login", data={"identifier": citizen.id_number, "password": citizen.password,
                                         "csrf_token": "forged"})
    assert forged.status_code == 400


def test_sign_out_without_csrf_token_is_refused(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    assert client.post("/logout").status_code == 400
    assert len(_sessions()) == 1


def test_login_hint_prefills_identifier(client: FlaskClient) -> None:
    page = client.get("/login?login_hint=hoa%40example.vn")
    assert 'value="hoa@example.vn"' in page.get_data(as_text=True)


def test_signed_in_visitor_of_login_page_goes_to_account(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    assert client.get("/login").headers["Location"] == "/account"


def test_csrf_token_changes_at_sign_in(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    before = csrf_token(client)
    sign_in(client, citizen.id_number, citizen.password)
    assert csrf_token(client, "/account") != before


def test_locked_account_is_refused_even_with_right_password(app: Flask, client: FlaskClient, make_citizen) -> None:
    from idp.identity import accounts

    citizen = make_citizen()
    accounts.lock(citizen.id_number)
    response = sign_in(client, citizen.id_number, citizen.password)
    assert response.status_code == 403
    assert "đã bị khóa" in response.get_data(as_text=True)
    accounts.unlock(citizen.id_number)
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302
