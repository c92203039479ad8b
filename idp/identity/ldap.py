"""The directory identity source: officials, checked by an LDAP bind (ldap3), never stored passwords.

One ``Directory`` per app holds the configured servers and their health: servers are tried in order,
and a server that failed is skipped for IDP_LDAP_RETRY_SECONDS, so a dead server costs one timeout,
not one per request; when every server is resting the person is told at once that the directory is
unavailable. ldap3's synchronous connection is not thread-safe: a connection serves one operation at
a time. A sign-in's is kept afterwards, bound as the service account again, for the next sign-in
(``_KeptConnections``); a directory sync opens its own and closes it.

Whatever goes wrong on the wire (refused, timed out, TLS refused, a search that ends in an error) is
DirectoryUnavailable to callers: never a half answer, which a full sync would read as "these people
are gone", and never an exception that turns a sign-in page into a 500.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPStartTLSError
from ldap3.core.tls import check_hostname
from ldap3.utils.conv import escape_filter_chars

logger = logging.getLogger(__name__)

SOURCE = "ldap"
_EXTENSION = "dangnhap.directory"
# Only what is used: ldap3 decodes every value in pure Python, the bulk of a 50,000-entry read.
_OPERATIONAL = ("entryUUID",)
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


@dataclass
class _ServerState:
    url: str
    host: str
    port: int | None
    ldaps: bool
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


def _tls(config: DirectoryConfig) -> tuple[Tls | None, str | None]:
    """Certificate validation for StartTLS and ldaps://, or what is wrong with its settings.

    ldap3 refuses a missing CA file when the Tls object is built; that must not turn every official's
    sign-in into a 500: the directory is then unavailable, and ``idp ldap check`` says why.
    """
    try:
        return _KeptContextTls(config.ca_file or None), None
    except (LDAPException, ssl.SSLError, OSError) as exc:
        return None, f"IDP_LDAP_CA_FILE {config.ca_file!r}: {exc}"


class _KeptContextTls(Tls):
    """ldap3's certificate validation (the CA file or the system's CAs, a required certificate, its
    host name checked by ldap3's own ``check_hostname``) with one SSL context for every connection.

    ldap3 builds a context, and reads the CA file into it, for each connection it secures: ≈ 0.6 ms
    of CPU of every official's sign-in (bench/README.md). A context holds no per-connection state,
    and Python's contexts may be shared by threads."""

    def __init__(self, ca_file: str | None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file, version=ssl.PROTOCOL_TLS_CLIENT)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if ca_file:
            context.load_verify_locations(ca_file)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        context.check_hostname = False  # checked after the handshake, below, as ldap3 checks it
        context.verify_mode = ssl.CERT_REQUIRED
        self._context = context

    def wrap_socket(self, connection: Connection, do_handshake: bool = False) -> None:
        wrapped = self._context.wrap_socket(connection.socket, server_side=False,
                                            do_handshake_on_connect=do_handshake)
        if do_handshake:
            check_hostname(wrapped, connection.server.host, self.valid_names)
        connection.socket = wrapped


def _sending_at_once(connection: Connection) -> None:
    """Turn Nagle's algorithm off (TCP_NODELAY) on the connection's socket, as OpenLDAP's own client
    library does: LDAP is requests and answers, and ldap3 leaves it on. Over TLS it held requests
    back until the server's delayed acknowledgement (≈ 40 ms on Linux): an official's
    ``authenticate`` over StartTLS took 96 ms against 7.8 ms with it off (bench/README.md)."""
    sock = connection.socket
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _still_open(connection: Connection) -> bool:
    """Whether an idle connection is still usable: nothing has arrived on it since its last answer.
    A server that closed it (a restart, its idle timeout) sent an end of stream, which polls as
    readable; so does an unsolicited notice of disconnection. No round trip is spent asking."""
    sock = connection.socket
    if connection.closed or sock is None:
        return False
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return not poll.poll(0)


