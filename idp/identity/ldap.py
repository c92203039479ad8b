"""The directory identity source: officials, checked by an LDAP bind (ldap3), never stored passwords.

One ``Directory`` per app holds the configured servers and their health: servers are tried in order,
and a server that failed is skipped for IDP_LDAP_RETRY_SECONDS, so a dead server costs one timeout,
not one per request; when every server is resting the person is told at once that the directory is
unavailable. Connections are made per operation (about a millisecond with ``get_info=NONE``): ldap3's
synchronous connection is not thread-safe, and a fresh one never carries another request's bind.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

logger = logging.getLogger(__name__)

SOURCE = "ldap"
_EXTENSION = "dangnhap.directory"
_OPERATIONAL = ("entryUUID", "modifyTimestamp", "pwdAccountLockedTime")
MAX_IDENTIFIER_LENGTH = 254


class DirectoryError(Exception):
    """Base of what the directory can answer besides yes and no."""


class DirectoryUnavailable(DirectoryError):
    """No configured server answered (or every one is resting after a failure)."""


class DirectoryAccountLocked(DirectoryError):
    """The directory's password policy has locked the entry."""


class DirectoryAccountDisabled(DirectoryError):
    """The entry is marked disabled (IDP_LDAP_DISABLED_FILTER)."""


@dataclass(frozen=True)
class DirectoryConfig:
    urls: tuple[str, ...]
    bind_dn: str
    bind_password: str
    user_base: str
    user_filter: str
    login_attributes: tuple[str, ...]
    group_base: str
    group_filter: str
    start_tls: bool
    ca_file: str
    timeout: float
    retry_seconds: float
    attributes: dict[str, str]
    disabled_filter: str
    page_size: int

    @classmethod
    def from_app(cls, app: Flask) -> DirectoryConfig:
        cfg = app.config
        return cls(tuple(cfg["IDP_LDAP_URLS"]), cfg["IDP_LDAP_BIND_DN"], cfg["IDP_LDAP_BIND_PASSWORD"],
                   cfg["IDP_LDAP_USER_BASE"], cfg["IDP_LDAP_USER_FILTER"], tuple(cfg["IDP_LDAP_LOGIN_ATTRIBUTES"]),
                   cfg["IDP_LDAP_GROUP_BASE"], cfg["IDP_LDAP_GROUP_FILTER"], bool(cfg["IDP_LDAP_START_TLS"]),
                   cfg["IDP_LDAP_CA_FILE"], float(cfg["IDP_LDAP_TIMEOUT"]), float(cfg["IDP_LDAP_RETRY_SECONDS"]),
                   dict(cfg["IDP_LDAP_ATTRIBUTES"]), cfg["IDP_LDAP_DISABLED_FILTER"], int(cfg["IDP_LDAP_PAGE_SIZE"]))


@dataclass(frozen=True)
class DirectoryEntry:
    """A person as the directory describes them, in our terms."""

    entry_uuid: str
    dn: str
    uid: str | None
    name: str
    email: str | None
    phone: str | None
    title: str | None
    unit: str | None
    groups: tuple[str, ...]
    disabled: bool
    locked: bool
    modified: datetime | None


@dataclass
class _ServerState:
    url: str
    server: Server
    resting_until: float = 0.0


def _close(connection: Connection) -> None:
    """Unbind, and close the socket ldap3 leaves open when opening failed (cannatag/ldap3#954)."""
    with contextlib.suppress(LDAPException, OSError):
        connection.unbind()
    if connection.socket is not None:
        with contextlib.suppress(OSError):
            connection.socket.close()


def _first(attributes: dict[str, Any], name: str | None) -> str | None:
    if not name:
        return None
    value = attributes.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


