"""Two-step verification from the account page: turn on, new recovery codes, turn off, replace."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from flask.testing import FlaskClient

from idp.mfa import recovery_codes, totp
from idp.storage import audit_events, subjects, transaction, utcnow
from tests.helpers.forms import csrf_token, sign_in
from tests.portal.test_second_factor import _submit_code, enrolled


@pytest.fixture
def citizen(make_citizen):  # type: ignore[no-untyped-def]
    return make_citizen(full_name="Nguyễn Văn An", email="an@example.vn")


def _key(body: str) -> str:
    return re.search(r'id="secret-key">([^<]+)<', body).group(1).replace(" ", "")


def test_turn_on_from_the_account_page(client: FlaskClient, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    assert "Đang tắt." in client.get("/account").get_data(as_text=True)
    page = client.get("/account/two-step/setup").get_data(as_text=True)
    assert "<svg" in page
    done = client.post("/account/two-step/setup", data={"csrf_token": csrf_token(client, "/account"),
                                                       "code": pyotp.TOTP(_key(page)).now()})
    assert len(re.findall(r"<li><code>", done.get_data(as_text=True))) == 10
    account = client.get("/account").get_data(as_text=True)
    assert "Đang bật" in account and "Còn 10 mã khôi phục." in account
    assert audit_events.recent(event="mfa.enrolled")


def test_new_recovery_codes_replace_the_old(client: FlaskClient, citizen) -> None:
    app = enrolled(citizen.subject)
    sign_in(client, citizen.id_number, citizen.password)
    _submit_code(client, app.now())
    page = client.post("/account/two-step/recovery-codes", data={"csrf_token": csrf_token(client, "/account")})
    assert len(re.findall(r"<li><code>", page.get_data(as_text=True))) == 10
    assert recovery_codes.remaining(citizen.subject) == 10


def test_turn_off_needs_a_fresh_code(client: FlaskClient, citizen) -> None:
    app = enrolled(citizen.subject)
    sign_in(client, citizen.id_number, citizen.password)
    code = app.now()
    _submit_code(client, code)
    wrong = client.post("/account/two-step/disable", data={"csrf_token": csrf_token(client, "/account"),
                                                          "code": code})  # already used
    assert wrong.status_code == 400 and totp.is_enrolled(citizen.subject)
    fresh = app.at(utcnow() + timedelta(seconds=30))  # the next step: within the ±1 window, not used yet
    done = client.post("/account/two-step/disable", data={"csrf_token": csrf_token(client, "/account"),
                                                         "code": fresh})
    assert done.status_code == 302 and not totp.is_enrolled(citizen.subject)
    assert audit_events.recent(event="mfa.disabled")


def test_required_accounts_cannot_turn_it_off(client: FlaskClient, citizen) -> None:
    app = enrolled(citizen.subject)
    with transaction():
        subjects.set_roles(citizen.subject.id, {"admin"})
    sign_in(client, citizen.id_number, citizen.password)
    _submit_code(client, app.now())
    account = client.get("/account").get_data(as_text=True)
    assert "Tắt xác thực hai bước" not in account


def test_password_only_session_cannot_change_an_existing_authenticator(client: FlaskClient, citizen) -> None:
    enrolled(citizen.subject)
    sign_in(client, citizen.id_number, citizen.password)  # the factor is still owed
    assert client.get("/account/two-step/setup").headers["Location"].startswith("/login")
