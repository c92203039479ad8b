"""The sign-in and second-factor forms from their skeletons (``idp.web.page_skeleton``, through
``idp.portal.blank_forms``) are the same text as the full render of their templates, whatever the
request's values: the holes are escaped as Jinja escapes them."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient

from idp import i18n
from idp.portal.blank_forms import blank_form
from idp.web import page_skeleton

HOSTILE = "/x?a=\"><script>alert('1')</script>&b=<&c=\x00csrf_token\x00"


def _both(next_: str | None, interaction: str | None) -> tuple[str, str]:
    """The sign-in form from its skeleton and from a full render, in the same request."""
    from_skeleton = blank_form("portal/login.html", {"identifier": ""}, next=next_, interaction=interaction)
    full = render_template("portal/login.html", identifier="", error=None, next=next_, interaction=interaction)
    return from_skeleton, full


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("next_", [None, "/account", HOSTILE])
@pytest.mark.parametrize("interaction", [None, "Zk3-q_9", "\"' onfocus=alert(1) x=<>&amp;"])
def test_the_skeleton_gives_the_full_renders_text(app: Flask, language: str, next_: str | None,
                                                   interaction: str | None) -> None:
    query = "?next=" + quote(HOSTILE, safe="")
    with app.app_context(), app.test_request_context("/login" + query,
                                                     headers={"Cookie": f"{i18n.LANG_COOKIE}={language}"}):
        for _ in range(2):  # built, then kept
            from_skeleton, full = _both(next_, interaction)
            assert from_skeleton == full
        assert f'<html lang="{language}"' in full
        assert "<script>" not in full


@pytest.mark.parametrize("interaction", [None, "\"'><b>&amp;"])
def test_the_second_factor_page_too(app: Flask, interaction: str | None) -> None:
    with app.app_context(), app.test_request_context("/login/second-factor?x=\"><i>"):
        for _ in range(2):
            from_skeleton = blank_form("portal/second_factor.html", {}, interaction=interaction)
            assert from_skeleton == render_template("portal/second_factor.html", error=None, interaction=interaction)
        assert "<b>" not in from_skeleton and "<i>" not in from_skeleton


def test_one_skeleton_per_language_and_variables_present(app: Flask) -> None:
    for language in ("vi", "en", "vi"):
        for next_ in (None, "/a", "/b"):
            # A new app context each time: Flask-Babel keeps the locale it chose in the app context's g.
            cookie = {"Cookie": f"{i18n.LANG_COOKIE}={language}"}
            with app.app_context(), app.test_request_context("/login", headers=cookie):
                _both(next_, None)
    assert sorted((locale, sorted(present)) for _name, locale, present in app.extensions[page_skeleton._EXTENSION]) \
        == [("en", []), ("en", ["next"]), ("vi", []), ("vi", ["next"])]


def test_a_reloaded_template_builds_its_skeleton_again(app: Flask) -> None:
    with app.test_request_context("/login"):
        _both(None, None)
        kept = app.extensions[page_skeleton._EXTENSION][("portal/login.html", "vi", frozenset())]
        app.jinja_env.cache.clear()  # what a template changed on disk does with auto-reload
        _both(None, None)
        rebuilt = app.extensions[page_skeleton._EXTENSION][("portal/login.html", "vi", frozenset())]
    assert rebuilt[0] is not kept[0] and rebuilt[1] is not kept[1]


def test_each_visitor_gets_a_form_token_of_their_own(client: FlaskClient, app: Flask) -> None:
    first = client.get("/login?next=/account").text
    other = app.test_client().get("/login?next=/account").text
    token = first.split('name="csrf_token" value="')[1].split('"')[0]
    assert token and token not in other
    assert '<input type="hidden" name="next" value="/account">' in first
    assert "next=/login?next%3D/account" in first.replace("%2F", "/")  # the language switch returns here
