"""JOSE as a relying party does it: private_key_jwt assertions (RFC 7523), verifying our tokens against
the published JWKS, and the OIDC hash claims — all with joserfc, independently of the provider's code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, Key, KeySet, OKPKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

_GENERATORS = {
    "RS256": lambda: RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}),
    "ES256": lambda: ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}),
    "EdDSA": lambda: OKPKey.generate_key("Ed25519", parameters={"alg": "EdDSA", "use": "sig"}),
}


@contextmanager
def _quiet_eddsa() -> Iterator[None]:
    """joserfc warns on every use of "EdDSA" (RFC 9864 renames it); relying parties still send that name."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SecurityWarning, message="EdDSA is deprecated")
        yield


@dataclass(frozen=True)
class ClientKey:
    """A relying party's signing key pair; only ``jwks()`` (the public part) is registered with us."""

    key: Key
    alg: str

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        with _quiet_eddsa():
            return jwt.encode({"alg": self.alg, "kid": self.kid, **header}, claims, self.key,
                              algorithms=[self.alg])


def client_key(alg: str = "RS256") -> ClientKey:
    key = _GENERATORS[alg]()
    key.ensure_kid()
    return ClientKey(key, alg)


def assertion_claims(client_id: str, audience: str, *, lifetime: int = 60, **overrides: Any) -> dict[str, Any]:
    """The claims RFC 7523 §3 requires of a client assertion (iss = sub = client_id, aud, exp, jti)."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now,
                              "exp": now + lifetime, "jti": secrets.token_urlsafe(16)}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    """The token request parameters that carry a client assertion (RFC 7521 §4.2)."""
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **extra}


def verify_with_jwks(token: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of ``token``, its signature checked against the key its ``kid`` names in ``jwks``.

    As a careful relying party does: the key must exist, and its ``alg`` must be the header's.
    """
    with _quiet_eddsa():
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[header_of(token)["alg"]])
    key = next(k for k in jwks["keys"] if k["kid"] == decoded.header["kid"])
    assert key["alg"] == decoded.header["alg"], (key, decoded.header)
    return dict(decoded.header), dict(decoded.claims)


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def header_of(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, unverified."""
    return _segment(token, 0)


def payload_of(token: str) -> dict[str, Any]:
    """The claims of a compact JWS, unverified."""
    return _segment(token, 1)


def b64(data: dict[str, Any]) -> str:
    """A JSON object as a base64url JWS segment (to build tampered or unsigned tokens)."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def half_hash(value: str, alg: str) -> str:
    """at_hash / c_hash (OIDC Core §3.1.3.6): the left half of the hash ``alg`` uses, base64url.

    SHA-256 for RS256 and ES256; SHA-512 for EdDSA over Ed25519 (RFC 8032 §5.1; the OpenID Connect
    working group's reading, connect issue #1125).
    """
    digest = (hashlib.sha512 if alg == "EdDSA" else hashlib.sha256)(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
