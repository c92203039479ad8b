"""Client metadata (RFC 7591 names): which values we accept, checked one field at a time.

Kept apart from the registry so that the rules a registration must meet read as one list, and a
refusal names the field the way RFC 7591 §3.2.2 does (``invalid_client_metadata`` /
``invalid_redirect_uri``).
"""

from __future__ import annotations

import difflib
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .scopes import SUPPORTED_SCOPES

METADATA_FIELDS: tuple[str, ...] = (
    "client_id", "client_name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "response_types",
    "scope", "token_endpoint_auth_method", "id_token_signed_response_alg", "access_token_signed_response_alg",
    "jwks", "jwks_uri", "backchannel_logout_uri", "backchannel_logout_session_required",
    "frontchannel_logout_uri", "frontchannel_logout_session_required", "skip_consent", "require_mfa",
    "require_pkce",
)
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")  # no implicit flow (DESIGN.md)
RESPONSE_TYPES = ("code",)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
DEFAULT_SCOPE = "openid profile email"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")  # http allowed there, for development (RFC 8252 §7.3)

_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")  # RFC 3986 unreserved characters
# RFC 8252 §7.1: a native app's private-use scheme is a reverse domain name, so it contains a dot.
_PRIVATE_USE_SCHEME = re.compile(r"[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+")
_JWK_TYPES = ("RSA", "EC", "OKP")
_PRIVATE_JWK_PARAMS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})  # RFC 7518 §6.2.2, §6.3, §6.4


class ClientError(ValueError):
    """The operation cannot be done; the message is for the operator."""


class InvalidClientMetadata(ClientError):
    """One metadata value is refused. ``error`` is the RFC 7591 §3.2.2 code; ``entry`` the import index."""

    def __init__(self, field: str, message: str, *, error: str = "invalid_client_metadata") -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message
        self.error = error
        self.entry: int | None = None

    def __str__(self) -> str:
        where = f"entry {self.entry}: " if self.entry is not None else ""
        return f"{where}{self.field}: {self.message}"


