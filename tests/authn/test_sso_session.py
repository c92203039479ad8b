"""SSO session lifetimes: idle and absolute, configurable; ended sessions are gone."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.storage import db, transaction
from idp.storage.sessions import SsoSession
from tests.helpers.forms import sign_in


def _only_session() -> SsoSession:
    return db.session.execute(select(SsoSession)).scalar_one()


def test_idle_session_ends(app: Flask, client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    row = _only_session()
    with transaction():
        row.last_seen_at -= timedelta(seconds=app.config["IDP_SESSION_IDLE_SECONDS"] + 1)
    assert client.get("/account").status_code == 302
    assert db.session.execute(select(SsoSession)).first() is None


def test_activity_keeps_the_session_alive(app: Flask, client: FlaskClient, make_citizen) -> None:
    app.config["IDP_SESSION_TOUCH_SECONDS"] = 0
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    row = _only_session()
    earlier = row.last_seen_at - timedelta(seconds=app.config["IDP_SESSION_IDLE_SECONDS"] - 5)
    with transaction():
        row.last_seen_at = earlier
    assert client.get("/account").status_code == 200
    assert _only_session().last_seen_at > earlier


def test_absolute_lifetime_ends_an_active_session(app: Flask, client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    row = _only_session()
    assert row.expires_at - row.created_at == timedelta(seconds=app.config["IDP_SESSION_ABSOLUTE_SECONDS"])
    with transaction():
        row.expires_at = row.created_at
    assert client.get("/account").status_code == 302


def test_lifetimes_come_from_configuration(app_config, make_citizen) -> None:
    from tests.conftest import make_app

    app_config.update(IDP_SESSION_IDLE_SECONDS=120, IDP_SESSION_ABSOLUTE_SECONDS=3600)
    app = make_app(app_config)
    with app.app_context():
        citizen = make_citizen()
        sign_in(app.test_client(), citizen.id_number, citizen.password)
        row = _only_session()
        assert row.expires_at - row.created_at == timedelta(hours=1)
