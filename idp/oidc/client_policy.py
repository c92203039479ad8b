"""What a registered client may do, derived from its metadata (one place for every endpoint)."""

from __future__ import annotations

from flask import current_app

from idp.storage.clients import ClientRecord


def is_public(client: ClientRecord) -> bool:
    return client.token_endpoint_auth_method == "none"  # noqa: S105 (a method name, not a secret)


def pkce_required(client: ClientRecord) -> bool:
    """Public clients always; confidential ones per client setting, else the global default."""
    if is_public(client):
        return True
    if client.require_pkce is not None:
        return client.require_pkce
    return bool(current_app.config["IDP_REQUIRE_PKCE"])


def allowed_scopes(client: ClientRecord) -> set[str]:
    return set(client.scope.split())
