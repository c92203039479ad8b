"""The CSP form-action of each page: ``'self'``, and the application's origin on the pages whose form
may be answered by a redirect to it (tests/portal/test_browser_back_to_the_application.py shows why,
in a browser)."""

from __future__ import annotations

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from idp.web.security_headers import CSP, forms_going_to, source_of
from tests.helpers.forms import csrf_token, sign_in
from tests.helpers.oidc import asks_to_sign_in, authorize_params, register_client
from tests.portal.test_second_factor import enrolled

OWN = "form-action 'self';"
TO_PORTAL = "form-action 'self' https://portal.example.vn;"


def _form_action(response: TestResponse) -> str:
    assert response.status_code == 200, response.status
    csp = response.headers["Content-Security-Policy"]
    return next(f"{part.strip()};" for part in csp.split(";") if part.strip().startswith("form-action"))


def _sign_in_page(client: FlaskClient, rp) -> tuple[str, TestResponse]:  # type: ignore[no-untyped-def]
    started = client.get("/authorize", query_string=authorize_params(rp))
    assert asks_to_sign_in(started)
    return started.headers["Location"], client.get(started.headers["Location"])


def test_source_of_a_uri() -> None:
    assert source_of("https://portal.example.vn/callback?x=1") == "https://portal.example.vn"
    assert source_of("http://127.0.0.1:5001/cb") == "http://127.0.0.1:5001"
    assert source_of("https://user@docs.example.vn:8443/cb") == "https://docs.example.vn:8443"
    assert source_of("vn.gov.thanhhoa.app:/callback") == "vn.gov.thanhhoa.app:"
    assert source_of("http://[::1]:8080/cb") is None  # a source expression cannot name it
    assert source_of("https://evil.example; script-src *") is None
    assert forms_going_to("http://[::1]:8080/cb") == CSP


def test_the_sign_in_page_of_a_request_lets_its_form_go_to_the_application(
        client: FlaskClient, make_citizen) -> None:
    rp = register_client()
    # The first page comes from the view, the next ones from its skeleton (past Flask's cycle).
    pages = [_sign_in_page(client, rp)[1] for _ in range(3)]
    assert [_form_action(page) for page in pages] == [TO_PORTAL] * 3
    assert _form_action(client.get("/login")) == OWN  # no application's request: ours only
    # A refused password renders the page again, for the same request.
    location, _ = _sign_in_page(client, rp)
    refused = sign_in(client, make_citizen().id_number, "not the password", form_page=location,
                      interaction=location.partition("=")[2])
    assert _form_action(refused) == TO_PORTAL


def test_the_second_factor_page_of_a_request_lets_its_form_go_to_the_application(
        client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    enrolled(citizen.subject)
    rp = register_client()
    location, _ = _sign_in_page(client, rp)
    uid = location.partition("=")[2]
    signed_in = sign_in(client, citizen.id_number, citizen.password, form_page=location, interaction=uid)
    assert signed_in.headers["Location"].startswith("/login/second-factor")
    pages = [client.get(signed_in.headers["Location"]) for _ in range(2)]  # the view's, then the skeleton's
    assert [_form_action(page) for page in pages] == [TO_PORTAL] * 2
    wrong = client.post("/login/second-factor", data={
        "csrf_token": csrf_token(client, signed_in.headers["Location"]), "interaction": uid, "method": "totp",
        "code": "000000"})
    assert _form_action(wrong) == TO_PORTAL


def test_the_consent_page_lets_its_form_go_to_the_application(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    started = client.get("/authorize", query_string=authorize_params(register_client()))
    assert started.headers["Location"].startswith("/interaction/")
    assert _form_action(client.get(started.headers["Location"])) == TO_PORTAL


def test_a_sign_out_confirmation_lets_its_form_go_back_to_the_application(
        client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    rp = register_client(post_logout_redirect_uris=["https://docs.example.vn/signed-out"])
    sign_in(client, citizen.id_number, citizen.password)
    asked = client.get("/session/end", query_string={
        "client_id": rp.client_id, "post_logout_redirect_uri": "https://docs.example.vn/signed-out"})
    assert _form_action(asked) == "form-action 'self' https://docs.example.vn;"
    # Not registered: the browser is not sent there, so the form goes nowhere else either.
    unregistered = client.get("/session/end", query_string={
        "client_id": rp.client_id, "post_logout_redirect_uri": "https://evil.example/"})
    assert _form_action(unregistered) == OWN
    assert _form_action(client.get("/logout")) == OWN
