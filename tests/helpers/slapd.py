"""A private OpenLDAP server for the tests: Debian's slapd, run by us on free loopback ports.

``Slapd(root)`` prepares everything under ``root`` and nothing elsewhere: ``slapd.d/`` (cn=config, loaded
offline with ``slapadd -n0``), ``data/`` (one mdb database, seeded offline with ``slapadd -n1`` from
``directory_data``), ``certs/`` (a CA, a server certificate for 127.0.0.1 and localhost, and an unrelated
CA of the same name that must be refused) and ``slapd.log``. ``start()`` runs slapd in the foreground as
our child, listening on ``ldap://`` (StartTLS available) and ``ldaps://``; ``stop()`` ends it by its pid;
``start()`` again serves the same data on the same ports (failover and recovery tests); ``cleanup()``
removes the directory. The system's own slapd service, if any, is never used.

The server's configuration (see ``config_ldif``):
- modules back_mdb, memberof (memberOf on group members, kept when a member is renamed or deleted) and
  ppolicy (the default policy locks an account after ``MAX_PASSWORD_FAILURES`` failed binds; a locked
  account's bind still answers 49, invalidCredentials);
- ACLs: anonymous may only authenticate; the service account reads everything except ``userPassword`` and
  has no size limit (the default 500 would also cap paged searches); an official reads their own entry
  and may change their own password; the root DN (``cn=admin``) may do anything.

On a 2-core machine: ≈ 35 ms to prepare (slapadd twice), 25 ms to start, 10 ms to stop; with 50,000
generated officials, ≈ 3 s to prepare (half of it writing the LDIF in Python), 25 ms to start.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import ipaddress
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ldap3.core.exceptions import LDAPException

from tests.helpers import directory_data as data

SLAPD = Path("/usr/sbin/slapd")
MODULE_PATH = Path("/usr/lib/ldap")
SCHEMA_DIR = Path("/etc/ldap/schema")
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")
INSTALL_HINT = (
    "the LDAP tests need OpenLDAP's slapd and slapadd (Debian packages slapd and ldap-utils): "
    "`make test` installs them when run as root; otherwise run `sudo apt-get install slapd ldap-utils`"
)
ROOT_DN = f"cn=admin,{data.BASE_DN}"
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
# The Relax Rules control (draft-zeilenga-ldap-relax): lets the root DN write entryUUID and clear
# ppolicy's NO-USER-MODIFICATION attributes.
RELAX_RULES = "1.3.6.1.4.1.4203.666.5.12"

Tls = Literal["starttls", "ldaps"] | None
# Entries by lower-case DN: (DN, {attribute: values}).
Snapshot = dict[str, tuple[str, dict[str, frozenset[str]]]]


def slapadd_path() -> str | None:
    return shutil.which("slapadd") or shutil.which("slapadd", path="/usr/sbin:/usr/bin")


def missing_programs() -> list[str]:
    """What is missing to run a private slapd (empty when all is there)."""
    missing = [] if SLAPD.is_file() else [str(SLAPD)]
    if slapadd_path() is None:
        missing.append("slapadd")
    missing += [f"{MODULE_PATH}/{m}.so" for m in ("back_mdb", "memberof", "ppolicy")
                if not (MODULE_PATH / f"{m}.so").exists()]
    missing += [f"{SCHEMA_DIR}/{s}.ldif" for s in SCHEMAS if not (SCHEMA_DIR / f"{s}.ldif").exists()]
    return missing


def close_quietly(conn: ldap3.Connection) -> None:
    """Unbind, and close the socket ldap3 leaves open when ``open()`` failed (refused, TLS handshake): it
    then believes the connection closed (cannatag/ldap3#954, unreleased fix), and the socket's
    ResourceWarning would fail the test."""
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()
    if conn.socket is not None:
        conn.socket.close()


def free_port() -> int:
    """A port nobody listens on now (the kernel's choice; slapd binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Certificates ------------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "UBND tỉnh Thanh Hóa (thử nghiệm)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Certificates:
    """A test CA and the server certificate it signed (for 127.0.0.1 and localhost, any port).

    ``untrusted_ca_file`` holds another CA with the very same name but its own key: a client that trusts
    only it must refuse the server, so only the signature can tell them apart.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    untrusted_ca_file: Path

    @classmethod
    def generate(cls, directory: Path) -> Certificates:
        directory.mkdir(parents=True, exist_ok=True)
        ca_name = "CA thử nghiệm dangnhap"
        ca_key, ca_cert = _ca(ca_name)
        _, untrusted_cert = _ca(ca_name)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        certificates = cls(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem",
                           directory / "untrusted-ca.pem")
        certificates.ca_file.write_bytes(_pem(ca_cert))
        certificates.cert_file.write_bytes(_pem(cert))
        certificates.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                            serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
        certificates.key_file.chmod(0o600)
        certificates.untrusted_ca_file.write_bytes(_pem(untrusted_cert))
        return certificates


# --- cn=config ---------------------------------------------------------------------------------------


def config_ldif(*, data_dir: Path, certificates: Certificates, root_password_hash: str) -> str:
    """cn=config for one mdb database holding ``data.BASE_DN``; read the ACLs here."""
    service, base = data.SERVICE_DN, data.BASE_DN
    records = [
        data.ldif_record("cn=config", {
            "objectClass": ["olcGlobal"], "cn": ["config"],
            "olcTLSCACertificateFile": [str(certificates.ca_file)],
            "olcTLSCertificateFile": [str(certificates.cert_file)],
            "olcTLSCertificateKeyFile": [str(certificates.key_file)],
            "olcTLSVerifyClient": ["never"],
        }),
        data.ldif_record("cn=module{0},cn=config", {
            "objectClass": ["olcModuleList"], "cn": ["module{0}"], "olcModulePath": [str(MODULE_PATH)],
            "olcModuleLoad": ["{0}back_mdb", "{1}memberof", "{2}ppolicy"],
        }),
        data.ldif_record("cn=schema,cn=config", {"objectClass": ["olcSchemaConfig"], "cn": ["schema"]}),
        *((SCHEMA_DIR / f"{name}.ldif").read_text().strip() + "\n\n" for name in SCHEMAS),
        data.ldif_record("olcDatabase={-1}frontend,cn=config", {
            "objectClass": ["olcDatabaseConfig", "olcFrontendConfig"], "olcDatabase": ["{-1}frontend"],
            # The root DSE and the schema stay readable (ldap3's get_info, StartTLS discovery).
            "olcAccess": ['{0}to dn.base="" by * read', '{1}to dn.base="cn=subschema" by * read'],
        }),
        data.ldif_record("olcDatabase={0}config,cn=config", {
            "objectClass": ["olcDatabaseConfig"], "olcDatabase": ["{0}config"],
            "olcAccess": ["{0}to * by * none"],
        }),
        data.ldif_record("olcDatabase={1}mdb,cn=config", {
            "objectClass": ["olcDatabaseConfig", "olcMdbConfig"], "olcDatabase": ["{1}mdb"],
            "olcDbDirectory": [str(data_dir)], "olcSuffix": [base],
            "olcRootDN": [ROOT_DN], "olcRootPW": [root_password_hash],
            # The map is a sparse file: 4 GiB costs nothing and holds far more than 50,000 officials.
            "olcDbMaxSize": [str(4 << 30)],
            "olcDbNoSync": ["TRUE"],
            # What the IdP looks up by: sign-in (uid, mail), identity (entryUUID), groups (member), the
            # incremental sync (modifyTimestamp: the eq index serves >= too). No substring indexes: lists
            # are served from the IdP's database, and each one makes the 50,000-entry load slower.
            "olcDbIndex": ["objectClass eq", "uid eq", "mail eq", "member eq", "memberOf eq", "entryUUID eq",
                           "modifyTimestamp eq", f"{data.UNIT_ATTRIBUTE} eq", f"{data.DISABLED_ATTRIBUTE} eq"],
            "olcLimits": [f'{{0}}dn.exact="{service}" size=unlimited time=unlimited'],
            "olcAccess": [
                # Passwords: checked by a bind, changed by their owner, read by nobody (the root DN aside).
                "{0}to attrs=userPassword by self =wx by anonymous auth by * none",
                # Lock state: ppolicy writes it itself; the service account may read it (to tell a locked
                # account from a wrong password, should the IdP want to).
                f'{{1}}to attrs=pwdAccountLockedTime,pwdFailureTime by dn.exact="{service}" read by * none',
                f'{{2}}to dn.subtree="{base}" by dn.exact="{service}" read by self read by * none',
            ],
        }),
        data.ldif_record("olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config", {
            "objectClass": ["olcOverlayConfig", "olcMemberOf"], "olcOverlay": ["{0}memberof"],
            "olcMemberOfGroupOC": ["groupOfNames"], "olcMemberOfMemberAD": ["member"],
            "olcMemberOfMemberOfAD": ["memberOf"],
            # A renamed, moved or deleted member is renamed, moved or removed in its groups too.
            "olcMemberOfRefInt": ["TRUE"],
        }),
        data.ldif_record("olcOverlay={1}ppolicy,olcDatabase={1}mdb,cn=config", {
            "objectClass": ["olcOverlayConfig", "olcPPolicyConfig"], "olcOverlay": ["{1}ppolicy"],
            "olcPPolicyDefault": [data.DEFAULT_POLICY_DN],
            # A clear-text password written by its owner is stored hashed ({SSHA}).
            "olcPPolicyHashCleartext": ["TRUE"],
        }),
    ]
    return "".join(records)


# --- The server --------------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """If pytest is killed outright, the kernel sends slapd SIGTERM: no server outlives its run."""
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_libc = ctypes.CDLL(None, use_errno=True)


class SlapdError(RuntimeError):
    pass


class Slapd:
    """One private slapd. Prepared (config and seed loaded) by the constructor; ``start()`` runs it.

    ``seed`` is LDIF records (default: ``directory_data.seed_entries()``), streamed to slapadd, so a
    generator of 50,000 officials is fine. ``certificates`` may be shared between servers (a primary and
    its replica trust the same CA).
    """

    def __init__(self, root: Path, *, seed: Iterable[str] | None = None,
                 certificates: Certificates | None = None, name: str = "slapd") -> None:
        if missing := missing_programs():
            raise SlapdError(f"{', '.join(missing)} not found: {INSTALL_HINT}")
        self.name = name
        self.root = root
        self.config_dir = root / "slapd.d"
        self.data_dir = root / "data"
        self.log_file = root / "slapd.log"
        self.certificates = certificates or Certificates.generate(root / "certs")
        self.port = free_port()
        self.ldaps_port = free_port()
        while self.ldaps_port == self.port:
            self.ldaps_port = free_port()
        self.root_dn = ROOT_DN
        self.root_password = secrets.token_urlsafe(16)
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self.baseline: Snapshot = {}
        self._connections: list[ldap3.Connection] = []
        self._prepare(data.seed_entries() if seed is None else seed)

    # Names the tests and the IdP's configuration use.
    base_dn = data.BASE_DN
    users_dn = data.PEOPLE_DN
    groups_dn = data.GROUPS_DN
    units_dn = data.UNITS_DN
    service_dn = data.SERVICE_DN
    service_password = data.SERVICE_PASSWORD

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ca_file(self) -> str:
        return str(self.certificates.ca_file)

    @property
    def untrusted_ca_file(self) -> str:
        return str(self.certificates.untrusted_ca_file)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else "running" if self.running else "stopped"
        return f"<Slapd {self.name} {self.url} {self.ldaps_url} {state}>"

    # --- preparation ---

    def _slapadd(self, database: int, ldif: Iterable[str]) -> None:
        ldif_file = self.root / f"load-{database}.ldif"
        with ldif_file.open("w", encoding="utf-8") as out:
            out.writelines(ldif)
        # -q: quick mode (no consistency checks beyond the schema): a 50,000-entry load takes a second.
        result = subprocess.run([slapadd_path() or "slapadd", "-q", f"-n{database}", "-F", str(self.config_dir),
                                 "-l", str(ldif_file)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SlapdError(f"slapadd -n{database} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        ldif_file.unlink()

    def _prepare(self, seed: Iterable[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir()
        self.data_dir.mkdir()
        config = config_ldif(data_dir=self.data_dir, certificates=self.certificates,
                             root_password_hash=data.ssha(self.root_password))
        self._slapadd(0, [config])
        self._slapadd(1, seed)

    # --- process ---

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Run slapd in the foreground (our child) and return once both ports accept connections."""
        if self.running:
            return
        urls = f"{self.url} {self.ldaps_url}"
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [str(SLAPD), "-d", "none", "-F", str(self.config_dir), "-h", urls],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # only prctl: safe between fork and exec
            )
        self.frozen = False
        deadline = time.monotonic() + timeout
        for port in (self.port, self.ldaps_port):
            while not self._accepts(port):
                if self.process.poll() is not None:
                    raise SlapdError(f"{self.name} exited ({self.process.returncode}) at start:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise SlapdError(f"{self.name} did not listen on {port} within {timeout} s:\n{self.log_tail()}")
                time.sleep(0.005)

    @staticmethod
    def _accepts(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM (slapd closes its database cleanly), then SIGKILL if it has not ended in ``timeout``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.thaw()  # a stopped process would not act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: a crash (mdb survives it); ``start()`` works again afterwards."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_SECONDS)
        self.process = None
        self.frozen = False

    def freeze(self) -> None:
        """SIGSTOP: the kernel still accepts TCP connections, but nothing answers (a hung server).

        Returns once the kernel reports the process stopped: the signal is delivered asynchronously,
        and on a busy machine a request sent right after ``send_signal`` could still be answered.
        """
        if self.running and self.process:
            self.process.send_signal(signal.SIGSTOP)
            self.frozen = True
            stat = Path(f"/proc/{self.process.pid}/stat")
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            # The state is the field after the parenthesised command name: T when stopped.
            while stat.read_text().rsplit(")", 1)[1].split()[0] != "T" and time.monotonic() < deadline:
                time.sleep(0.001)

    def thaw(self) -> None:
        if self.frozen and self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)
        self.frozen = False

    def cleanup(self) -> None:
        """Stop the server and remove its directory (certificates too, unless they were shared)."""
        self.close_connections()
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Slapd:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    # --- clients ---

    def server(self, tls: Tls = None, *, ca_file: str | None = None, timeout: float = 5.0) -> ldap3.Server:
        """An ldap3 Server for this slapd. ``tls``: None (plain), "starttls" or "ldaps"; certificates are
        validated against ``ca_file`` (default: the test CA), host name included."""
        tls_config = None
        if tls is not None:
            tls_config = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file or self.ca_file)
        return ldap3.Server(self.ldaps_url if tls == "ldaps" else self.url, use_ssl=tls == "ldaps",
                            tls=tls_config, get_info=ldap3.NONE, connect_timeout=timeout)

    def connection(self, as_root: bool = True, *, dn: str | None = None, password: str | None = None,
                   tls: Tls = None, ca_file: str | None = None, auto_bind: bool = True,
                   timeout: float = 5.0) -> ldap3.Connection:
        """An ldap3 connection (``get_info=NONE``), bound unless ``auto_bind=False``.

        As the root DN by default; ``as_root=False``: as the IdP's service account; ``dn``/``password``:
        as anyone (``dn=""``: anonymous). With ``auto_bind=False`` call ``open()``, ``start_tls()`` (for
        "starttls") and ``bind()`` yourself: ``bind()`` then returns False and ``result["result"]`` says why
        (49: invalid credentials).
        A failed auto-bind raises ``ldap3.core.exceptions.LDAPBindError``. Connections stay open until
        ``close_connections()`` (the fixtures call it after each test) or ``cleanup()``.
        """
        if dn is None:
            dn, password = (self.root_dn, self.root_password) if as_root else (self.service_dn, self.service_password)
        if not auto_bind:
            mode = ldap3.AUTO_BIND_NONE
        elif tls == "starttls":
            mode = ldap3.AUTO_BIND_TLS_BEFORE_BIND
        else:
            mode = ldap3.AUTO_BIND_NO_TLS
        conn = ldap3.Connection(self.server(tls, ca_file=ca_file, timeout=timeout), user=dn, password=password,
                                auto_bind=mode, receive_timeout=max(1, round(timeout)))
        self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _root(self) -> Iterator[ldap3.Connection]:
        """A root connection for the helpers below, unbound when done."""
        conn = self.connection()
        try:
            yield conn
        finally:
            self._connections.remove(conn)
            close_quietly(conn)

    def close_connections(self) -> None:
        """Unbind every connection ``connection()`` made. Until then they are kept referenced: an ldap3
        connection collected while open warns (ResourceWarning), which fails a test."""
        while self._connections:
            close_quietly(self._connections.pop())

    def bind_result(self, dn: str, password: str, tls: Tls = None) -> int:
        """The result code of a simple bind as ``dn`` (0: success, 49: invalid credentials or locked)."""
        conn = self.connection(dn=dn, password=password, tls=tls, auto_bind=False)
        try:
            conn.open()
            if tls == "starttls":
                conn.start_tls()
            conn.bind()
            return int(conn.result["result"])
        finally:
            self._connections.remove(conn)
            close_quietly(conn)

    # --- entries written online ---

    def add_official(self, official: data.Official, *, groups: Iterable[str] = ()) -> None:
        """Add ``official`` as the root DN, with the entryUUID the seed would give it (the Relax Rules
        control lets the root DN set it), and make it a member of the groups named by their cn (memberOf
        is computed by the overlay). Add the same official to two servers and they agree, like replicas."""
        attributes = official.attributes()
        attributes["entryUUID"] = [official.entry_uuid]
        with self._root() as conn:
            if not conn.add(official.dn, attributes=attributes, controls=[(RELAX_RULES, True, None)]):
                raise SlapdError(f"cannot add {official.dn} to {self.name}: {conn.result}")
            for cn in groups:
                if not conn.modify(f"cn={cn},{self.groups_dn}", {"member": [(ldap3.MODIFY_ADD, [official.dn])]}):
                    raise SlapdError(f"cannot add {official.dn} to group {cn}: {conn.result}")

    def modify(self, dn: str, **values: list[str]) -> None:
        """Replace attributes of ``dn`` as the root DN (an empty list removes the attribute)."""
        changes = {name: [(ldap3.MODIFY_REPLACE, list(v))] for name, v in values.items()}
        with self._root() as conn:
            self._expect(conn, conn.modify(dn, changes), "modify", dn)

    def rename(self, dn: str, *, uid: str | None = None, parent_dn: str | None = None) -> str:
        """Give the entry a new uid and/or move it under ``parent_dn``; returns its new DN. The
        entryUUID stays; memberof rewrites the groups' member values."""
        rdn, parent = dn.split(",", 1)
        new_rdn = f"uid={uid}" if uid else rdn
        with self._root() as conn:
            done = conn.modify_dn(dn, new_rdn, delete_old_dn=True, new_superior=parent_dn)
            self._expect(conn, done, "rename", dn)
        return f"{new_rdn},{parent_dn or parent}"

    def set_membership(self, group_cn: str, dn: str, member: bool) -> None:
        """Add ``dn`` to the seed group ``group_cn`` or take it out (only for entries a test made)."""
        change = ldap3.MODIFY_ADD if member else ldap3.MODIFY_DELETE
        group = f"cn={group_cn},{self.groups_dn}"
        with self._root() as conn:
            self._expect(conn, conn.modify(group, {"member": [(change, [dn])]}), "change members of", group)

    def dn_of(self, entry_uuid: str) -> str | None:
        """Where the entry with this entryUUID is now (it stays through renames and moves), or None."""
        with self._root() as conn:
            conn.search(self.base_dn, f"(entryUUID={entry_uuid})", attributes=["1.1"])
            found = [e["dn"] for e in conn.response or [] if e.get("type") == "searchResEntry"]
            return found[0] if found else None

    def delete(self, dn: str) -> None:
        """Delete ``dn`` and everything below it (memberof removes it from its groups)."""
        with self._root() as conn:
            conn.search(dn, "(objectClass=*)", search_scope=ldap3.SUBTREE, attributes=["1.1"])
            dns = [e["dn"] for e in conn.response or [] if e.get("type") == "searchResEntry"]
            for entry_dn in sorted(dns, key=lambda d: d.count(","), reverse=True):
                if not conn.delete(entry_dn):
                    raise SlapdError(f"cannot delete {entry_dn} from {self.name}: {conn.result}")

    # --- state the tests restore ---

    def snapshot(self) -> Snapshot:
        """Every entry's user attributes (and entryUUID), by lower-case DN."""
        with self._root() as conn:
            entries = conn.extend.standard.paged_search(self.base_dn, "(objectClass=*)",
                                                        attributes=[ldap3.ALL_ATTRIBUTES, "entryUUID"],
                                                        paged_size=1000, generator=True)
            return {
                entry["dn"].lower(): (entry["dn"], {
                    name: frozenset(v.decode(errors="replace") for v in values)
                    for name, values in entry["raw_attributes"].items()
                })
                for entry in entries if entry["type"] == "searchResEntry"
            }

    def keep_baseline(self) -> None:
        """Remember the current entries (usually the seed) for ``restore_baseline``."""
        self.baseline = self.snapshot()

    def restore_baseline(self) -> list[str]:
        """Put back the entries as ``keep_baseline()`` saw them; returns the DNs that had to be restored.

        Entries added since are deleted, entries deleted (or renamed away) are added again with their
        entryUUID, changed attributes are set back; memberOf follows the groups.
        """
        now = self.snapshot()
        changed = sorted(key for key in now.keys() | self.baseline.keys() if now.get(key) != self.baseline.get(key))
        if not changed:
            return []
        relax = [(RELAX_RULES, True, None)]
        with self._root() as conn:
            for key in sorted((k for k in changed if k not in self.baseline), key=lambda k: -k.count(",")):
                self._expect(conn, conn.delete(now[key][0], controls=relax), "delete", now[key][0])
            for key in sorted((k for k in changed if k not in now), key=lambda k: k.count(",")):
                dn, attributes = self.baseline[key]
                added = conn.add(dn, attributes={n: list(v) for n, v in attributes.items()}, controls=relax)
                self._expect(conn, added, "add", dn)
            for key in (k for k in changed if k in now and k in self.baseline):
                dn, attributes = self.baseline[key]
                changes = {name: [(ldap3.MODIFY_REPLACE, sorted(attributes.get(name, ())))]
                           for name in attributes.keys() | now[key][1].keys()
                           if attributes.get(name) != now[key][1].get(name)}
                self._expect(conn, conn.modify(dn, changes, controls=relax), "restore", dn)
        return [(self.baseline.get(key) or now[key])[0] for key in changed]

    def _expect(self, conn: ldap3.Connection, done: bool, what: str, dn: str) -> None:
        if not done:
            raise SlapdError(f"cannot {what} {dn} on {self.name}: {conn.result}")

    def unlock_all(self) -> list[str]:
        """Forget failed binds and lockouts (ppolicy state) on every entry; returns the DNs it touched."""
        with self._root() as conn:
            conn.search(self.base_dn, "(|(pwdAccountLockedTime=*)(pwdFailureTime=*))",
                        attributes=["pwdAccountLockedTime", "pwdFailureTime"])
            touched = []
            for entry in conn.response or []:
                if entry.get("type") != "searchResEntry":
                    continue
                changes = {name: [(ldap3.MODIFY_DELETE, [])] for name, values in entry["raw_attributes"].items()
                           if values}
                # pwdFailureTime is NO-USER-MODIFICATION: only the Relax Rules control lets the root DN clear it.
                if changes and not conn.modify(entry["dn"], changes, controls=[(RELAX_RULES, True, None)]):
                    raise SlapdError(f"cannot unlock {entry['dn']}: {conn.result}")
                touched.append(entry["dn"])
            return touched
