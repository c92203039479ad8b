"""flask idp purge: removes what has expired (ending sessions with single logout), keeps what is valid."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp import maintenance
from idp.storage import audit_events, db, transaction, utcnow
from idp.storage.grants import AuthorizationCode, Grant, RefreshToken
from idp.storage.interactions import Interaction
from idp.storage.sessions import SsoSession
from tests.helpers.forms import sign_in
from tests.helpers.oidc import authorize_params, code_flow, exchange, register_client


@pytest.fixture
def citizen(make_citizen):  # type: ignore[no-untyped-def]
    return make_citizen()


def _count(model: type) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_purge_keeps_everything_still_valid(client: FlaskClient, citizen) -> None:
    rp = register_client(skip_consent=True)
    _, answer = code_flow(client, rp, citizen)
    tokens = exchange(client, rp, answer["code"]).json
    client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                headers=rp.basic_auth())
    client.get("/authorize", query_string=authorize_params(rp, prompt="login"))  # a fresh interaction
    before = {m: _count(m) for m in (SsoSession, AuthorizationCode, Grant, RefreshToken, Interaction)}
    result = maintenance.purge(utcnow())
    assert result.sessions == 0
    assert {m: _count(m) for m in before} == before  # the rotated refresh token too: reuse detection


def test_purge_ends_expired_sessions_with_logout(client: FlaskClient, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    with transaction():
        row = db.session.execute(select(SsoSession)).scalar_one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert maintenance.purge(utcnow()).sessions == 1
    assert _count(SsoSession) == 0


def test_purge_deletes_expired_and_revoked(client: FlaskClient, citizen) -> None:
    rp = register_client(skip_consent=True)
    _, answer = code_flow(client, rp, citizen)
    exchange(client, rp, answer["code"])
    exchange(client, rp, answer["code"])  # reuse: the grant is revoked
    client.get("/authorize", query_string=authorize_params(rp, prompt="login"))
    later = utcnow() + timedelta(hours=1)
    maintenance.purge(later)
    assert _count(AuthorizationCode) == 0 and _count(Grant) == 0 and _count(RefreshToken) == 0
    assert _count(Interaction) == 0


def test_purge_command(runner, client: FlaskClient, citizen) -> None:
    result = runner.invoke(args=["idp", "purge"])
    assert result.exit_code == 0, result.output
    assert "ended 0 expired sessions" in result.output and "deleted 0 authorization_code" in result.output
    assert audit_events.recent(event="logout") == []
