"""How many round trips a sign-in within an authorization request costs the browser.

The authorization endpoint sends the browser straight to the form the person owes (sign-in or
second factor), and the page where the person acts answers the application in its own response,
as Keycloak does: authorize → form → the application, with no hop through /interaction or
/authorize/resume.
"""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.helpers.forms import csrf_token_in, hidden_value
from tests.helpers.oidc import (
    REDIRECT_URI,
    asks_to_sign_in,
    authorize_params,
    decode,
    exchange,
    redirect_params,
    register_client,
)
from tests.portal.test_second_factor import enrolled


def _post_password(client: FlaskClient, form_page: TestResponse, person) -> TestResponse:  # type: ignore[no-untyped-def]
    body = form_page.get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf_token_in(body), "identifier": person.id_number,
                                       "password": person.password, "interaction": hidden_value(body, "interaction")})


def _to_the_form(client: FlaskClient, rp, **overrides: str) -> TestResponse:  # type: ignore[no-untyped-def]
    response = client.get("/authorize", query_string=authorize_params(rp, **overrides))
    assert asks_to_sign_in(response)
    return client.get(response.headers["Location"])


def test_the_password_form_answers_the_application(client: FlaskClient, rp, citizen) -> None:
    params = authorize_params(rp)
    response = client.get("/authorize", query_string=params)
    answer = _post_password(client, client.get(response.headers["Location"]), citizen)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(REDIRECT_URI)
    query = redirect_params(answer)
    assert query["state"] == params["state"] and "code" in query
    assert any(c.startswith("dn_sso=") for c in answer.headers.getlist("Set-Cookie"))
    # The code is the new session's, and the cookie set with it signs the next request in.
    claims = decode(exchange(client, rp, query["code"]).json["id_token"])
    assert claims["sub"] == citizen.subject.sub and claims["amr"] == ["pwd"]
    assert "code" in redirect_params(client.get("/authorize", query_string=authorize_params(rp)))


def test_form_post_mode_is_answered_by_the_sign_in_response(client: FlaskClient, rp, citizen) -> None:
    answer = _post_password(client, _to_the_form(client, rp, response_mode="form_post"), citizen)
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and f'action="{REDIRECT_URI}"' in body and 'name="code"' in body
    assert "form-action 'self' https://portal.example.vn;" in answer.headers["Content-Security-Policy"]
    assert any(c.startswith("dn_sso=") for c in answer.headers.getlist("Set-Cookie"))


def test_consent_still_asked_after_the_sign_in(client: FlaskClient, citizen) -> None:
    rp = register_client()  # a third-party application: consent is asked
    answer = _post_password(client, _to_the_form(client, rp), citizen)
    assert answer.status_code == 302 and "/interaction/" in answer.headers["Location"]
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
    allowed = client.post(action, data={"csrf_token": csrf_token_in(page), "decision": "allow"})
    assert allowed.status_code == 302 and "code" in redirect_params(allowed)


def test_the_second_factor_form_answers_the_application(client: FlaskClient, rp, citizen) -> None:
    app = enrolled(citizen.subject)
    owed = _post_password(client, _to_the_form(client, rp), citizen)
    assert owed.headers["Location"].startswith("/login/second-factor?interaction=")
    body = client.get(owed.headers["Location"]).get_data(as_text=True)
    form = {"csrf_token": csrf_token_in(body), "method": "totp", "code": app.now(),
            "interaction": hidden_value(body, "interaction")}
    answer = client.post("/login/second-factor", data=form)
    assert answer.status_code == 302 and "code" in redirect_params(answer)
