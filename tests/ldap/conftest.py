"""Fixtures of the directory tests: private slapd servers seeded with the province's officials.

``slapd`` (the primary) and ``slapd_replica`` (a second server, for failover) are session-scoped: each is
prepared and started once (≈ 0.1 s) on its own free loopback ports and stopped by its pid at the end. Both
hold the seed of ``tests/helpers/directory_data.py`` with the same entryUUIDs, as replicas would; the
replica does not follow what a test writes to the primary (``make_ldap_official`` can write to both).
Both trust ``ldap_certificates``: one CA file (``slapd.ca_file``) validates either server.

Without slapd installed these fixtures fail (never skip): ``make test`` installs it.

House rules, enforced after every test that used a server:
- the seed is read-only: write to entries made with ``make_ldap_official`` (deleted when the test ends,
  wherever it was renamed or moved to); a test that leaves the seed changed fails in its teardown, and
  the seed is put back for the next tests;
- a server the test stopped, killed or froze is started (or thawed) again;
- failed binds and lockouts (ppolicy state) are forgotten, on seed entries too;
- connections made with ``server.connection()`` are unbound (ldap3 connections you make yourself, close).
A test that needs another data set (thousands of officials) starts its own ``Slapd`` in ``tmp_path``.

The IdP under test: ``app_config`` here adds ``directory_settings`` (IDP_LDAP_* for the primary over
StartTLS, validated against the test CA; 1 s timeout), so ``app``, ``client`` and ``runner`` are an IdP
whose officials sign in against ``slapd``. A module overrides ``directory_settings`` for other servers
(failover) or options; a test may also change ``app_config`` before the first use of ``app``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import directory_data as data
from tests.helpers.directory_settings import directory_settings as settings_for
from tests.helpers.slapd import INSTALL_HINT, Certificates, Slapd, SlapdError, missing_programs


def _require_slapd() -> None:
    if missing := missing_programs():
        pytest.fail(f"{', '.join(missing)} not found: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def ldap_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.generate(tmp_path_factory.mktemp("ldap-certs"))


def _session_server(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates,
                    name: str) -> Iterator[Slapd]:
    _require_slapd()
    server = Slapd(tmp_path_factory.mktemp(name), certificates=certificates, name=name)
    try:
        server.start()
        server.keep_baseline()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory, ldap_certificates: Certificates) -> Iterator[Slapd]:
    """The primary directory server, running."""
    yield from _session_server(tmp_path_factory, ldap_certificates, "slapd-primary")


@pytest.fixture(scope="session")
def slapd_replica(tmp_path_factory: pytest.TempPathFactory, ldap_certificates: Certificates) -> Iterator[Slapd]:
    """A second server with the same seed (same entryUUIDs), other ports: for failover."""
    yield from _session_server(tmp_path_factory, ldap_certificates, "slapd-replica")


def _serving(server: Slapd) -> None:
    server.thaw()
    if not server.running:
        server.start()


@pytest.fixture(autouse=True)
def _restore_directories(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test: servers running again, no lockouts, the seed unchanged (see the module docstring)."""
    servers = [request.getfixturevalue(name) for name in ("slapd", "slapd_replica") if name in request.fixturenames]
    yield
    changed = []
    for server in servers:
        server.close_connections()
        _serving(server)
        server.unlock_all()
        changed += [f"{server.name}: {dn}" for dn in server.restore_baseline()]
    if changed:
        pytest.fail("the test changed seed entries (restored now; write only to entries made with "
                    "make_ldap_official):\n  " + "\n  ".join(changed), pytrace=False)


_numbers = itertools.count(1)


@pytest.fixture
def make_ldap_official(slapd: Slapd) -> Iterator[Callable[..., data.Official]]:
    """Add an official online and delete it when the test ends, wherever it went.

    ``make_ldap_official(groups=("can-bo-snv",), servers=(slapd, slapd_replica), **Official fields)``;
    defaults: a unique uid ``thu.nghiem.N``, "Ngô Bảo Châu" of SNV, password ``data.GENERATED_PASSWORD``,
    on the primary only. Returns the ``Official`` (``dn``, ``entry_uuid``, ``password``...).
    """
    made: list[tuple[Slapd, str]] = []

    def make(*, groups: tuple[str, ...] = (), servers: tuple[Slapd, ...] | None = None,
             **fields: Any) -> data.Official:
        fields.setdefault("uid", f"thu.nghiem.{next(_numbers)}")
        fields.setdefault("family_name", "Ngô")
        fields.setdefault("given_name", "Bảo Châu")
        fields.setdefault("unit", "SNV")
        fields.setdefault("password", data.GENERATED_PASSWORD)
        official = data.Official(groups=groups, **fields)
        for server in servers or (slapd,):
            server.add_official(official, groups=groups)
            made.append((server, official.entry_uuid))
        return official

    yield make
    errors = []
    for server, entry_uuid in made:
        try:
            _serving(server)
            if dn := server.dn_of(entry_uuid):
                server.delete(dn)
        except SlapdError as error:
            errors.append(str(error))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def directory_settings(slapd: Slapd) -> dict[str, Any]:
    """IDP_LDAP_* of the app under test: the primary over StartTLS (see tests/helpers/directory_settings.py)."""
    return settings_for(slapd)


@pytest.fixture
def app_config(app_config: dict[str, Any], directory_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, **directory_settings}
