"""RP-initiated logout, front-channel logout, sign out everywhere: one sign-out reaches every app."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.storage import audit_events, db
from idp.storage.grants import Grant
from idp.storage.sessions import SsoSession
from tests.helpers.forms import csrf_token, sign_in
from tests.helpers.oidc import authorize_params, redirect_params, register_client, tokens_for

LOGOUT_URI = "https://portal.example.vn/signed-out"



@pytest.fixture
def rp(app):  # type: ignore[no-untyped-def]
    return register_client(skip_consent=True, post_logout_redirect_uris=[LOGOUT_URI])



def _sessions() -> list[SsoSession]:
    return list(db.session.execute(select(SsoSession)).scalars())


def test_valid_hint_signs_out_and_redirects_with_state(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    response = client.get("/session/end", query_string={"id_token_hint": tokens["id_token"],
                                                        "post_logout_redirect_uri": LOGOUT_URI, "state": "xyz"})
    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_URI + "?state=xyz"
    assert _sessions() == []
    assert client.get_cookie("dn_sso") is None
    # prompt=none after logout: login_required.
    assert redirect_params(client.get("/authorize", query_string=authorize_params(rp, prompt="none")))["error"] \
        == "login_required"


def test_post_is_accepted_like_get(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    response = client.post("/session/end", data={"id_token_hint": tokens["id_token"],
                                                 "post_logout_redirect_uri": LOGOUT_URI})
    assert response.status_code == 302 and _sessions() == []


def test_expired_hint_still_identifies_the_person(app, client: FlaskClient, rp, citizen) -> None:
    from idp.oidc import keys

    tokens = tokens_for(client, rp, citizen)
    claims = keys.verify(tokens["id_token"])
    stale = keys.sign({**claims, "exp": claims["iat"] - 1}, alg="RS256", typ="JWT")
    response = client.get("/session/end", query_string={"id_token_hint": stale})
    assert response.status_code == 200 and "Bạn đã đăng xuất" in response.get_data(as_text=True)
    assert _sessions() == []


def test_without_hint_the_person_must_confirm(client: FlaskClient, rp, citizen) -> None:
    tokens_for(client, rp, citizen)
    page = client.get("/session/end", query_string={"client_id": rp.client_id,
                                                    "post_logout_redirect_uri": LOGOUT_URI, "state": "s1"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Bạn có muốn đăng xuất khỏi hệ thống" in body and "Cổng dịch vụ công" in body
    assert len(_sessions()) == 1  # a link alone signs nobody out
    confirmed = client.post("/logout", data={"csrf_token": csrf_token(client, "/account"),
                                             "client_id": rp.client_id, "post_logout_redirect_uri": LOGOUT_URI,
                                             "state": "s1"})
    assert confirmed.headers["Location"] == LOGOUT_URI + "?state=s1"
    assert _sessions() == []


def test_confirmation_needs_csrf(client: FlaskClient, rp, citizen) -> None:
    tokens_for(client, rp, citizen)
    assert client.post("/logout", data={"client_id": rp.client_id}).status_code == 400
    assert len(_sessions()) == 1


def test_hint_for_someone_else_asks_for_confirmation(client: FlaskClient, rp, citizen, make_citizen) -> None:
    other = make_citizen(full_name="Lê Văn Cường")
    hint = tokens_for(client, rp, other)["id_token"]
    client.delete_cookie("dn_sso")
    sign_in(client, citizen.id_number, citizen.password)
    page = client.get("/session/end", query_string={"id_token_hint": hint})
    assert page.status_code == 200 and 'action="/logout"' in page.get_data(as_text=True)
    assert len(_sessions()) == 2  # nobody signed out: the other person's (abandoned) and this one


@pytest.mark.parametrize("uri", ["https://evil.example/", LOGOUT_URI + "/x", "https://portal.example.vn/callback"])
def test_unregistered_post_logout_redirect_uri_is_not_followed(client: FlaskClient, rp, citizen, uri) -> None:
    tokens = tokens_for(client, rp, citizen)
    response = client.get("/session/end", query_string={"id_token_hint": tokens["id_token"],
                                                        "post_logout_redirect_uri": uri})
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Bạn đã đăng xuất" in response.get_data(as_text=True)
    assert _sessions() == []


def test_client_id_must_match_the_hint(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    other = register_client(post_logout_redirect_uris=[LOGOUT_URI])
    response = client.get("/session/end", query_string={"id_token_hint": tokens["id_token"],
                                                        "client_id": other.client_id})
    assert response.status_code == 400 and len(_sessions()) == 1


def test_forged_hint_is_refused(client: FlaskClient, rp, citizen) -> None:
    tokens_for(client, rp, citizen)
    response = client.get("/session/end", query_string={"id_token_hint": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."})
    assert response.status_code == 400 and len(_sessions()) == 1


def test_logout_without_session_still_returns_to_the_app(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    client.delete_cookie("dn_sso")
    response = client.get("/session/end", query_string={"id_token_hint": tokens["id_token"],
                                                        "post_logout_redirect_uri": LOGOUT_URI})
    assert response.headers["Location"] == LOGOUT_URI


def test_session_grants_are_revoked_at_logout(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    bearer = {"Authorization": "Bearer " + tokens["access_token"]}
    assert client.get("/userinfo", headers=bearer).status_code == 200
    client.get("/session/end", query_string={"id_token_hint": tokens["id_token"]})
    assert client.get("/userinfo", headers=bearer).status_code == 401
    refreshed = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                            headers=rp.basic_auth())
    assert refreshed.json["error"] == "invalid_grant"
    assert all(g.revoked_at is not None for g in db.session.execute(select(Grant)).scalars())
    [event] = audit_events.recent(event="logout")
    assert event.details["reason"] == "rp_logout" and event.client_id == rp.client_id


def test_front_channel_pages_are_loaded_in_hidden_frames(app, client: FlaskClient, citizen) -> None:
    front = register_client(skip_consent=True, redirect_uris=["https://docs.example.vn/cb"],
                            frontchannel_logout_uri="https://docs.example.vn/fc-logout")
    plain = register_client(skip_consent=True)
    from tests.helpers import oidc as helpers

    sign_in(client, citizen.id_number, citizen.password)
    for rp, uri in ((front, "https://docs.example.vn/cb"), (plain, helpers.REDIRECT_URI)):
        location = client.get("/authorize", query_string=authorize_params(rp, redirect_uri=uri)).headers["Location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        client.post("/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": uri},
                    headers=rp.basic_auth())
    sid = _sessions()[0].sid
    page = client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    body = page.get_data(as_text=True)
    query = urlencode({"iss": app.config["IDP_ISSUER"], "sid": sid}).replace("&", "&amp;")
    assert f'src="https://docs.example.vn/fc-logout?{query}"' in body
    assert body.count("<iframe") == 1
    assert "frame-src https://docs.example.vn" in page.headers["Content-Security-Policy"]


def test_sign_out_everywhere_ends_every_session(app, make_citizen, citizen) -> None:
    first, second = app.test_client(), app.test_client()
    sign_in(first, citizen.id_number, citizen.password)
    sign_in(second, citizen.id_number, citizen.password)
    other = make_citizen(full_name="Trần Thị Bình")
    third = app.test_client()
    sign_in(third, other.id_number, other.password)
    assert len(_sessions()) == 3
    page = first.post("/account/sign-out-everywhere", data={"csrf_token": csrf_token(first, "/account")})
    assert page.status_code == 200
    assert [s.subject_id for s in _sessions()] == [other.subject.id]
    assert second.get("/account").status_code == 302
    assert audit_events.recent(event="logout.everywhere")


def test_sign_out_everywhere_from_the_cli(app, runner, citizen) -> None:
    browser = app.test_client()
    sign_in(browser, citizen.id_number, citizen.password)
    result = runner.invoke(args=["idp", "user", "sign-out-everywhere", citizen.id_number])
    assert result.exit_code == 0, result.output
    assert _sessions() == []


def test_discovery_advertises_logout(client: FlaskClient, app) -> None:
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["end_session_endpoint"] == app.config["IDP_ISSUER"] + "/session/end"
    for name in ("backchannel_logout_supported", "backchannel_logout_session_supported",
                 "frontchannel_logout_supported", "frontchannel_logout_session_supported"):
        assert meta[name] is True
