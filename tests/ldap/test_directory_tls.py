"""StartTLS and LDAPS: the server's certificate is validated, and an untrusted one is refused before any
password leaves (the sign-in page then says the directory is unavailable)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import ldap3
import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.storage import audit_events
from tests.conftest import make_app
from tests.helpers import directory_data as data
from tests.helpers.directory_settings import directory_settings
from tests.helpers.forms import sign_in
from tests.helpers.slapd import Slapd

LAN = data.OFFICIALS_BY_UID["lan.nt"]
UNAVAILABLE = "Hệ thống danh bạ tạm thời không khả dụng, vui lòng thử lại sau."


def client_for(app_config: dict[str, Any], settings: dict[str, Any]) -> FlaskClient:
    return make_app({**app_config, **settings}).test_client()


@pytest.mark.parametrize("tls", ["starttls", "ldaps"])
def test_official_signs_in_over_a_validated_tls_connection(app_config: dict[str, Any], app: Flask, slapd: Slapd,
                                                           tls: str) -> None:
    settings = directory_settings(slapd, tls=tls)  # type: ignore[arg-type]
    assert settings["IDP_LDAP_URLS"][0].startswith("ldaps://" if tls == "ldaps" else "ldap://")

    response = sign_in(client_for(app_config, settings), "lan.nt", LAN.password)

    assert response.status_code == 302
    assert audit_events.recent(event="login.password_ok")  # the second factor comes next


@pytest.mark.parametrize("tls", ["starttls", "ldaps"])
def test_untrusted_certificate_is_refused(app_config: dict[str, Any], app: Flask, slapd: Slapd, tls: str) -> None:
    # Same CA name, other key: only the signature check tells them apart.
    settings = directory_settings(slapd, tls=tls, ca_file=slapd.untrusted_ca_file)  # type: ignore[arg-type]

    response = sign_in(client_for(app_config, settings), "lan.nt", LAN.password)

    assert response.status_code == 503
    assert UNAVAILABLE in response.get_data(as_text=True)
    assert [e.event for e in audit_events.recent() if e.event.startswith("login.")] == ["login.directory_unavailable"]


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_a_missing_or_unreadable_ca_file_makes_the_directory_unavailable_not_a_crash(  # type: ignore[no-untyped-def]
        app_config: dict[str, Any], slapd: Slapd, make_citizen, tmp_path: Path, content: str | None) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content)
    settings = directory_settings(slapd, ca_file=str(ca_file))
    other = client_for(app_config, settings)

    response = sign_in(other, "lan.nt", LAN.password)

    assert response.status_code == 503 and UNAVAILABLE in response.get_data(as_text=True)
    citizen = make_citizen()
    assert sign_in(other, citizen.id_number, citizen.password).status_code == 302


@pytest.mark.parametrize("tls", ["starttls", "ldaps", None])
def test_every_request_is_sent_at_once(app_config: dict[str, Any], app: Flask, slapd: Slapd,
                                       monkeypatch: pytest.MonkeyPatch, tls: str | None) -> None:
    """Nagle's algorithm is off on every connection before a password is sent (the service account's
    bind, the official's, and the service account's again before the connection is kept): over TLS
    it held requests back for the server's delayed ACK."""
    no_delay: list[int] = []
    bind = ldap3.Connection.bind

    def recording_bind(connection: ldap3.Connection, *args: Any, **kwargs: Any) -> bool:
        no_delay.append(connection.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return bind(connection, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(ldap3.Connection, "bind", recording_bind)
    response = sign_in(client_for(app_config, directory_settings(slapd, tls=tls)), "lan.nt", LAN.password)  # type: ignore[arg-type]
    assert response.status_code == 302
    assert len(no_delay) == 3 and all(no_delay)


@pytest.mark.parametrize("tls", ["starttls", "ldaps"])
def test_the_ca_file_is_read_once_not_per_connection(app_config: dict[str, Any], app: Flask, slapd: Slapd,
                                                     monkeypatch: pytest.MonkeyPatch, tls: str) -> None:
    reads: list[Any] = []
    load = ssl.SSLContext.load_verify_locations

    def counting(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        reads.append(args)
        load(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    client = client_for(app_config, directory_settings(slapd, tls=tls))  # type: ignore[arg-type]
    for _ in range(3):
        assert sign_in(client, "lan.nt", LAN.password).status_code == 302
    assert len(reads) == 1
