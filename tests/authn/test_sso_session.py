"""SSO session lifetimes: idle and absolute, configurable; ended sessions are gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.authn import sso
from idp.storage import db, transaction
from idp.storage.sessions import SsoSession
from tests.helpers.forms import sign_in
from tests.helpers.oidc import authorize_params, redirect_params, register_client


def _only_session() -> SsoSession:
    return db.session.execute(select(SsoSession)).scalar_one()


def _account_page(client: FlaskClient) -> bool:
    """Whether the account page (which loads the session row to change it) sees a signed-in person."""
    response = client.get("/account")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def _authorization(client: FlaskClient) -> bool:
    """Whether a portal's authorization request (which reads the session as a record) is answered
    with a code rather than sent to the sign-in page."""
    response = client.get("/authorize", query_string=authorize_params(register_client(skip_consent=True)))
    if "/login" in response.headers.get("Location", ""):
        return False
    return "code" in redirect_params(response)


# Both ways a session is read: each must end a dead session and keep a live one alive.
VISITS = pytest.mark.parametrize("visit", [_account_page, _authorization], ids=["account", "authorize"])


@VISITS
def test_idle_session_ends(app: Flask, client: FlaskClient, make_citizen, visit) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    row = _only_session()
    with transaction():
        row.last_seen_at -= timedelta(seconds=app.config["IDP_SESSION_IDLE_SECONDS"] + 1)
    reasons: list[str] = []
    with sso.session_ended.connected_to(lambda _app, session, reason: reasons.append(reason), sender=app):
        assert not visit(client)
    assert db.session.execute(select(SsoSession)).first() is None
    assert reasons == ["expired"]  # ended as any sign-out is (its applications are told), not just ignored


@VISITS
def test_activity_keeps_the_session_alive(app: Flask, client: FlaskClient, make_citizen, visit) -> None:
    app.config["IDP_SESSION_TOUCH_SECONDS"] = 0
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    row = _only_session()
    earlier = row.last_seen_at - timedelta(seconds=app.config["IDP_SESSION_IDLE_SECONDS"] - 5)
    with transaction():
        row.last_seen_at = earlier
    assert visit(client)
    db.session.expire_all()
    assert _only_session().last_seen_at > earlier


@VISITS
def test_activity_is_written_at_most_once_per_touch_interval(app: Flask, client: FlaskClient, make_citizen,
                                                             visit) -> None:
    app.config["IDP_SESSION_TOUCH_SECONDS"] = 60
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    row = _only_session()
    recent = row.last_seen_at - timedelta(seconds=30)
    with transaction():
        row.last_seen_at = recent
    assert visit(client)
    db.session.expire_all()
    assert _only_session().last_seen_at == recent


@VISITS
def test_absolute_lifetime_ends_an_active_session(app: Flask, client: FlaskClient, make_citizen, visit) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    row = _only_session()
    assert row.expires_at - row.created_at == timedelta(seconds=app.config["IDP_SESSION_ABSOLUTE_SECONDS"])
    with transaction():
        row.expires_at = row.created_at
    assert not visit(client)
    assert db.session.execute(select(SsoSession)).first() is None


def test_lifetimes_come_from_configuration(app_config, make_citizen) -> None:
    from tests.conftest import make_app

    app_config.update(IDP_SESSION_IDLE_SECONDS=120, IDP_SESSION_ABSOLUTE_SECONDS=3600)
    app = make_app(app_config)
    with app.app_context():
        citizen = make_citizen()
        sign_in(app.test_client(), citizen.id_number, citizen.password)
        row = _only_session()
        assert row.expires_at - row.created_at == timedelta(hours=1)
