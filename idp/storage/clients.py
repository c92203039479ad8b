"""Relying parties (the province's portals and apps), with RFC 7591 metadata names.

List-valued metadata are JSON arrays. The secret is stored only as its SHA-256 (hex): generated
secrets carry 256 random bits, so a slow KDF adds nothing but latency on the token endpoint.

Workers keep clients in memory as ``ClientRecord`` copies (``idp.oidc.client_cache``); every write to
the table bumps the ``clients`` stamp in its transaction (``stamps.watch``), which tells them to reload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from . import stamps
from .base import Base, Upsert, UtcDateTime, db, utcnow

STAMP = "clients"


class Client(Base):
    __tablename__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    client_name: Mapped[str] = mapped_column(String(200))
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["authorization_code"])
    response_types: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["code"])
    scope: Mapped[str] = mapped_column(Text, default="openid")
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(16), default="RS256")
    # Not in RFC 7591; named like its ID-token sibling (RFC 9068 access tokens).
    access_token_signed_response_alg: Mapped[str] = mapped_column(String(16), default="RS256")
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(Text)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=True)
    frontchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    frontchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=True)
    skip_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    require_mfa: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: the policy default (required for public clients; IDP_REQUIRE_PKCE for the others).
    require_pkce: Mapped[bool | None] = mapped_column(Boolean)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


stamps.watch(Client, STAMP)


@dataclass(frozen=True)
class ClientRecord:
    """A client as the protocol reads it: a copy of its row that any thread and request may share."""

    client_id: str
    client_name: str
    client_secret_hash: str | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    scope: str
    token_endpoint_auth_method: str
    id_token_signed_response_alg: str
    access_token_signed_response_alg: str
    jwks_json: str | None  # the registered JWK set as text: a shared dict could be changed in place
    jwks_uri: str | None
    backchannel_logout_uri: str | None
    backchannel_logout_session_required: bool
    frontchannel_logout_uri: str | None
    frontchannel_logout_session_required: bool
    skip_consent: bool
    require_mfa: bool
    require_pkce: bool | None
    enabled: bool

    @property
    def jwks(self) -> dict[str, Any] | None:
        """The registered JWK set (a new copy at each call)."""
        return json.loads(self.jwks_json) if self.jwks_json is not None else None

    @classmethod
    def of(cls, row: Client) -> ClientRecord:
        return cls(
            client_id=row.client_id, client_name=row.client_name, client_secret_hash=row.client_secret_hash,
            redirect_uris=tuple(row.redirect_uris or ()),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
            grant_types=tuple(row.grant_types or ()), response_types=tuple(row.response_types or ()),
            scope=row.scope, token_endpoint_auth_method=row.token_endpoint_auth_method,
            id_token_signed_response_alg=row.id_token_signed_response_alg,
            access_token_signed_response_alg=row.access_token_signed_response_alg,
            jwks_json=json.dumps(row.jwks) if row.jwks is not None else None, jwks_uri=row.jwks_uri,
            backchannel_logout_uri=row.backchannel_logout_uri,
            backchannel_logout_session_required=row.backchannel_logout_session_required,
            frontchannel_logout_uri=row.frontchannel_logout_uri,
            frontchannel_logout_session_required=row.frontchannel_logout_session_required,
            skip_consent=row.skip_consent, require_mfa=row.require_mfa, require_pkce=row.require_pkce,
            enabled=row.enabled)


class ClientAssertionJti(Base):
    """``jti`` values of private_key_jwt assertions seen, kept until the assertion expires (replay)."""

    __tablename__ = "client_assertion_jti"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    jti: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    __table_args__ = (UniqueConstraint("client_id", "jti"),)


def by_client_id(client_id: str) -> Client | None:
    return db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()


def record_by_client_id(client_id: str) -> ClientRecord | None:
    row = by_client_id(client_id)
    return ClientRecord.of(row) if row is not None else None


def all_clients() -> list[Client]:
    return list(db.session.execute(select(Client).order_by(Client.client_id)).scalars())


def add(row: Client) -> None:
    db.session.add(row)
    db.session.flush()


_ADD_JTI = Upsert(ClientAssertionJti.__table__, lambda insert: insert.on_conflict_do_nothing())


def add_jti(client_id: str, jti: str, expires_at: datetime) -> bool:
    """Record a client assertion's jti; False when it was already recorded (a replay)."""
    return _ADD_JTI.execute({"client_id": client_id, "jti": jti, "expires_at": expires_at}) == 1
