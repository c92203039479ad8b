"""The browser and relying-party steps of the benchmark's flows, on bench.keepalive connections.

The same steps drive dangnhap and node-oidc-provider: follow redirects, and where a page holds a form
we can answer (a password, a one-time code), fill it in as a person would, hidden fields included.
Nothing here knows either server's paths; the endpoints come from discovery.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pyotp

from .keepalive import Connection, Response, target_of

_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
_INPUT = re.compile(r"<input\b([^>]*)>", re.I)
_ATTR = re.compile(r'([a-zA-Z_:-]+)="([^"]*)"')
_MAX_STEPS = 12


class FlowError(Exception):
    """A step answered something a successful flow never does."""


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None
    redirect_uri: str
    scope: str
    # Sent with every code exchange and refresh: node-oidc-provider issues a JWT access token (as
    # dangnhap always does) only when the request names its resource server.
    token_params: dict[str, str] = field(default_factory=dict)

    def auth_headers(self) -> dict[str, str]:
        if self.secret is None:
            return {}
        raw = f"{self.client_id}:{self.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def auth_form(self) -> dict[str, str]:
        """What a public client sends instead of a secret: its client_id."""
        return {} if self.secret is not None else {"client_id": self.client_id}


@dataclass
class User:
    login: str
    password: str
    totp_secret: str | None = None
    last_step: int = field(default=-1)  # the last TOTP time step used (servers refuse a replay)


@dataclass(frozen=True)
class Provider:
    """The endpoints a relying party reads from discovery."""

    authorization_endpoint: str
    token_endpoint: str

    @classmethod
    def from_discovery(cls, document: dict[str, Any]) -> Provider:
        return cls(document["authorization_endpoint"], document["token_endpoint"])


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _attributes(text: str) -> dict[str, str]:
    return {k.lower(): html.unescape(v) for k, v in _ATTR.findall(text)}


def _answer(page: Response, user: User, step: int) -> tuple[str, dict[str, str]] | None:
    """The action and fields of the first form on ``page`` we can fill in, or None."""
    for form_attrs, inner in _FORM.findall(page.text):
        fields = {}
        answerable = False
        for input_attrs in map(_attributes, _INPUT.findall(inner)):
            name = input_attrs.get("name")
            if not name:
                continue
            if name in ("identifier", "login", "username"):
                fields[name] = user.login
            elif name == "password":
                fields[name], answerable = user.password, True
            elif name == "code" and user.totp_secret is not None:
                fields[name], answerable = pyotp.TOTP(user.totp_secret).at(step * 30), True
                user.last_step = step
            else:
                fields[name] = input_attrs.get("value", "")
        if answerable:
            return _attributes(form_attrs).get("action", ""), fields
    return None


async def authorize(browser: Connection, provider: Provider, client: Client, user: User | None,
                    *, totp_step: int = 0) -> tuple[str, str]:
    """Run the authorization request as a person in ``browser``; returns (code, PKCE verifier).

    With ``user`` None the browser must already be signed in (single sign-on).
    """
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(12)
    query = urlencode({"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri,
                       "scope": client.scope, "state": state, "nonce": secrets.token_urlsafe(12),
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    url = f"{provider.authorization_endpoint}?{query}"
    response = await browser.request("GET", target_of(url))
    answered: Any = None  # the fields of the last form we filled in: the same form again means "refused"
    for _ in range(_MAX_STEPS):
        if response.status in (301, 302, 303, 307):
            location = urljoin(url, response.headers["location"])
            if location.startswith(client.redirect_uri):
                params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                if params.get("state") != state or "code" not in params:
                    raise FlowError(f"redirect without a code: {params.get('error', params)}")
                return params["code"], verifier
            url = location
            response = await browser.request("GET", target_of(url))
            continue
        filled = _answer(response, user, totp_step) if response.status == 200 and user is not None else None
        if filled is None:
            raise FlowError(f"{response.status} at {target_of(url)[:60]}: {response.text[:200]!r}")
        action, fields = filled
        if fields.keys() == answered:
            raise FlowError(f"the answer was refused: {response.status} at {target_of(url)[:60]}")
        answered = fields.keys()
        url = urljoin(url, action)
        response = await browser.request("POST", target_of(url), form=fields)
    raise FlowError("the flow did not reach the client")


async def sign_in(browser: Connection, login_url: str, user: User, *, totp_step: int = 0) -> None:
    """Sign in on the provider's own sign-in page (no application involved): the page, then the form."""
    page = await browser.request("GET", target_of(login_url))
    filled = _answer(page, user, totp_step) if page.status == 200 else None
    if filled is None:
        raise FlowError(f"{page.status} at {target_of(login_url)}: no sign-in form")
    action, fields = filled
    response = await browser.request("POST", target_of(urljoin(login_url, action)), form=fields)
    if response.status not in (302, 303):
        raise FlowError(f"sign-in refused: {response.status}")


async def token(backend: Connection, provider: Provider, client: Client, form: dict[str, str]) -> dict[str, Any]:
    """A token request by the client's back end; the token response, or FlowError."""
    response = await backend.request("POST", target_of(provider.token_endpoint),
                                     form={**form, **client.auth_form()}, headers=client.auth_headers())
    if response.status != 200:
        raise FlowError(f"token endpoint {response.status}: {response.text[:200]!r}")
    return json.loads(response.body)


async def exchange(backend: Connection, provider: Provider, client: Client, code: str,
                   verifier: str) -> dict[str, Any]:
    answer = await token(backend, provider, client, {"grant_type": "authorization_code", "code": code,
                                                      "redirect_uri": client.redirect_uri, "code_verifier": verifier,
                                                      **client.token_params})
    if "id_token" not in answer:
        raise FlowError("no id_token in the code exchange")
    return answer


async def refresh(backend: Connection, provider: Provider, client: Client, refresh_token: str) -> dict[str, Any]:
    return await token(backend, provider, client, {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                                    **client.token_params})
