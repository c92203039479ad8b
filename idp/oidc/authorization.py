"""The authorization request: parsed, then checked in order, each check raising the spec's error.

Order matters: the client and redirect URI are checked first and their failures are never redirected;
everything after may be reported to the client (RFC 6749 §4.1.2.1). The result is a plain value that
can be stored in an interaction and resumed later.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import current_app
from werkzeug.datastructures import MultiDict

from idp.authn.levels import ACR_VALUES
from idp.storage.clients import ClientRecord

from . import client_cache, client_policy, keys
from .errors import AuthorizationError, UntrustedRequest, invalid_request
from .scopes import SCOPE_CLAIMS, SUPPORTED_SCOPES

PROMPTS = {"none", "login", "consent", "select_account"}
RESPONSE_MODES = {"query", "form_post"}
_PKCE_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
MAX_PARAM_LENGTH = 2048


@dataclass
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    response_mode: str = "query"
    state: str | None = None
    scope: list[str] = field(default_factory=list)
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    prompt: list[str] = field(default_factory=list)
    max_age: int | None = None
    login_hint: str | None = None
    # The only person a code may be issued for: from id_token_hint or a claims sub value (§5.5.1).
    expected_sub: str | None = None
    ui_locales: str | None = None
    acr_values: list[str] = field(default_factory=list)
    claims: dict[str, Any] | None = None

    @property
    def is_openid(self) -> bool:
        return "openid" in self.scope

    def consent_scopes(self) -> set[str]:
        """Scopes to consent to: those asked for, plus those whose claims the claims parameter asks for."""
        wanted = set(self.scope)
        for member in (self.claims or {}).values():
            for claim in member or {}:
                wanted.update(scope for scope, names in SCOPE_CLAIMS.items() if claim in names)
        return wanted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuthorizationRequest:
        return cls(**data)


def _single(params: MultiDict[str, str], name: str) -> str | None:
    """The parameter's value; parameters must not repeat (RFC 6749 §3.1) nor be huge."""
    values = params.getlist(name)
    if len(values) > 1:
        raise invalid_request(f"parameter {name} repeated")
    if not values or values[0] == "":
        return None
    if len(values[0]) > MAX_PARAM_LENGTH:
        raise invalid_request(f"parameter {name} too long")
    return values[0]


def trusted_client(params: MultiDict[str, str]) -> tuple[ClientRecord, str]:
    """The client and its exact registered redirect URI, or UntrustedRequest (shown, never redirected)."""
    try:
        client_id = _single(params, "client_id")
        redirect_uri = _single(params, "redirect_uri")
    except AuthorizationError as exc:
        raise UntrustedRequest("malformed") from exc
    if client_id is None:
        raise UntrustedRequest("missing_client")
    client = client_cache.enabled(client_id)
    if client is None:
        raise UntrustedRequest("unknown_client")
    # Exact string match, no wildcards and no default: OIDC Core §3.1.2.1 requires redirect_uri.
    if redirect_uri is None or redirect_uri not in client.redirect_uris:
        raise UntrustedRequest("redirect_uri")
    return client, redirect_uri


def response_mode(params: MultiDict[str, str]) -> str:
    """The response mode to answer in; an unsupported one is reported in the default (query) mode."""
    values = params.getlist("response_mode")
    return values[0] if len(values) == 1 and values[0] in RESPONSE_MODES else "query"


def _check_response(params: MultiDict[str, str], client: ClientRecord) -> None:
    mode = _single(params, "response_mode")
    if mode is not None and mode not in RESPONSE_MODES:
        raise invalid_request("unsupported response_mode")
    if _single(params, "request") is not None:
        raise AuthorizationError("request_not_supported", "request objects are not supported")
    if _single(params, "request_uri") is not None:
        raise AuthorizationError("request_uri_not_supported", "request_uri is not supported")
    response_type = _single(params, "response_type")
    if response_type is None:
        raise invalid_request("response_type is required")
    if response_type != "code":
        raise AuthorizationError("unsupported_response_type", "only the code flow is supported")
    if "code" not in client.response_types or "authorization_code" not in client.grant_types:
        raise AuthorizationError("unauthorized_client", "the client may not use the code flow")


def _check_scope(params: MultiDict[str, str], client: ClientRecord) -> list[str]:
    raw = _single(params, "scope")
    if raw is None:
        raise AuthorizationError("invalid_scope", "scope is required")
    scope = list(dict.fromkeys(raw.split()))
    unknown = [s for s in scope if s not in SUPPORTED_SCOPES]
    if unknown:
        raise AuthorizationError("invalid_scope", f"unsupported scope: {' '.join(unknown)}")
    if not set(scope) <= client_policy.allowed_scopes(client):
        raise AuthorizationError("invalid_scope", "scope not allowed for this client")
    return scope


