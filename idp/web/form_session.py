"""Flask's signed-cookie session (it carries the CSRF token of our forms) and that token, without
their per-request costs.

Flask builds a new itsdangerous serializer for every request, whether or not the request carries a
session cookie; on the protocol endpoints (token, userinfo, JWKS), which never have one, that was
the largest single cost of request set-up. Here the serializer is built once per app and key set,
and not at all for a request without the cookie; so is the CSRF token's, which Flask-WTF built at
every page with a form. Both sign without itsdangerous' attempt at compression
(``UncompressedSerializer``). Behaviour is otherwise Flask's and Flask-WTF's own: the cookie and the
token are the ones they would write, and they read them.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from flask import Flask, Request, current_app, g, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_wtf.csrf import same_origin
from itsdangerous import BadData, Serializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

_SESSION_EXTENSION = "dangnhap.session_serializer"
_CSRF_EXTENSION = "dangnhap.csrf_serializer"
# Flask-WTF's: its check of a form post reads the token with this salt, against this session key.
_CSRF_SALT = "wtf-csrf-token"
_CSRF_FIELD = "csrf_token"


class UncompressedSerializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer, without trying zlib on every payload it signs.

    The URL-safe serializer compresses each payload and keeps the result when it is shorter. Ours
    never are: the session holds the 40-character CSRF token, and the token is that value signed. The
    attempt was ≈ 20 µs of a signature's ≈ 31 µs here (a deflate stream set up each time), twice on
    every page with a form. An uncompressed payload is the format's own (a compressed one is marked by
    a leading dot), so the standard serializer reads what this one writes, and this one reads both.
    """

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


def _kept(app: Flask, name: str, keys: Hashable, build: Callable[[], URLSafeTimedSerializer]) -> URLSafeTimedSerializer:
    """The app's serializer ``name`` for these keys, built at the first use and when the keys change.
    Serializers keep no per-call state: one serves every thread."""
    kept = app.extensions.get(name)
    if kept is None or kept[0] != keys:
        kept = app.extensions[name] = (keys, build())
    return kept[1]  # type: ignore[no-any-return]


class FormSessionInterface(SecureCookieSessionInterface):
    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        def build() -> URLSafeTimedSerializer | None:
            flasks = super(FormSessionInterface, self).get_signing_serializer(app)
            if flasks is None:
                return None
            return UncompressedSerializer(flasks.secret_keys, salt=flasks.salt, serializer=flasks.serializer,
                                          signer_kwargs=flasks.signer_kwargs)

        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        return _kept(app, _SESSION_EXTENSION, keys, build)  # type: ignore[arg-type]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Without any Cookie header (the protocol endpoints), werkzeug's cookie parsing is skipped too.
        if app.secret_key and ("HTTP_COOKIE" not in request.environ
                               or not request.cookies.get(self.get_cookie_name(app))):
            return self.session_class()
        return super().open_session(app, request)


def csrf_token() -> str:
    """The signed CSRF token of the request's session, as Flask-WTF's ``generate_csrf`` makes it (one
    per request, the session's secret signed with the same key and salt, which its check reads)."""
    token = g.get(_CSRF_FIELD)
    if token is None:
        token = csrf_token_of(current_app._get_current_object(), session)  # type: ignore[attr-defined]
        setattr(g, _CSRF_FIELD, token)
    return token  # type: ignore[no-any-return]


def csrf_token_of(app: Flask, form_session: SessionMixin) -> str:
    """A new signed CSRF token of ``form_session``, whose secret is made if it has none yet; what
    ``csrf_token`` gives the request's pages, and the pages answered past Flask's request cycle
    (``idp.portal.blank_forms.early_blank_form``) give their own."""
    if not isinstance(form_session.get(_CSRF_FIELD), str):
        form_session[_CSRF_FIELD] = secrets.token_hex(20)
    return _csrf_serializer(app).dumps(form_session[_CSRF_FIELD])  # type: ignore[no-any-return]


def csrf_passed(app: Flask, page_request: Request, form_session: SessionMixin, form: Mapping[str, str]) -> bool:
    """Whether Flask-WTF's check of a form post (``CSRFProtect.protect``) lets this one through, asked
    past Flask's request cycle (``idp.portal.early_posts``) with the request's own form and
    form session: the same token in the same field, signed with the same key and salt, read with the
    same age limit, and over https the same Referer check. False as well when only Flask-WTF can say
    (the check turned off, a token in a header): the view then checks, and answers.
    """
    config = app.config
    token, secret = form.get(_CSRF_FIELD), form_session.get(_CSRF_FIELD)
    if not config["WTF_CSRF_ENABLED"] or not token or not isinstance(secret, str):
        return False
    try:
        signed = _csrf_serializer(app).loads(token, max_age=config["WTF_CSRF_TIME_LIMIT"])
    except BadData:
        return False
    if not isinstance(signed, str) or not hmac.compare_digest(secret, signed):
        return False
    if page_request.is_secure and config["WTF_CSRF_SSL_STRICT"]:
        referrer = page_request.referrer
        return bool(referrer) and same_origin(referrer, f"https://{page_request.host}/")
    return True


def _csrf_serializer(app: Flask) -> URLSafeTimedSerializer:
    """What signs and reads the CSRF tokens: Flask-WTF's key and salt, kept while the key stays."""
    key = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    return _kept(app, _CSRF_EXTENSION, key, lambda: UncompressedSerializer(key, salt=_CSRF_SALT))


_CSRF_CONTEXT = {_CSRF_FIELD: csrf_token}


def init_app(app: Flask) -> None:
    """After Flask-WTF's ``init_app``: the pages' ``csrf_token()`` is its context processor's, which
    this one, registered after it, replaces."""
    app.session_interface = FormSessionInterface()
    app.context_processor(lambda: _CSRF_CONTEXT)
