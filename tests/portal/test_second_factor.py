"""The second factor at sign-in: codes, replay, recovery codes, forced enrolment, step-up, amr/acr."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.authn import second_factor, sso
from idp.authn.levels import ACR_MFA, ACR_PWD
from idp.mfa import totp
from idp.storage import audit_events, db, reading, sessions, subjects, transaction, utcnow
from idp.storage.sessions import SsoSession
from tests.helpers.forms import hidden_value, sign_in
from tests.helpers.oidc import (
    asks_to_sign_in,
    authorize_params,
    decode,
    drive,
    exchange,
    redirect_params,
    register_client,
)


def enrolled(subject) -> pyotp.TOTP:  # type: ignore[no-untyped-def]
    """Enrol ``subject`` as the page would, returning the authenticator app's generator."""
    enrolment = totp.start_enrolment(subject, "test")
    app = pyotp.TOTP(enrolment.secret)
    totp.confirm_enrolment(subject, app.at(utcnow() - timedelta(seconds=30)))
    return app


def _submit_code(client: FlaskClient, code: str, page: str = "/login/second-factor", **extra: str):  # type: ignore[no-untyped-def]
    body = client.get(page).get_data(as_text=True)
    data = {"csrf_token": hidden_value(body, "csrf_token"), "code": code, "method": "totp", **extra}
    return client.post("/login/second-factor", data=data)


def _session() -> SsoSession:
    return db.session.execute(select(SsoSession)).scalar_one()


@pytest.fixture
def citizen(make_citizen):  # type: ignore[no-untyped-def]
    return make_citizen(full_name="Nguyễn Văn An", email="an@example.vn")


def test_enrolled_citizen_is_asked_for_a_code(client: FlaskClient, citizen) -> None:
    app = enrolled(citizen.subject)
    response = sign_in(client, citizen.id_number, citizen.password)
    assert response.headers["Location"].startswith("/login/second-factor")
    assert client.get("/account").status_code == 302  # a session owing its factor signs nobody in
    assert _session().pending_factor == "otp"
    done = _submit_code(client, app.now())
    assert done.status_code == 302 and done.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    assert _session().amr.split() == ["pwd", "otp", "mfa"] and _session().pending_factor is None


def test_a_session_ended_meanwhile_leaves_the_code_unused(client: FlaskClient, citizen) -> None:
    """The code's step is used up in the transaction that completes the session: when the session
    is gone by then (signed out elsewhere), neither happens, and nothing is audited as a sign-in."""
    app = enrolled(citizen.subject)
    sign_in(client, citizen.id_number, citizen.password)
    row = _session()
    with reading():
        record = sessions.record_by_token_hash(row.token_hash)
    with transaction():
        sessions.delete_session(row)
    code = app.now()
    with pytest.raises(sso.SessionEnded):
        second_factor.with_code(record, code, None)
    assert audit_events.recent(event="login.success") == []
    assert totp.verify(citizen.subject, code).ok  # still unused


def test_wrong_code_then_lock(app, client: FlaskClient, citizen) -> None:
    totp_app = enrolled(citizen.subject)
    sign_in(client, citizen.id_number, citizen.password)
    wrong = _submit_code(client, "000000" if totp_app.now() != "000000" else "111111")
    assert wrong.status_code == 200 and "Mã xác thực không đúng." in wrong.get_data(as_text=True)
    for _ in range(app.config["IDP_TOTP_MAX_FAILURES"] - 1):
        _submit_code(client, "000001")
    locked = _submit_code(client, totp_app.now())  # even the right code is refused now
    assert locked.status_code == 429 and "quá nhiều lần" in locked.get_data(as_text=True)
    assert _session().pending_factor == "otp"


def test_a_code_is_accepted_only_once(client: FlaskClient, citizen) -> None:
    app = enrolled(citizen.subject)
    code = app.now()
    sign_in(client, citizen.id_number, citizen.password)
    assert _submit_code(client, code).status_code == 302
    other = client.application.test_client()
    sign_in(other, citizen.id_number, citizen.password)
    replay = _submit_code(other, code)
    assert replay.status_code == 200 and "Mã xác thực không đúng." in replay.get_data(as_text=True)


