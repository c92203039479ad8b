"""``idp ldap sync`` (full, ``--changed-since``) and ``idp ldap check`` against the private slapd."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from idp.storage import audit_events, utcnow
from tests.conftest import make_app
from tests.helpers import directory_data as data
from tests.helpers.directory_settings import directory_settings
from tests.helpers.slapd import Slapd

SEED = len(data.OFFICIALS)


def run(runner: FlaskCliRunner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["idp", "ldap", *args])


def check(app_config: dict[str, Any], **settings: Any):  # type: ignore[no-untyped-def]
    """``idp ldap check`` in an app with other settings (in its own context: the CLI runs in the current one)."""
    other = make_app({**app_config, **settings})
    with other.app_context():
        return other.test_cli_runner().invoke(args=["idp", "ldap", "check"])


# --- sync ---------------------------------------------------------------------------------------------


def test_sync_prints_a_summary_and_is_idempotent(runner: FlaskCliRunner) -> None:
    first = run(runner, "sync")
    assert first.exit_code == 0, first.output
    assert f"full sync: seen {SEED}, created {SEED}, updated 0, unchanged 0, disabled 0 in" in first.output

    again = run(runner, "sync")
    assert again.exit_code == 0
    assert f"full sync: seen {SEED}, created 0, updated 0, unchanged {SEED}, disabled 0 in" in again.output
    assert [e.details["mode"] for e in audit_events.recent(event="ldap.sync")] == ["full", "full"]


def test_sync_changed_since(runner: FlaskCliRunner) -> None:
    assert run(runner, "sync").exit_code == 0
    since = utcnow().replace(microsecond=0).isoformat()

    result = run(runner, "sync", "--changed-since", since)

    assert result.exit_code == 0, result.output
    assert "incremental sync: seen 0, created 0, updated 0, unchanged 0, disabled 0 in" in result.output


@pytest.mark.parametrize(("value", "message"), [("hôm qua", "expected an ISO 8601 time"),
                                                 ("2026-11-26T08:00:00", "give a time zone")])
def test_sync_refuses_a_bad_time(runner: FlaskCliRunner, value: str, message: str) -> None:
    result = run(runner, "sync", "--changed-since", value)
    assert result.exit_code == 2 and message in result.output


def test_sync_with_the_directory_down_fails_cleanly(runner: FlaskCliRunner, slapd: Slapd) -> None:
    slapd.stop()
    result = run(runner, "sync")
    assert result.exit_code == 1
    assert "directory unavailable" in result.output and "Traceback" not in result.output


def test_sync_disables_an_official_whose_entry_was_deleted(runner: FlaskCliRunner, slapd: Slapd,
                                                   make_ldap_official) -> None:  # type: ignore[no-untyped-def]
    official = make_ldap_official()
    assert run(runner, "sync").exit_code == 0
    slapd.delete(official.dn)

    result = run(runner, "sync")

    assert result.exit_code == 0, result.output
    assert "disabled 1 in" in result.output


# --- check --------------------------------------------------------------------------------------------


def test_check_reports_each_server(app_config: dict[str, Any], app: Flask, slapd: Slapd,
                                   slapd_replica: Slapd) -> None:
    settings = directory_settings(slapd, slapd_replica)
    result = check(app_config, **settings)
    assert result.exit_code == 0, result.output
    assert f"{slapd.url}: ok" in result.output and f"{slapd_replica.url}: ok" in result.output

    slapd_replica.stop()
    result = check(app_config, **settings)
    assert result.exit_code == 0  # one usable server is enough to sign in
    assert f"{slapd.url}: ok" in result.output and f"{slapd_replica.url}: unreachable" in result.output

    slapd.stop()
    result = check(app_config, **settings)
    assert result.exit_code == 1 and "no directory server is usable" in result.output


@pytest.mark.parametrize(("settings", "expected"), [
    ({"IDP_LDAP_BIND_PASSWORD": "sai-mật-khẩu"}, "the service account was refused"),
    ({"IDP_LDAP_USER_BASE": f"ou=nobody,{data.BASE_DN}"}, "search for people in ou=nobody"),
    ({"IDP_LDAP_GROUP_BASE": f"ou=services,{data.BASE_DN}"}, "no groups found in ou=services"),
    ({"IDP_LDAP_CA_FILE": "/nonexistent/ca.pem"}, "IDP_LDAP_CA_FILE '/nonexistent/ca.pem'"),
])
def test_check_says_what_is_wrong(app_config: dict[str, Any], app: Flask, slapd: Slapd, settings: dict[str, Any],
                                  expected: str) -> None:
    result = check(app_config, **settings)
    assert result.exit_code == 1
    assert expected in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("tls", ["starttls", "ldaps"])
def test_check_refuses_an_untrusted_certificate(app_config: dict[str, Any], app: Flask, slapd: Slapd,
                                                tls: str) -> None:
    settings = directory_settings(slapd, tls=tls, ca_file=slapd.untrusted_ca_file)  # type: ignore[arg-type]
    result = check(app_config, **settings)
    assert result.exit_code == 1
    assert "unreachable" in result.output and "certificate verify failed" in result.output, result.output


def test_check_warns_about_passwords_in_clear(app_config: dict[str, Any], app: Flask, slapd: Slapd) -> None:
    result = check(app_config, **directory_settings(slapd, tls=None))
    assert result.exit_code == 0
    assert f"IDP_LDAP_START_TLS: off: passwords cross the network in clear to {slapd.url}" in result.output
    assert f"{slapd.url}: ok" in result.output


def test_check_without_a_directory(app_config: dict[str, Any], app: Flask) -> None:
    result = check(app_config, IDP_LDAP_URLS=())
    assert result.exit_code == 1 and "IDP_LDAP_URLS is empty" in result.output
