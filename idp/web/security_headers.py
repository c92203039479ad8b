"""Security headers on every response.

The CSP allows no inline script or style (branding colours come from /branding.css), no framing
(clickjacking of the sign-in form), and forms that post only to us. Pages that can carry a form or
personal data are never cached; static files may be.

A page whose form is answered by a redirect to an application (the sign-in, second-factor, consent
and account-choice pages of an authorization request, the confirmation of a sign-out that returns to
the application) lets its forms go to that application's origin too (``let_forms_go_to``): browsers
check form-action on every redirect that follows a form's POST, and Chromium refuses one to another
origin, so with ``'self'`` alone the person never got back to the application.

They are added to the header list Flask hands to the server, by WSGI middleware just outside Flask,
rather than by an ``after_request`` hook: through werkzeug's ``Headers`` (a scan per name, a check of
every value) the hook cost ≈25 µs of every request routed by Flask, a tenth of a trivial view's whole
request cycle. What the middleware adds is the same: a header a view set itself (a page that may be
framed, say) is kept, and the responses kept past Flask's cycle (``prebuilt``, which wraps this) carry
them as sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


_CSP_NAME = "content-security-policy"
# Where a page that lets its forms go to an application keeps its CSP, for this middleware (and for
# the pages sent past Flask's cycle, ``csp_of``).
_PAGE_CSP = "dangnhap.page_csp"
_HOST_SOURCE = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")

# Sent on every response unless a view set its own value (a view may relax framing, say); the CSP
# too (``_PAGE_CSP`` or ``CSP``).
_DEFAULTS = (
    ("X-Frame-Options", "DENY"),
    # Codes and interaction ids travel in URLs: never send them to another site. Same-origin
    # requests keep the Referer, which the CSRF check of https form posts requires.
    ("Referrer-Policy", "same-origin"),
    # No Cross-Origin-Opener-Policy: applications sign in and out in popups (oidc-client-ts's
    # signinPopup, MSAL's loginPopup), where the popup's last page, the application's own callback,
    # reaches the application's window through window.opener. Any COOP but unsafe-none on a page or a
    # redirect of the way (same-origin, same-origin-allow-popups alike) cuts that link in Chromium;
    # framing stays forbidden. Keycloak and node-oidc-provider send none either.
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
_NOSNIFF = ("X-Content-Type-Options", "nosniff")  # on every response, whatever a view said


class SecurityHeaders:
    """WSGI middleware around Flask: completes the header list of every response."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self._config = app.config
        self._wsgi_app = wsgi_app
        self._static = f"{app.static_url_path}/"  # Flask's static files: cacheable

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        static = environ.get("PATH_INFO", "").startswith(self._static)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, self.completed(headers, static=static, csp=csp_of(environ)), exc_info)

        return self._wsgi_app(environ, start)

    def completed(self, headers: list[tuple[str, str]], *, static: bool, csp: str) -> list[tuple[str, str]]:
        """``headers`` with every default the response did not set itself; ``csp`` is the page's."""
        present = {name.lower() for name, _ in headers}
        if "x-content-type-options" in present:
            headers = [pair for pair in headers if pair[0].lower() != "x-content-type-options"]
        if _CSP_NAME not in present:
            headers.append(("Content-Security-Policy", csp))
        headers.extend(pair for pair in _DEFAULTS if pair[0].lower() not in present)
        if self._config["IDP_COOKIE_SECURE"] and "strict-transport-security" not in present:
            headers.append(_HSTS)
        if not static and "cache-control" not in present:
            headers.extend(_NO_STORE)
        headers.append(_NOSNIFF)
        return headers


def source_of(uri: str) -> str | None:
    """The CSP source expression that names where ``uri`` is: its origin for http and https, its
    scheme for an app's own (``com.example.app:``); None when a source expression cannot name it (an
    IPv6 address, a malformed URI), and then nothing is let through."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        host = parts.netloc.rpartition("@")[2]
        return f"{scheme}://{host}" if _HOST_SOURCE.fullmatch(host) else None
    return f"{scheme}:" if _SCHEME.fullmatch(scheme) else None


@lru_cache(maxsize=256)
def forms_going_to(uri: str) -> str:
    """The CSP of a page whose forms may also end at ``uri``, an application's registered redirect
    URI (kept: there are few)."""
    source = source_of(uri)
    return CSP if source is None else CSP.replace("form-action 'self'", f"form-action 'self' {source}")


def let_forms_go_to(environ: WSGIEnvironment, uri: str) -> None:
    """The page answering the request ``environ`` has forms that may end at ``uri`` (see the module)."""
    environ[_PAGE_CSP] = forms_going_to(uri)


def csp_of(environ: WSGIEnvironment) -> str:
    """The CSP of the page answering ``environ``."""
    return environ.get(_PAGE_CSP, CSP)  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    app.wsgi_app = SecurityHeaders(app, app.wsgi_app)  # type: ignore[method-assign]
