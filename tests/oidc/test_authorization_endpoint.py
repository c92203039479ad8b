"""The authorization endpoint: each parameter and each error the specs require."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from idp.storage import audit_events
from tests.helpers.forms import csrf_token_in, sign_in
from tests.helpers.oidc import (
    REDIRECT_URI,
    asks_to_sign_in,
    authorize_params,
    code_flow,
    drive,
    interaction_uid,
    pkce,
    redirect_params,
    register_client,
)


def _authorize(client: FlaskClient, rp, **overrides):  # type: ignore[no-untyped-def]
    return client.get("/authorize", query_string=authorize_params(rp, **overrides))


def test_code_flow_returns_code_state_and_iss(app, client: FlaskClient, rp, citizen) -> None:
    params, answer = code_flow(client, rp, citizen)
    assert answer["state"] == params["state"]
    assert answer["iss"] == app.config["IDP_ISSUER"]
    assert len(answer["code"]) >= 43


def test_signed_in_person_gets_a_code_without_any_page(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    answer = redirect_params(_authorize(client, rp))
    assert "code" in answer


def test_unauthenticated_request_goes_to_the_sign_in_page(client: FlaskClient, rp) -> None:
    response = _authorize(client, rp, login_hint="an@example.vn")
    assert asks_to_sign_in(response)  # straight to the form, no detour through /interaction
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="an@example.vn"' in page and 'name="interaction"' in page
    # The interaction's own address leads to the same form (a page reloaded or bookmarked).
    uid = interaction_uid(response.headers["Location"])
    again = client.get(f"/interaction/{uid}")
    assert again.status_code == 302 and again.headers["Location"].startswith(f"/login?interaction={uid}")


@pytest.mark.parametrize("params", [
    {"client_id": "nobody"},
    {"client_id": None},
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": REDIRECT_URI + "/"},  # exact match only
    {"redirect_uri": None},
])
def test_untrusted_client_or_redirect_uri_is_shown_never_redirected(client: FlaskClient, rp, params) -> None:
    response = _authorize(client, rp, **params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Yêu cầu đăng nhập không hợp lệ" in response.get_data(as_text=True)


@pytest.mark.parametrize(("overrides", "error"), [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "id_token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),
    ({"scope": None}, "invalid_scope"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"scope": "openid org"}, "invalid_scope"),  # supported, but not registered for this client
    ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
    ({"code_challenge_method": "S256"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "bogus"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"max_age": "soon"}, "invalid_request"),
    ({"claims": "{not json"}, "invalid_request"),
    ({"claims": json.dumps({"access_token": {}})}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://portal.example.vn/request.jwt"}, "request_uri_not_supported"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"id_token_hint": "not-a-jwt"}, "invalid_request"),
])
def test_bad_parameters_are_reported_to_the_client(client: FlaskClient, rp, overrides, error) -> None:
    params = authorize_params(rp, **overrides)
    answer = redirect_params(client.get("/authorize", query_string=params))
    assert answer["error"] == error
    assert answer["state"] == params["state"] and "iss" in answer
    assert answer["error_description"]


def test_repeated_parameter_is_invalid_request(client: FlaskClient, rp) -> None:
    params = list(authorize_params(rp).items()) + [("scope", "openid")]
    answer = redirect_params(client.get("/authorize", query_string=params))
    assert answer["error"] == "invalid_request"


def test_unknown_parameters_are_ignored(client: FlaskClient, rp, citizen) -> None:
    _, answer = code_flow(client, rp, citizen, foo="bar", display="popup")
    assert "code" in answer


def test_post_is_accepted_like_get(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    response = client.post("/authorize", data=authorize_params(rp))
    assert "code" in redirect_params(response)


def test_form_post_response_mode(app, client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    params = authorize_params(rp, response_mode="form_post")
    response = client.get("/authorize", query_string=params)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'action="{REDIRECT_URI}"' in body and 'name="code"' in body
    assert f'name="state" value="{params["state"]}"' in body and 'name="iss"' in body
    assert "form-action 'self' https://portal.example.vn;" in response.headers["Content-Security-Policy"]
    assert "<script src=" in body and "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_error_in_form_post_mode_is_posted(client: FlaskClient, rp) -> None:
    response = client.get("/authorize", query_string=authorize_params(rp, response_mode="form_post",
                                                                      scope="openid admin"))
    assert response.status_code == 200 and 'name="error" value="invalid_scope"' in response.get_data(as_text=True)


def test_prompt_none_without_session_is_login_required(client: FlaskClient, rp) -> None:
    assert redirect_params(_authorize(client, rp, prompt="none"))["error"] == "login_required"


def test_prompt_none_without_consent_is_consent_required(client: FlaskClient, citizen) -> None:
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    assert redirect_params(_authorize(client, rp, prompt="none"))["error"] == "consent_required"


def test_prompt_none_with_session_and_consent_gives_a_code(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    assert "code" in redirect_params(_authorize(client, rp, prompt="none"))


def test_prompt_login_asks_again_even_when_signed_in(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    response = _authorize(client, rp, prompt="login")
    assert asks_to_sign_in(response)
    answer = redirect_params(drive(client, response, citizen))
    assert "code" in answer


def test_max_age_zero_forces_a_new_sign_in(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    response = _authorize(client, rp, max_age="0")
    assert asks_to_sign_in(response)
    assert "code" in redirect_params(drive(client, response, citizen))


def test_max_age_within_the_session_needs_nothing(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    assert "code" in redirect_params(_authorize(client, rp, max_age="3600"))


def test_select_account_offers_the_current_account(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    response = _authorize(client, rp, prompt="select_account")
    page = client.get(response.headers["Location"])
    assert "Nguyễn Văn An" in page.get_data(as_text=True) and "Dùng tài khoản khác" in page.get_data(as_text=True)
    token = csrf_token_in(page.get_data(as_text=True))
    uid = interaction_uid(response.headers["Location"])
    chosen = client.post(f"/interaction/{uid}/select", data={"csrf_token": token, "choice": "continue"})
    assert "code" in redirect_params(drive(client, chosen))


def test_ui_locales_reaches_the_sign_in_page(client: FlaskClient, rp) -> None:
    response = _authorize(client, rp, ui_locales="en")
    page = drive(client, response)
    assert '<html lang="en">' in page.get_data(as_text=True)


def test_unauthorized_grant_type_for_code_flow(client: FlaskClient) -> None:
    machine = register_client(grant_types=["client_credentials"], redirect_uris=[])
    response = client.get("/authorize", query_string=authorize_params(machine))
    assert response.status_code == 400  # no registered redirect URI: nothing to redirect to


def test_public_client_must_use_pkce(client: FlaskClient) -> None:
    public = register_client(token_endpoint_auth_method="none")
    assert redirect_params(client.get("/authorize", query_string=authorize_params(public)))["error"] == \
        "invalid_request"
    pair = pkce()
    response = client.get("/authorize", query_string=authorize_params(
        public, code_challenge=pair.challenge, code_challenge_method="S256"))
    assert asks_to_sign_in(response)


def test_global_setting_requires_pkce_of_confidential_clients(app, client: FlaskClient) -> None:
    app.config["IDP_REQUIRE_PKCE"] = True
    rp = register_client(skip_consent=True)
    assert redirect_params(_authorize(client, rp))["error"] == "invalid_request"
    relaxed = register_client(require_pkce=False)
    assert asks_to_sign_in(_authorize(client, relaxed))


def test_refused_request_is_audited(client: FlaskClient, rp) -> None:
    _authorize(client, rp, response_type="token")
    [event] = audit_events.recent(event="authorization.refused")
    assert event.client_id == rp.client_id and event.details["error"] == "unsupported_response_type"


def test_redirect_keeps_the_registered_query(client: FlaskClient, citizen) -> None:
    rp = register_client(redirect_uris=[REDIRECT_URI + "?tenant=1"], skip_consent=True)
    sign_in(client, citizen.id_number, citizen.password)
    params = authorize_params(rp, redirect_uri=REDIRECT_URI + "?tenant=1")
    location = client.get("/authorize", query_string=params).headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["tenant"] == ["1"] and "code" in query


def _id_token_for(client: FlaskClient, rp, person) -> str:  # type: ignore[no-untyped-def]
    from tests.helpers.oidc import exchange

    _, answer = code_flow(client, rp, person)
    return exchange(client, rp, answer["code"]).json["id_token"]


def test_id_token_hint_of_the_signed_in_person_gives_a_code(client: FlaskClient, rp, citizen) -> None:
    hint = _id_token_for(client, rp, citizen)
    assert "code" in redirect_params(_authorize(client, rp, id_token_hint=hint, prompt="none"))


def test_id_token_hint_of_someone_else(client: FlaskClient, rp, citizen, make_citizen) -> None:
    other = make_citizen(full_name="Lê Văn Cường")
    hint = _id_token_for(client, rp, other)
    client.delete_cookie("dn_sso")
    sign_in(client, citizen.id_number, citizen.password)
    assert redirect_params(_authorize(client, rp, id_token_hint=hint, prompt="none"))["error"] == "login_required"
    # Without prompt=none the person is asked to sign in as the hinted person; signing in as
    # anyone else ends with an error, never with a code for the wrong person.
    response = _authorize(client, rp, id_token_hint=hint)
    assert asks_to_sign_in(response)
    assert redirect_params(drive(client, response, citizen))["error"] == "login_required"
    response = _authorize(client, rp, id_token_hint=hint)
    assert "code" in redirect_params(drive(client, response, other))
