"""The app's request class: Flask's own, with the cookies and the query string's parameters read
straight from the WSGI environ, by functions that what is answered past Flask's request cycle
(``idp.web.prebuilt``) calls too.

Cookies: every page a browser asks for reads its cookies (the SSO session's, the form session's, the
language's), and werkzeug found them by walking the whole environ through its headers view, turning
every variable's name back into a header's, to join the values of every ``Cookie`` header: ≈ 17 µs
of a request with a browser's usual headers, against ≈ 4 µs for parsing the cookies themselves (in
process). A WSGI server hands the request's cookies over as the one ``HTTP_COOKIE`` variable, which is
all that walk could find, so reading it directly gives the same cookies.

The query string: werkzeug decodes it as strict UTF-8, so a byte that is not UTF-8 sent as such (not
percent-encoded) raised from every ``request.args`` and ``request.full_path``, the error page's own
included (it reads ``ui_locales``, and the layout the page's path): the server answered 500 with no
page at all. Here such bytes become U+FFFD, as in a
form body (``idp.oidc.form_request``): the value then matches nothing, and the request fails as any
wrong value does, with the page's or the endpoint's own error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qsl

import flask
from flask import current_app
from flask.globals import request_ctx
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import MapAdapter
from werkzeug.sansio.http import parse_cookie
from werkzeug.utils import cached_property

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


def cookies_of(environ: WSGIEnvironment) -> ImmutableMultiDict[str, str]:
    """The request's cookies, as the app's requests read them."""
    return parse_cookie(environ.get("HTTP_COOKIE", ""), cls=ImmutableMultiDict)  # type: ignore[return-value]


def _query(environ: WSGIEnvironment) -> str:
    return environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8", "replace")


def query_of(environ: WSGIEnvironment) -> ImmutableMultiDict[str, str]:
    """The query string's parameters, as werkzeug's ``request.args`` reads them, but for bytes that
    are not UTF-8 (U+FFFD)."""
    return ImmutableMultiDict(parse_qsl(_query(environ), keep_blank_values=True, errors="werkzeug.url_quote"))


def url_adapter() -> MapAdapter:
    """The URL adapter of the current request, the one ``url_for`` builds with (Flask makes one for
    every request), for the functions that also build with ``url_adapter_of``'s."""
    return cast(MapAdapter, request_ctx.url_adapter)


def url_adapter_of(page_request: flask.Request) -> MapAdapter:
    """The URL adapter Flask makes for ``page_request`` (its ``url_for``'s), for what builds URLs
    past Flask's request cycle, in an app context."""
    return cast(MapAdapter, current_app.create_url_adapter(page_request))  # a request's: never None


class Request(flask.Request):
    @cached_property
    def cookies(self) -> ImmutableMultiDict[str, str]:  # type: ignore[override]
        return cookies_of(self.environ)

    @cached_property
    def args(self) -> ImmutableMultiDict[str, str]:  # type: ignore[override]
        return query_of(self.environ)

    @cached_property
    def full_path(self) -> str:
        return f"{self.path}?{_query(self.environ)}"
