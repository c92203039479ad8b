"""Security headers on every response.

The CSP allows no inline script or style (branding colours come from /branding.css), no framing
(clickjacking of the sign-in form), and forms that post only to us. Pages that can carry a form or
personal data are never cached; static files may be.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

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


# Sent on every response unless a view set its own value (a view may relax framing, say).
_DEFAULTS = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    # Codes and interaction ids travel in URLs: never send them to another site. Same-origin
    # requests keep the Referer, which the CSRF check of https form posts requires.
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


def _add_headers(response: Response) -> Response:
    headers = response.headers
    # One pass over the headers already set, then appends: this runs on every response, and
    # werkzeug's setdefault scans the whole list once per call.
    present = {name.lower() for name, _ in headers.items()}
    missing = [pair for pair in _DEFAULTS if pair[0].lower() not in present]
    if current_app.config["IDP_COOKIE_SECURE"] and "strict-transport-security" not in present:
        missing.append(_HSTS)
    if request.endpoint != "static" and "cache-control" not in present:
        missing.extend(_NO_STORE)
    headers.extend(missing)
    headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
