"""The relying-party registry: check client metadata, create and update clients, issue their secrets.

Operators register the province's portals and apps here (CLI now, admin console later). Metadata use
the RFC 7591 names, so an import file reads like a registration request, and a refusal names the field
the way RFC 7591 §3.2.2 does (``invalid_client_metadata`` / ``invalid_redirect_uri``). Each change is
one transaction with its audit event; secrets appear in neither the database nor the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from idp import audit
from idp.storage import clients, transaction
from idp.storage.clients import Client, ClientRecord

from .client_metadata import ClientError, InvalidClientMetadata, validate

SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
MIN_CHOSEN_SECRET_LENGTH = 32


class UnknownClient(ClientError):
    pass


class Saved(NamedTuple):
    client: Client
    secret: str | None  # the plain secret, only when one was generated just now
    created: bool
    changed: tuple[str, ...]  # updated fields (``client_secret`` when the secret was replaced)


def generate_secret() -> str:
    """256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(client: Client | ClientRecord, secret: str) -> bool:
    """Whether ``secret`` is the client's, in constant time; always False for a client without one."""
    if client.client_secret_hash is None:
        return False
    return hmac.compare_digest(_hash(secret), client.client_secret_hash)


def get(client_id: str) -> Client | None:
    """The client, enabled or not."""
    return clients.by_client_id(client_id)


def all_clients() -> list[Client]:
    return clients.all_clients()


def register(metadata: Mapping[str, Any], *, client_secret: str | None = None,
             actor: str = "cli") -> tuple[Client, str | None]:
    """Create a client; return it and its secret when one was generated (an operator's own is not echoed)."""
    with transaction():
        saved = _save(metadata, client_secret, actor, update=False)
    return saved.client, saved.secret


def upsert(metadata: Mapping[str, Any], *, client_secret: str | None = None, actor: str = "cli") -> Saved:
    """Create the client, or make the registered one match ``metadata`` (absent fields take their defaults).

    The secret is kept unless one is given, or unless the new auth method needs none.
    """
    with transaction():
        return _save(metadata, client_secret, actor, update=True)


def import_clients(entries: Sequence[Mapping[str, Any]], *, actor: str = "cli") -> list[Saved]:
    """Upsert every entry (metadata plus an optional ``client_secret``), all or nothing."""
    saved: list[Saved] = []
    position: dict[str, int] = {}
    with transaction():
        for index, entry in enumerate(entries):
            try:
                metadata = dict(entry)
                result = _save(metadata, metadata.pop("client_secret", None), actor, update=True)
                client_id = result.client.client_id
                if client_id in position:
                    raise InvalidClientMetadata("client_id", f"{client_id} is also entry {position[client_id]}")
            except InvalidClientMetadata as exc:
                exc.entry = index
                raise
            position[client_id] = index
            saved.append(result)
    return saved


def rotate_secret(client_id: str, *, actor: str = "cli") -> str:
    """Replace the secret; the new one is returned to be shown once. The old one stops working now."""
    with transaction():
        client = _require(client_id)
        if client.token_endpoint_auth_method not in SECRET_AUTH_METHODS:
            raise ClientError(f"{client_id} authenticates with {client.token_endpoint_auth_method}: it has no secret")
        secret = generate_secret()
        client.client_secret_hash = _hash(secret)
        audit.record("client.secret_rotated", client=client_id, actor=actor)
    return secret


def set_enabled(client_id: str, enabled: bool, *, actor: str = "cli") -> Client:
    """Enable or disable a client (a disabled one can neither start a sign-in nor get tokens)."""
    with transaction():
        client = _require(client_id)
        client.enabled = enabled
        audit.record("client.enabled" if enabled else "client.disabled", client=client_id, actor=actor)
    return client


def _require(client_id: str) -> Client:
    client = clients.by_client_id(client_id)
    if client is None:
        raise UnknownClient(f"no client with client_id {client_id}")
    return client


def _save(metadata: Mapping[str, Any], client_secret: Any, actor: str, *, update: bool) -> Saved:
    if update and "client_id" not in metadata:
        raise InvalidClientMetadata("client_id", "required to update or import a client")
    values = validate(metadata)
    client = clients.by_client_id(values["client_id"])
    if client is None:
        client = Client(**values)
        secret = _set_secret(client, client_secret)
        clients.add(client)
        audit.record("client.created", client=client.client_id, actor=actor,
                     auth_method=client.token_endpoint_auth_method, grant_types=client.grant_types)
        return Saved(client, secret, created=True, changed=())
    if not update:
        raise InvalidClientMetadata("client_id", f"{client.client_id} is already registered")
    changed = [name for name, value in values.items() if getattr(client, name) != value]
    for name in changed:
        setattr(client, name, values[name])
    hash_before = client.client_secret_hash
    secret = _set_secret(client, client_secret)
    if client.client_secret_hash != hash_before:
        changed.append("client_secret")
    if changed:
        audit.record("client.updated", client=client.client_id, actor=actor, fields=changed)
    return Saved(client, secret, created=False, changed=tuple(changed))


def _set_secret(client: Client, chosen: Any) -> str | None:
    """Give the client the secret its auth method needs; return it when generated here."""
    method = client.token_endpoint_auth_method
    if method not in SECRET_AUTH_METHODS:
        if chosen is not None:
            raise InvalidClientMetadata("client_secret", f"a client using {method} has no secret")
        client.client_secret_hash = None
        return None
    if chosen is not None:
        if not isinstance(chosen, str) or len(chosen) < MIN_CHOSEN_SECRET_LENGTH or not chosen.isprintable():
            raise InvalidClientMetadata(
                "client_secret", f"a chosen secret must be at least {MIN_CHOSEN_SECRET_LENGTH} printable characters")
        client.client_secret_hash = _hash(chosen)
        return None
    if client.client_secret_hash is None:
        secret = generate_secret()
        client.client_secret_hash = _hash(secret)
        return secret
    return None
