"""The portal's form pages as a visitor first gets them, no error shown and nothing typed in: from
skeletons (``idp.web.page_skeleton``), whose holes are the form's CSRF token, the language switch's
return address and the values the page carries over (``next``, ``interaction``).

The sign-in page is the first page of every sign-in, and the second-factor page the second of every
sign-in with a code; a page showing an error, or a value typed in, is rendered in full.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request

from idp import i18n
from idp.web import app_request, page_skeleton, prebuilt
from idp.web.form_session import csrf_token, csrf_token_of
from idp.web.security_headers import csp_of

from .language import language_url, language_url_of

_FUNCTIONS = {"csrf_token": csrf_token, "language_url": language_url}


def blank_form(template_name: str, fixed: dict[str, Any], **carried: str | None) -> str:
    """``template_name`` with ``error`` None, ``fixed`` (the same at every call) and the ``carried``
    values (None: not carried, left out of the page by the template)."""
    return page_skeleton.render(template_name, variables=carried, functions=_FUNCTIONS, error=None, **fixed)


def early_blank_form(app: Flask, page_request: Request, template_name: str,
                     **carried: str | None) -> prebuilt.Page | None:
    """``blank_form`` as a page answered past Flask's request cycle (``idp.web.prebuilt``), from the
    page's own request object, with the form session's cookie and the page's CSP: the session (which
    gets the CSRF token's secret if it has none) is opened and saved by Flask's own session
    interface, so the cookie is the one Flask would set. None, the view answers, without a secret
    key (Flask then has no session either) or before a view has rendered the skeleton (only a view
    can)."""
    skeleton = page_skeleton.kept(template_name, str(i18n.locale_of(page_request)), carried)
    form_session = app.session_interface.open_session(app, page_request)
    if skeleton is None or form_session is None:
        return None
    token = csrf_token_of(app, form_session)
    urls = app_request.url_adapter_of(page_request)
    page = skeleton.fill(carried, {"csrf_token": lambda: token,
                                   "language_url": lambda code: language_url_of(urls, page_request, code)})
    response = app.response_class()
    app.session_interface.save_session(app, form_session, response)
    return prebuilt.Page(page.encode(), response.headers.getlist("Set-Cookie"), csp_of(page_request.environ))
