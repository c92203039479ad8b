"""The refresh_token grant: rotation, reuse detection, scope narrowing, a fresh ID token."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from idp.oidc import tokens
from idp.storage import audit_events, db
from idp.storage.grants import RefreshToken
from tests.helpers.oidc import assert_answered_alike, code_flow, decode, exchange, pkce, register_client, tokens_for

# Every test twice: on a fresh worker, and on one that answers the usual token requests past
# Flask's request cycle from the first.
pytestmark = pytest.mark.usefixtures("token_endpoint")


def _refresh(client: FlaskClient, rp, token: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token, **form},
                       headers=rp.basic_auth())


def test_refresh_rotates_and_returns_a_new_id_token(client: FlaskClient, rp, citizen) -> None:
    first = tokens_for(client, rp, citizen)
    response = _refresh(client, rp, first["refresh_token"])
    assert response.status_code == 200, response.json
    body = response.json
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    old_id, new_id = decode(first["id_token"]), decode(body["id_token"])
    assert new_id["sub"] == old_id["sub"] and new_id["auth_time"] == old_id["auth_time"]
    assert "nonce" not in new_id
    assert response.headers["Cache-Control"] == "no-store"


def test_reusing_a_rotated_token_revokes_the_family(client: FlaskClient, rp, citizen) -> None:
    first = tokens_for(client, rp, citizen)
    second = _refresh(client, rp, first["refresh_token"]).json
    reuse = _refresh(client, rp, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json["error"] == "invalid_grant"
    assert len(audit_events.recent(event="refresh_token.reused")) == 1  # refused once, whoever answered
    # The legitimate holder's newer token is dead too, and so are access tokens of the grant.
    assert _refresh(client, rp, second["refresh_token"]).json["error"] == "invalid_grant"
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + second["access_token"]}).status_code == 401


def test_scope_may_narrow_but_not_widen(client: FlaskClient, rp, citizen) -> None:
    first = tokens_for(client, rp, citizen)
    narrowed = _refresh(client, rp, first["refresh_token"], scope="openid profile")
    assert narrowed.status_code == 200 and narrowed.json["scope"] == "openid profile"
    widened = _refresh(client, rp, narrowed.json["refresh_token"], scope="openid profile email phone")
    assert widened.status_code == 400 and widened.json["error"] == "invalid_scope"


def test_refresh_token_is_bound_to_its_client(client: FlaskClient, rp, citizen) -> None:
    first = tokens_for(client, rp, citizen)
    other = register_client(skip_consent=True)
    assert _refresh(client, other, first["refresh_token"]).json["error"] == "invalid_grant"


def test_locked_account_cannot_refresh(client: FlaskClient, rp, citizen) -> None:
    from idp.identity import accounts

    first = tokens_for(client, rp, citizen)
    accounts.lock(citizen.id_number)
    assert _refresh(client, rp, first["refresh_token"]).json["error"] == "invalid_grant"


def test_unknown_refresh_token(client: FlaskClient, rp) -> None:
    assert _refresh(client, rp, "dnr_nothing").json["error"] == "invalid_grant"


def test_public_client_refreshes_with_its_client_id(client: FlaskClient, citizen) -> None:
    public = register_client(token_endpoint_auth_method="none", skip_consent=True)
    pair = pkce()
    _, answer = code_flow(client, public, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
    first = exchange(client, public, answer["code"], client_id=public.client_id, code_verifier=pair.verifier).json
    response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                           "client_id": public.client_id})
    assert response.status_code == 200 and response.json["refresh_token"] != first["refresh_token"]


def test_two_refreshes_with_one_token_at_once_are_reuse(client: FlaskClient, rp, citizen,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first = tokens_for(client, rp, citizen)
    usable = tokens.refresh_token_usable

    def rotated_meanwhile(row, now):  # type: ignore[no-untyped-def]
        # Another worker redeems the same token between this request's read and its rotation.
        with db.engine.begin() as other_worker:
            other_worker.execute(update(RefreshToken).where(RefreshToken.id == row.id).values(rotated_at=now))
        return usable(row, now)

    monkeypatch.setattr(tokens, "refresh_token_usable", rotated_meanwhile)
    second = _refresh(client, rp, first["refresh_token"])
    assert second.status_code == 400 and second.json["error"] == "invalid_grant"
    assert audit_events.recent(event="refresh_token.reused")
    monkeypatch.undo()
    # The whole family is revoked, as for any reuse: the first token's access token is dead too.
    assert client.get("/userinfo", headers={"Authorization": "Bearer " + first["access_token"]}).status_code == 401


def test_the_usual_refreshes_are_answered_past_flask_as_the_view_answers(
        client: FlaskClient, rp, citizen, through_flask: list[str]) -> None:  # type: ignore[no-untyped-def]
    public = register_client(token_endpoint_auth_method="none", skip_consent=True)
    pair = pkce()
    _, answer = code_flow(client, public, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
    public_tokens = exchange(client, public, answer["code"], client_id=public.client_id,
                             code_verifier=pair.verifier).json
    first = tokens_for(client, rp, citizen)
    through_flask.clear()
    answers = [_refresh(client, rp, first["refresh_token"], scope="openid profile"),
               client.post("/token", data={"grant_type": "refresh_token", "client_id": public.client_id,
                                           "refresh_token": public_tokens["refresh_token"]})]
    assert through_flask == []
    # Both client authentications at once (the view accepts the client_id besides the header).
    by_view = _refresh(client, rp, answers[0].json["refresh_token"], client_id=rp.client_id)
    assert through_flask == ["/token"]
    for response in answers:
        assert_answered_alike(response, by_view)
    assert answers[0].json["scope"] == "openid profile"


@pytest.mark.parametrize("request_kind", ["secret twice", "client_id besides the header", "another parameter"])
def test_what_the_view_must_answer_reaches_it(client: FlaskClient, rp, citizen, through_flask: list[str],
                                              request_kind: str) -> None:
    first = tokens_for(client, rp, citizen)
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    headers = rp.basic_auth()
    if request_kind == "secret twice":
        form["client_secret"] = rp.secret  # two client authentications: refused (RFC 6749 §2.3)
        expected = (400, "invalid_request")
    elif request_kind == "client_id besides the header":
        form["client_id"] = rp.client_id
        expected = (200, None)
    else:
        form["resource"] = "https://api.example.vn"
        expected = (200, None)
    through_flask.clear()
    response = client.post("/token", data=form, headers=headers)
    assert (response.status_code, response.json.get("error")) == expected, response.json
    assert through_flask == ["/token"]
