"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): every application that took part in an
ended session receives a signed logout token, in the background, retried, audited, restart-safe."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from threading import Barrier
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.authn import sso
from idp.oidc import backchannel
from idp.oidc.backchannel import Outcome
from idp.oidc.logout import logout_token_claims
from idp.storage import audit_events, db, rollback, transaction, utcnow
from idp.storage.logout import DeliveryStatus, LogoutDelivery
from idp.storage.sessions import SsoSession
from tests.conftest import make_app
from tests.helpers.forms import sign_out
from tests.helpers.oidc import RegisteredClient, code_flow, exchange, register_client
from tests.helpers.receiver import Receiver

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
FAST = {"IDP_BACKCHANNEL_TIMEOUT_SECONDS": 5, "IDP_BACKCHANNEL_MAX_ATTEMPTS": 3,
        "IDP_BACKCHANNEL_RETRY_BASE_SECONDS": 0.01, "IDP_BACKCHANNEL_POLL_SECONDS": 0.05}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, **FAST}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as endpoint:
        yield endpoint


@pytest.fixture(autouse=True)
def _stop_dispatcher(app: Flask) -> Iterator[None]:
    yield
    backchannel.dispatcher(app).stop()


@pytest.fixture
def make_other_app(app_config: dict[str, Any]) -> Iterator[Callable[[], Flask]]:
    """Another process's app on the same database (a restart, a second worker); stopped at the end."""
    made: list[Flask] = []

    def make() -> Flask:
        made.append(make_app(app_config))
        return made[-1]

    yield make
    for other in made:
        backchannel.dispatcher(other).stop()


@pytest.fixture
def rp(app: Flask, receiver: Receiver) -> RegisteredClient:
    """The usual first-party portal, with a back-channel logout endpoint."""
    return register_client(skip_consent=True, backchannel_logout_uri=receiver.url)


def _verified(client: FlaskClient, token: str, alg: str) -> jwt.Token:
    """The token, checked as a relying party would: against our published JWKS, with joserfc."""
    return jwt.decode(token, KeySet.import_key_set(client.get("/jwks").json), algorithms=[alg])


def _id_token(client: FlaskClient, rp: RegisteredClient, person: Any) -> dict[str, Any]:
    """Sign ``person`` in to ``rp`` with the code flow; the claims of the ID token it got."""
    _, answer = code_flow(client, rp, person)
    token = exchange(client, rp, answer["code"]).json["id_token"]
    return _verified(client, token, rp.row.id_token_signed_response_alg).claims


def _deliveries() -> list[LogoutDelivery]:
    rollback()  # see what the dispatcher committed
    return list(db.session.scalars(select(LogoutDelivery).order_by(LogoutDelivery.id)))


def _settled(timeout: float = 10.0) -> list[LogoutDelivery]:
    """The deliveries, once the dispatcher has none pending."""
    deadline = time.monotonic() + timeout
    rows = _deliveries()
    while any(row.status is DeliveryStatus.PENDING for row in rows):
        assert time.monotonic() < deadline, "deliveries still pending"
        time.sleep(0.01)
        rows = _deliveries()
    return rows


def _queue(rp: RegisteredClient, now: datetime, count: int = 1) -> None:
    """Pending deliveries for ``rp``, committed (as a sign-out would leave them)."""
    with transaction():
        for n in range(count):
            backchannel.enqueue(rp.row, logout_token_claims(rp.client_id, "sub-1", f"sid-{n}"), now)


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/backchannel-logout"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_relying_party_receives_a_valid_logout_token(app: Flask, client: FlaskClient, receiver: Receiver,
                                                     citizen, alg: str) -> None:
    rp = register_client(skip_consent=True, backchannel_logout_uri=receiver.url, id_token_signed_response_alg=alg)
    id_token = _id_token(client, rp, citizen)
    assert sign_out(client).status_code == 200
    [request] = receiver.wait_for(1)
    assert request.content_type == "application/x-www-form-urlencoded"
    token = _verified(client, request.logout_token, alg)
    assert token.header["typ"] == "logout+jwt"
    assert token.header["kid"] in {key["kid"] for key in client.get("/jwks").json["keys"]}
    claims = token.claims
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": app.config["IDP_ISSUER"]},
                          aud={"essential": True, "value": rp.client_id},
                          iat={"essential": True}, exp={"essential": True}, jti={"essential": True}).validate(claims)
    assert claims["aud"] == rp.client_id and 0 < claims["exp"] - claims["iat"] <= 120
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["sid"] == id_token["sid"] and claims["sub"] == id_token["sub"]
    assert "nonce" not in claims
    [row] = _settled()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.DELIVERED, 1, None)
    [event] = audit_events.recent(event="logout.backchannel.delivered")
    assert (event.subject, event.client_id, event.details["sid"]) == (id_token["sub"], rp.client_id, id_token["sid"])
    assert request.logout_token not in repr(event.details)


