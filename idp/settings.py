"""Configuration loading: ``config.py`` defaults, then ``IDP_*`` environment variables, then overrides.

Kept apart from ``create_app`` so that the precedence and the type conversion rules are one readable
function, and so that development secrets are generated in exactly one place.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

import config as defaults

PREFIX = "IDP_"  # every setting's name, in config.py and in the environment
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """The configuration cannot run: the message says which setting and why."""


def _convert(name: str, raw: str, default: Any) -> Any:
    """Turn an environment string into the type of the setting's default."""
    if isinstance(default, bool):
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigError(f"{name}: expected true/false, got {raw!r}")
    if isinstance(default, int | float):
        try:
            return type(default)(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: expected a number, got {raw!r}") from exc
    if isinstance(default, tuple):
        return tuple(raw.split())
    if isinstance(default, dict):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: expected a JSON object") from exc
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a JSON object")
        return value
    return raw


def instance_path(overrides: Mapping[str, Any] | None, default: Path) -> str:
    """Where generated development secrets and the default SQLite file live (IDP_INSTANCE_PATH)."""
    chosen = (overrides or {}).get("IDP_INSTANCE_PATH") or os.environ.get("IDP_INSTANCE_PATH") or default
    return str(Path(chosen).resolve())


def load(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` from config.py, the environment and ``overrides``, in that order."""
    names = [name for name in dir(defaults) if name.startswith(PREFIX)]
    for name in names:
        app.config[name] = getattr(defaults, name)
    for name in names:
        if name in os.environ:
            app.config[name] = _convert(name, os.environ[name], getattr(defaults, name))
    app.config.update(overrides or {})
    _check(app)
    _apply_secrets(app)
    _derive_flask_settings(app)


def forget_environment() -> None:
    """Remove the settings' variables from this process's environment, once an app has read them.

    For a serving worker: granian copies the process's environment into every request's WSGI
    environ (PEP 3333 allows it), which would put the secret key, the data key and the database
    password in front of any code that reads or logs the environ.
    """
    for name in [name for name in os.environ if name.startswith(PREFIX)]:
        del os.environ[name]


def _check(app: Flask) -> None:
    env = app.config["IDP_ENV"]
    if env not in ("development", "production"):
        raise ConfigError(f"IDP_ENV must be development or production, not {env!r}")
    issuer = app.config["IDP_ISSUER"]
    if not issuer.startswith(("https://", "http://")) or issuer.endswith("/"):
        raise ConfigError("IDP_ISSUER must be an http(s) URL without a trailing slash")
    if env == "production":
        missing = [n for n in ("IDP_SECRET_KEY", "IDP_DATA_KEY") if not app.config[n]]
        if missing:
            raise ConfigError(f"production mode needs {', '.join(missing)} (none are generated)")
        if not issuer.startswith("https://"):
            raise ConfigError("production mode needs an https:// IDP_ISSUER")
    if app.config["IDP_DEFAULT_LOCALE"] not in app.config["IDP_LOCALES"]:
        raise ConfigError("IDP_DEFAULT_LOCALE must be one of IDP_LOCALES")
    check = app.config["IDP_CACHE_CHECK_SECONDS"]
    if isinstance(check, bool) or not isinstance(check, int | float) or check < 0:
        raise ConfigError("IDP_CACHE_CHECK_SECONDS must be a number of seconds, 0 or more")


def _instance_secret(app: Flask, filename: str) -> str:
    """Read, or create once, a development secret kept in instance/ (mode 0600, never in the repo)."""
    path = Path(app.instance_path) / filename
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def _apply_secrets(app: Flask) -> None:
    for name, filename in (("IDP_SECRET_KEY", "secret_key"), ("IDP_DATA_KEY", "data_key")):
        if not app.config[name]:
            app.config[name] = _instance_secret(app, filename)


def _derive_flask_settings(app: Flask) -> None:
    """Map our settings onto the names Flask and its extensions read."""
    cfg = app.config
    https = cfg["IDP_ISSUER"].startswith("https://")
    database_url = cfg["IDP_DATABASE_URL"] or "sqlite:///" + str(Path(app.instance_path) / "dangnhap.db")
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    cfg.update(
        SECRET_KEY=cfg["IDP_SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=database_url,
        MAX_CONTENT_LENGTH=cfg["IDP_MAX_CONTENT_LENGTH"],
        # The Flask cookie carries only the CSRF secret and the chosen language.
        SESSION_COOKIE_NAME="__Host-dn_form" if https else "dn_form",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        PREFERRED_URL_SCHEME="https" if https else "http",
        # A sign-in form left open for a long time should still work: the token lives as long as the
        # form cookie, which is a browser-session cookie.
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=cfg["IDP_DEFAULT_LOCALE"],
        BABEL_DEFAULT_TIMEZONE=cfg["IDP_TIMEZONE"],
        IDP_COOKIE_SECURE=https,
    )
