"""One Authlib authorization server per app, kept in ``app.extensions`` (never a module global:
``register_grant`` appends, so a shared server would accumulate grants across apps)."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Flask, current_app

from idp.storage import clients

from . import grants
from .client_auth import OAuthClient, PrivateKeyJwt

EXTENSION = "dangnhap.oidc_server"


class Server(AuthorizationServer):
    def query_client(self, client_id: str) -> OAuthClient | None:
        if not isinstance(client_id, str) or len(client_id) > 128:
            return None
        row = clients.by_client_id(client_id)
        return OAuthClient(row) if row is not None and row.enabled else None

    def save_token(self, token: dict, request: object) -> None:  # type: ignore[type-arg]
        """Unused: our grants store what they issue themselves."""


def init_app(app: Flask) -> None:
    server = Server()
    server.init_app(app)
    server.register_grant(grants.AuthorizationCodeGrant)
    server.register_grant(grants.RefreshTokenGrant)
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJwt())
    app.extensions[EXTENSION] = server


def get() -> Server:
    return current_app.extensions[EXTENSION]
