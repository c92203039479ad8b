"""The relying party's half of the OpenID Connect code flow, as a portal of the province writes it.

Standard library plus joserfc only, so every step is visible:

1. ``start`` makes ``state``, ``nonce`` and a PKCE verifier, and the URL to send the browser to;
2. ``finish`` checks the answer at the redirect URI (``state``, ``iss``), exchanges the code at the
   token endpoint (client_secret_basic, the PKCE verifier), verifies the ID token (signature against
   the provider's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``) and reads UserInfo.

Signing out (RP-initiated, back-channel and front-channel logout) is in ``single_logout``.

It talks to a provider on this machine only (the demo's plain-http loopback issuer); a real portal
uses an https issuer and a maintained library (e.g. Authlib's client), but checks the same things.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
SCOPE = "openid profile email phone address"
SIGNING_ALG = "RS256"  # of ID tokens: what the demo clients are registered with (the provider's default)
CLOCK_LEEWAY_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 10

# No proxy: a proxy from the environment must not see the codes and tokens of a loopback provider.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SignInFailed(Exception):
    """The sign-in cannot be completed; ``reason`` is for the page, in Vietnamese."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Client:
    """What the portal was registered with (see instance/demo-portals.json)."""

    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True)
class Pending:
    """What the portal keeps between sending the browser away and its return (in its session)."""

    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class SignedIn:
    id_token: str  # kept for RP-initiated logout (``id_token_hint``)
    id_token_claims: dict[str, Any]
    userinfo: dict[str, Any]


class Provider:
    """The provider as discovery describes it; metadata and keys are fetched when first needed and kept."""

    def __init__(self, issuer: str) -> None:
        parts = urlsplit(issuer)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"the demo portals use a provider on this machine only, not {issuer!r}")
        self.issuer = issuer
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            metadata = _get_json(self.issuer + "/.well-known/openid-configuration")
            if metadata.get("issuer") != self.issuer:  # OIDC Discovery §4.3
                raise SignInFailed("Tài liệu cấu hình của hệ thống đăng nhập không khớp địa chỉ đã cấu hình.")
            self._metadata = metadata
        return self._metadata

    def endpoint(self, name: str) -> str:
        url = self.metadata()[name]
        if urlsplit(url).hostname not in LOOPBACK_HOSTS:
            raise SignInFailed(f"Địa chỉ {name} không nằm trên máy này.")
        return url

    def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            self._keys = KeySet.import_key_set(_get_json(self.endpoint("jwks_uri")))
        return self._keys


def start(provider: Provider, client: Client) -> tuple[str, Pending]:
    """The authorization request URL, and what to keep until the browser comes back."""
    pending = Pending(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                      code_verifier=secrets.token_urlsafe(64))  # RFC 7636 §4.1: 43 to 128 characters
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pending.code_verifier.encode()).digest())
    params = {
        "response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri,
        "scope": SCOPE, "state": pending.state, "nonce": pending.nonce,
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",  # RFC 7636 §4.2
    }
    return provider.endpoint("authorization_endpoint") + "?" + urlencode(params), pending


def finish(provider: Provider, client: Client, pending: Pending | None, answer: Mapping[str, str]) -> SignedIn:
    """Complete the sign-in from the parameters the browser brought back to the redirect URI."""
    # RFC 6749 §10.12: the answer must belong to the request this browser started.
    if pending is None or not secrets.compare_digest(answer.get("state", ""), pending.state):
        raise SignInFailed("Yêu cầu đăng nhập không hợp lệ hoặc đã hết hạn. Vui lòng đăng nhập lại.")
    # RFC 9207 §2.4: the answer comes from our provider, not another one the browser was sent to.
    if provider.metadata().get("authorization_response_iss_parameter_supported") \
            and answer.get("iss") != provider.issuer:
        raise SignInFailed("Phản hồi không đến từ hệ thống đăng nhập đã cấu hình.")
    if "error" in answer:
        if answer["error"] == "access_denied":
            raise SignInFailed("Bạn đã từ chối cấp quyền cho ứng dụng này.")
        raise SignInFailed(f"Hệ thống đăng nhập trả lời: {answer['error']}.")
    tokens = _token_request(provider, client, {
        "grant_type": "authorization_code", "code": answer.get("code", ""),
        "redirect_uri": client.redirect_uri, "code_verifier": pending.code_verifier,
    })
    id_token = tokens.get("id_token", "")
    claims = verify_id_token(provider, client, id_token, pending.nonce)
    userinfo = _get_json(provider.endpoint("userinfo_endpoint"),
                         headers={"Authorization": f"Bearer {tokens.get('access_token', '')}"})
    if userinfo.get("sub") != claims["sub"]:  # OIDC Core §5.3.2
        raise SignInFailed("UserInfo nói về một người khác với ID token.")
    return SignedIn(id_token=id_token, id_token_claims=claims, userinfo=userinfo)


def decode_signed(provider: Provider, token: str) -> jwt.Token:
    """A JWT of the provider, signature checked against its JWKS (fetched again once for a new key)."""
    try:
        return jwt.decode(token, provider.keys(), algorithms=[SIGNING_ALG])
    except InvalidKeyIdError:  # the provider has rotated its keys since we fetched them
        return jwt.decode(token, provider.keys(refresh=True), algorithms=[SIGNING_ALG])


def verify_id_token(provider: Provider, client: Client, id_token: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims once OIDC Core §3.1.3.7 is satisfied; SignInFailed otherwise."""
    try:
        token = decode_signed(provider, id_token)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": client.client_id},
            sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
            nonce={"essential": True, "value": nonce},  # the token was issued for this sign-in
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise SignInFailed(f"ID token không hợp lệ ({exc}).") from exc
    claims = token.claims
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client.client_id:
        raise SignInFailed("ID token được cấp cho một ứng dụng khác (azp).")
    return claims


def _token_request(provider: Provider, client: Client, form: dict[str, str]) -> dict[str, Any]:
    # RFC 6749 §2.3.1: client_secret_basic, each half form-urlencoded before base64.
    credentials = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
    headers = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
               "Content-Type": "application/x-www-form-urlencoded"}
    return _get_json(provider.endpoint("token_endpoint"), headers=headers, body=urlencode(form).encode())


def _get_json(url: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None) -> dict[str, Any]:
    """GET (or POST ``body`` to) a loopback URL and return its JSON object; SignInFailed on any failure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        raise SignInFailed(f"Địa chỉ {url} không nằm trên máy này.")
    headers = {"Accept": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 (http(s) checked above)
    try:
        with _http.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            document = json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            detail = exc.read(2000).decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        raise SignInFailed(f"{parts.path} trả lời {exc.code}: {detail}") from exc
    except (OSError, ValueError) as exc:
        raise SignInFailed(f"Không kết nối được tới hệ thống đăng nhập ({exc}).") from exc
    if not isinstance(document, dict):
        raise SignInFailed(f"{parts.path} không trả về một đối tượng JSON.")
    return document
