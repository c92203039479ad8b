"""dangnhap: the province's single sign-on identity provider.

``create_app`` reads as the table of contents of the application: configuration, then each package
wiring itself with ``init_app``, then the blueprints and the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None, *, commands: bool = True) -> Flask:
    """Build one application. ``config`` overrides config.py and the IDP_* environment.

    ``commands=False`` leaves out the command line and the migrations (Flask-Migrate with Alembic):
    a serving worker never runs them, and Alembic alone costs each worker ~10 MiB.
    """
    from idp import branding, cli, i18n, oidc, portal, settings, stamped_cache, storage, web

    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                instance_path=settings.instance_path(config, PROJECT_ROOT / "instance"))
    settings.load(app, config)
    storage.init_app(app)
    stamped_cache.init_app(app)
    i18n.init_app(app)
    web.init_app(app)
    branding.init_app(app)
    oidc.init_app(app)
    portal.init_app(app)
    if commands:
        storage.init_migrations(app)
        cli.init_app(app)
    return app