def test_failing_receiver_is_retried_then_audited_as_failed(client: FlaskClient, rp, citizen,
                                                            receiver: Receiver) -> None:
    receiver.status = 500
    sub = _id_token(client, rp, citizen)["sub"]
    sign_out(client)
    [row] = _settled()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.FAILED, 3, "HTTP 500")
    assert len(receiver.received) == 3
    assert len({_verified(client, r.logout_token, "RS256").claims["jti"] for r in receiver.received}) == 3
    [event] = audit_events.recent(event="logout.backchannel.failed")
    assert (event.subject, event.client_id) == (sub, rp.client_id)
    assert event.details["attempts"] == 3 and event.details["error"] == "HTTP 500"
    assert audit_events.recent(event="logout.backchannel.delivered") == []


def test_retries_back_off(app: Flask, rp, receiver: Receiver) -> None:
    backchannel.dispatcher(app).stop()  # attempts are made here, one at a time
    app.config["IDP_BACKCHANNEL_RETRY_BASE_SECONDS"] = 10
    receiver.status = 503
    now = utcnow()
    _queue(rp, now)
    for attempt, wait in ((1, 10), (2, 20)):
        before = utcnow()
        assert backchannel.deliver_due(now) == {Outcome.RETRIED: 1}
        [row] = _deliveries()
        assert row.attempts == attempt
        assert before + timedelta(seconds=wait) <= row.next_attempt_at <= utcnow() + timedelta(seconds=wait)
        assert backchannel.deliver_due(now) == {}  # not due yet
        now = row.next_attempt_at
    assert backchannel.deliver_due(now) == {Outcome.FAILED: 1}
    assert len(receiver.received) == 3


def test_hanging_receiver_times_out(app: Flask, client: FlaskClient, rp, citizen, receiver: Receiver) -> None:
    app.config["IDP_BACKCHANNEL_TIMEOUT_SECONDS"] = 0.2
    receiver.hold()  # until the test ends
    _id_token(client, rp, citizen)
    sign_out(client)
    [row] = _settled()
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 3)
    assert "timed out" in row.last_error
    assert len(receiver.received) == 3


