"""An official's sign-in uses the directory connection the previous sign-in kept, bound as the
service account again; not when the server has closed it, it idled too long, or its server is no
longer the first healthy one. At most ``_KeptConnections.LIMIT`` are kept."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import ldap3
import pytest
from flask import Flask

from idp.identity import ldap
from tests.conftest import make_app
from tests.helpers import directory_data as data
from tests.helpers.directory_settings import directory_settings
from tests.helpers.forms import sign_in
from tests.helpers.slapd import Slapd

LAN = data.OFFICIALS_BY_UID["lan.nt"]
WRONG = "sai-mật-khẩu"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[ldap3.Connection]:
    """Every directory connection the IdP makes from now on."""
    made: list[ldap3.Connection] = []

    class Recorded(ldap3.Connection):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(ldap, "Connection", Recorded)
    return made


def signs_in(app: Flask, password: str = LAN.password) -> int:
    """The status of an official's sign-in in a new browser."""
    return sign_in(app.test_client(), "lan.nt", password).status_code


def test_sign_ins_right_and_wrong_share_one_connection(app: Flask, opened: list[ldap3.Connection]) -> None:
    assert [signs_in(app, password) for password in (LAN.password, WRONG, LAN.password)] == [302, 200, 302]

    [connection] = opened
    assert not connection.closed and connection.bound and connection.user == data.SERVICE_DN


def test_a_connection_the_server_closed_is_not_used(app: Flask, slapd: Slapd, opened: list[ldap3.Connection]) -> None:
    assert signs_in(app) == 302
    slapd.stop()  # its connections end with it
    slapd.start()

    started = time.monotonic()
    assert signs_in(app) == 302
    assert time.monotonic() - started < 0.5  # no timeout waited: the closed connection was seen at once

    assert len(opened) == 2 and opened[0].closed and not opened[1].closed
    with app.app_context():
        assert all(state.resting_until == 0 for state in ldap.directory()._servers)  # the server is not blamed


def test_a_connection_idle_too_long_is_closed_not_used(app: Flask, opened: list[ldap3.Connection],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ldap._KeptConnections, "IDLE_SECONDS", 0.0)

    assert signs_in(app) == 302
    assert signs_in(app) == 302

    assert len(opened) == 2 and opened[0].closed


def test_the_first_server_is_used_again_once_it_has_rested(app_config: dict[str, Any], slapd: Slapd,
                                                         slapd_replica: Slapd, opened: list[ldap3.Connection]) -> None:
    rest = 0.3
    app = make_app({**app_config, **directory_settings(slapd, slapd_replica, IDP_LDAP_RETRY_SECONDS=rest)})
    slapd.stop()
    assert signs_in(app) == 302  # from the replica, whose connection is kept
    slapd.start()
    assert signs_in(app) == 302  # the first server still rests: the replica's connection again
    assert [connection.server.port for connection in opened] == [slapd.port, slapd_replica.port]

    time.sleep(rest + 0.1)
    assert signs_in(app) == 302

    assert [connection.server.port for connection in opened] == [slapd.port, slapd_replica.port, slapd.port]
    assert opened[1].closed  # the replica's, passed over


def test_a_refused_service_bind_after_the_officials_keeps_the_sign_in_not_the_connection(
        app: Flask, opened: list[ldap3.Connection], monkeypatch: pytest.MonkeyPatch) -> None:
    """The official's password was right: the sign-in succeeds, and the connection, left bound as
    nobody, is closed."""
    read_disabled_marker = ldap.Directory._is_disabled

    def service_password_changed(directory: ldap.Directory, connection: Any, dn: str) -> bool:
        directory.config = dataclasses.replace(directory.config, bind_password="no-longer-this")
        return read_disabled_marker(directory, connection, dn)

    monkeypatch.setattr(ldap.Directory, "_is_disabled", service_password_changed)
    assert signs_in(app) == 302

    [connection] = opened
    assert connection.closed


def test_at_most_the_limit_is_kept(app: Flask, opened: list[ldap3.Connection]) -> None:
    with app.app_context():
        directory = ldap.directory()
        made = [directory._service() for _ in range(ldap._KeptConnections.LIMIT + 2)]
        for connection, state in made:
            directory._kept.give_back(connection, state)

        assert [connection.closed for connection, _ in made] == [False] * ldap._KeptConnections.LIMIT + [True, True]
        taken = directory._kept.take(made[0][1])
        assert taken == made[ldap._KeptConnections.LIMIT - 1]  # the most recently kept
        ldap._close(taken[0])
        directory._kept.close_all()
        assert all(connection.closed for connection, _ in made)


def test_concurrent_sign_ins_each_use_a_connection_of_their_own(app: Flask, opened: list[ldap3.Connection]) -> None:
    assert signs_in(app) == 302  # the official exists: what follows are the usual sign-ins
    threads, rounds = 4, 3
    statuses: list[int] = []

    def sign_ins() -> None:
        statuses.extend(signs_in(app) for _ in range(rounds))

    workers = [threading.Thread(target=sign_ins) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert statuses == [302] * threads * rounds
    assert len(opened) <= threads