def test_code_with_spaces_is_accepted(client: FlaskClient, citizen) -> None:
    app = enrolled(citizen.subject)
    sign_in(client, citizen.id_number, citizen.password)
    code = app.now()
    assert _submit_code(client, f" {code[:3]} {code[3:]} ").status_code == 302


def test_recovery_code_passes_once_and_tells_how_many_remain(client: FlaskClient, citizen) -> None:
    enrolment = totp.start_enrolment(citizen.subject, "test")
    codes = totp.confirm_enrolment(citizen.subject, pyotp.TOTP(enrolment.secret).now())
    sign_in(client, citizen.id_number, citizen.password)
    body = client.get("/login/second-factor").get_data(as_text=True)
    used = client.post("/login/second-factor", data={"csrf_token": hidden_value(body, "csrf_token"),
                                                     "method": "recovery", "recovery_code": codes[0]})
    assert used.status_code == 200 and "Bạn còn 9 mã khôi phục." in used.get_data(as_text=True)
    assert client.get("/login/second-factor/continue").headers["Location"] == "/account"
    assert client.get("/account").status_code == 200
    again = client.application.test_client()
    sign_in(again, citizen.id_number, citizen.password)
    body = again.get("/login/second-factor").get_data(as_text=True)
    reuse = again.post("/login/second-factor", data={"csrf_token": hidden_value(body, "csrf_token"),
                                                     "method": "recovery", "recovery_code": codes[0]})
    assert "Mã xác thực không đúng." in reuse.get_data(as_text=True)


def test_admin_without_authenticator_must_enrol(client: FlaskClient, citizen) -> None:
    with transaction():
        subjects.set_roles(citizen.subject.id, {"admin"})
    response = sign_in(client, citizen.id_number, citizen.password)
    page = client.get(client.get(response.headers["Location"]).headers["Location"])
    body = page.get_data(as_text=True)
    assert "Thiết lập xác thực hai bước" in body and "<svg" in body and "otpauth" not in body
    key = re.search(r'id="secret-key">([^<]+)<', body).group(1).replace(" ", "")
    wrong = client.post("/login/enrol", data={"csrf_token": hidden_value(body, "csrf_token"), "code": "000000"})
    assert "không đúng" in wrong.get_data(as_text=True)
    body = wrong.get_data(as_text=True)
    key = re.search(r'id="secret-key">([^<]+)<', body).group(1).replace(" ", "")
    done = client.post("/login/enrol", data={"csrf_token": hidden_value(body, "csrf_token"),
                                             "code": pyotp.TOTP(key).now()})
    page = done.get_data(as_text=True)
    assert "Mã khôi phục" in page and len(re.findall(r"<li><code>", page)) == 10
    assert 'download="ma-khoi-phuc.txt"' in page
    assert client.get("/login/second-factor/continue").headers["Location"] == "/account"
    assert _session().amr.split() == ["pwd", "otp", "mfa"]


