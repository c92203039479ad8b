"""A client's public keys for private_key_jwt: registered inline (``jwks``) or published (``jwks_uri``).

Published key sets are fetched with a short timeout and a size limit and kept for a few minutes per
process, so a token request does not wait on the client's server each time; registered ones are parsed
once per process. A client rotating its
keys publishes the new one ahead of use, as we do ourselves.
"""

from __future__ import annotations

import json
import time
import urllib.request
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.storage.clients import ClientRecord

CACHE_SECONDS = 300
FETCH_TIMEOUT_SECONDS = 3
MAX_BYTES = 64 * 1024
_CACHE = "dangnhap.client_jwks"


class NoClientKeys(Exception):
    """The client has no usable public keys (none registered, or its jwks_uri failed)."""


def _fetch(uri: str) -> dict[str, Any]:
    if urlsplit(uri).scheme not in ("https", "http"):
        raise NoClientKeys("jwks_uri must be http(s)")
    request = urllib.request.Request(uri, headers={"Accept": "application/json"})  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(MAX_BYTES + 1)
    except OSError as exc:
        raise NoClientKeys(f"jwks_uri unreachable: {exc}") from exc
    if len(body) > MAX_BYTES:
        raise NoClientKeys("jwks_uri document too large")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise NoClientKeys("jwks_uri is not JSON") from exc
    if not isinstance(document, dict):
        raise NoClientKeys("jwks_uri is not a JWK set")
    return document


def key_set(client: ClientRecord) -> KeySet:
    """The client's keys as a joserfc KeySet; raises NoClientKeys."""
    registered = _registered(client.jwks_json) if client.jwks_json is not None else None
    if registered is not None:
        return registered
    if client.jwks_uri:
        cache: dict[str, tuple[float, dict[str, Any]]] = current_app.extensions.setdefault(_CACHE, {})
        cached = cache.get(client.jwks_uri)
        if cached is None or time.monotonic() - cached[0] > CACHE_SECONDS:
            cached = cache[client.jwks_uri] = (time.monotonic(), _fetch(client.jwks_uri))
        return _import(cached[1])
    raise NoClientKeys("no jwks or jwks_uri registered")


@lru_cache(maxsize=256)
def _registered(jwks_json: str) -> KeySet | None:
    """A registered key set (None if empty), parsed once per process: a client record is immutable, so its
    text names the set exactly (an edited client has another text). Refusals are raised each time."""
    document = json.loads(jwks_json)
    return _import(document) if document else None


def _import(document: dict[str, Any]) -> KeySet:
    try:
        keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise NoClientKeys("unusable JWK set") from exc
    if not keys.keys:
        raise NoClientKeys("empty JWK set")
    return keys
