"""A page rendered once per language, with holes where each request's own values go.

Every citizen's sign-in starts with the sign-in page, and on the one core a worker has, rendering it
was the largest piece of a sign-in besides the password hash: ≈ 180 µs of template (a dozen
translated strings, four URLs, the branding) for a page in which only the form's CSRF token, the
carried-over ``next`` and ``interaction`` and the language switch's return address change from one
request to the next. Here the template is rendered once with a marker in place of each of those
values, split at the markers, and a request's page is the pieces joined with its values escaped as
Jinja's autoescaping escapes them (``markupsafe.escape``): the same text as a full render, which
``tests/web/test_page_skeleton.py`` compares with hostile values.

A hole is a template variable or a template function whose value the template outputs as it is
(``{{ next }}``, ``{{ csrf_token() }}``, in text or in a quoted attribute), never filtered: a filter
would transform the marker instead of the value. A variable may be tested (``{% if next %}``): the
page keeps one skeleton per set of variables present. Skeletons are kept per app, template and
language; a template reloaded in development builds them again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, render_template
from flask_babel import get_locale
from jinja2 import Template
from markupsafe import Markup, escape

_EXTENSION = "dangnhap.page_skeletons"
# A hole's name and arguments, between NULs (which no template text contains), split by US.
_MARKER = re.compile("\x00([^\x00]*)\x00")
_SEPARATOR = "\x1f"


def _marker(name: str, *args: str) -> Markup:
    return Markup("\x00" + _SEPARATOR.join((name, *args)) + "\x00")  # noqa: S704  # our names and arguments


def _marking(name: str) -> Callable[..., Markup]:
    return lambda *args: _marker(name, *args)


class Skeleton:
    """A rendered page as its static pieces and, between them, the holes (name and arguments)."""

    __slots__ = ("_pieces", "_holes")

    def __init__(self, rendered: str) -> None:
        # re.split with one group alternates text and group: text, hole, text, hole, ..., text.
        pieces = _MARKER.split(rendered)
        self._pieces = pieces
        self._holes = [(index, *pieces[index].split(_SEPARATOR)) for index in range(1, len(pieces), 2)]

    def fill(self, variables: Mapping[str, str | None], functions: Mapping[str, Callable[..., str]]) -> str:
        pieces = self._pieces.copy()
        for index, name, *args in self._holes:
            value = variables[name] if name in variables else functions[name](*args)
            pieces[index] = str(escape(value))
        return "".join(pieces)


def render(template_name: str, *, variables: Mapping[str, str | None],
           functions: Mapping[str, Callable[..., str]], **fixed: Any) -> str:
    """``template_name`` as ``render_template`` would render it with ``fixed``, ``variables`` and
    ``functions``, from the skeleton kept for the request's language and the variables present
    (not None). ``fixed`` must be the same at every call: it is rendered into the skeleton."""
    locale = str(get_locale())
    skeleton = kept(template_name, locale, variables)
    if skeleton is None:
        template: Template = current_app.jinja_env.get_template(template_name)
        key = _key(template_name, locale, variables)
        marked = {name: _marker(name) if name in key[2] else None for name in variables}
        skeleton = Skeleton(render_template(template, **fixed, **marked,
                                            **{name: _marking(name) for name in functions}))
        _kept_skeletons()[key] = (template, skeleton)
    return skeleton.fill(variables, functions)


def kept(template_name: str, locale: str, variables: Mapping[str, str | None]) -> Skeleton | None:
    """The skeleton ``render`` has made of ``template_name`` in ``locale`` for the variables present
    in ``variables``, if it has and the template has not been reloaded since. A page answered past
    Flask's request cycle (``idp.portal.blank_forms.early_blank_form``) has no request context to render
    one in: the view renders the first."""
    found = _kept_skeletons().get(_key(template_name, locale, variables))
    if found is None or found[0] is not current_app.jinja_env.get_template(template_name):
        return None
    return found[1]


_Key = tuple[str, str, frozenset[str]]


def _key(template_name: str, locale: str, variables: Mapping[str, str | None]) -> _Key:
    return template_name, locale, frozenset(name for name, value in variables.items() if value is not None)


def _kept_skeletons() -> dict[_Key, tuple[Template, Skeleton]]:
    return current_app.extensions.setdefault(_EXTENSION, {})  # type: ignore[no-any-return]
