"""The common POST of a client, read past Flask's request cycle (``idp.web.prebuilt``): a few
urlencoded parameters, and the client's secret in the Authorization header (client_secret_basic) or,
for a public client, its ``client_id`` among the parameters (``none``: no secret to present).

Resource servers introspect tokens, services ask for client_credentials tokens and portals refresh
theirs this way, many times a second; Flask's cycle and Authlib's request handling were about half
of a client_credentials request's cost in process (bench/README.md). ``read`` accepts exactly what
the endpoint's view would accept from such a client, and nothing it is not sure of: everything else
(another client authentication, both at once, other or repeated parameters, a wrong secret, plain
http to a host not on loopback) is left to the view, which answers it, errors included, as before.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from authlib.common.security import is_secure_transport

from idp.storage.clients import ClientRecord

from . import client_cache, client_registry, form_request
from .client_auth import basic_credentials

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_SECRET_IN_HEADER = "client_secret_basic"  # noqa: S105 (the method's name)
_PUBLIC = "none"


@dataclass(frozen=True)
class BasicPost:
    """The authenticated client and the request's parameters, each given once."""

    client: ClientRecord
    parameters: dict[str, str]


def read(environ: WSGIEnvironment, accepted: Collection[frozenset[str]], *, public: bool = False) -> BasicPost | None:
    """The request, when its parameters' names are one of the ``accepted`` sets and its client,
    registered for client_secret_basic, sent its right secret (or with ``public``, when a public
    client sent its ``client_id`` besides them); else None (the view answers)."""
    # The parameters first: the endpoint's other requests (a private_key_jwt assertion) stop here.
    pairs = form_request.read_early(environ)
    parameters = dict(pairs or ())
    if pairs is None or len(parameters) != len(pairs):
        return None
    names = frozenset(parameters)
    named = public and "client_id" in names
    if (names - {"client_id"} if named else names) not in accepted:
        return None
    host = environ.get("HTTP_HOST")
    # Authlib's transport check, as the view's request makes it: https, or http to loopback.
    if not host or not is_secure_transport(f"{environ.get('wsgi.url_scheme')}://{host}/"):
        return None
    if named:
        client = None if "HTTP_AUTHORIZATION" in environ else client_cache.enabled(parameters["client_id"])
        return BasicPost(client, parameters) if client and client.token_endpoint_auth_method == _PUBLIC else None
    client_id, secret = basic_credentials(environ.get("HTTP_AUTHORIZATION"))
    if client_id is None or secret is None:
        return None
    client = client_cache.enabled(client_id)
    if (client is None or client.token_endpoint_auth_method != _SECRET_IN_HEADER
            or not client_registry.verify_secret(client, secret)):
        return None
    return BasicPost(client, parameters)
