"""Responses kept whole and sent again past Flask's request cycle: the discovery documents and the JWKS;
and userinfo's answers, sent with the view's kept headers.

Why: relying parties and their libraries fetch these constantly (at start-up, on every unknown
``kid``, in health checks), while they change only with the configuration or a key rotation. The
document itself is prebuilt bytes, so Flask's request cycle (request and response objects, URL
matching, hooks, headers: ≈0.15 ms) was nearly all of the cost; node-oidc-provider answers in
≈0.1 ms (bench/README.md).

Staying identical to the view: the first request for a path goes through Flask like any other, and
its response — status, headers (the security headers included) and body — is kept. A later plain
GET is answered with the kept response if the document's current bytes are still the body that was
sent. That is asked on every request, in an app context, so the keys' version stamps are looked at
exactly as the view would look at them: a rotation is served as soon as the view would serve it.
Anything else (another method, a query string, a response that was not a 200 or set a cookie, a
failure while asking) goes to Flask.

Answers (``answer``) are the same idea for a body that differs per request (userinfo, and
introspection by a client authenticating with its secret): the headers are the view's own, kept from
its first 200 (so they must not depend on the request: these endpoints send their content type,
no-store and the security headers), and the body is what a plain function of the request returns, in
an app context; when it returns None (or fails), the view answers instead. A POST's function reads
the body with ``body_of``, which leaves it in place for the view.

Redirects (``redirect``) are the same again for a GET with a query string whose answer is a 302 to a
place that differs per request (the authorization endpoint's code for the client): the headers are
those of the view's first 302 without a body, the Location the function's.

Pages (``page``) are the same again for a GET, with or without a query string, whose 200 is a page
that may set cookies (the sign-in page, with the form session's cookie): the headers are those of the
view's first 200 that set a cookie, without its cookies and its length; the body and the cookies
(none or more ``Set-Cookie`` values) are the function's, the cookies put where the view put its own,
and so is the CSP when the function gives one (the page of one application's request).

Moves (``move``) are the same again for a form POST whose answer is a 302 without a body that may set
cookies (the sign-in form's, with the SSO session's cookie; the second factor's code, with none): the
headers are those of the view's last such 302, without its Location and its cookies; the Location and
the cookies are the function's. Cookies go where the view put its own; when the view's 302 set none,
an answer with cookies is the view's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from flask import Flask, current_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

EXTENSION = "dangnhap.prebuilt"
# A body read by an answer's function: larger ones (and those of unknown length) are the view's.
MAX_ANSWERED_BODY = 16 * 1024

FORM_TYPE = "application/x-www-form-urlencoded"

_T = TypeVar("_T")
_COOKIE = "set-cookie"
_CSP = "content-security-policy"


class Page(NamedTuple):
    """A page's body, the ``Set-Cookie`` values sent with it and, when given, its own CSP in place of
    the view's (``security_headers.let_forms_go_to``: the page of one application's request)."""

    body: bytes
    cookies: Sequence[str] = ()
    csp: str | None = None


class Moved(NamedTuple):
    """Where a redirect sends the browser (a URI, as werkzeug sends a Location) and the ``Set-Cookie``
    values sent with it."""

    location: str
    cookies: Sequence[str] = ()


@dataclass(frozen=True)
class _Kept:
    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    at: int = 0  # for an answer, a redirect and a page: where their own header goes among the headers (taken out)
    # For a page and a move: where their cookies go among the headers (taken out); None when the
    # view's response set none, so that where cookies would go is not known.
    cookies_at: int | None = 0

    def headers_with(self, name: str, value: str) -> list[tuple[str, str]]:
        """The kept headers with ``name`` put back."""
        headers = list(self.headers)
        headers.insert(self.at, (name, value))
        return headers

    def headers_with_cookies(self, name: str, value: str, cookies: Sequence[str]) -> list[tuple[str, str]] | None:
        """The kept headers with ``name`` and ``cookies`` put back; None when there are cookies and
        where they go is not known."""
        if not cookies:
            return self.headers_with(name, value)
        if self.cookies_at is None:
            return None
        headers = list(self.headers)
        headers[self.cookies_at:self.cookies_at] = [("Set-Cookie", cookie) for cookie in cookies]
        headers.insert(self.at, (name, value))
        return headers

    @classmethod
    def without(cls, name: str, status: str, headers: list[tuple[str, str]], *, cookies: bool = False,
                cookieless: bool = False) -> _Kept | None:
        """The response's status and headers with its header ``name`` taken out (None if it has
        none), and with ``cookies`` its cookies too (None if it set none, unless ``cookieless``)."""
        cookies_at: int | None = 0
        if cookies:
            names = [header.lower() for header, _ in headers]
            if _COOKIE in names:
                cookies_at = names.index(_COOKIE)
                headers = [header for header in headers if header[0].lower() != _COOKIE]
            elif cookieless:
                cookies_at = None
            else:
                return None
        names = [header.lower() for header, _ in headers]
        if name not in names:
            return None
        at = names.index(name)
        return cls(status, (*headers[:at], *headers[at + 1:]), b"", at,
                   None if cookies_at is None else cookies_at - (at < cookies_at))


_Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class _Kind(Generic[_T]):
    """How one method and path is answered past Flask's cycle: ``make`` (in an app context) makes what
    differs per request, ``send`` makes the headers and the body of it and the kept response (None:
    the view answers), ``keep`` what is kept of the view's response; ``any_query``: also a request
    with a query string."""

    make: Callable[[WSGIEnvironment], _T | None]
    send: Callable[[_Kept, _T], tuple[_Headers, bytes] | None]
    keep: Callable[[str, _Headers, bytes], _Kept | None]
    any_query: bool = False


class PrebuiltResponses:
    """WSGI middleware in front of the app: kept responses for the paths given to ``serve``, kept
    headers for those given to ``answer``, ``redirect``, ``page`` and ``move``."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self._app = app
        self._wsgi_app = wsgi_app
        self._kinds: dict[tuple[str, str], _Kind[Any]] = {}  # by method and path
        self._kept: dict[tuple[str, str], _Kept] = {}

    def serve(self, path: str, document: Callable[[], bytes]) -> None:
        """Keep the response for GET ``path``, whose body is what ``document()`` returns (in an app context)."""
        self._kinds["GET", path] = _Kind(lambda environ: document(), _send_document, self._keep_whole)

    def answer(self, method: str, path: str, respond: Callable[[WSGIEnvironment], bytes | None]) -> None:
        """Answer ``method`` ``path`` with the view's kept headers and the body ``respond(environ)``
        returns (in an app context), unless it returns None."""
        self._kinds[method, path] = _Kind(
            respond, lambda kept, body: (kept.headers_with("Content-Length", str(len(body))), body), self._keep_answer)

    def redirect(self, path: str, locate: Callable[[WSGIEnvironment], str | None]) -> None:
        """Answer GET ``path`` (with a query string) with the view's kept headers of a 302 and the
        Location ``locate(environ)`` returns (in an app context), unless it returns None."""
        self._kinds["GET", path] = _Kind(
            locate, lambda kept, location: (kept.headers_with("Location", location), b""), self._keep_redirect,
            any_query=True)

    def page(self, path: str, produce: Callable[[WSGIEnvironment], Page | None]) -> None:
        """Answer GET ``path`` with the view's kept headers of a 200 page and the body and cookies
        ``produce(environ)`` returns (in an app context), unless it returns None."""
        self._kinds["GET", path] = _Kind(produce, _send_page, self._keep_page, any_query=True)

    def move(self, path: str, respond: Callable[[WSGIEnvironment], Moved | None]) -> None:
        """Answer POST ``path`` with the view's kept headers of a bodiless 302 and the Location and
        cookies ``respond(environ)`` returns (in an app context), unless it returns None."""
        self._kinds["POST", path] = _Kind(respond, _send_move, self._keep_move, any_query=True)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        key = (environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        kind = self._kinds.get(key)
        if kind is None or (environ.get("QUERY_STRING") and not kind.any_query):
            return self._wsgi_app(environ, start_response)
        kept = self._kept.get(key)
        if kept is not None and (made := self._asked(lambda: kind.make(environ))) is not None and (
                sent := kind.send(kept, made)) is not None:
            start_response(kept.status, sent[0])
            return [sent[1]]
        return self._answer_and_keep(key, environ, start_response, keep=kind.keep)

    def _asked(self, produce: Callable[[], _T | None]) -> _T | None:
        try:
            with self._app.app_context():
                return produce()
        except Exception:  # the view meets the same failure and answers it properly
            return None

    def _answer_and_keep(self, key: tuple[str, str], environ: WSGIEnvironment, start_response: StartResponse, *,
                         keep: Callable[[str, list[tuple[str, str]], bytes], _Kept | None]) -> Iterable[bytes]:
        """The view's response; what ``keep`` makes of it, if anything, is kept for the next requests."""
        started: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return start_response(status, headers, exc_info)

        chunks = self._wsgi_app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = started
        if kept := keep(status, headers, body):
            self._kept[key] = kept
        return [body]

    @staticmethod
    def _keep_whole(status: str, headers: list[tuple[str, str]], body: bytes) -> _Kept | None:
        """A document's 200, whole, if it sets no cookie."""
        return _Kept(status, tuple(headers), body) if status.startswith("200 ") and _no_cookie(headers) else None

    @staticmethod
    def _keep_answer(status: str, headers: list[tuple[str, str]], body: bytes) -> _Kept | None:
        """An answer's 200 that sets no cookie, without its body (no one's claims) and its length (the
        next body has its own)."""
        return _Kept.without("content-length", status, headers) if status.startswith("200 ") and _no_cookie(
            headers) else None

    @staticmethod
    def _keep_redirect(status: str, headers: list[tuple[str, str]], body: bytes) -> _Kept | None:
        """A 302 without a body that sets no cookie, without its Location (the next one goes elsewhere)."""
        return _Kept.without("location", status, headers) if (
            status.startswith("302 ") and not body and _no_cookie(headers)) else None

    @staticmethod
    def _keep_page(status: str, headers: list[tuple[str, str]], body: bytes) -> _Kept | None:
        """A page's 200 that sets a cookie, without its length and its cookies (the next visitor's are
        their own), so that where the cookies go is known."""
        return _Kept.without("content-length", status, headers, cookies=True) if status.startswith("200 ") else None

    @staticmethod
    def _keep_move(status: str, headers: list[tuple[str, str]], body: bytes) -> _Kept | None:
        """A 302 without a body, without its Location and its cookies if it set any (the next visitor
        goes elsewhere, with cookies of their own)."""
        return _Kept.without("location", status, headers, cookies=True, cookieless=True) if (
            status.startswith("302 ") and not body) else None


def _send_document(kept: _Kept, document: bytes) -> tuple[_Headers, bytes] | None:
    """The kept response whole, if its body is still the document."""
    return (list(kept.headers), kept.body) if document == kept.body else None


def _send_page(kept: _Kept, page: Page) -> tuple[_Headers, bytes] | None:
    headers = kept.headers_with_cookies("Content-Length", str(len(page.body)), page.cookies)
    if headers is None:
        return None
    if page.csp is not None:
        headers = [(name, page.csp if name.lower() == _CSP else value) for name, value in headers]
    return headers, page.body


def _send_move(kept: _Kept, moved: Moved) -> tuple[_Headers, bytes] | None:
    headers = kept.headers_with_cookies("Location", moved.location, moved.cookies)
    return None if headers is None else (headers, b"")


def _no_cookie(headers: list[tuple[str, str]]) -> bool:
    return all(name.lower() != _COOKIE for name, _ in headers)


def serve(app: Flask, path: str, document: Callable[[], bytes]) -> None:
    """Answer GET ``path`` from a kept response while ``document()`` is unchanged (see the module)."""
    app.extensions[EXTENSION].serve(path, document)


def answer(app: Flask, method: str, path: str, respond: Callable[[WSGIEnvironment], bytes | None]) -> None:
    """Answer ``method`` ``path`` with the view's kept headers and ``respond(environ)``'s body (see the module)."""
    app.extensions[EXTENSION].answer(method, path, respond)


def redirect(app: Flask, path: str, locate: Callable[[WSGIEnvironment], str | None]) -> None:
    """Answer GET ``path`` with the view's kept 302 headers and ``locate(environ)``'s Location (see the module)."""
    app.extensions[EXTENSION].redirect(path, locate)


def page(app: Flask, path: str, produce: Callable[[WSGIEnvironment], Page | None]) -> None:
    """Answer GET ``path`` with the view's kept headers of a 200 page and ``produce(environ)``'s body
    and cookies (see the module)."""
    app.extensions[EXTENSION].page(path, produce)


def move(app: Flask, path: str, respond: Callable[[WSGIEnvironment], Moved | None]) -> None:
    """Answer POST ``path`` with the view's kept headers of a 302 that set cookies and
    ``respond(environ)``'s Location and cookies (see the module)."""
    app.extensions[EXTENSION].move(path, respond)


def body_of(environ: WSGIEnvironment) -> bytes | None:
    """The request's body, read whole and put back for the view; None (nothing read) when its length
    is not given or is over ``MAX_ANSWERED_BODY`` or the app's MAX_CONTENT_LENGTH (the view answers
    that one with its 413)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 <= length <= min(MAX_ANSWERED_BODY, current_app.config["MAX_CONTENT_LENGTH"] or MAX_ANSWERED_BODY):
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = BytesIO(body)
    return body


def form_body_of(environ: WSGIEnvironment) -> bytes | None:
    """``body_of`` a form post (urlencoded); None, nothing read, for a body of another type."""
    if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM_TYPE:
        return None
    return body_of(environ)


def json_document(value: Any) -> bytes:
    """The JSON an endpoint sends, the same bytes whether its view or its answer sends them."""
    return current_app.json.dumps(value).encode()


def init_app(app: Flask) -> None:
    middleware = PrebuiltResponses(app, app.wsgi_app)
    app.extensions[EXTENSION] = middleware
    app.wsgi_app = middleware  # type: ignore[method-assign]
