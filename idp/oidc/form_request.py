"""Authlib's view of a POST to the token, revocation and introspection endpoints.

RFC 6749 §3.2 and §4.1.3 (token), RFC 7009 §2.1 (revocation) and RFC 7662 §2.1 (introspection): the
client sends its parameters in an ``application/x-www-form-urlencoded`` body. So the parameters are
that body's and nothing else: a query string or a body of another type carries none, as at
node-oidc-provider's and Keycloak's endpoints. (Authlib's Flask request merges the query string into
the parameters, and werkzeug's form parser also accepts multipart bodies.)

Why not werkzeug's ``request.form``: these endpoints run on every token refresh of every portal, and
werkzeug's general form parser (stream wrappers, parser objects, multipart support) cost about twice
as much as reading the body (``get_data``, which keeps werkzeug's size limit: 413 past
``MAX_CONTENT_LENGTH``) and splitting it, which is all a urlencoded body needs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from flask import Request
from werkzeug.datastructures import MultiDict

from idp.web import prebuilt

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

FORM_TYPE = prebuilt.FORM_TYPE
_READ_EARLY = "dangnhap.form_parameters"


def parameters_of(body: bytes) -> list[tuple[str, str]]:
    """The parameters of a urlencoded body, in order.

    Bytes that are not UTF-8 become U+FFFD: such a value matches no client, code or token, so the
    request fails as any wrong value does, with the endpoint's own error.
    """
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, errors="replace")


def read_early(environ: WSGIEnvironment) -> list[tuple[str, str]] | None:
    """The parameters of a urlencoded POST, read past Flask's request cycle (``idp.web.prebuilt``)
    and kept in the environ: when the view answers after all (a code exchange at /token), its request
    takes them from there instead of reading and parsing the body again. None for another content
    type, or a body ``prebuilt.body_of`` leaves to the view (its length unknown, or too long)."""
    body = prebuilt.form_body_of(environ)
    if body is None:
        return None
    pairs = environ[_READ_EARLY] = parameters_of(body)
    return pairs


def _parameters(request: Request) -> MultiDict[str, str]:
    """The parameters of a urlencoded body; none for another content type."""
    if request.mimetype != FORM_TYPE:
        return MultiDict()
    early = request.environ.get(_READ_EARLY)
    return MultiDict(early if early is not None else parameters_of(request.get_data(cache=True)))


class _FormPayload(OAuth2Payload):
    def __init__(self, form: MultiDict[str, str]) -> None:
        self._form = form

    @property
    def data(self) -> MultiDict[str, str]:
        return self._form

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        """Every value of each parameter: Authlib refuses some parameters given twice (RFC 6749 §3.2)."""
        values: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in self._form.items(multi=True):
            values[name].append(value)
        return values


class FormRequest(OAuth2Request):
    """A POST's parameters, parsed once; the headers are the request's own."""

    def __init__(self, request: Request) -> None:
        # Authlib reads the URI only to refuse plain http to anything but loopback (its transport
        # check); the path is enough for that, without werkzeug's IRI decoding of the whole URL.
        super().__init__(request.method, f"{request.scheme}://{request.host}{request.path}")
        # Set after: Authlib's ``headers or {}`` would count werkzeug's headers, a walk through the
        # whole WSGI environ (which holds the process's environment too, under granian).
        self.headers = request.headers
        self._form = _parameters(request)
        self.payload = _FormPayload(self._form)

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form
