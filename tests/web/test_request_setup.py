"""Nothing costly is redone per request: templates compile once, each language's translations load once,
the settings are read once, and the Authlib server and the discovery document are built once per app."""

from __future__ import annotations

from typing import Any

import pytest
from babel import support
from flask import Flask
from flask.testing import FlaskClient

from idp import settings
from idp.oidc import discovery, server

PAGES = ["/login", "/login?ui_locales=en", "/logout", "/nowhere"]


def _counting(calls: list[Any], function: Any) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return function(*args, **kwargs)

    return counted


def test_templates_are_compiled_once(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[Any] = []
    monkeypatch.setattr(app.jinja_env, "compile", _counting(compiled, app.jinja_env.compile))
    for page in PAGES:
        client.get(page)
    first = len(compiled)
    for page in PAGES * 3:
        client.get(page)
    assert first > 0 and len(compiled) == first
    assert not app.jinja_env.auto_reload  # not even a stat() of each template per render


def test_translations_load_once_per_language(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[Any] = []
    monkeypatch.setattr(support.Translations, "load", _counting(loaded, support.Translations.load))
    for page in PAGES * 3:
        client.get(page)
    assert sorted(str(args[1][0]) for args in loaded) == ["en", "vi"]


def test_settings_are_read_when_the_app_is_made_only(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("settings read during a request")

    monkeypatch.setattr(settings, "load", refuse)
    monkeypatch.setattr(settings, "_convert", refuse)
    for page in [*PAGES, "/.well-known/openid-configuration", "/jwks"]:
        assert client.get(page).status_code < 500


def test_the_authorization_server_and_discovery_are_built_once(app: Flask, client: FlaskClient,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    authorization_server = app.extensions[server.EXTENSION]
    built: list[Any] = []
    monkeypatch.setattr(discovery, "_build", _counting(built, discovery._build))
    for _ in range(3):
        assert client.get("/.well-known/openid-configuration").status_code == 200
        assert client.post("/token", data={"grant_type": "client_credentials"}).status_code == 401
    assert len(built) == 1
    assert app.extensions[server.EXTENSION] is authorization_server
