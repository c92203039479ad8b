"""The app's request class: Flask's own, with the cookies read straight from the WSGI environ.

Every page a browser asks for reads its cookies (the SSO session's, the form session's, the language's),
and werkzeug found them by walking the whole environ through its headers view, turning every variable's
name back into a header's, to join the values of every ``Cookie`` header: ≈ 17 µs of a request with a
browser's usual headers, against ≈ 4 µs for parsing the cookies themselves (in process). A WSGI server
hands the request's cookies over as the one ``HTTP_COOKIE`` variable, which is all that walk could find,
so reading it directly gives the same cookies. ``of`` reads them so for what is answered past Flask's
request cycle (``idp.web.prebuilt``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import flask
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.sansio.http import parse_cookie
from werkzeug.utils import cached_property

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


def of(environ: WSGIEnvironment) -> ImmutableMultiDict[str, str]:
    """The request's cookies, as the app's requests read them."""
    return parse_cookie(environ.get("HTTP_COOKIE", ""), cls=ImmutableMultiDict)  # type: ignore[return-value]


class Request(flask.Request):
    @cached_property
    def cookies(self) -> ImmutableMultiDict[str, str]:  # type: ignore[override]
        return of(self.environ)
