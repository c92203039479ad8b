"""Signing keys: made on first use, published at /jwks, used by kid, verified strictly, rotated safely."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import JWSRegistry

from idp import audit, crypto, stamped_cache
from idp.oidc import keys
from idp.storage import audit_events, transaction, utcnow
from idp.storage import keys as stored
from idp.storage.keys import KeyStatus
from tests.conftest import make_app

ALGS = ("RS256", "ES256", "EdDSA")

# Every test here starts like a new deployment: no keys at all.
pytestmark = pytest.mark.usefixtures("no_signing_keys")
PRIVATE_PARAMETERS = {"d", "p", "q", "dp", "dq", "qi"}
CLAIMS = {"iss": "http://127.0.0.1:5000", "sub": "s-1", "aud": "rp", "exp": 1, "iat": 0}


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _header(token: str) -> dict[str, Any]:
    first = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))


def _kids(jwks: dict[str, Any]) -> list[str]:
    return [key["kid"] for key in jwks["keys"]]


def _accepted(token: str) -> bool:
    try:
        keys.verify(token)
    except keys.InvalidSignature:
        return False
    return True


def _the(alg: str, status: KeyStatus) -> stored.SigningKey:
    [row] = stored.by_status(alg, status)
    return row


def test_first_use_makes_an_active_and_a_next_key_per_algorithm(client: FlaskClient) -> None:
    response = client.get("/jwks")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert {part.strip() for part in response.headers["Cache-Control"].split(",")} == {"public", "max-age=300"}
    published = response.get_json()["keys"]
    assert [key["alg"] for key in published] == ["RS256", "RS256", "ES256", "ES256", "EdDSA", "EdDSA"]
    for alg in ALGS:
        assert {_the(alg, KeyStatus.ACTIVE).kid, _the(alg, KeyStatus.NEXT).kid} <= set(_kids({"keys": published}))
    assert published[0]["kid"] == _the("RS256", KeyStatus.ACTIVE).kid  # naive clients take the first
    assert len(audit_events.recent(event="keys.created")) == 6


def test_first_keys_are_made_inside_a_request_that_already_wrote(app: Flask) -> None:
    # The token endpoint redeems the code, then signs: the first keys must not wait on its lock.
    with transaction():
        audit.record("test.pending")
        token = keys.sign(CLAIMS)
    assert keys.verify(token) == CLAIMS and _header(token)["alg"] == "RS256"  # RS256 unless told
    assert audit_events.recent(event="test.pending")


def test_jwks_carries_public_parameters_only(client: FlaskClient) -> None:
    for key in client.get("/jwks").get_json()["keys"]:
        assert {"kid", "kty", "alg"} <= key.keys() and key["use"] == "sig"
        assert not PRIVATE_PARAMETERS & key.keys()
    assert {key["kty"]: key.get("crv") for key in keys.jwks()["keys"]} == {"RSA": None, "EC": "P-256",
                                                                          "OKP": "Ed25519"}


def test_private_keys_are_stored_encrypted(app: Flask) -> None:
    keys.ensure_keys()
    for row in stored.published(utcnow()):
        assert row.private_key_encrypted.startswith("v1.")
        assert "PRIVATE KEY" not in row.private_key_encrypted
        pem = crypto.decrypt(row.private_key_encrypted, keys.PURPOSE)
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
        assert not PRIVATE_PARAMETERS & row.public_jwk.keys()


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "logout+jwt"])
def test_header_names_the_active_key_and_the_type(app: Flask, alg: str, typ: str) -> None:
    token = keys.sign(CLAIMS, alg=alg, typ=typ)
    assert _header(token) == {"alg": alg, "kid": _the(alg, KeyStatus.ACTIVE).kid, "typ": typ}


# A relying party's own JOSE library, given our JWKS; joserfc warns that RFC 9864 deprecates "EdDSA".
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")
@pytest.mark.parametrize("alg", ALGS)
def test_each_algorithm_signs_and_verifies(client: FlaskClient, alg: str) -> None:
    token = keys.sign(CLAIMS, alg=alg, typ="at+jwt")
    assert keys.verify(token) == CLAIMS
    assert keys.verify(token, typ="at+jwt") == CLAIMS
    key_set = KeySet.import_key_set(client.get("/jwks").get_json())
    assert jwt.decode(token, key_set, registry=JWSRegistry(algorithms=[alg])).claims == CLAIMS


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")
@pytest.mark.parametrize("alg", ALGS)
def test_the_compact_form_is_written_as_rfc_7515_says(client: FlaskClient, alg: str) -> None:
    """Three base64url parts without padding; header and claims as compact UTF-8 JSON (a Vietnamese
    name is not escaped to ASCII); the signature over the first two parts, as another library checks it."""
    claims = {**CLAIMS, "name": "Lê Thị Hoà", "amr": ["pwd", "otp"]}
    token = keys.sign(claims, alg=alg, typ="JWT")
    header, payload, signature = token.split(".")
    assert "=" not in token and all(part for part in (header, payload, signature))
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert raw == json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
    assert "Lê Thị Hoà".encode() in raw
    key_set = KeySet.import_key_set(client.get("/jwks").get_json())
    decoded = jwt.decode(token, key_set, registry=JWSRegistry(algorithms=[alg]))
    assert decoded.claims == claims and decoded.header["kid"] == _the(alg, KeyStatus.ACTIVE).kid


def test_verify_refuses_anything_we_did_not_sign(app: Flask) -> None:
    token = keys.sign(CLAIMS)
    header, payload, signature = token.split(".")
    rs256 = _the("RS256", KeyStatus.ACTIVE)
    es256_token = keys.sign(CLAIMS, alg="ES256")
    public_pem = RSAKey.import_key(rs256.public_jwk).as_pem()
    confused = _b64({"alg": "HS256", "kid": rs256.kid, "typ": "JWT"}) + "." + payload
    hs256 = confused + "." + _b64(hmac.new(public_pem, confused.encode(), hashlib.sha256).digest())
    stranger = RSAKey.generate_key(2048, parameters={"kid": "stranger", "alg": "RS256"})
    bad_tokens = {
        "tampered claims": f"{header}.{_b64({**CLAIMS, 'sub': 's-2'})}.{signature}",
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "unknown kid": jwt.encode({"alg": "RS256", "kid": "stranger"}, CLAIMS, stranger),
        "no kid": jwt.encode({"alg": "RS256"}, CLAIMS, stranger),
        "alg none": _b64({"alg": "none", "kid": rs256.kid}) + "." + payload + ".",
        "HS256 keyed with our public key": hs256,
        "another key's kid": f"{header}.{payload}.{es256_token.split('.')[2]}",
        "alg not the key's": _b64({"alg": "ES256", "kid": rs256.kid}) + "." + ".".join(es256_token.split(".")[1:]),
        "not a JWS": "not.a.token",
        "not text": f"{header}\udc80.{payload}.{signature}",  # a lone surrogate: no UTF-8 for it
        "empty": "",
    }
    assert [name for name, bad in bad_tokens.items() if _accepted(bad)] == []
    assert keys._snapshot().verified == {}  # nothing of a token refused is remembered
    with pytest.raises(keys.InvalidSignature):
        keys.verify(token, typ="at+jwt")  # an ID token does not pass for an access token
    with pytest.raises(keys.InvalidSignature):
        keys.verify(token, typ="at+jwt")  # nor once its signature is known to be good
    with pytest.raises(keys.UnknownAlgorithm):
        keys.sign(CLAIMS, alg="HS256")


def _counted_verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per RS256 signature the algorithm checks from here on."""
    algorithm = keys.REGISTRY.get_alg("RS256")
    checked: list[int] = []
    original = algorithm.verify

    def counted(*args: Any) -> bool:
        checked.append(1)
        return original(*args)

    monkeypatch.setattr(algorithm, "verify", counted)
    return checked