class Directory:
    def __init__(self, config: DirectoryConfig) -> None:
        self.config = config
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.ca_file or None,
                  version=ssl.PROTOCOL_TLS_CLIENT)
        self._servers = []
        for url in config.urls:
            parts = urlsplit(url)
            server = Server(parts.hostname or "", port=parts.port, use_ssl=parts.scheme == "ldaps", tls=tls,
                            get_info=NONE, connect_timeout=config.timeout)
            self._servers.append(_ServerState(url, server))
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._servers)

    # --- connections ------------------------------------------------------------------------------

    def _open(self, state: _ServerState, user: str, password: str) -> Connection | None:
        """A bound connection, None when the credentials are refused; raises LDAPException on failure."""
        # ldap3 needs an int receive timeout (a float breaks its socket options).
        connection = Connection(state.server, user=user, password=password,
                                receive_timeout=max(1, round(self.config.timeout)),
                                raise_exceptions=False, read_only=True, auto_referrals=False)
        try:
            connection.open()
            if self.config.start_tls and not state.server.ssl:
                connection.start_tls()
            bound = connection.bind()
        except LDAPException:
            _close(connection)
            raise
        if not bound:
            _close(connection)
            return None
        return connection

    def _connect(self, user: str, password: str) -> tuple[Connection | None, _ServerState]:
        """Bind to the first healthy server; failed servers rest. Raises DirectoryUnavailable."""
        now = time.monotonic()
        for state in self._servers:
            if state.resting_until > now:
                continue
            try:
                return self._open(state, user, password), state
            except LDAPException as exc:
                logger.warning("directory server %s failed: %s", state.url, exc)
                with self._lock:
                    state.resting_until = time.monotonic() + self.config.retry_seconds
        raise DirectoryUnavailable("no directory server answered")

    def _service(self) -> Connection:
        connection, state = self._connect(self.config.bind_dn, self.config.bind_password)
        if connection is None:
            # Wrong service credentials are a configuration error: officials cannot sign in.
            logger.error("directory refused the service account on %s", state.url)
            raise DirectoryUnavailable("the directory refused the service account")
        return connection

    # --- reading entries ------------------------------------------------------------------------------

    def _attribute_names(self) -> list[str]:
        return sorted({name for name in self.config.attributes.values() if name} | set(_OPERATIONAL))

    def _entry(self, dn: str, attributes: dict[str, Any], groups: tuple[str, ...], disabled: bool) -> DirectoryEntry:
        mapping = self.config.attributes
        modified = attributes.get("modifyTimestamp")
        return DirectoryEntry(
            entry_uuid=str(_first(attributes, "entryUUID")), dn=dn, uid=_first(attributes, mapping.get("uid")),
            name=_first(attributes, mapping.get("name")) or dn, email=_first(attributes, mapping.get("email")),
            phone=_first(attributes, mapping.get("phone")), title=_first(attributes, mapping.get("title")),
            unit=_first(attributes, mapping.get("unit")), groups=groups, disabled=disabled,
            locked=_first(attributes, "pwdAccountLockedTime") is not None,
            modified=modified if isinstance(modified, datetime) else None,
        )

    def _groups_of(self, connection: Connection, dn: str) -> tuple[str, ...]:
        if not self.config.group_base:
            return ()
        connection.search(self.config.group_base, f"(&{self.config.group_filter}(member={escape_filter_chars(dn)}))",
                          SUBTREE, attributes=[])
        return tuple(sorted(item["dn"] for item in connection.response or () if item.get("type") == "searchResEntry"))

    def _is_disabled(self, connection: Connection, dn: str) -> bool:
        if not self.config.disabled_filter:
            return False
        connection.search(dn, self.config.disabled_filter, BASE, attributes=[])
        return any(item.get("type") == "searchResEntry" for item in connection.response or ())

    def _login_filter(self, identifier: str) -> str:
        value = escape_filter_chars(identifier)
        alternatives = "".join(f"({name}={value})" for name in self.config.login_attributes)
        return f"(&{self.config.user_filter}(|{alternatives}))"

    # --- what callers use ---------------------------------------------------------------------------

    def authenticate(self, identifier: str, password: str) -> DirectoryEntry | None:
        """The entry when ``password`` binds as the person named by ``identifier``; None when not.

        Raises DirectoryUnavailable, DirectoryAccountLocked (ppolicy) or DirectoryAccountDisabled; the
        last only after the password proved right, so it reveals nothing to someone guessing.
        """
        if not password or not identifier or len(identifier) > MAX_IDENTIFIER_LENGTH:
            return None  # an empty password would be an unauthenticated bind, which "succeeds"
        service = self._service()
        try:
            service.search(self.config.user_base, self._login_filter(identifier), SUBTREE,
                           attributes=self._attribute_names(), size_limit=2)
            found = [item for item in service.response or () if item.get("type") == "searchResEntry"]
            if len(found) != 1:
                return None
            dn, attributes = found[0]["dn"], found[0]["attributes"]
            if _first(attributes, "pwdAccountLockedTime") is not None:
                raise DirectoryAccountLocked(dn)
            user, _state = self._connect(dn, password)
            if user is None:
                return None
            user.unbind()
            entry = self._entry(dn, attributes, self._groups_of(service, dn), self._is_disabled(service, dn))
        finally:
            service.unbind()
        if entry.disabled:
            raise DirectoryAccountDisabled(dn)
        return entry

    def entries(self, changed_since: datetime | None = None) -> Iterator[DirectoryEntry]:
        """Every person entry (or those modified since ``changed_since``), read in pages."""
        connection = self._service()
        try:
            memberships = self._all_memberships(connection)
            disabled = self._uuids(connection, f"(&{self.config.user_filter}{self.config.disabled_filter})") \
                if self.config.disabled_filter else set()
            query = self.config.user_filter
            if changed_since is not None:
                stamp = changed_since.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")
                query = f"(&{query}(modifyTimestamp>={stamp}))"
            for item in connection.extend.standard.paged_search(
                    self.config.user_base, query, SUBTREE, attributes=self._attribute_names(),
                    paged_size=self.config.page_size, generator=True):
                if item.get("type") != "searchResEntry":
                    continue
                attributes = item["attributes"]
                uuid = str(_first(attributes, "entryUUID"))
                yield self._entry(item["dn"], attributes, tuple(sorted(memberships.get(item["dn"].lower(), ()))),
                                  uuid in disabled)
        finally:
            connection.unbind()

    def _uuids(self, connection: Connection, query: str) -> set[str]:
        return {str(_first(item["attributes"], "entryUUID"))
                for item in connection.extend.standard.paged_search(
                    self.config.user_base, query, SUBTREE, attributes=["entryUUID"],
                    paged_size=self.config.page_size, generator=True)
                if item.get("type") == "searchResEntry"}

    def _all_memberships(self, connection: Connection) -> dict[str, set[str]]:
        """member DN (lower-cased) → group DNs, from one pass over the groups (not one search per person)."""
        memberships: dict[str, set[str]] = {}
        if not self.config.group_base:
            return memberships
        for item in connection.extend.standard.paged_search(
                self.config.group_base, self.config.group_filter, SUBTREE, attributes=["member"],
                paged_size=self.config.page_size, generator=True):
            if item.get("type") != "searchResEntry":
                continue
            for member in item["attributes"].get("member", []):
                memberships.setdefault(str(member).lower(), set()).add(item["dn"])
        return memberships

    def check(self) -> list[tuple[str, str]]:
        """Each server's state for ``flask idp ldap check``: (url, "ok" or what failed)."""
        results = []
        for state in self._servers:
            try:
                connection = self._open(state, self.config.bind_dn, self.config.bind_password)
            except LDAPException as exc:
                results.append((state.url, f"unreachable: {exc}"))
                continue
            if connection is None:
                results.append((state.url, "the service account was refused"))
                continue
            connection.search(self.config.user_base, self.config.user_filter, SUBTREE, attributes=[], size_limit=1)
            ok = connection.result.get("result") in (0, 4)  # success, or size limit reached
            results.append((state.url, "ok" if ok else f"search failed: {connection.result.get('description')}"))
            connection.unbind()
        return results


def directory() -> Directory:
    """This app's directory (built once; it keeps the servers' health between requests)."""
    found = current_app.extensions.get(_EXTENSION)
    if found is None:
        found = current_app.extensions[_EXTENSION] = Directory(DirectoryConfig.from_app(current_app))
    return found