def _check_pkce(params: MultiDict[str, str], client: ClientRecord) -> tuple[str | None, str | None]:
    challenge = _single(params, "code_challenge")
    method = _single(params, "code_challenge_method")
    if challenge is None:
        if method is not None:
            raise invalid_request("code_challenge_method without code_challenge")
        if client_policy.pkce_required(client):
            raise invalid_request("code_challenge (PKCE, S256) is required for this client")
        return None, None
    # RFC 7636 §4.4.1; we only support S256 (plain would let an intercepted request be replayed).
    if method != "S256":
        raise invalid_request("code_challenge_method must be S256")
    if not _PKCE_VALUE.match(challenge):
        raise invalid_request("malformed code_challenge")
    return challenge, method


def _check_prompt(params: MultiDict[str, str]) -> list[str]:
    prompt = (_single(params, "prompt") or "").split()
    if not set(prompt) <= PROMPTS:
        raise invalid_request("unsupported prompt value")
    if "none" in prompt and len(prompt) > 1:
        raise invalid_request("prompt=none cannot be combined with other values")
    return prompt


def _check_max_age(params: MultiDict[str, str]) -> int | None:
    raw = _single(params, "max_age")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise invalid_request("max_age must be a non-negative integer")
    return int(raw)


def _check_claims(params: MultiDict[str, str]) -> dict[str, Any] | None:
    raw = _single(params, "claims")
    if raw is None:
        return None
    try:
        claims = json.loads(raw)
    except ValueError as exc:
        raise invalid_request("claims is not valid JSON") from exc
    if not isinstance(claims, dict) or not set(claims) <= {"userinfo", "id_token"}:
        raise invalid_request("claims must be an object with userinfo and/or id_token members")
    for member in claims.values():
        if member is not None and not (
            isinstance(member, dict) and all(v is None or isinstance(v, dict) for v in member.values())
        ):
            raise invalid_request("malformed claims member")
    return claims


def _check_id_token_hint(params: MultiDict[str, str]) -> str | None:
    """The subject of a previous ID token of ours; an expired one is fine (OIDC Core §3.1.2.1)."""
    hint = _single(params, "id_token_hint")
    if hint is None:
        return None
    try:
        claims = keys.verify(hint)
    except keys.InvalidSignature as exc:
        raise invalid_request("id_token_hint is not an ID token of this provider") from exc
    if claims.get("iss") != current_app.config["IDP_ISSUER"] or not isinstance(claims.get("sub"), str):
        raise invalid_request("id_token_hint is not an ID token of this provider")
    return claims["sub"]


def _expected_sub(hinted: str | None, claims: dict[str, Any] | None) -> str | None:
    """The subject the request names, by id_token_hint and/or a ``sub`` value in the claims parameter."""
    named = {hinted} if hinted else set()
    for member in (claims or {}).values():
        sub = (member or {}).get("sub")
        if isinstance(sub, dict) and "value" in sub:
            if not isinstance(sub["value"], str):
                raise invalid_request("claims sub value must be a string")
            named.add(sub["value"])
    if len(named) > 1:
        raise invalid_request("id_token_hint and the claims parameter name different subjects")
    return named.pop() if named else None


def _acr_values(params: MultiDict[str, str], claims: dict[str, Any] | None) -> list[str]:
    """acr_values, plus the values of an essential ``acr`` in the claims parameter (OIDC Core §5.5.1.1),
    which must then be met: asking only for levels we do not have is refused."""
    values = (_single(params, "acr_values") or "").split()
    acr = ((claims or {}).get("id_token") or {}).get("acr")
    if isinstance(acr, dict) and acr.get("essential") is True:
        wanted = acr.get("values") or ([acr["value"]] if "value" in acr else [])
        if not isinstance(wanted, list) or not all(isinstance(v, str) for v in wanted):
            raise invalid_request("malformed acr claim request")
        if wanted and not set(wanted) & set(ACR_VALUES):
            raise AuthorizationError("access_denied", "the requested authentication level cannot be met")
        values += [v for v in wanted if v in ACR_VALUES and v not in values]
    return values


def parse(params: MultiDict[str, str], client: ClientRecord, redirect_uri: str) -> AuthorizationRequest:
    """Check everything after the client: raises AuthorizationError, to be sent to the client."""
    _check_response(params, client)
    scope = _check_scope(params, client)
    challenge, method = _check_pkce(params, client)
    claims = _check_claims(params)
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        response_mode=response_mode(params),
        state=_single(params, "state"),
        scope=scope,
        nonce=_single(params, "nonce"),
        code_challenge=challenge,
        code_challenge_method=method,
        prompt=_check_prompt(params),
        max_age=_check_max_age(params),
        login_hint=_single(params, "login_hint"),
        expected_sub=_expected_sub(_check_id_token_hint(params), claims),
        ui_locales=_single(params, "ui_locales"),
        acr_values=_acr_values(params, claims),
        claims=claims,
    )
