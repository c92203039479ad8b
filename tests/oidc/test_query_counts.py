"""The SQL each hot request sends once the worker is warm: exact, and each statement accounted for.

Clients, signing keys and the discovery document come from memory (``idp.stamped_cache``), rows are
read with what they are always used with (a code with its person, a refresh token with its grant and
person), and a check-then-write is one conditional statement. The stamps of the caches are read at most
once per IDP_CACHE_CHECK_SECONDS: here an hour, so that no test depends on the clock, and one test moves
the cache's clock to see that single query. A change to these lists is a change to the cost of every
request: make it on purpose.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from idp import stamped_cache
from idp.oidc import claims
from idp.storage import db, orgunits, subjects, transaction
from idp.storage.orgunits import OrgUnit
from idp.storage.subjects import Subject, SubjectKind
from tests.conftest import Citizen
from tests.helpers.jwt_client import assertion_claims, assertion_form, bearer, client_key
from tests.helpers.oidc import (
    REDIRECT_URI,
    RegisteredClient,
    authorize_params,
    redirect_params,
    register_client,
    tokens_for,
)
from tests.helpers.queries import autocommit_of, statements
from tests.portal.test_second_factor import enrolled

CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "IDP_CACHE_CHECK_SECONDS": 3600}


@pytest.fixture
def machine(app: Flask) -> RegisteredClient:
    """A resource server / back-end service: client credentials and introspection."""
    return register_client(client_name="Máy chủ tài nguyên", grant_types=["client_credentials"], redirect_uris=[],
                           scope="profile")


@pytest.fixture
def warm(client: FlaskClient, rp: RegisteredClient, machine: RegisteredClient, citizen: Citizen) -> dict[str, Any]:
    """A worker that has served each kind of request once (the person is signed in in ``client``);
    returns the tokens of that first code flow."""
    tokens = tokens_for(client, rp, citizen)
    client.get("/.well-known/openid-configuration")
    client.get("/jwks")
    client.post("/token", data=CLIENT_CREDENTIALS, headers=machine.basic_auth())
    client.get("/userinfo", headers=bearer(tokens["access_token"]))
    client.post("/introspect", data={"token": tokens["access_token"]}, headers=machine.basic_auth())
    return tokens


def _code(client: FlaskClient, rp: RegisteredClient) -> str:
    return redirect_params(client.get("/authorize", query_string=authorize_params(rp)))["code"]


def _fresh_tokens(client: FlaskClient, rp: RegisteredClient) -> dict[str, Any]:
    response = client.post("/token", data={"grant_type": "authorization_code", "code": _code(client, rp),
                                           "redirect_uri": REDIRECT_URI}, headers=rp.basic_auth())
    assert response.status_code == 200, response.json
    return response.json


def test_discovery_and_jwks_send_no_query(client: FlaskClient, warm: dict[str, Any]) -> None:
    with statements() as sent:
        assert client.get("/.well-known/openid-configuration").status_code == 200
        assert client.get("/jwks").status_code == 200
    assert sent == []


def test_client_credentials_sends_no_query(client: FlaskClient, warm: dict[str, Any], machine) -> None:
    headers = machine.basic_auth()
    with statements() as sent:
        response = client.post("/token", data=CLIENT_CREDENTIALS, headers=headers)
    assert response.status_code == 200, response.json
    # The client and the signing key come from memory, and a client's own token stores nothing.
    assert sent == []


def test_authorization_for_a_signed_in_person(client: FlaskClient, warm: dict[str, Any], rp) -> None:
    params = authorize_params(rp)
    with statements(transactions=True) as sent:
        response = client.get("/authorize", query_string=params)
    assert "code" in redirect_params(response)
    assert sent == [
        # The session of the cookie, with its person and the second-factor policy's facts (TOTP
        # enrolment, roles: joined), which a password-only session is checked against. Read outside
        # any transaction; its activity was written less than IDP_SESSION_TOUCH_SECONDS ago.
        "SELECT sso_session",
        "BEGIN writing",  # on a pooled connection, without the ORM session
        "INSERT authorization_code",
        "INSERT audit_event",  # authorization.granted
        "COMMIT writing",
    ]


def test_code_exchange(client: FlaskClient, warm: dict[str, Any], rp) -> None:
    code, headers = _code(client, rp), rp.basic_auth()
    with statements(transactions=True) as sent:
        response = client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                               "redirect_uri": REDIRECT_URI}, headers=headers)
    assert response.status_code == 200, response.json
    assert sent == [
        "BEGIN writing",  # one transaction, on a pooled connection without the ORM session
        "SELECT authorization_code",  # the code by its hash, with its person (joined)
        "UPDATE authorization_code",  # claimed: used_at set only if still unset (single use, atomically)
        "INSERT oauth_grant",
        "UPDATE authorization_code",  # the code names its grant, which a second redemption revokes
        "INSERT session_participant",  # ON CONFLICT DO NOTHING: single logout tells this client
        "INSERT refresh_token",
        "INSERT audit_event",  # token.issued
        "COMMIT writing",
    ]


def test_refresh(client: FlaskClient, warm: dict[str, Any], rp) -> None:
    refresh, headers = _fresh_tokens(client, rp)["refresh_token"], rp.basic_auth()
    with statements(transactions=True) as sent:
        response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh},
                               headers=headers)
    assert response.status_code == 200, response.json
    assert sent == [
        "BEGIN writing",
        "SELECT refresh_token",  # by its hash, with its grant and the grant's person (joined)
        "UPDATE refresh_token",  # rotated, only if not rotated already (a concurrent reuse is caught)
        "INSERT refresh_token",  # its successor
        "COMMIT writing",
    ]


def test_userinfo(client: FlaskClient, warm: dict[str, Any]) -> None:
    headers = bearer(warm["access_token"])
    with statements() as sent:
        assert client.get("/userinfo", headers=headers).status_code == 200
    assert sent == ["SELECT oauth_grant"]  # the grant with its person, and whether the jti is revoked


def _autocommit(send: Any) -> list[bool | None]:
    """Whether each statement ``send()`` makes runs outside a transaction, starting as a production
    request does."""
    levels: list[bool | None] = []

    def record(conn: Any, *_args: Any) -> None:
        levels.append(autocommit_of(conn))

    db.session.remove()  # what a request finds in production; the tests' app context spans requests
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        send()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        db.session.remove()  # the next statements of this test run in a transaction again
    return levels


def test_reads_run_outside_a_transaction(app: Flask, client: FlaskClient, warm: dict[str, Any], machine) -> None:
    """In production each request starts with no session: on PostgreSQL the one SELECT of userinfo and
    of introspection then runs without a transaction (no BEGIN and ROLLBACK round trips around it);
    SQLite has no round trips. An introspection by private_key_jwt records the assertion: one transaction."""
    token, as_machine = warm["access_token"], machine.basic_auth()
    key = client_key("ES256")
    asserting = register_client(token_endpoint_auth_method="private_key_jwt", jwks=key.jwks(),
                                grant_types=["client_credentials"], redirect_uris=[], scope="profile")
    assertion = assertion_form(key.sign(assertion_claims(asserting.client_id, app.config["IDP_ISSUER"])))
    # A client was registered: the clients are read again, once.
    client.post("/introspect", data={"token": token}, headers=as_machine)
    userinfo = _autocommit(lambda: client.get("/userinfo", headers=bearer(token)).json["sub"])
    by_secret = _autocommit(
        lambda: client.post("/introspect", data={"token": token}, headers=as_machine).json["active"])
    by_assertion = _autocommit(
        lambda: client.post("/introspect", data={"token": token, **assertion}).json["active"])
    sqlite = db.engine.dialect.name == "sqlite"
    assert userinfo == by_secret == [None if sqlite else True]
    # The assertion's jti is INSERTed, then the token is read, in one transaction.
    assert len(by_assertion) >= 2 and set(by_assertion) == {None if sqlite else False}


def test_reads_begin_no_orm_session(client: FlaskClient, warm: dict[str, Any], machine) -> None:
    """Userinfo and introspection read on a pooled connection: no ORM session begins (and ends)."""
    token, as_machine = warm["access_token"], machine.basic_auth()
    begun: list[Session] = []

    def record(session: Session, *_args: Any) -> None:
        begun.append(session)

    event.listen(Session, "after_begin", record)
    try:
        assert client.get("/userinfo", headers=bearer(token)).json["sub"]
        assert client.post("/introspect", data={"token": token}, headers=as_machine).json["active"]
    finally:
        event.remove(Session, "after_begin", record)
    assert begun == []


def test_introspection(client: FlaskClient, warm: dict[str, Any], rp, machine) -> None:
    as_machine, as_rp = machine.basic_auth(), rp.basic_auth()
    own_token = client.post("/token", data=CLIENT_CREDENTIALS, headers=as_machine).json["access_token"]
    with statements() as person_token:
        assert client.post("/introspect", data={"token": warm["access_token"]}, headers=as_machine).json["active"]
    with statements() as refresh_token:
        assert client.post("/introspect", data={"token": warm["refresh_token"]}, headers=as_rp).json["active"]
    with statements() as client_token:
        assert client.post("/introspect", data={"token": own_token}, headers=as_machine).json["active"]
    assert person_token == ["SELECT oauth_grant"]  # as at userinfo
    assert refresh_token == ["SELECT refresh_token"]  # with its grant and person (joined)
    assert client_token == ["SELECT revoked_access_token"]  # no grant: only the jti


def test_revocation(client: FlaskClient, warm: dict[str, Any], rp) -> None:
    tokens, headers = _fresh_tokens(client, rp), rp.basic_auth()
    with statements() as access:
        assert client.post("/revoke", data={"token": tokens["access_token"]}, headers=headers).status_code == 200
    with statements() as refresh:
        assert client.post("/revoke", data={"token": tokens["refresh_token"]}, headers=headers).status_code == 200
    assert access == [
        "INSERT revoked_access_token",  # ON CONFLICT DO NOTHING: a second revocation is no error
        "INSERT audit_event",  # token.revoked
    ]
    assert refresh == [
        "SELECT refresh_token",  # with its grant and person (joined)
        "UPDATE oauth_grant",  # the whole grant is revoked
        "INSERT audit_event",  # token.revoked
    ]


def test_sign_in_within_an_authorization_request(app: Flask, warm: dict[str, Any], rp, citizen) -> None:
    browser = app.test_client()  # no SSO session yet
    params = authorize_params(rp)
    with statements() as authorize:
        to_login = browser.get("/authorize", query_string=params).headers["Location"]
    with statements() as login_page:
        page = browser.get(to_login).get_data(as_text=True)
    form = {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1) for name in ("csrf_token", "interaction")}
    form.update(identifier=citizen.id_number, password=citizen.password)
    with statements(transactions=True) as sign_in:
        assert "code" in redirect_params(browser.post("/login", data=form))
    assert authorize == ["INSERT interaction"]
    assert login_page == ["SELECT interaction"]
    assert sign_in == [
        # Read outside any transaction: none is open while the password is hashed.
        "SELECT interaction",
        # The ID number's identity, with its person, password hash, TOTP enrolment and roles (joined):
        # the second-factor policy reads nothing more after the hash.
        "SELECT identity",
        "SELECT login_throttle",  # the account's and the client IP's failure counters, one query
        # The hash. No failures on record, no earlier session: plain statements, no ORM session.
        "BEGIN writing",
        "INSERT sso_session",
        "INSERT audit_event",  # login.success
        "COMMIT writing",
        # The authorization request is answered in the same response, from what was read and written
        # above: the interaction, the new session, its person and the second-factor policy's facts.
        # The sign-in is not written to the interaction, which the code uses up in the same commit.
        "BEGIN writing",
        "INSERT authorization_code",
        "INSERT audit_event",  # authorization.granted
        "DELETE interaction",
        "COMMIT writing",
    ]


def test_the_stamps_are_read_once_per_check_interval(client: FlaskClient, warm: dict[str, Any], machine) -> None:
    headers = machine.basic_auth()
    cache = stamped_cache.cache()
    later = cache.clock() + 3600
    cache.clock = lambda: later
    with statements() as first:
        client.post("/token", data=CLIENT_CREDENTIALS, headers=headers)
    with statements() as second:
        client.post("/token", data=CLIENT_CREDENTIALS, headers=headers)
    assert first == ["SELECT cache_version"]  # every stamp, one query: nothing changed, nothing reloaded
    assert second == []


def test_an_officials_unit_and_roles_are_read_only_when_asked_for(app: Flask) -> None:
    with transaction():
        unit = OrgUnit(code="so-tttt", name="Sở Thông tin và Truyền thông")
        orgunits.add(unit)
        official = Subject(kind=SubjectKind.OFFICIAL, full_name="Trần Thị Bình", org_unit_id=unit.id)
        subjects.add(official)
        subjects.set_roles(official.id, {"unit_admin"})
    db.session.expunge(unit)  # as in a request: the unit is not in memory yet
    with statements() as id_token:  # an ID token without the claims parameter
        assert claims.release(official, scopes={"openid", "profile"}, requested={}, only_requested=True) == {}
    with statements() as profile:
        assert claims.release(official, scopes={"openid", "profile"})["name"] == "Trần Thị Bình"
    with statements() as org:
        released = claims.release(official, scopes={"openid", "org"})
    assert released == {"org_unit": {"code": "so-tttt", "name": "Sở Thông tin và Truyền thông"},
                        "roles": ["unit_admin"]}
    assert id_token == []
    assert profile == []
    assert org == ["SELECT org_unit", "SELECT subject_role"]


def test_second_factor_within_an_authorization_request(app: Flask, warm: dict[str, Any], rp, citizen) -> None:
    """Every official's sign-in passes a code: the page reads the session once, and a right code is
    used up, the session completed and the code issued by plain statements, in two transactions."""
    authenticator = enrolled(citizen.subject)
    browser = app.test_client()
    to_login = browser.get("/authorize", query_string=authorize_params(rp)).headers["Location"]
    page = browser.get(to_login).get_data(as_text=True)
    form = {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1) for name in ("csrf_token", "interaction")}
    to_code = browser.post("/login", data={**form, "identifier": citizen.id_number, "password": citizen.password})
    page = browser.get(to_code.headers["Location"]).get_data(as_text=True)
    form = {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1) for name in ("csrf_token", "interaction")}
    with statements(transactions=True) as second_factor:
        assert "code" in redirect_params(browser.post("/login/second-factor",
                                                      data={**form, "method": "totp", "code": authenticator.now()}))
    assert second_factor == [
        # Read outside any transaction: the session with its person, the secret, the failure budget.
        "SELECT sso_session",
        "SELECT totp_credential",
        "SELECT login_throttle",
        # No failures on record: the code's step used up and the session completed in one change.
        "BEGIN writing",
        "UPDATE totp_credential",
        "UPDATE sso_session",
        "INSERT audit_event",  # login.success
        "COMMIT writing",
        # The authorization request, answered in the same response with the completed session.
        "SELECT interaction",
        "BEGIN writing",
        "INSERT authorization_code",
        "INSERT audit_event",  # authorization.granted
        "DELETE interaction",
        "COMMIT writing",
    ]