def validate(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The column values for ``metadata``, defaults filled in; raise on the first refused value."""
    for name in metadata:
        if name not in METADATA_FIELDS:
            close = difflib.get_close_matches(str(name), METADATA_FIELDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InvalidClientMetadata(str(name), f"not a client metadata field we accept{hint}")
    get = metadata.get
    method = _one_of("token_endpoint_auth_method", get("token_endpoint_auth_method", "client_secret_basic"),
                     AUTH_METHODS)
    native = method == "none"  # only public clients may be native apps with private-use schemes
    grant_types = _subset("grant_types", get("grant_types", ["authorization_code"]), GRANT_TYPES)
    code_flow = "authorization_code" in grant_types
    algs = tuple(current_app.config["IDP_SIGNING_ALGS"])
    values = {
        "client_id": _client_id(get("client_id")),
        "client_name": _client_name(get("client_name")),
        "redirect_uris": _uris("redirect_uris", get("redirect_uris", []), native=native),
        "post_logout_redirect_uris": _uris("post_logout_redirect_uris", get("post_logout_redirect_uris", []),
                                           native=native),
        "grant_types": grant_types,
        "response_types": _subset("response_types", get("response_types", ["code"] if code_flow else []),
                                  RESPONSE_TYPES, allow_empty=True),
        "scope": _scope(get("scope", DEFAULT_SCOPE)),
        "token_endpoint_auth_method": method,
        "id_token_signed_response_alg": _one_of("id_token_signed_response_alg",
                                                get("id_token_signed_response_alg", algs[0]), algs),
        "access_token_signed_response_alg": _one_of("access_token_signed_response_alg",
                                                    get("access_token_signed_response_alg", algs[0]), algs),
        "jwks": None if get("jwks") is None else _jwks(get("jwks")),
        "jwks_uri": _optional_uri("jwks_uri", get("jwks_uri")),
        "backchannel_logout_uri": _optional_uri("backchannel_logout_uri", get("backchannel_logout_uri")),
        "backchannel_logout_session_required": _flag(metadata, "backchannel_logout_session_required", True),
        "frontchannel_logout_uri": _optional_uri("frontchannel_logout_uri", get("frontchannel_logout_uri")),
        "frontchannel_logout_session_required": _flag(metadata, "frontchannel_logout_session_required", True),
        "skip_consent": _flag(metadata, "skip_consent", False),
        "require_mfa": _flag(metadata, "require_mfa", False),
        "require_pkce": _flag(metadata, "require_pkce", None),
    }
    _check_combination(values)
    return values


def _check_combination(values: dict[str, Any]) -> None:
    """Rules that tie several fields together."""
    grant_types, method = values["grant_types"], values["token_endpoint_auth_method"]
    code_flow = "authorization_code" in grant_types
    if "refresh_token" in grant_types and not code_flow:
        # RFC 6749 §4.4.3: client credentials get no refresh token, so only the code flow issues them.
        raise InvalidClientMetadata("grant_types", "refresh_token needs authorization_code")
    if code_flow and not values["redirect_uris"]:
        raise InvalidClientMetadata("redirect_uris", "at least one is needed for authorization_code",
                                    error="invalid_redirect_uri")
    if ("code" in values["response_types"]) != code_flow:  # RFC 7591 §2.1: response and grant types agree
        raise InvalidClientMetadata("response_types", "must be [\"code\"] with authorization_code, else []")
    if method == "none" and "client_credentials" in grant_types:
        raise InvalidClientMetadata("grant_types", "a public client (auth method none) cannot use "
                                                   "client_credentials")
    if method == "none" and values["require_pkce"] is False:
        raise InvalidClientMetadata("require_pkce", "public clients always use PKCE (RFC 9700 §2.1.1)")
    if values["jwks"] is not None and values["jwks_uri"] is not None:
        raise InvalidClientMetadata("jwks", "give jwks or jwks_uri, not both (RFC 7591 §2)")
    if method == "private_key_jwt" and values["jwks"] is None and values["jwks_uri"] is None:
        raise InvalidClientMetadata("jwks", "private_key_jwt needs the client's public keys: jwks or jwks_uri")
    frontchannel = values["frontchannel_logout_uri"]
    if frontchannel is not None and _origin(frontchannel) not in {_origin(u) for u in values["redirect_uris"]}:
        # OIDC Front-Channel Logout 1.0 §2
        raise InvalidClientMetadata("frontchannel_logout_uri",
                                    "must have the scheme, host and port of one of the redirect_uris")


def _one_of(field: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InvalidClientMetadata(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _strings(field: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(field, "must be a list of strings")
    return list(dict.fromkeys(value))


def _subset(field: str, value: Any, allowed: Sequence[str], *, allow_empty: bool = False) -> list[str]:
    items = _strings(field, value)
    if not items and not allow_empty:
        raise InvalidClientMetadata(field, "must not be empty")
    for item in items:
        _one_of(field, item, allowed)
    return items


def _flag(metadata: Mapping[str, Any], field: str, default: bool | None) -> bool | None:
    value = metadata.get(field, default)
    if value is not default and not isinstance(value, bool):
        raise InvalidClientMetadata(field, "must be true or false")
    return value


def _client_id(value: Any) -> str:
    if value is None:
        return secrets.token_urlsafe(24)
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise InvalidClientMetadata("client_id", "must be 1 to 128 characters among A-Z a-z 0-9 . _ ~ -")
    return value


def _client_name(value: Any) -> str:
    # NFC: Vietnamese typed on some systems arrives decomposed; store one spelling.
    name = " ".join(unicodedata.normalize("NFC", value).split()) if isinstance(value, str) else ""
    if not name or len(name) > 200 or not name.isprintable():
        raise InvalidClientMetadata("client_name", "required: 1 to 200 printable characters")
    return name


def _scope(value: Any) -> str:
    names = list(dict.fromkeys(value.split())) if isinstance(value, str) else []
    if not names:
        raise InvalidClientMetadata("scope", "must be a space-separated list of scopes")
    unknown = [name for name in names if name not in SUPPORTED_SCOPES]
    if unknown:
        raise InvalidClientMetadata("scope", f"unsupported {', '.join(unknown)} (supported: "
                                             f"{' '.join(SUPPORTED_SCOPES)})")
    return " ".join(names)


def _uris(field: str, value: Any, *, native: bool) -> list[str]:
    return [_uri(field, uri, native=native) for uri in _strings(field, value)]


def _optional_uri(field: str, value: Any) -> str | None:
    return None if value is None else _uri(field, value, native=False)


def _uri(field: str, uri: Any, *, native: bool) -> str:
    """An absolute URI without fragment: https, http on loopback, or a native app's private-use scheme."""
    error = "invalid_redirect_uri" if field == "redirect_uris" else "invalid_client_metadata"

    def refuse(reason: str) -> InvalidClientMetadata:
        return InvalidClientMetadata(field, f"{uri!r} {reason}", error=error)

    if not isinstance(uri, str) or not uri.isprintable() or " " in uri:
        raise refuse("is not a URI")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (a malformed port raises only when read)
    except ValueError as exc:
        raise refuse("is not a URI") from exc
    if "#" in uri:
        raise refuse("must not have a fragment (RFC 6749 §3.1.2)")
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise refuse("has no host")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise refuse("must use https (http only on 127.0.0.1, [::1] or localhost)")
        return uri
    if _PRIVATE_USE_SCHEME.fullmatch(parts.scheme):
        if not native:
            raise refuse("uses a private-use scheme: only for native apps, i.e. public clients "
                         "(token_endpoint_auth_method none)")
        return uri
    raise refuse("must be an absolute https URL")


def _origin(uri: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(uri)
    return parts.scheme, parts.hostname, parts.port


def _jwks(value: Any) -> dict[str, Any]:
    """A JWK set of public keys only: a private key never leaves the client (RFC 7591 §2)."""
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(key, dict) for key in keys):
        raise InvalidClientMetadata("jwks", 'must be a JWK set: {"keys": [...]} with at least one key')
    for number, key in enumerate(keys):
        if key.get("kty") not in _JWK_TYPES:
            raise InvalidClientMetadata("jwks", f"key {number}: kty must be one of {', '.join(_JWK_TYPES)}")
        private = sorted(_PRIVATE_JWK_PARAMS & key.keys())
        if private:
            raise InvalidClientMetadata("jwks", f"key {number} has private parameters ({', '.join(private)}): "
                                                "register the public keys only")
    try:
        KeySet.import_key_set(value)
    except (JoseError, ValueError) as exc:
        raise InvalidClientMetadata("jwks", f"not a valid JWK set ({exc})") from exc
    return value
