"""Languages: Vietnamese by default, English on request.

The language comes from, in order: ``ui_locales`` on the request (OIDC Core §3.1.2.1, space-separated,
first supported wins), the language cookie set by the switch, the configured default. The browser's
Accept-Language is deliberately not used: the province's pages speak Vietnamese unless asked.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.support import NullTranslations
from flask import Flask, Request, current_app, request
from flask_babel import Babel, format_datetime, get_locale, get_translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

LANG_COOKIE = "dn_lang"
TRANSLATIONS = Path(__file__).parent / "translations"


def supported(value: str | None) -> str | None:
    """The first supported locale of a space-separated preference list, e.g. "en-US vi"."""
    for tag in (value or "").split():
        code = tag.split("-")[0].lower()
        if code in current_app.config["IDP_LOCALES"]:
            return code
    return None


# Parsed once per code: Flask-Babel parses what the selector returns on every request (≈10 µs), but
# takes a Locale as it is.
_LOCALES: dict[str, Locale] = {}


def select_locale() -> Locale:
    return locale_of(request)


def locale_of(page_request: Request) -> Locale:
    """The language of ``page_request``'s page; the pages answered past Flask's request cycle
    (``idp.portal.blank_forms.early_blank_form``) ask it of their own request object."""
    # Query string only: reading a form body here would re-raise a body error inside the error page.
    code = (supported(page_request.args.get("ui_locales")) or supported(page_request.cookies.get(LANG_COOKIE))
            or current_app.config["IDP_DEFAULT_LOCALE"])
    locale = _LOCALES.get(code)
    if locale is None:
        locale = _LOCALES.setdefault(code, Locale.parse(code))
    return locale


def format_when(value: datetime | None) -> str:
    """dd/mm/yyyy HH:mm in the province's time zone, the way Vietnamese pages write dates."""
    return format_datetime(value, "dd/MM/yyyy HH:mm") if value is not None else ""


# The page's catalogue, put in every template's context once per render (see _install_page_gettext).
_CATALOGUE = "_catalogue"


def _page_catalogue(context: Context) -> NullTranslations:
    catalogue = context.get(_CATALOGUE)
    return catalogue if catalogue is not None else get_translations()


def _install_page_gettext(app: Flask) -> None:
    """Template strings are translated with the catalogue the page was rendered with.

    Flask-Babel's template callables find the catalogue again for every string: three trips
    through the ``g`` proxy and the locale's name, ≈15 µs, against 0.3 µs for the lookup itself,
    and the sign-in page has a dozen strings (a third of its rendering). The locale cannot change
    during a render, so the context processor below looks it up once.
    """
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        gettext=pass_context(lambda context, s: _page_catalogue(context).ugettext(s)),
        ngettext=pass_context(lambda context, s, p, n: _page_catalogue(context).ungettext(s, p, n)),
        pgettext=pass_context(lambda context, c, s: _page_catalogue(context).upgettext(c, s)),
        npgettext=pass_context(lambda context, c, s, p, n: _page_catalogue(context).unpgettext(c, s, p, n)),
        newstyle=True,
    )
    app.jinja_env.globals["_"] = _translate


@pass_context
def _translate(context: Context, string: str, **variables: object) -> str:
    """``_()`` in templates, in one call where jinja2's i18n extension makes three.

    The extension's ``_`` calls ``gettext``, whose new-style wrapper calls the function above, each
    through the template context's call machinery (≈2 µs a call); the sign-in page has a dozen
    strings. The result is the new-style one: translated, marked safe when autoescaping (the
    variables are then escaped as they are put in), and always ``%``-formatted.
    """
    translated = _page_catalogue(context).ugettext(string)
    if context.eval_ctx.autoescape:
        translated = Markup(translated)  # noqa: S704  # our catalogues, trusted as jinja2's gettext trusts them
    return translated % variables


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
    _install_page_gettext(app)
    app.jinja_env.filters["when"] = format_when
    app.context_processor(lambda: {"current_locale": str(get_locale()), _CATALOGUE: get_translations()})