def test_mfa_appears_in_the_id_token(client: FlaskClient, citizen) -> None:
    app = enrolled(citizen.subject)
    rp = register_client(skip_consent=True)
    response = client.get("/authorize", query_string=authorize_params(rp))
    page = drive(client, response, citizen)  # stops at the code page
    assert "Xác thực hai bước" in page.get_data(as_text=True)
    body = page.get_data(as_text=True)
    form = {"csrf_token": hidden_value(body, "csrf_token"), "method": "totp", "code": app.now(),
            "interaction": hidden_value(body, "interaction")}
    answer = client.post("/login/second-factor", data=form)
    code = redirect_params(drive(client, answer))["code"]
    claims = decode(exchange(client, rp, code).json["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == ACR_MFA


def test_password_only_session_is_stepped_up_for_a_demanding_client(client: FlaskClient, citizen) -> None:
    plain = register_client(skip_consent=True)
    strict = register_client(skip_consent=True, require_mfa=True)
    sign_in(client, citizen.id_number, citizen.password)
    code = redirect_params(client.get("/authorize", query_string=authorize_params(plain)))["code"]
    assert decode(exchange(client, plain, code).json["id_token"])["acr"] == ACR_PWD
    # The strict client gets a second step (here: enrolment, as the citizen has none yet).
    response = client.get("/authorize", query_string=authorize_params(strict))
    assert response.headers["Location"].startswith("/login/second-factor?interaction=")
    landing = client.get(response.headers["Location"])
    assert landing.headers["Location"].startswith("/login/enrol")
    # prompt=none cannot step up.
    none = client.get("/authorize", query_string=authorize_params(strict, prompt="none"))
    assert redirect_params(none)["error"] == "interaction_required"


def test_roles_granted_after_a_password_sign_in_count_at_the_next_authorization(client: FlaskClient,
                                                                                 citizen) -> None:
    """The policy's facts are read with the browser's session at every authorization, not carried
    from the sign-in: an admin role granted since then asks for the second factor at once."""
    rp = register_client(skip_consent=True)
    sign_in(client, citizen.id_number, citizen.password)
    with transaction():
        subjects.set_roles(citizen.subject.id, {"editor", "viewer"})  # not admin roles: a row each, no step
    assert "code" in redirect_params(client.get("/authorize", query_string=authorize_params(rp)))
    with transaction():
        subjects.set_roles(citizen.subject.id, {"admin", "editor", "viewer"})
    response = client.get("/authorize", query_string=authorize_params(rp))
    assert response.headers["Location"].startswith("/login/second-factor?interaction=")


def test_acr_values_asking_for_mfa_step_up(client: FlaskClient, citizen) -> None:
    enrolled(citizen.subject)
    rp = register_client(skip_consent=True)
    sign_in(client, citizen.id_number, citizen.password)
    # Enrolled citizens are asked at sign-in anyway: complete it, then ask for the level explicitly.
    assert _session().pending_factor == "otp"
    # A session still owing its factor is no session yet: the person is asked to sign in.
    response = client.get("/authorize", query_string=authorize_params(rp, acr_values=ACR_MFA))
    assert asks_to_sign_in(response)


def test_essential_acr_that_cannot_be_met_is_refused(client: FlaskClient, citizen) -> None:
    import json

    rp = register_client(skip_consent=True)
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:other:loa:4"]}}})
    answer = redirect_params(client.get("/authorize", query_string=authorize_params(rp, claims=claims)))
    assert answer["error"] == "access_denied"


def test_sign_out_ends_a_session_owing_its_factor(client: FlaskClient, citizen) -> None:
    enrolled(citizen.subject)
    sign_in(client, citizen.id_number, citizen.password)
    token = hidden_value(client.get("/logout").get_data(as_text=True), "csrf_token")
    assert "Bạn đã đăng xuất" in client.post("/logout", data={"csrf_token": token}).get_data(as_text=True)
    assert db.session.execute(select(SsoSession)).first() is None


def test_a_password_alone_cannot_replace_the_authenticator(client: FlaskClient, citizen) -> None:
    enrolled(citizen.subject)
    sign_in(client, citizen.id_number, citizen.password)
    assert client.get("/login/enrol").headers["Location"].startswith("/login/second-factor")
    token = hidden_value(client.get("/login/second-factor").get_data(as_text=True), "csrf_token")
    attempt = client.post("/login/enrol", data={"csrf_token": token, "code": "123456"})
    assert attempt.headers["Location"].startswith("/login/second-factor")
    assert _session().pending_factor == "otp"


def test_operator_provisioning_and_reset(runner, client: FlaskClient, citizen) -> None:
    result = runner.invoke(args=["idp", "totp", "enroll", citizen.id_number])
    assert result.exit_code == 0, result.output
    uri = result.output.splitlines()[0]
    assert uri.startswith("otpauth://totp/") and citizen.id_number not in uri
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
    sign_in(client, citizen.id_number, citizen.password)
    assert _submit_code(client, pyotp.TOTP(secret).now()).headers["Location"] == "/account"
    reset = runner.invoke(args=["idp", "totp", "reset", citizen.id_number])
    assert reset.exit_code == 0 and "reset sub=" in reset.output
    assert not totp.is_enrolled(citizen.subject)
