"""Signing keys: the key that signs, the keys that verify, the published set (JWKS), and rotation.

Each algorithm in IDP_SIGNING_ALGS has an active key, which signs, and a next key, published in JWKS a
whole rotation before it signs: relying parties that cache our JWKS already know a key when it starts
signing. A rotation retires the active key but keeps it published as long as anything it signed lives.
The first keys are made on first use, so a freshly migrated database works without any command.

The token endpoint signs on every call, so each app keeps the parsed keys in memory (``idp.stamped_cache``):
every write to the key table bumps the ``signing_keys`` stamp, and a worker reloads the keys when it sees
the stamp move — within IDP_CACHE_CHECK_SECONDS, at once in the process that wrote. A retired key leaves
the set on its own when its publication ends, without any write. A private key is decrypted once per
process, when its kid is first seen.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from flask import current_app
from joserfc.errors import UnsupportedAlgorithmError
from joserfc.jwk import ECKey, Key, KeyParameters, OKPKey, RSAKey, import_key
from joserfc.jws import JWSAlgModel, JWSRegistry

from idp import audit, crypto, stamped_cache
from idp.storage import keys as stored
from idp.storage import transaction, utcnow
from idp.storage.keys import KeyStatus, SigningKey

PURPOSE = "signing-key"

# The algorithms we can sign with, and the key each needs.
_GENERATE: dict[str, Callable[[KeyParameters], Key]] = {
    "RS256": lambda params: RSAKey.generate_key(2048, parameters=params),
    "ES256": lambda params: ECKey.generate_key("P-256", parameters=params),
    "EdDSA": lambda params: OKPKey.generate_key("Ed25519", parameters=params),
}
# Every JWS algorithm we accept anywhere (our tokens, client assertions): asymmetric ones only.
ASSERTION_ALGS = list(_GENERATE)
# A retired key stays published this much longer than the longest-lived token it signed: relying
# parties' clock skew.
_LEEWAY = timedelta(seconds=60)
_STATUS_ORDER = {KeyStatus.ACTIVE: 0, KeyStatus.NEXT: 1, KeyStatus.RETIRED: 2}
_PARSED = "dangnhap.parsed_keys"  # app.extensions: kid → parsed key, so each is decrypted once
_ENTRY = "published"  # the one entry of the stamped cache under the keys' stamp


class InvalidSignature(ValueError):
    """Not a token we signed (malformed, unknown kid, bad signature, an algorithm not the key's), or not
    of the type expected."""


class UnknownAlgorithm(ValueError):
    """The algorithm is not one we sign with (IDP_SIGNING_ALGS)."""


class _Algorithms(JWSRegistry):
    """joserfc's JWS registry limited to our algorithms, and without its warning on "EdDSA".

    RFC 9864 deprecates the name "EdDSA" in favour of "Ed25519", but relying parties' JOSE libraries
    know only "EdDSA" so far; joserfc raises a SecurityWarning each time it is used.
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        if name not in _GENERATE:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


# Public: every JWS we accept (ours, and client assertions) is limited to these algorithms.
REGISTRY = _Algorithms()


@dataclass(frozen=True)
class _Snapshot:
    """The published keys, parsed: shared by the threads of a worker, never changed."""

    signing: Mapping[str, Key]  # alg → the active key
    verifying: Mapping[str, Key]  # kid → every published key
    public: tuple[Mapping[str, Any], ...]  # the JWKS entries, in order
    document: bytes  # the JWKS as served: relying parties fetch it often, it changes rarely
    # When the first retired key's publication ends: the set changes then without a write.
    until: datetime | None
    # Tokens whose signature these keys verified: the token's SHA-256 → (its typ header, its claims).
    # A new set of keys starts with none (``verify``).
    verified: dict[bytes, tuple[Any, dict[str, Any]]] = field(default_factory=dict, compare=False)


# How many verified tokens a worker remembers: about 2 KiB each (the claims, and the token's digest
# rather than its ~900 characters), 2 MiB in all.
VERIFIED_TOKENS_KEPT = 1024


def sign(claims: dict[str, Any], *, alg: str = "RS256", typ: str = "JWT") -> str:
    """A compact JWS of ``claims`` by the active key for ``alg``; the header names its kid and ``typ``.

    The compact form is written here, as ``verify`` reads it: the header and the claims as compact
    JSON (UTF-8, not escaped to ASCII), base64url without padding, then joserfc's algorithm signs
    them with that one key (given a key set and no kid, joserfc would pick a key at random). Every
    token request signs one or two tokens, and joserfc's general encoding around the signature (its
    header checks and registry lookups) cost 30–45 µs of each in process.
    """
    key = _snapshot().signing.get(alg)
    if key is None:
        raise UnknownAlgorithm(f"{alg!r} is not in IDP_SIGNING_ALGS")
    signing_input = f"{_json_part({'alg': alg, 'kid': key.kid, 'typ': typ})}.{_json_part(claims)}"
    return f"{signing_input}.{base64url(REGISTRY.get_alg(alg).sign(signing_input.encode(), key))}"


def verify(token: str, *, typ: str | None = None) -> dict[str, Any]:
    """The claims of a token signed by one of our published keys; raises InvalidSignature.

    Only the signature is checked, and the ``typ`` header when given (RFC 9068 §4: an access token must
    say ``at+jwt``, so an ID token cannot pass for one). Expiry and audience are the caller's: an
    expired id_token_hint is still acceptable.

    A token verified once is remembered with the keys that verified it (``_Snapshot.verified``), and
    is not verified again while they are the published set: the same string, signed by the same key,
    verifies the same way. A change to the set (a rotation, a key whose publication ended) starts
    the memory afresh, so nothing a withdrawn key signed is accepted from it. Why: a relying party
    presents the same access token to userinfo and introspection for as long as it lives (a resource
    server at every call it serves), and the signature's check and the decoding of the token were a
    third of such a request's CPU (RS256, in process). Only the last ``VERIFIED_TOKENS_KEPT`` tokens
    are kept, and only good ones: a stream of forged tokens costs a verification each, and nothing
    held.
    """
    snapshot = _snapshot()
    # By a digest that nobody can match with another string: a collision would skip the signature.
    # (surrogatepass: any string has a digest; one that is not base64url fails in ``_verified``.)
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    known = snapshot.verified.get(digest)
    if known is None:
        known = _verified(token, snapshot)
        _remember(snapshot.verified, digest, known)
    header_typ, claims = known
    if typ is not None and header_typ != typ:
        raise InvalidSignature(f"typ is not {typ}")
    return dict(claims)  # the caller's own: the remembered claims are shared by the worker's threads


def _verified(token: str, snapshot: _Snapshot) -> tuple[Any, dict[str, Any]]:
    """The typ header and the claims of a token that ``snapshot``'s keys verify.

    The compact form (RFC 7515 §7.1) is read here, strictly: three unpadded base64url parts, a header
    that is a JSON object without ``crit`` (no extension we would have to understand), whose ``kid``
    names a published key and whose ``alg`` is that key's own (the header may not choose: no HS256
    keyed with our public key, no "none"); then joserfc's algorithm checks the signature with that
    key. joserfc's general decoding (its objects and registry checks around the same signature) cost
    102–106 µs per RS256 token in process, against 74–88 µs read this way.
    """
    parts = token.split(".")
    if len(parts) != 3 or not all(_BASE64URL.fullmatch(part) for part in parts):
        raise InvalidSignature("not a compact JWS")
    header = _json_object(parts[0])
    kid = header.get("kid")
    key = snapshot.verifying.get(kid) if isinstance(kid, str) and "crit" not in header else None
    if key is None:
        raise InvalidSignature("no published key for this header")
    if header.get("alg") != key.alg:
        raise InvalidSignature("the header's alg is not the key's")
    if not REGISTRY.get_alg(key.alg).verify(f"{parts[0]}.{parts[1]}".encode(), _decoded(parts[2]), key):
        raise InvalidSignature("bad signature")
    return header.get("typ"), _json_object(parts[1])


def _remember(verified: dict[bytes, tuple[Any, dict[str, Any]]], digest: bytes,
              known: tuple[Any, dict[str, Any]]) -> None:
    """Keep a verified token, forgetting the oldest one kept when there are enough. The worker's
    threads share the dictionary: two of them may forget the same token, or one a token the other
    has just forgotten (``suppress``); dict operations themselves are atomic."""
    if len(verified) >= VERIFIED_TOKENS_KEPT:
        with suppress(StopIteration, KeyError, RuntimeError):
            del verified[next(iter(verified))]
    verified[digest] = known


_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def base64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2), as JOSE and PKCE write binary values."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_part(value: Mapping[str, Any]) -> str:
    return base64url(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _decoded(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except ValueError as exc:  # binascii.Error: a length no encoding has
        raise InvalidSignature("not base64url") from exc


def _json_object(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_decoded(part))
    except ValueError as exc:  # not UTF-8, or not JSON
        raise InvalidSignature("not a JSON object") from exc
    if not isinstance(value, dict):
        raise InvalidSignature("not a JSON object")
    return value


def prepare() -> None:
    """Load the keys (creating the first ones on a new database) before a write transaction begins,
    so that the once-per-database creation never commits a caller's unfinished work."""
    _snapshot()


def jwks() -> dict[str, Any]:
    """The JSON Web Key Set: public parts of the next, active and still-published retired keys."""
    return {"keys": [dict(entry) for entry in _snapshot().public]}


def jwks_document() -> bytes:
    """``jwks()`` as the JSON the endpoint sends."""
    return _snapshot().document


def published() -> list[SigningKey]:
    """The keys in JWKS now, in its order: by algorithm as configured, active, next, then retired."""
    return _ordered(stored.published(utcnow()))


def ensure_keys() -> None:
    """Give every algorithm in IDP_SIGNING_ALGS an active and a next key; commits at once."""
    with transaction():
        now = utcnow()
        for alg in current_app.config["IDP_SIGNING_ALGS"]:
            _ensure(alg, now)


def rotate(alg: str | None = None) -> list[SigningKey]:
    """For ``alg`` (default: every configured one), the next key becomes active; returns those keys.

    The active key retires, published until anything it signed has expired, and a new next key is
    made. One transaction.
    """
    algs = current_app.config["IDP_SIGNING_ALGS"] if alg is None else (alg,)
    if not set(algs) <= set(current_app.config["IDP_SIGNING_ALGS"]):
        raise UnknownAlgorithm(f"{alg!r} is not in IDP_SIGNING_ALGS")
    with transaction():
        now = utcnow()
        promoted = [_rotate(name, now) for name in algs]
    return promoted


def _ensure(alg: str, now: datetime) -> None:
    for status in (KeyStatus.ACTIVE, KeyStatus.NEXT):
        if not stored.by_status(alg, status):
            _create(alg, status, now)


def _rotate(alg: str, now: datetime) -> SigningKey:
    _ensure(alg, now)
    # The oldest next key has been published longest; any other (two workers making the first keys
    # at once) retires unused, with every active key.
    promoted, *extra = stored.by_status(alg, KeyStatus.NEXT)
    for row in [*stored.by_status(alg, KeyStatus.ACTIVE), *extra]:
        row.status, row.retired_at, row.publish_until = KeyStatus.RETIRED, now, now + _retired_lifetime()
    promoted.status, promoted.activated_at = KeyStatus.ACTIVE, now
    _create(alg, KeyStatus.NEXT, now)
    audit.record("keys.rotated", alg=alg, kid=promoted.kid)
    return promoted


def _retired_lifetime() -> timedelta:
    """How long a retired key must stay published: a worker may sign with it until it next checks the
    stamps, and what it signed lives as long as the longest token lifetime."""
    cfg = current_app.config
    longest = max(cfg["IDP_ID_TOKEN_LIFETIME_SECONDS"], cfg["IDP_ACCESS_TOKEN_LIFETIME_SECONDS"])
    return timedelta(seconds=longest + cfg["IDP_CACHE_CHECK_SECONDS"]) + _LEEWAY


def _create(alg: str, status: KeyStatus, now: datetime) -> SigningKey:
    if alg not in _GENERATE:
        raise UnknownAlgorithm(f"cannot make keys for {alg!r}: not one of {', '.join(_GENERATE)}")
    key = _GENERATE[alg]({"alg": alg, "use": "sig"})
    key.ensure_kid()  # RFC 7638 thumbprint
    row = SigningKey(kid=key.kid, alg=alg, status=status, public_jwk=key.as_dict(private=False),
                     private_key_encrypted=crypto.encrypt(key.as_pem(private=True), PURPOSE), created_at=now,
                     activated_at=now if status is KeyStatus.ACTIVE else None)
    stored.add(row)
    audit.record("keys.created", alg=alg, kid=row.kid, status=status.value)
    return row


def _snapshot() -> _Snapshot:
    """The published keys, from memory unless the stamp moved or a retired key's time is up."""
    cache = stamped_cache.cache()
    snapshot = cache.get(stored.STAMP, _ENTRY, _load)
    if snapshot.until is not None and utcnow() >= snapshot.until:
        cache.discard(stored.STAMP, _ENTRY)
        snapshot = cache.get(stored.STAMP, _ENTRY, _load)
    return snapshot


def _load() -> _Snapshot:
    """Read and parse the published keys; make the first ones if an algorithm has none."""
    snapshot = _read()
    if not set(current_app.config["IDP_SIGNING_ALGS"]) <= snapshot.signing.keys():
        # Once per database. This commits what the caller had pending (a token request's code
        # redemption, say): a session of its own would find SQLite locked by the caller's own
        # write. Never signing with a key that is not yet stored matters more.
        ensure_keys()
        snapshot = _read()
    return snapshot


def _read() -> _Snapshot:
    rows = published()
    known: dict[str, Key] = current_app.extensions.get(_PARSED, {})
    parsed = {row.kid: known[row.kid] if row.kid in known else _parse(row) for row in rows}
    current_app.extensions[_PARSED] = parsed  # keys no longer published are forgotten
    signing: dict[str, Key] = {}
    # Should two workers have made the first keys at once, every worker signs with the newest.
    for row in sorted(rows, key=lambda r: r.id):
        if row.status is KeyStatus.ACTIVE and row.alg in current_app.config["IDP_SIGNING_ALGS"]:
            signing[row.alg] = parsed[row.kid]
    ends = [row.publish_until for row in rows if row.status is KeyStatus.RETIRED and row.publish_until]
    public = [parsed[row.kid].as_dict(private=False) for row in rows]
    return _Snapshot(signing=MappingProxyType(signing), verifying=MappingProxyType(parsed),
                     public=tuple(MappingProxyType(entry) for entry in public),
                     document=json.dumps({"keys": public}).encode(), until=min(ends, default=None))


def _parse(row: SigningKey) -> Key:
    """The key of a row; the private key (decrypted) only if it may still sign."""
    params: KeyParameters = {"kid": row.kid, "alg": row.alg, "use": "sig"}
    if row.status is KeyStatus.RETIRED:
        return import_key(row.public_jwk, parameters=params)
    pem = crypto.decrypt(row.private_key_encrypted, PURPOSE)
    return import_key(pem, row.public_jwk["kty"], parameters=params)


def _ordered(rows: Iterable[SigningKey]) -> list[SigningKey]:
    algs = list(current_app.config["IDP_SIGNING_ALGS"])

    def order(row: SigningKey) -> tuple[int, int, int]:
        return (algs.index(row.alg) if row.alg in algs else len(algs), _STATUS_ORDER[row.status], -row.id)

    return sorted(rows, key=order)