class _KeptConnections:
    """Connections bound as the service account, kept between sign-ins, each used by one thread at a
    time.

    Why: a connection of its own per sign-in cost a TCP connection, StartTLS with its handshake and
    the service account's bind: 1.7 ms of the 3.5 ms of CPU of ``Directory.authenticate`` on
    loopback (bench/README.md), and on a real network four round trips to the directory, against
    the one bind that takes a kept connection back to the service account.

    A connection is taken only for the first server not resting (the order of IDP_LDAP_URLS still
    decides), only if it was idle for less than ``IDLE_SECONDS`` and nothing arrived on it meanwhile
    (``_still_open``): one that a firewall dropped without a word would otherwise cost a timeout, and
    rest a healthy server. At most ``LIMIT`` are kept; the others are closed."""

    IDLE_SECONDS = 30.0
    LIMIT = 8

    def __init__(self) -> None:
        self._idle: deque[tuple[Connection, _ServerState, float]] = deque()
        self._lock = threading.Lock()

    def take(self, state: _ServerState | None) -> tuple[Connection, _ServerState] | None:
        """The most recently kept usable connection to ``state`` (the first server not resting, None
        when all are); the connections passed over are closed."""
        passed: list[Connection] = []
        found = None
        oldest = time.monotonic() - self.IDLE_SECONDS
        with self._lock:
            while self._idle and found is None:
                connection, kept_for, since = self._idle.pop()
                if kept_for is state and since > oldest:
                    found = connection, kept_for
                else:
                    passed.append(connection)
        for connection in passed:
            _close(connection)
        if found is not None and not _still_open(found[0]):
            _close(found[0])
            return self.take(state)
        return found

    def give_back(self, connection: Connection, state: _ServerState) -> None:
        with self._lock:
            kept = len(self._idle) < self.LIMIT
            if kept:
                self._idle.append((connection, state, time.monotonic()))
        if not kept:
            _close(connection)

    def close_all(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle), deque()
        for connection, _, _ in idle:
            _close(connection)