def test_a_token_verified_once_is_remembered_with_its_keys(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same string signed by the same key verifies the same way: a relying party presenting its
    access token again costs no signature check, until the key set changes."""
    token = keys.sign(CLAIMS, typ="at+jwt")
    checked = _counted_verifications(monkeypatch)
    assert [keys.verify(token, typ="at+jwt") for _ in range(3)] == [CLAIMS] * 3
    assert len(checked) == 1
    with pytest.raises(keys.InvalidSignature):
        keys.verify(token, typ="JWT")  # the typ asked for is still checked
    keys.verify(token)["sub"] = "someone else"  # the caller's own copy
    assert keys.verify(token) == CLAIMS
    keys.rotate("RS256")  # a new key set: every token is verified afresh once
    assert keys.verify(token) == CLAIMS
    assert len(checked) == 2


def test_only_the_latest_verified_tokens_are_remembered(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "VERIFIED_TOKENS_KEPT", 3)
    tokens = [keys.sign({**CLAIMS, "sub": f"s-{n}"}) for n in range(5)]
    for token in tokens:
        keys.verify(token)
    assert list(keys._snapshot().verified) == [hashlib.sha256(token.encode()).digest() for token in tokens[2:]]


def _signed_by_us(header: str, payload: str) -> str:
    """``header.payload`` as given, with a good signature of our active RS256 key over exactly that."""
    key = keys._snapshot().signing["RS256"]
    return f"{header}.{payload}.{_b64(keys.REGISTRY.get_alg('RS256').sign(f'{header}.{payload}'.encode(), key))}"


def test_verify_reads_only_the_strict_compact_form(app: Flask) -> None:
    """RFC 7515 §7.1: unpadded base64url parts; a header we can understand entirely (no ``crit``)
    naming our key; claims that are a JSON object. Each of these is signed by our own key, so only the
    form refuses it."""
    keys.ensure_keys()
    kid = _the("RS256", KeyStatus.ACTIVE).kid
    header, payload = _b64({"alg": "RS256", "kid": kid}), _b64(CLAIMS)
    assert keys.verify(_signed_by_us(header, payload)) == CLAIMS
    claims_json = json.dumps(CLAIMS).encode()
    padded = base64.urlsafe_b64encode(claims_json + b" " * (len(claims_json) % 3 == 0)).decode()
    assert padded.endswith("=")
    bad_tokens = {
        "padded base64": _signed_by_us(header, padded),
        "an extension it must understand": _signed_by_us(
            _b64({"alg": "RS256", "kid": kid, "crit": ["exp"], "exp": 1}), payload),
        "kid not a string": _signed_by_us(_b64({"alg": "RS256", "kid": [kid]}), payload),
        "header not an object": _signed_by_us(_b64(b'["RS256"]'), payload),
        "header not JSON": _signed_by_us(_b64(b"{alg: RS256}"), payload),
        "claims not an object": _signed_by_us(header, _b64(b"[1, 2]")),
        "claims not UTF-8": _signed_by_us(header, _b64(b'{"sub": "\xff"}')),
        "a fourth part": _signed_by_us(header, payload) + ".e30",
        "a signature of an impossible length": f"{header}.{payload}.A",
        "not base64url": _signed_by_us(header, payload).replace("-", "+").replace("_", "/") + "+/",
    }
    assert [name for name, bad in bad_tokens.items() if _accepted(bad)] == []


def test_rotation_promotes_the_published_next_key_and_keeps_the_old_one(app: Flask) -> None:
    before = keys.jwks()
    old_token = keys.sign(CLAIMS)
    old_active, upcoming = _the("RS256", KeyStatus.ACTIVE), _the("RS256", KeyStatus.NEXT)
    assert upcoming.kid in _kids(before)  # published a whole rotation before it signs

    promoted = keys.rotate()

    assert [row.alg for row in promoted] == list(ALGS)
    assert promoted[0].kid == upcoming.kid == _the("RS256", KeyStatus.ACTIVE).kid
    assert _header(keys.sign(CLAIMS))["kid"] == upcoming.kid
    assert keys.verify(old_token) == CLAIMS
    retired = _the("RS256", KeyStatus.RETIRED)
    assert retired.kid == old_active.kid
    lifetime = retired.publish_until - retired.retired_at
    assert timedelta(seconds=600) < lifetime <= timedelta(seconds=600 + 1 + 60)  # token lifetime, cache, skew
    fresh_next = _the("RS256", KeyStatus.NEXT)
    assert _kids(keys.jwks())[:3] == [upcoming.kid, fresh_next.kid, old_active.kid]
    rotated = audit_events.recent(event="keys.rotated")
    assert sorted((e.details["alg"], e.details["kid"]) for e in rotated) == sorted(
        (row.alg, row.kid) for row in promoted)


def test_one_algorithm_can_rotate_alone(app: Flask) -> None:
    keys.ensure_keys()
    es256 = _the("ES256", KeyStatus.ACTIVE).kid
    [promoted] = keys.rotate("RS256")
    assert promoted.alg == "RS256" and _the("ES256", KeyStatus.ACTIVE).kid == es256
    with pytest.raises(keys.UnknownAlgorithm):
        keys.rotate("HS256")


def test_retired_key_leaves_jwks_after_publish_until(app: Flask) -> None:
    old_token = keys.sign(CLAIMS)
    keys.rotate("RS256")
    retired = _the("RS256", KeyStatus.RETIRED)
    assert retired.kid in _kids(keys.jwks())
    assert keys.verify(old_token) == CLAIMS  # remembered as verified, until the key set changes
    with transaction():  # the write bumps the keys' stamp: this process sees it at once
        retired.publish_until = utcnow() - timedelta(seconds=1)
    assert retired.kid not in _kids(keys.jwks())
    with pytest.raises(keys.InvalidSignature):
        keys.verify(old_token)


def test_retired_key_leaves_jwks_when_its_time_is_up_without_any_write(app: Flask,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    old_token = keys.sign(CLAIMS)
    keys.rotate("RS256")
    retired = _the("RS256", KeyStatus.RETIRED)
    assert retired.kid in _kids(keys.jwks())  # cached now, with the stamp unchanged from here on
    assert keys.verify(old_token) == CLAIMS
    later = retired.publish_until + timedelta(seconds=1)
    monkeypatch.setattr(keys, "utcnow", lambda: later)
    assert retired.kid not in _kids(keys.jwks())
    with pytest.raises(keys.InvalidSignature):
        keys.verify(old_token)


def test_two_active_keys_sign_with_the_newest_and_both_retire(app: Flask) -> None:
    older_token = keys.sign(CLAIMS)
    with transaction():  # as if two workers had made their first keys at the same moment
        newer = keys._create("RS256", KeyStatus.ACTIVE, utcnow())
    assert _header(keys.sign(CLAIMS))["kid"] == newer.kid
    keys.rotate("RS256")
    retired = {row.kid for row in stored.by_status("RS256", KeyStatus.RETIRED)}
    assert retired == {_header(older_token)["kid"], newer.kid}
    assert keys.verify(older_token) == CLAIMS


def test_another_worker_sees_a_rotation_at_its_next_stamp_check(app: Flask, app_config: dict[str, Any]) -> None:
    first_kid = _header(keys.sign(CLAIMS))["kid"]
    watching = make_app({**app_config, "IDP_CACHE_CHECK_SECONDS": 0})
    caching = make_app({**app_config, "IDP_CACHE_CHECK_SECONDS": 3600})
    for worker in (watching, caching):
        with worker.app_context():
            assert _header(keys.sign(CLAIMS))["kid"] == first_kid
    keys.rotate()
    new_kid = _the("RS256", KeyStatus.ACTIVE).kid
    with watching.app_context():
        assert _header(keys.sign(CLAIMS))["kid"] == new_kid != first_kid
    with caching.app_context():  # read from memory until its next look at the stamps...
        assert _header(keys.sign(CLAIMS))["kid"] == first_kid
        cache = stamped_cache.cache()
        now = cache.clock()
        cache.clock = lambda: now + 3600  # ...an hour later
        assert _header(keys.sign(CLAIMS))["kid"] == new_kid


def test_cli_rotate_and_list(runner) -> None:  # type: ignore[no-untyped-def]
    keys.ensure_keys()
    upcoming = {alg: _the(alg, KeyStatus.NEXT).kid for alg in ALGS}
    result = runner.invoke(args=["idp", "keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{alg} active kid={kid}" for alg, kid in upcoming.items()]
    only = runner.invoke(args=["idp", "keys", "rotate", "--alg", "ES256"])
    assert only.exit_code == 0 and only.output.startswith("ES256 active kid=")
    refused = runner.invoke(args=["idp", "keys", "rotate", "--alg", "HS256"])
    assert refused.exit_code == 2 and "HS256" in refused.output
    listing = runner.invoke(args=["idp", "keys", "list"])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert len(lines) == len(keys.jwks()["keys"]) == 10  # 3 active, 3 next, 4 retired
    assert lines[0].startswith(f"{upcoming['RS256']}  RS256  active ")
    assert "publish_until=20" in lines[2] and "retired" in lines[2]
