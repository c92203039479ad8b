"""Web plumbing shared by every blueprint: security headers, CSRF, error pages, proxies."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import errors, form_session, health, prebuilt, security_headers

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    proxies = app.config["IDP_PROXY_COUNT"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    prebuilt.init_app(app)  # outermost: what it sends again does not depend on the client's address
    form_session.init_app(app)
    csrf.init_app(app)
    security_headers.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health.bp)
