"""The authorization_code grant: single use with revocation on reuse, binding, PKCE, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.storage import audit_events, db, transaction
from idp.storage.grants import AuthorizationCode
from tests.helpers.oidc import REDIRECT_URI, assert_answered_alike, code_flow, decode, exchange, pkce, register_client

# Every test twice: on a fresh worker, and on one that answers the usual token requests past
# Flask's request cycle from the first.
pytestmark = pytest.mark.usefixtures("token_endpoint")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_code_exchange_returns_tokens(client: FlaskClient, rp, citizen) -> None:
    params, answer = code_flow(client, rp, citizen)
    response = exchange(client, rp, answer["code"])
    assert response.status_code == 200, response.json
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "openid profile email"
    assert body["refresh_token"].startswith("dnr_")
    assert decode(body["id_token"])["nonce"] == params["nonce"]
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"


def test_second_redemption_fails_and_revokes_what_the_first_issued(client: FlaskClient, rp, citizen) -> None:
    _, answer = code_flow(client, rp, citizen)
    first = exchange(client, rp, answer["code"]).json
    assert client.get("/userinfo", headers=_bearer(first["access_token"])).status_code == 200
    second = exchange(client, rp, answer["code"])
    assert second.status_code == 400 and second.json["error"] == "invalid_grant"
    assert len(audit_events.recent(event="code.reused")) == 1  # refused once, whoever answered
    # RFC 6749 §4.1.2: every token issued from the first redemption is now dead.
    assert client.get("/userinfo", headers=_bearer(first["access_token"])).status_code == 401
    refreshed = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                            headers=rp.basic_auth())
    assert refreshed.status_code == 400 and refreshed.json["error"] == "invalid_grant"


def test_code_is_bound_to_the_client(client: FlaskClient, rp, citizen) -> None:
    other = register_client(skip_consent=True)
    _, answer = code_flow(client, rp, citizen)
    stolen = exchange(client, other, answer["code"])
    assert stolen.status_code == 400 and stolen.json["error"] == "invalid_grant"


def test_code_is_bound_to_the_redirect_uri(client: FlaskClient, rp, citizen) -> None:
    _, answer = code_flow(client, rp, citizen)
    response = exchange(client, rp, answer["code"], redirect_uri=REDIRECT_URI + "/other")
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_expired_code_is_refused(client: FlaskClient, rp, citizen) -> None:
    _, answer = code_flow(client, rp, citizen)
    with transaction():
        row = db.session.execute(select(AuthorizationCode)).scalar_one()
        row.expires_at = row.created_at - timedelta(seconds=1)
    response = exchange(client, rp, answer["code"])
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_code_lives_sixty_seconds_and_is_stored_hashed(client: FlaskClient, rp, citizen) -> None:
    _, answer = code_flow(client, rp, citizen)
    row = db.session.execute(select(AuthorizationCode)).scalar_one()
    assert row.expires_at - row.created_at == timedelta(seconds=60)
    assert answer["code"] not in row.code_hash


def test_unknown_code_and_missing_code(client: FlaskClient, rp) -> None:
    assert exchange(client, rp, "nope").json["error"] == "invalid_grant"
    missing = client.post("/token", data={"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI},
                          headers=rp.basic_auth())
    assert missing.status_code == 400 and missing.json["error"] == "invalid_request"


def test_pkce_right_verifier(client: FlaskClient, rp, citizen) -> None:
    pair = pkce()
    _, answer = code_flow(client, rp, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
    assert exchange(client, rp, answer["code"], code_verifier=pair.verifier).status_code == 200


@pytest.mark.parametrize("verifier", [None, "wrong-" + "x" * 43, "short"])
def test_pkce_wrong_or_missing_verifier(client: FlaskClient, rp, citizen, verifier) -> None:
    pair = pkce()
    _, answer = code_flow(client, rp, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
    form = {"code_verifier": verifier} if verifier else {}
    response = exchange(client, rp, answer["code"], **form)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_verifier_without_a_challenge_is_refused(client: FlaskClient, rp, citizen) -> None:
    """No downgrade: a verifier at the token endpoint for a request that sent no challenge."""
    _, answer = code_flow(client, rp, citizen)
    response = exchange(client, rp, answer["code"], code_verifier=pkce().verifier)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_public_client_exchanges_with_pkce_only(client: FlaskClient, citizen) -> None:
    public = register_client(token_endpoint_auth_method="none", skip_consent=True)
    pair = pkce()
    _, answer = code_flow(client, public, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
    response = exchange(client, public, answer["code"], client_id=public.client_id, code_verifier=pair.verifier)
    assert response.status_code == 200 and "id_token" in response.json


def test_oauth_only_request_gets_no_id_token(client: FlaskClient, citizen) -> None:
    rp = register_client(skip_consent=True, scope="openid profile email")
    _, answer = code_flow(client, rp, citizen, scope="profile")
    body = exchange(client, rp, answer["code"]).json
    assert "id_token" not in body and body["scope"] == "profile"


def test_client_without_refresh_grant_gets_no_refresh_token(client: FlaskClient, citizen) -> None:
    rp = register_client(skip_consent=True, grant_types=["authorization_code"])
    _, answer = code_flow(client, rp, citizen)
    assert "refresh_token" not in exchange(client, rp, answer["code"]).json


def test_the_usual_exchanges_are_answered_past_flask_as_the_view_answers(
        client: FlaskClient, rp, citizen, through_flask: list[str], token_endpoint: str) -> None:  # type: ignore[no-untyped-def]
    public = register_client(token_endpoint_auth_method="none", skip_consent=True)
    answers = []
    for portal, form in ((rp, {}), (public, {"client_id": public.client_id})):
        pair = pkce()
        _, answer = code_flow(client, portal, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
        through_flask.clear()
        answers.append(exchange(client, portal, answer["code"], code_verifier=pair.verifier, **form))
        assert through_flask == (["/token"] if token_endpoint == "view" and portal is rp else [])
    # Both client authentications at once (the view accepts the client_id besides the header).
    _, answer = code_flow(client, rp, citizen)
    by_view = exchange(client, rp, answer["code"], client_id=rp.client_id)
    assert through_flask[-1] == "/token"
    for response in answers:
        assert_answered_alike(response, by_view)
        assert decode(response.json["id_token"])["sub"] == decode(by_view.json["id_token"])["sub"]