def test_sign_out_does_not_wait_for_the_applications(client: FlaskClient, rp, citizen, receiver: Receiver) -> None:
    receiver.hold()
    _id_token(client, rp, citizen)
    # Were the token sent while the request is served, the sign-out would wait here for an answer that
    # only comes after it returns, then count a timeout.
    assert sign_out(client).status_code == 200
    receiver.wait_for(1)  # in flight, unanswered
    assert [row.status for row in _deliveries()] == [DeliveryStatus.PENDING]
    receiver.release()
    [row] = _settled()
    assert (row.status, row.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_pending_delivery_survives_a_restart(app: Flask, make_other_app, client: FlaskClient, rp, citizen,
                                             receiver: Receiver) -> None:
    backchannel.dispatcher(app).stop()  # the process goes away before sending
    sub = _id_token(client, rp, citizen)["sub"]
    sign_out(client)
    [row] = _deliveries()
    assert (row.status, row.attempts, receiver.received) == (DeliveryStatus.PENDING, 0, [])
    restarted = make_other_app()
    restarted.test_client().get("/jwks")  # its first request looks for what was left
    [request] = receiver.wait_for(1)
    assert _verified(client, request.logout_token, "RS256").claims["sub"] == sub
    [row] = _settled()
    assert row.status is DeliveryStatus.DELIVERED


def test_two_senders_never_send_the_same_delivery(app: Flask, make_other_app, rp, receiver: Receiver) -> None:
    backchannel.dispatcher(app).stop()
    now = utcnow()
    _queue(rp, now, count=20)
    senders = [app, make_other_app(), make_other_app()]
    start = Barrier(len(senders))

    def send(sender: Flask) -> Counter[Outcome]:
        with sender.app_context():
            start.wait()
            return backchannel.deliver_due(now)

    with ThreadPoolExecutor(len(senders)) as pool:
        outcomes = list(pool.map(send, senders))
    assert sum(outcomes, Counter()) == {Outcome.DELIVERED: 20}
    assert len(receiver.received) == 20
    assert len({r.form["logout_token"][0] for r in receiver.received}) == 20
    assert {(row.status, row.attempts) for row in _deliveries()} == {(DeliveryStatus.DELIVERED, 1)}


def test_a_delivery_in_flight_is_not_taken_by_another_sender(app: Flask, make_other_app, rp,
                                                             receiver: Receiver) -> None:
    backchannel.dispatcher(app).stop()
    now = utcnow()
    _queue(rp, now)
    receiver.hold()
    other = make_other_app()

    def send() -> Counter[Outcome]:
        with other.app_context():
            return backchannel.deliver_due(now)

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(send)
        receiver.wait_for(1)
        assert backchannel.deliver_due(now + timedelta(seconds=30)) == {}  # held by the first sender
        receiver.release()
        assert first.result() == {Outcome.DELIVERED: 1}
    assert len(receiver.received) == 1


def test_a_dead_senders_claim_expires(app: Flask, rp, receiver: Receiver) -> None:
    backchannel.dispatcher(app).stop()
    now = utcnow()
    _queue(rp, now)
    with transaction():
        [row] = _deliveries()
        row.claimed_until = now + timedelta(minutes=1)  # taken by a process that then died
    assert backchannel.deliver_due(now) == {}
    assert backchannel.deliver_due(now + timedelta(minutes=2)) == {Outcome.DELIVERED: 1}
    assert len(receiver.received) == 1


def test_rolled_back_sign_out_sends_nothing(app: Flask, client: FlaskClient, rp, citizen, receiver: Receiver) -> None:
    _id_token(client, rp, citizen)
    with pytest.raises(RuntimeError), transaction():
        sso.end(db.session.scalars(select(SsoSession)).one(), reason="logout")
        assert len(db.session.scalars(select(LogoutDelivery)).all()) == 1  # queued, in this transaction
        raise RuntimeError("the sign-out fails after the token was queued")
    assert _deliveries() == []
    assert backchannel.deliver_due(utcnow() + timedelta(hours=1)) == {}
    assert receiver.received == []


def test_only_clients_with_a_backchannel_uri_are_told(client: FlaskClient, rp, citizen, receiver: Receiver) -> None:
    silent = register_client(skip_consent=True)
    _id_token(client, silent, citizen)
    _id_token(client, rp, citizen)
    sign_out(client)
    [row] = _settled()
    assert row.client_id == rp.client_id
    [request] = receiver.received
    assert _verified(client, request.logout_token, "RS256").claims["aud"] == rp.client_id


def test_cli_delivers_what_is_due(app: Flask, runner, rp, receiver: Receiver) -> None:
    backchannel.dispatcher(app).stop()
    app.config["IDP_BACKCHANNEL_RETRY_BASE_SECONDS"] = 60
    unreachable = register_client(backchannel_logout_uri=_closed_port_url())
    now = utcnow()
    _queue(rp, now)
    _queue(unreachable, now)
    result = runner.invoke(args=["idp", "logout", "deliver"])
    assert result.exit_code == 0, result.output
    assert result.output == "delivered 1, will retry 1, failed 0\n"
    assert len(receiver.received) == 1
    again = runner.invoke(args=["idp", "logout", "deliver"])
    assert again.output == "delivered 0, will retry 0, failed 0\n"
    failed = next(row for row in _deliveries() if row.client_id == unreachable.client_id)
    assert (failed.status, failed.attempts) == (DeliveryStatus.PENDING, 1) and "refused" in failed.last_error
