"""The pages people see: sign-in, sign-out, their account, the language switch."""

from __future__ import annotations

from flask import Blueprint, Flask

from idp.web import prebuilt

bp = Blueprint("portal", __name__)


def init_app(app: Flask) -> None:
    from . import account, interaction, language, second_factor, signin, signout, two_step  # noqa: F401  (the modules add their routes to bp)

    app.register_blueprint(bp)
    prebuilt.page(app, "/login", signin.early_login_page)
    prebuilt.move(app, "/login", signin.early_sign_in)
    prebuilt.page(app, "/login/second-factor", second_factor.early_second_factor_page)
    prebuilt.move(app, "/login/second-factor", second_factor.early_second_factor)
