"""Every page in Vietnamese by default and in English on request; the catalogue is complete."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from tests.helpers.forms import sign_in, sign_out

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "idp/translations/vi/LC_MESSAGES/messages.po"

# A word that only the Vietnamese page has, and its English counterpart, for each page.
PAGES = {
    "/login": ("Số định danh cá nhân hoặc email", "Personal identification number or e-mail"),
    "/account": ("Loại tài khoản", "Account type"),
    "/logout": ("Bạn có muốn đăng xuất", "Do you want to sign out"),
    "/nowhere": ("Không tìm thấy trang", "Page not found"),
}


def _signed_in(client: FlaskClient, make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen()
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_vietnamese_by_default(client: FlaskClient, make_citizen, path: str) -> None:
    if path != "/login":
        _signed_in(client, make_citizen)
    response = client.get(path)
    body = response.get_data(as_text=True)
    vietnamese, english = PAGES[path]
    assert '<html lang="vi">' in body and vietnamese in body and english not in body
    assert "Ủy ban nhân dân tỉnh Thanh Hóa" in body


@pytest.mark.parametrize("path", PAGES)
def test_every_page_in_english_after_the_switch(client: FlaskClient, make_citizen, path: str) -> None:
    if path != "/login":
        _signed_in(client, make_citizen)
    switched = client.get(f"/lang/en?next={path}")
    assert switched.status_code == 302 and switched.headers["Location"] == path
    body = client.get(path).get_data(as_text=True)
    vietnamese, english = PAGES[path]
    assert '<html lang="en">' in body and english in body and vietnamese not in body
    assert "People's Committee of Thanh Hóa Province" in body


def test_signed_out_page_in_both_languages(client: FlaskClient, make_citizen) -> None:
    _signed_in(client, make_citizen)
    assert "Bạn đã đăng xuất" in sign_out(client).get_data(as_text=True)
    client.get("/lang/en")
    assert "You have signed out" in client.get("/logout").get_data(as_text=True)


def test_ui_locales_parameter_wins(client: FlaskClient) -> None:
    assert '<html lang="en">' in client.get("/login?ui_locales=en-GB%20vi").get_data(as_text=True)
    assert '<html lang="vi">' in client.get("/login?ui_locales=fr").get_data(as_text=True)


def test_unknown_language_is_404(client: FlaskClient) -> None:
    assert client.get("/lang/fr").status_code == 404


def test_language_switch_is_no_open_redirect(client: FlaskClient) -> None:
    assert client.get("/lang/en?next=https://evil.example/").headers["Location"] == "/"


def _key(value):  # type: ignore[no-untyped-def]
    """Catalog ids and strings are str, or tuple/list for plurals; make them comparable."""
    return tuple(value) if isinstance(value, list | tuple) else value


def _source_messages() -> set[str]:
    found = set()
    for method in (("idp/**.py", "python"), ("templates/**.html", "jinja2")):
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT), method_map=[method], keywords={"_": None, "gettext": None, "ngettext": (1, 2),
                                                      "_l": None, "lazy_gettext": None}
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


_TEMPLATE = ('{{ _("Sign in") }}|'
             '{{ ngettext("Too many attempts. Please wait %(num)d second and try again.",'
             ' "Too many attempts. Please wait %(num)d seconds and try again.", 3) }}')


@pytest.mark.parametrize(("locale", "expected"), [
    ("vi", "Đăng nhập|Bạn đã thử quá nhiều lần. Vui lòng đợi 3 giây rồi thử lại."),
    ("en", "Sign in|Too many attempts. Please wait 3 seconds and try again."),
])
def test_templates_translate_with_the_page_catalogue_or_without_it(app: Flask, locale: str, expected: str) -> None:
    """Pages read the catalogue the context processor put in their context; a template rendered
    straight from the environment (no context processor) looks it up itself, with the same result."""
    with app.test_request_context(f"/?ui_locales={locale}"):
        assert render_template_string(_TEMPLATE) == expected
        assert app.jinja_env.from_string(_TEMPLATE).render() == expected


@pytest.mark.parametrize("source", [
    '{{ _("Support hotline: %(contact)s", contact=value) }}|{{ _("100%% sure") }}',
    '{% autoescape false %}{{ _("Support hotline: %(contact)s", contact=value) }}|{{ _("100%% sure") }}'
    '{% endautoescape %}',
])
def test_underscore_in_templates_keeps_new_style_gettext(app: Flask, source: str) -> None:
    """``_()`` is ours (one call instead of three): the same answer as jinja2's new-style gettext, whose
    own ``gettext`` is still installed: variables escaped when autoescaping, the string always formatted."""
    reference = source.replace("_(", "gettext(")
    value = '<b>"1900"</b>'
    with app.test_request_context("/?ui_locales=en"):
        ours, theirs = render_template_string(source, value=value), render_template_string(reference, value=value)
    assert ours == theirs
    assert ours.endswith("|100% sure")
    if "autoescape false" in source:
        assert ours.startswith('Support hotline: <b>"1900"</b>')
    else:
        assert ours.startswith("Support hotline: &lt;b&gt;&#34;1900&#34;&lt;/b&gt;")


def test_every_translatable_string_has_a_vietnamese_translation() -> None:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and all(m.string if isinstance(m.string, tuple) else [m.string])
    }
    missing = _source_messages() - translated
    assert not missing, f"untranslated strings (run make translations): {sorted(missing)}"


def test_compiled_catalogue_matches_the_source() -> None:
    def entries(catalog) -> dict:  # type: ignore[no-untyped-def, type-arg]
        return {_key(m.id): _key(m.string) for m in catalog if m.id}

    with CATALOG.open("rb") as handle:
        po = entries(read_po(handle))
    with CATALOG.with_suffix(".mo").open("rb") as handle:
        mo = entries(read_mo(handle))
    assert po == mo, "messages.mo is stale: run make translations"
