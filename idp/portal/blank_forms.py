"""The portal's form pages as a visitor first gets them, no error shown and nothing typed in: from
skeletons (``idp.web.page_skeleton``), whose holes are the form's CSRF token, the language switch's
return address and the values the page carries over (``next``, ``interaction``).

The sign-in page is the first page of every sign-in, and the second-factor page the second of every
sign-in with a code; a page showing an error, or a value typed in, is rendered in full.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SessionMixin

from idp import i18n
from idp.web import app_request, page_skeleton
from idp.web.form_session import csrf_token, csrf_token_of

from .language import language_url, language_url_of

_FUNCTIONS = {"csrf_token": csrf_token, "language_url": language_url}


def blank_form(template_name: str, fixed: dict[str, Any], **carried: str | None) -> str:
    """``template_name`` with ``error`` None, ``fixed`` (the same at every call) and the ``carried``
    values (None: not carried, left out of the page by the template)."""
    return page_skeleton.render(template_name, variables=carried, functions=_FUNCTIONS, error=None, **fixed)


def kept_blank_form(app: Flask, page_request: Request, form_session: SessionMixin, template_name: str,
                    **carried: str | None) -> str | None:
    """``blank_form`` for a page answered past Flask's request cycle, from its own request object
    and form session (which gets the CSRF token's secret if it has none); None if no page has been
    rendered from this skeleton yet (only a view can)."""
    skeleton = page_skeleton.kept(template_name, str(i18n.locale_of(page_request)), carried)
    if skeleton is None:
        return None
    token = csrf_token_of(app, form_session)
    urls = app_request.url_adapter_of(page_request)
    return skeleton.fill(carried, {"csrf_token": lambda: token,
                                   "language_url": lambda code: language_url_of(urls, page_request, code)})
