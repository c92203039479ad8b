"""Reading form input defensively: size limits and control characters are refused up front.

Anything the browser could not have typed into our form (a 10 KB identifier, NUL bytes, undecodable
bytes turned into U+FFFD) is a form error, never something passed on to the database or LDAP.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from flask import request
from werkzeug.datastructures import MultiDict

from idp.web import prebuilt

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

IDENTIFIER_MAX = 254
PASSWORD_MAX = 1024


class FormError(ValueError):
    """A field is missing or malformed; ``field`` and ``reason`` say which and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _has_bad_characters(value: str) -> bool:
    return "\ufffd" in value or any(unicodedata.category(ch) == "Cc" for ch in value)


def text_field(name: str, *, max_length: int, required: bool = True, form: MultiDict[str, str] | None = None) -> str:
    """The stripped value of form field ``name`` (of ``form``, or else the request's), checked for
    length and control characters."""
    value = (request.form if form is None else form).get(name, "").strip()
    if not value:
        if required:
            raise FormError(name, "required")
        return ""
    if len(value) > max_length or _has_bad_characters(value):
        raise FormError(name, "invalid")
    return value


def password_field(name: str, form: MultiDict[str, str] | None = None) -> str:
    """A password is taken as typed (no stripping); only emptiness, size and NUL are refused."""
    value = (request.form if form is None else form).get(name, "")
    if not value:
        raise FormError(name, "required")
    if len(value) > PASSWORD_MAX or "\x00" in value:
        raise FormError(name, "invalid")
    return value


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site, else None: the sign-in page is no open redirector."""
    if not value or len(value) > 2048 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or _has_bad_characters(value):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def posted_form(environ: WSGIEnvironment) -> MultiDict[str, str] | None:
    """The fields of a form post read past Flask's request cycle (``idp.web.prebuilt``), as werkzeug's
    ``request.form`` reads them; None, the body left to the view, when werkzeug would read them
    otherwise or not at all (another content type, a body of unknown or excessive length, bytes that
    are not UTF-8)."""
    body = prebuilt.form_body_of(environ)
    if body is None:
        return None
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    return MultiDict(parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"))
