"""The language switch: remembers the choice in a cookie and returns to the page it came from."""

from __future__ import annotations

from flask import Request, abort, current_app, redirect, request, url_for
from werkzeug.routing import MapAdapter
from werkzeug.wrappers import Response

from idp.i18n import LANG_COOKIE
from idp.web import app_request

from . import bp
from .forms import safe_next

ONE_YEAR = 365 * 24 * 3600


@bp.app_template_global()
def language_url(code: str) -> str:
    """The language switch's link to ``code``, back to the page it is on (a GET's own address; after a
    form post, the home page: the post cannot be repeated)."""
    return language_url_of(app_request.url_adapter(), request, code)


def language_url_of(urls: MapAdapter, page_request: Request, code: str) -> str:
    """``language_url`` of ``page_request`` with the URL adapter bound to it (what ``url_for`` builds
    with): a page answered past Flask's request cycle (``idp.portal.blank_forms.early_blank_form``)
    has its own."""
    return urls.build("portal.switch_language",
                      {"code": code, "next": page_request.full_path if page_request.method == "GET" else None})


@bp.get("/lang/<code>")
def switch_language(code: str) -> Response:
    if code not in current_app.config["IDP_LOCALES"]:
        abort(404)
    response = redirect(safe_next(request.args.get("next")) or url_for("portal.home"))
    response.set_cookie(LANG_COOKIE, code, max_age=ONE_YEAR, samesite="Lax", httponly=True,
                        secure=current_app.config["IDP_COOKIE_SECURE"])
    return response
