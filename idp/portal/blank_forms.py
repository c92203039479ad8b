"""The portal's form pages as a visitor first gets them, no error shown and nothing typed in: from
skeletons (``idp.web.page_skeleton``), whose holes are the form's CSRF token, the language switch's
return address and the values the page carries over (``next``, ``interaction``).

The sign-in page is the first page of every sign-in, and the second-factor page the second of every
sign-in with a code; a page showing an error, or a value typed in, is rendered in full.
"""

from __future__ import annotations

from typing import Any

from idp.web import page_skeleton
from idp.web.form_session import csrf_token

from .language import language_url

_FUNCTIONS = {"csrf_token": csrf_token, "language_url": language_url}


def blank_form(template_name: str, fixed: dict[str, Any], **carried: str | None) -> str:
    """``template_name`` with ``error`` None, ``fixed`` (the same at every call) and the ``carried``
    values (None: not carried, left out of the page by the template)."""
    return page_skeleton.render(template_name, variables=carried, functions=_FUNCTIONS, error=None, **fixed)
