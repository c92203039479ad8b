"""What the protocol benchmark needs in a fresh dangnhap database, made through the domain functions.

One client per scenario (as a province registers one per portal): two client_credentials clients (RS256
and ES256 access tokens), a confidential and a public portal that skip consent (first-party), a
citizen, citizens with TOTP and officials with TOTP. A TOTP code is accepted once per 30 s step and
person (replay protection), so the TOTP flows need a pool of people; the pool shares one password
hash (hashed once) to keep seeding quick.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask_migrate import upgrade

from idp import create_app
from idp.authn import passwords
from idp.identity import ldap, local, sync
from idp.mfa import totp
from idp.oidc import client_registry
from idp.storage import db, subjects, transaction
from idp.storage.subjects import Subject
from tests.helpers import directory_data

from .flows import Client, User

REDIRECT_URI = "https://portal.bench.invalid/callback"
PASSWORD = "Mật-khẩu-đo-tải-2026"
PORTAL_SCOPE = "openid profile email"
OFFICIAL_PREFIX = "bench"  # directory_data.officials(n, prefix=...): the uids in the private slapd


@dataclass(frozen=True)
class Clients:
    """The clients of every scenario, with their secrets (the same registered on both servers)."""

    cc_rs256: Client
    cc_es256: Client
    portal: Client
    public: Client

    @classmethod
    def generate(cls) -> Clients:
        def secret() -> str:
            return secrets.token_urlsafe(32)

        return cls(cc_rs256=Client("bench-cc-rs256", secret(), "", "profile"),
                   cc_es256=Client("bench-cc-es256", secret(), "", "profile"),
                   portal=Client("bench-portal", secret(), REDIRECT_URI, PORTAL_SCOPE),
                   public=Client("bench-public", None, REDIRECT_URI, PORTAL_SCOPE))

    def metadata(self) -> list[dict[str, Any]]:
        """RFC 7591 metadata of each client (plus the secret and the access-token algorithm)."""
        def service(client: Client, alg: str) -> dict[str, Any]:
            return {"client_id": client.client_id, "client_name": client.client_id, "client_secret": client.secret,
                    "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
                    "token_endpoint_auth_method": "client_secret_basic", "scope": "openid profile",
                    "access_token_signed_response_alg": alg}

        def portal(client: Client) -> dict[str, Any]:
            entry = {"client_id": client.client_id, "client_name": client.client_id,
                     "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                     "redirect_uris": [client.redirect_uri], "scope": client.scope,
                     "token_endpoint_auth_method": "client_secret_basic" if client.secret else "none",
                     "access_token_signed_response_alg": "RS256", "skip_consent": True}
            return entry | ({"client_secret": client.secret} if client.secret else {})

        return [service(self.cc_rs256, "RS256"), service(self.cc_es256, "ES256"),
                portal(self.portal), portal(self.public)]


@dataclass(frozen=True)
class People:
    citizen: User
    citizens_with_totp: list[User]
    officials_with_totp: list[User]


def _id_numbers() -> Iterator[str]:
    """Valid 12-digit numbers: Thanh Hóa (038), men born in the 20th century, 1990."""
    for serial in range(1, 1_000_000):
        yield f"038090{serial:06d}"


def _citizens(count: int) -> tuple[User, list[User]]:
    """One citizen, and ``count`` more with TOTP; one hash for all, one transaction for the accounts."""
    password_hash = passwords.hash_password(PASSWORD)
    numbers = list(itertools.islice(_id_numbers(), count + 1))
    with transaction():
        made = [local.create_citizen(local.NewCitizen(id_number=number, full_name=f"Công dân đo tải {i}",
                                                      password_hash=password_hash))
                for i, number in enumerate(numbers)]
    with_totp = [User(number, PASSWORD, _provision(subject, subject.sub))
                 for subject, number in zip(made[1:], numbers[1:], strict=True)]
    return User(numbers[0], PASSWORD), with_totp


def _provision(subject: Subject, account: str) -> str:
    """Give ``subject`` an authenticator labelled ``account`` (never an ID number: the label shows in
    the app); returns its secret (from the otpauth URI)."""
    uri, _codes = totp.provision(subject, account)
    return parse_qs(urlsplit(uri).query)["secret"][0]


def _officials(count: int) -> list[User]:
    """The generated officials, synced from the directory as the nightly job does, each given TOTP."""
    sync.sync()
    people = []
    for official in directory_data.officials(count, prefix=OFFICIAL_PREFIX):
        identity = subjects.find_identity(ldap.SOURCE, directory_data.entry_uuid(official.dn))
        if identity is None:
            raise RuntimeError(f"the sync did not create {official.uid}")
        people.append(User(official.uid, directory_data.GENERATED_PASSWORD, _provision(identity.subject, official.uid)))
    return people


def seed(config: dict[str, Any], clients: Clients, *, totp_people: int, officials: int) -> People:
    """Migrate the empty database of ``config`` and fill it; the engine is disposed afterwards."""
    app: Flask = create_app(config)
    with app.app_context():
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # Alembic's INFO lines
                upgrade()
            client_registry.import_clients([dict(entry) for entry in clients.metadata()], actor="bench")
            citizen, citizens_with_totp = _citizens(totp_people)
            officials_with_totp = _officials(officials) if officials else []
            return People(citizen, citizens_with_totp, officials_with_totp)
        finally:
            db.session.remove()
            db.engine.dispose()
