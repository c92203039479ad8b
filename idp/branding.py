"""Branding from configuration: the same templates serve any province.

Colours are served as CSS custom properties from /branding.css, so the strict CSP (no inline style)
holds and a province changes its look by configuration alone.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, url_for

bp = Blueprint("branding", __name__)

_CSS_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-z]{3,20})$")


def _logo_url() -> str:
    logo = current_app.config["IDP_BRAND_LOGO"]
    return logo if logo.startswith("https://") else url_for("static", filename=logo)


def _context() -> dict[str, Any]:
    cfg = current_app.config
    return {"brand": {"province": cfg["IDP_PROVINCE_NAME"], "logo_url": _logo_url(),
                      "support": cfg["IDP_SUPPORT_CONTACT"]}}


@bp.get("/branding.css")
def branding_css() -> Response:
    cfg = current_app.config
    colours = {"--brand-primary": cfg["IDP_BRAND_PRIMARY_COLOR"], "--brand-accent": cfg["IDP_BRAND_ACCENT_COLOR"]}
    lines = [f"  {name}: {value};" for name, value in colours.items() if _CSS_COLOR.match(value)]
    response = Response(":root {\n" + "\n".join(lines) + "\n}\n", mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def init_app(app: Flask) -> None:
    app.context_processor(_context)
    app.register_blueprint(bp)
