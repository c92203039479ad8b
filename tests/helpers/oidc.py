"""Driving the OpenID provider over the Flask test client: clients, PKCE, the code flow, tokens."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from idp.oidc import client_registry, interactions, keys
from idp.storage.clients import Client

from .forms import hidden_value, sign_in

REDIRECT_URI = "https://portal.example.vn/callback"


@dataclass(frozen=True)
class RegisteredClient:
    row: Client
    secret: str | None

    @property
    def client_id(self) -> str:
        return self.row.client_id

    def basic_auth(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def register_client(**metadata: Any) -> RegisteredClient:
    """A client with sensible defaults (confidential, code + refresh, consent asked)."""
    metadata.setdefault("client_name", "Cổng dịch vụ công")
    metadata.setdefault("redirect_uris", [REDIRECT_URI])
    metadata.setdefault("grant_types", ["authorization_code", "refresh_token"])
    metadata.setdefault("scope", "openid profile email phone address")
    row, secret = client_registry.register(metadata)
    return RegisteredClient(row, secret)


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str


def pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return Pkce(verifier, challenge)


def authorize_params(client: RegisteredClient, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email", "state": "st-" + secrets.token_urlsafe(8),
        "nonce": "n-" + secrets.token_urlsafe(8),
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def interaction_uid(location: str) -> str:
    """The parked request's uid in a redirect to the sign-in form or to an interaction page."""
    if "/interaction/" in location:
        return location.split("/interaction/")[1].split("?")[0]
    return parse_qs(urlsplit(location).query)["interaction"][0]


def asks_to_sign_in(response: TestResponse) -> bool:
    """The authorization endpoint sent the browser to the sign-in form, for a parked request."""
    return response.status_code == 302 and response.headers["Location"].startswith("/login?interaction=")


def redirect_params(response: TestResponse) -> dict[str, str]:
    """The query parameters of a redirect to the client (single values)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def drive(client: FlaskClient, response: TestResponse, person: Any = None, decision: str = "allow",
          limit: int = 12) -> TestResponse:
    """Follow the flow as a person would: sign in when asked, answer the consent page.

    Returns the first response that leaves for the client, or a page it cannot answer.
    """
    for _ in range(limit):
        if response.status_code == 302:
            location = response.headers["Location"]
            if location.startswith(REDIRECT_URI):
                return response
            response = client.get(location)
            continue
        body = response.get_data(as_text=True)
        token = hidden_value(body, "csrf_token")
        if person is not None and 'name="password"' in body:
            data = {"csrf_token": token, "identifier": person.id_number, "password": person.password}
            if (uid := hidden_value(body, "interaction")) is not None:
                data["interaction"] = uid
            response = client.post("/login", data=data)
        elif 'name="decision"' in body:
            action = re.search(r'<form method="post" action="([^"]+)"', body).group(1)
            response = client.post(action, data={"csrf_token": token, "decision": decision})
        else:
            return response
    raise AssertionError("the flow did not finish")


def code_flow(client: FlaskClient, rp: RegisteredClient, person: Any, **overrides: str | None,
              ) -> tuple[dict[str, str], dict[str, str]]:
    """Run /authorize as a person; returns (authorize params, parameters of the redirect to the client)."""
    params = authorize_params(rp, **overrides)
    response = drive(client, client.get("/authorize", query_string=params), person)
    return params, redirect_params(response)


def exchange(client: FlaskClient, rp: RegisteredClient, code: str, **form: str) -> TestResponse:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **form}
    headers = rp.basic_auth() if rp.secret and "client_secret" not in form else {}
    return client.post("/token", data=data, headers=headers)


def decode(token: str) -> dict[str, Any]:
    return keys.verify(token)


def signed_in(client: FlaskClient, citizen: Any) -> None:
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302


def tokens_for(client: FlaskClient, rp: RegisteredClient, person: Any) -> dict[str, Any]:
    """The token response of a complete code flow for ``person`` at ``rp``."""
    _, answer = code_flow(client, rp, person)
    response = exchange(client, rp, answer["code"])
    assert response.status_code == 200, response.json
    return response.json


def assert_answered_alike(response: TestResponse, by_view: TestResponse) -> None:
    """A token response sent past Flask's request cycle is the view's: status, headers (but for the
    length: tokens differ in size) and the body's members."""
    assert response.status == by_view.status == "200 OK"
    headers, view_headers = response.headers.copy(), by_view.headers.copy()
    headers.pop("Content-Length"), view_headers.pop("Content-Length")
    assert headers.to_wsgi_list() == view_headers.to_wsgi_list()
    assert response.json.keys() == by_view.json.keys() >= {"access_token", "id_token", "refresh_token"}


def sign_in_recorded_failing_once(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Make recording a sign-in on its interaction fail once as a lost database connection would, then
    work: a failure after a sign-in or a code was checked, before the answer. Returns the calls."""
    record_sign_in, calls = interactions.record_sign_in, []

    def fails_once(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, Exception("connection reset"))
        record_sign_in(*args)

    monkeypatch.setattr(interactions, "record_sign_in", fails_once)
    return calls
