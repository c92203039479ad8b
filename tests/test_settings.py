"""Configuration: precedence, types, development secrets, production refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp import create_app
from idp.settings import ConfigError


def test_environment_overrides_config_py_with_types(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDP_LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("IDP_LOGIN_DELAY_BASE_SECONDS", "0.5")
    monkeypatch.setenv("IDP_LOCALES", "vi en")
    monkeypatch.setenv("IDP_PROVINCE_NAME", "Nghệ An")
    app = create_app({"IDP_INSTANCE_PATH": str(tmp_path)})
    assert app.config["IDP_LOGIN_MAX_FAILURES"] == 7
    assert app.config["IDP_LOGIN_DELAY_BASE_SECONDS"] == 0.5
    assert app.config["IDP_LOCALES"] == ("vi", "en")
    assert app.config["IDP_PROVINCE_NAME"] == "Nghệ An"


def test_mapping_overrides_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDP_LOGIN_MAX_FAILURES", "7")
    app = create_app({"IDP_INSTANCE_PATH": str(tmp_path), "IDP_LOGIN_MAX_FAILURES": 3})
    assert app.config["IDP_LOGIN_MAX_FAILURES"] == 3


def test_bad_environment_value_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDP_LOGIN_MAX_FAILURES", "many")
    with pytest.raises(ConfigError, match="IDP_LOGIN_MAX_FAILURES"):
        create_app({"IDP_INSTANCE_PATH": str(tmp_path)})


def test_development_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = create_app({"IDP_INSTANCE_PATH": str(tmp_path)})
    second = create_app({"IDP_INSTANCE_PATH": str(tmp_path)})
    assert first.config["IDP_SECRET_KEY"] == second.config["IDP_SECRET_KEY"]
    assert len(first.config["IDP_DATA_KEY"]) >= 43 and first.config["IDP_DATA_KEY"] != first.config["IDP_SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data_key").stat().st_mode & 0o777 == 0o600


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    app = create_app({"IDP_INSTANCE_PATH": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'dangnhap.db'}"


@pytest.mark.parametrize("missing", ["IDP_SECRET_KEY", "IDP_DATA_KEY"])
def test_production_refuses_to_start_without_secrets(tmp_path: Path, missing: str) -> None:
    config = {"IDP_INSTANCE_PATH": str(tmp_path), "IDP_ENV": "production", "IDP_ISSUER": "https://sso.example.vn",
              "IDP_SECRET_KEY": "s" * 43, "IDP_DATA_KEY": "d" * 43, missing: ""}
    with pytest.raises(ConfigError, match=missing):
        create_app(config)
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "data_key").exists()


def test_production_needs_https_issuer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="https"):
        create_app({"IDP_INSTANCE_PATH": str(tmp_path), "IDP_ENV": "production", "IDP_SECRET_KEY": "s" * 43,
                    "IDP_DATA_KEY": "d" * 43})


def test_every_setting_is_documented() -> None:
    """Each IDP_ setting in config.py has a comment line right above it (or above its group)."""
    lines = (Path(__file__).resolve().parent.parent / "config.py").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("IDP_"):
            above = lines[index - 1]
            assert above.startswith("#") or above.startswith("IDP_"), f"undocumented: {line}"


@pytest.mark.parametrize("value", [-1, "1", True])
def test_cache_check_interval_must_be_a_number_of_seconds(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match="IDP_CACHE_CHECK_SECONDS"):
        create_app({"IDP_INSTANCE_PATH": str(tmp_path), "IDP_CACHE_CHECK_SECONDS": value})


def test_cache_check_interval_from_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDP_CACHE_CHECK_SECONDS", "0.25")
    assert create_app({"IDP_INSTANCE_PATH": str(tmp_path)}).config["IDP_CACHE_CHECK_SECONDS"] == 0.25
