"""Web plumbing shared by every blueprint: security headers, CSRF, error pages, proxies."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import app_request, errors, form_session, health, prebuilt, security_headers

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    # Right around Flask, so that the responses kept past Flask's cycle carry the security headers as sent.
    security_headers.init_app(app)
    # Inside ProxyFix: what is answered past Flask's cycle sees the request as the views do (introspection
    # checks that it came over https, which behind a proxy only X-Forwarded-Proto says).
    prebuilt.init_app(app)
    proxies = app.config["IDP_PROXY_COUNT"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    app.request_class = app_request.Request  # cookies and query read from the environ directly
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # _check_csrf is the hook
    csrf.init_app(app)
    form_session.init_app(app)
    app.before_request(_check_csrf)
    errors.init_app(app)
    app.register_blueprint(health.bp)


def _check_csrf() -> None:
    """Flask-WTF's check of every form post, exemptions included, asked only of the methods it checks.

    Its own hook looks up the view's exemption before the method (a blueprint and a view lookup, a
    name built): ≈14 µs of every GET, userinfo's and every SSO authorization's included, for nothing.
    """
    config = current_app.config
    if config["WTF_CSRF_ENABLED"] and request.method in config["WTF_CSRF_METHODS"]:
        csrf.protect(apply_exemptions=True)
