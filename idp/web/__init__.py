"""Web plumbing shared by every blueprint: security headers, CSRF, error pages, proxies."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import errors, form_session, health, prebuilt, security_headers

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    # Inside ProxyFix: what is answered past Flask's cycle sees the request as the views do (introspection
    # checks that it came over https, which behind a proxy only X-Forwarded-Proto says).
    prebuilt.init_app(app)
    proxies = app.config["IDP_PROXY_COUNT"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    form_session.init_app(app)
    csrf.init_app(app)
    security_headers.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health.bp)
