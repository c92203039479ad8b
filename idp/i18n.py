"""Languages: Vietnamese by default, English on request.

The language comes from, in order: ``ui_locales`` on the request (OIDC Core §3.1.2.1, space-separated,
first supported wins), the language cookie set by the switch, the configured default. The browser's
Accept-Language is deliberately not used: the province's pages speak Vietnamese unless asked.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import Flask, current_app, request
from flask_babel import Babel, format_datetime, get_locale

LANG_COOKIE = "dn_lang"
TRANSLATIONS = Path(__file__).parent / "translations"


def supported(value: str | None) -> str | None:
    """The first supported locale of a space-separated preference list, e.g. "en-US vi"."""
    for tag in (value or "").split():
        code = tag.split("-")[0].lower()
        if code in current_app.config["IDP_LOCALES"]:
            return code
    return None


def select_locale() -> str:
    # Query string only: reading a form body here would re-raise a body error inside the error page.
    return (supported(request.args.get("ui_locales")) or supported(request.cookies.get(LANG_COOKIE))
            or current_app.config["IDP_DEFAULT_LOCALE"])


def format_when(value: datetime | None) -> str:
    """dd/mm/yyyy HH:mm in the province's time zone, the way Vietnamese pages write dates."""
    return format_datetime(value, "dd/MM/yyyy HH:mm") if value is not None else ""


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.filters["when"] = format_when
    app.context_processor(lambda: {"current_locale": str(get_locale())})
