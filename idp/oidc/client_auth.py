"""Client authentication at the token endpoint: Authlib's methods plus private_key_jwt (RFC 7523).

``OAuthClient`` adapts our client record (``ClientRecord``, shared by the requests of a worker: read,
never changed) to what Authlib asks of a client. Secrets are compared by their
SHA-256 in constant time (see the client registry); private_key_jwt assertions are single-use: their
``jti`` is stored until they expire, and a second use is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.storage import clients
from idp.storage.clients import ClientRecord

from . import client_jwks, client_policy, client_registry, keys, urls

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


def basic_credentials(authorization: str | None) -> tuple[str | None, str | None]:
    """The client's id and secret in an ``Authorization: Basic`` header, as Authlib reads them; none
    when they are not base64 of UTF-8. Authlib raised on those (a str with non-ASCII characters, or
    bytes that are not UTF-8): the endpoint answered 500, where a wrong secret is a 401."""
    try:
        return extract_basic_authorization({"Authorization": authorization})
    except ValueError:  # what b64decode raises for non-ASCII, and UnicodeDecodeError
        return None, None


def secret_basic(query_client: Any, request: OAuth2Request) -> OAuthClient | None:
    """Authlib's client_secret_basic, but unreadable credentials are no credentials (``basic_credentials``)."""
    if basic_credentials(request.headers.get("Authorization")) == (None, None):
        return None
    return authenticate_client_secret_basic(query_client, request)  # type: ignore[no-any-return]


class OAuthClient(ClientMixin):
    """Our client record, as Authlib sees it."""

    def __init__(self, record: ClientRecord) -> None:
        self.record = record

    @property
    def client_id(self) -> str:
        return self.record.client_id

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OIDC: redirect_uri is always required, never defaulted

    def get_allowed_scope(self, scope: str) -> str:
        allowed = client_policy.allowed_scopes(self.record)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.record.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return client_registry.verify_secret(self.record, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.record.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.record.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.record.grant_types


class PrivateKeyJwt(JWTBearerClientAssertion):
    """private_key_jwt: a JWT signed with a key from the client's registered JWK set."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self) -> list[str]:
        return [urls.issuer(), urls.endpoint("oidc.token")]

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        try:
            return client_jwks.key_set(client.record)
        except client_jwks.NoClientKeys as exc:
            raise InvalidClientError(description=f"no usable client keys: {exc}") from exc

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        """Decode with the algorithms we advertise only (Authlib's default list lacks EdDSA and has HS256)."""
        try:
            token = jwt.decode(assertion, resolve_key, registry=keys.REGISTRY)
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description=getattr(exc, "description", "invalid client assertion")) from exc
        self.verify_claims(token.claims)
        return token.claims

    def validate_jti(self, claims: dict, jti: str) -> bool:  # type: ignore[type-arg]
        """Record the jti; False when it was already used (a replayed assertion)."""
        if not isinstance(jti, str) or len(jti) > 255:
            return False
        return clients.add_jti(claims["sub"], jti, datetime.fromtimestamp(int(claims["exp"]), UTC))
