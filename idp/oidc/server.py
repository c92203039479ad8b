"""One Authlib authorization server per app, kept in ``app.extensions`` (never a module global:
``register_grant`` appends, so a shared server would accumulate grants across apps)."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Flask, Response, current_app
from flask import request as http_request

from idp.web import prebuilt

from . import client_cache, grants
from .client_auth import OAuthClient, PrivateKeyJwt, secret_basic
from .form_request import FormRequest

EXTENSION = "dangnhap.oidc_server"
_OAUTH_REQUEST = "dangnhap.oauth2_request"


class Server(AuthorizationServer):
    def query_client(self, client_id: str) -> OAuthClient | None:
        record = client_cache.enabled(client_id)
        return OAuthClient(record) if record is not None else None

    def create_oauth2_request(self, request: object):  # type: ignore[no-untyped-def]
        """Authlib's view of the current HTTP request (``FormRequest``), built once per request: it is
        asked for more than once per token request (here, and by Authlib itself). Like Authlib's own
        Flask server, it reads Flask's current request whatever ``request`` is passed.

        It wraps the request itself, not Flask's context-local proxy to it as Authlib's own does:
        Authlib reads the request's headers many times per token request, and each read through the
        proxy first looks the request up in the context."""
        built = http_request.environ.get(_OAUTH_REQUEST)
        if built is None:
            built = FormRequest(http_request._get_current_object())  # type: ignore[attr-defined]
            http_request.environ[_OAUTH_REQUEST] = built
        return built

    def handle_response(self, status_code: int, payload: object, headers: list[tuple[str, str]]) -> Response:
        """Authlib's response, its JSON made as the answers past Flask's cycle make theirs (the same bytes)."""
        if isinstance(payload, dict):
            payload = prebuilt.json_document(payload)
        return super().handle_response(status_code, payload, headers)  # type: ignore[no-any-return]

    def save_token(self, token: dict, request: object) -> None:  # type: ignore[type-arg]
        """Unused: our grants store what they issue themselves."""

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token"):  # type: ignore[no-untyped-def]
        # RFC 6749 §2.3: a client MUST NOT use more than one authentication method in a request.
        presented = [request.headers.get("Authorization", "").lower().startswith("basic "),
                     "client_secret" in request.form, "client_assertion" in request.form]
        if sum(presented) > 1:
            raise InvalidRequestError("more than one client authentication method")
        return super().authenticate_client(request, methods, endpoint)

    def create_token_response(self, request: object = None):  # type: ignore[no-untyped-def]
        oauth_request = self.create_oauth2_request(request)
        if not oauth_request.payload.grant_type:
            # RFC 6749 §5.2: a missing parameter is invalid_request, not unsupported_grant_type.
            return self.handle_error_response(oauth_request, InvalidRequestError("grant_type is required"))
        repeated = sorted(name for name, values in oauth_request.payload.datalist.items() if len(values) > 1)
        if repeated:
            # RFC 6749 §3.2: parameters MUST NOT be included more than once (Authlib checks only some,
            # and only at the authorization endpoint).
            return self.handle_error_response(oauth_request, InvalidRequestError(f"{repeated[0]} given more than once"))
        return super().create_token_response(request)


def answer_error(error: OAuth2Error) -> Response:
    """An OAuth error raised before a view could answer it, as the endpoint's RFC 6749 §5.2 JSON: Authlib
    checks the transport (https, or http to loopback) while it reads the request, which the views do
    before their ``try``. Without this a token request over plain http to a public name was a 500."""
    return get().handle_error_response(None, error)  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    server = Server()
    server.init_app(app)
    server.register_grant(grants.AuthorizationCodeGrant)
    server.register_grant(grants.RefreshTokenGrant)
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJwt())
    server.register_client_auth_method("client_secret_basic", secret_basic)
    app.extensions[EXTENSION] = server


def get() -> Server:
    return current_app.extensions[EXTENSION]