class Directory:
    def __init__(self, config: DirectoryConfig) -> None:
        self.config = config
        self._tls, self.config_error = _tls(config)
        if self.config_error:
            logger.error("directory configuration: %s", self.config_error)
        self._servers = []
        for url in config.urls:
            parts = urlsplit(url)
            self._servers.append(_ServerState(url, parts.hostname or "", parts.port, parts.scheme == "ldaps"))
        self._lock = threading.Lock()
        self._kept = _KeptConnections()
        # A Directory lives as long as its app; its kept sockets are closed with it, not left to the GC.
        weakref.finalize(self, self._kept.close_all)

    @property
    def enabled(self) -> bool:
        return bool(self._servers)

    # --- connections ------------------------------------------------------------------------------

    def _server(self, state: _ServerState) -> Server:
        """A new ldap3 Server each time: one that failed marks its address unusable for a fixed 5 s of
        its own (RESET_AVAILABILITY_TIMEOUT), which would outlast a shorter IDP_LDAP_RETRY_SECONDS and
        fail the first connections after a recovery with "invalid server address". Our resting servers
        are the only health state."""
        return Server(state.host, port=state.port, use_ssl=state.ldaps, tls=self._tls, get_info=NONE,
                      connect_timeout=self.config.timeout)

    def _open(self, state: _ServerState, user: str, password: str) -> Connection | None:
        """A bound connection, None when the credentials are refused; raises LDAPException on failure."""
        # ldap3 needs an int receive timeout (a float breaks its socket options).
        connection = Connection(self._server(state), user=user, password=password,
                                receive_timeout=max(1, round(self.config.timeout)),
                                raise_exceptions=False, read_only=True, auto_referrals=False)
        try:
            connection.open()
            _sending_at_once(connection)
            # start_tls() answers False instead of raising in some states: never bind in clear then.
            if self.config.start_tls and not state.ldaps and not connection.start_tls():
                raise LDAPStartTLSError(f"StartTLS did not start: {connection.last_error}")
            bound = connection.bind()
        except LDAPException:
            _close(connection)
            raise
        if not bound:
            _close(connection)
            return None
        return connection

    def _rest(self, state: _ServerState, exc: Exception) -> None:
        """Skip a failed server for IDP_LDAP_RETRY_SECONDS; after that it is tried again (recovery)."""
        logger.warning("directory server %s failed: %s", state.url, exc)
        with self._lock:
            state.resting_until = time.monotonic() + self.config.retry_seconds

    def _healthy(self) -> Iterator[_ServerState]:
        """The servers not resting, in their configured order."""
        now = time.monotonic()
        return (state for state in self._servers if state.resting_until <= now)

    def _connect(self, user: str, password: str) -> tuple[Connection | None, _ServerState]:
        """Bind to the first healthy server; failed servers rest. Raises DirectoryUnavailable."""
        if self.config_error:
            raise DirectoryUnavailable(self.config_error)
        for state in self._healthy():
            try:
                return self._open(state, user, password), state
            except LDAPException as exc:
                self._rest(state, exc)
        raise DirectoryUnavailable("no directory server answered")

    def _service(self) -> tuple[Connection, _ServerState]:
        connection, state = self._connect(self.config.bind_dn, self.config.bind_password)
        if connection is None:
            # Wrong service credentials are a configuration error: officials cannot sign in.
            logger.error("directory refused the service account on %s", state.url)
            raise DirectoryUnavailable("the directory refused the service account")
        return connection, state

    @contextlib.contextmanager
    def _session(self, *, kept: bool = False) -> Iterator[Connection]:
        """A service connection; a failure on the wire while it is used rests its server and becomes
        DirectoryUnavailable (a server may die between the bind and the search).

        ``kept``: a kept connection if there is one (``_KeptConnections``), and the connection kept
        afterwards if the block ended normally with it bound as the service account."""
        connection, state = (self._kept.take(next(self._healthy(), None)) if kept else None) or self._service()
        try:
            yield connection
        except LDAPException as exc:
            _close(connection)
            self._rest(state, exc)
            raise DirectoryUnavailable(f"{state.url}: {exc}") from exc
        except BaseException:
            _close(connection)
            raise
        if kept and connection.bound and connection.user == self.config.bind_dn:
            self._kept.give_back(connection, state)
        else:
            _close(connection)

    def _paged(self, connection: Connection, base: str, query: str, attributes: list[str]) -> Iterator[dict[str, Any]]:
        """Every entry a paged search finds, then a check that it ended well.

        ldap3 without ``raise_exceptions`` ends a paged search quietly on an error (noSuchObject for a
        wrong base, sizeLimitExceeded when the service account lost its limits): the entries so far
        would look like the whole directory, and a full sync would disable everyone else.
        """
        for item in connection.extend.standard.paged_search(base, query, SUBTREE, attributes=attributes,
                                                            paged_size=self.config.page_size, generator=True):
            if item.get("type") == "searchResEntry":
                yield item
        result = connection.result or {}
        if result.get("result") != 0:
            raise DirectoryUnavailable(f"search of {base} failed: {result.get('description')} "
                                       f"{result.get('message') or ''}".strip())

    # --- reading entries ------------------------------------------------------------------------------

    def _attribute_names(self) -> list[str]:
        return sorted({name for name in self.config.attributes.values() if name} | set(_OPERATIONAL))

    def _entry(self, dn: str, attributes: dict[str, Any], groups: tuple[str, ...], disabled: bool) -> DirectoryEntry:
        mapping = self.config.attributes
        return DirectoryEntry(
            entry_uuid=str(_first(attributes, "entryUUID")), dn=dn, uid=_first(attributes, mapping.get("uid")),
            name=_first(attributes, mapping.get("name")) or dn, email=_first(attributes, mapping.get("email")),
            phone=_first(attributes, mapping.get("phone")), title=_first(attributes, mapping.get("title")),
            unit=_first(attributes, mapping.get("unit")), groups=groups, disabled=disabled,
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
        with self._session(kept=True) as connection:
            connection.search(self.config.user_base, self._login_filter(identifier), SUBTREE,
                              attributes=self._attribute_names(), size_limit=2)
            found = [item for item in connection.response or () if item.get("type") == "searchResEntry"]
            if len(found) != 1:
                return None
            dn, attributes = found[0]["dn"], found[0]["attributes"]
            # Read as the service account before the same connection binds as the person: one TLS
            # connection for the whole sign-in, not a second one for the bind.
            groups, disabled = self._groups_of(connection, dn), self._is_disabled(connection, dn)
            if not connection.rebind(dn, password):
                # Asked after the bind: the policy decides whether a lock has expired (a successful
                # bind then clears it), and this very failure may have locked the entry.
                self._rebind_as_service(connection)
                if self._is_locked(connection, dn):
                    raise DirectoryAccountLocked(dn)
                return None
            # Back to the service account for the next sign-in. The password was right: a refusal or a
            # failure here only means the connection is not kept.
            with contextlib.suppress(LDAPException):
                connection.rebind(self.config.bind_dn, self.config.bind_password)
        entry = self._entry(dn, attributes, groups, disabled)
        if entry.disabled:
            raise DirectoryAccountDisabled(dn)
        return entry

    def _rebind_as_service(self, connection: Connection) -> None:
        """The connection's identity back to the service account (a refused bind left it anonymous)."""
        if not connection.rebind(self.config.bind_dn, self.config.bind_password):
            raise DirectoryUnavailable("the directory refused the service account")

    def _is_locked(self, connection: Connection, dn: str) -> bool:
        connection.search(dn, "(objectClass=*)", BASE, attributes=["pwdAccountLockedTime"])
        return any(_first(item["attributes"], "pwdAccountLockedTime") is not None
                   for item in connection.response or () if item.get("type") == "searchResEntry")

    def entries(self, changed_since: datetime | None = None,
                memberships: dict[str, tuple[str, ...]] | None = None) -> Iterator[DirectoryEntry]:
        """Every person entry (or those modified since ``changed_since``), read in pages.

        ``memberships``: what ``memberships()`` returned, when the caller needs it too (read otherwise).
        Raises DirectoryUnavailable, possibly after some entries: the caller must not take what it got
        for the whole directory.
        """
        with self._session() as connection:
            if memberships is None:
                memberships = self._all_memberships(connection)
            disabled = self._uuids(connection, f"(&{self.config.user_filter}{self.config.disabled_filter})") \
                if self.config.disabled_filter else set()
            query = self.config.user_filter
            if changed_since is not None:
                stamp = changed_since.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")
                query = f"(&{query}(modifyTimestamp>={stamp}))"
            for item in self._paged(connection, self.config.user_base, query, self._attribute_names()):
                attributes = item["attributes"]
                uuid = str(_first(attributes, "entryUUID"))
                yield self._entry(item["dn"], attributes, memberships.get(item["dn"].lower(), ()), uuid in disabled)

    def memberships(self) -> dict[str, tuple[str, ...]]:
        """member DN (lower-cased) → its groups' DNs, sorted: every group read once."""
        with self._session() as connection:
            return self._all_memberships(connection)

    def _uuids(self, connection: Connection, query: str) -> set[str]:
        return {str(_first(item["attributes"], "entryUUID"))
                for item in self._paged(connection, self.config.user_base, query, ["entryUUID"])}

    def _all_memberships(self, connection: Connection) -> dict[str, tuple[str, ...]]:
        """member DN (lower-cased) → group DNs, from one pass over the groups (not one search per person)."""
        memberships: dict[str, set[str]] = {}
        if not self.config.group_base:
            return {}
        for item in self._paged(connection, self.config.group_base, self.config.group_filter, ["member"]):
            for member in item["attributes"].get("member", []):
                memberships.setdefault(str(member).lower(), set()).add(item["dn"])
        return {member: tuple(sorted(groups)) for member, groups in memberships.items()}

    def check(self) -> list[tuple[str, str]]:
        """Settings, then each server, for ``flask idp ldap check``: (what, "ok" or what is wrong)."""
        results = self._setting_problems()
        for state in self._servers:
            results.append((state.url, self.config_error or self._check_server(state)))
        return results

    def _setting_problems(self) -> list[tuple[str, str]]:
        cfg = self.config
        problems = [(name, "empty") for name, value in (("IDP_LDAP_BIND_DN", cfg.bind_dn),
                                                         ("IDP_LDAP_USER_BASE", cfg.user_base)) if not value]
        if not cfg.group_base:
            problems.append(("IDP_LDAP_GROUP_BASE", "empty: officials get no roles"))
        plain = [url for url in cfg.urls if not url.startswith("ldaps://")]
        if plain and not cfg.start_tls:
            problems.append(("IDP_LDAP_START_TLS", "off: passwords cross the network in clear to " + ", ".join(plain)))
        return problems

    def _check_server(self, state: _ServerState) -> str:
        """Reach the server (TLS included), bind as the service account, search people and groups."""
        try:
            connection = self._open(state, self.config.bind_dn, self.config.bind_password)
        except LDAPException as exc:
            return f"unreachable: {exc}"
        if connection is None:
            return "the service account was refused"
        try:
            searches = [(self.config.user_base, self.config.user_filter, "people")]
            if self.config.group_base:
                searches.append((self.config.group_base, self.config.group_filter, "groups"))
            for base, query, what in searches:
                connection.search(base, query, SUBTREE, attributes=[], size_limit=1)
                if connection.result.get("result") not in (0, 4):  # success, or size limit reached
                    return f"search for {what} in {base} failed: {connection.result.get('description')}"
                if not any(item.get("type") == "searchResEntry" for item in connection.response or ()):
                    return f"no {what} found in {base} with {query}"
        except LDAPException as exc:
            return f"search failed: {exc}"
        finally:
            _close(connection)
        return "ok"


def directory() -> Directory:
    """This app's directory (built once; it keeps the servers' health between requests)."""
    found = current_app.extensions.get(_EXTENSION)
    if found is None:
        found = current_app.extensions[_EXTENSION] = Directory(DirectoryConfig.from_app(current_app))
    return found
