"""Relying parties (the province's portals and apps), with RFC 7591 metadata names.

List-valued metadata are JSON arrays. The secret is stored only as its SHA-256 (hex): generated
secrets carry 256 random bits, so a slow KDF adds nothing but latency on the token endpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UtcDateTime, db, utcnow


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


def all_clients() -> list[Client]:
    return list(db.session.execute(select(Client).order_by(Client.client_id)).scalars())


def add(row: Client) -> None:
    db.session.add(row)
    db.session.flush()


def add_jti(row: ClientAssertionJti) -> None:
    db.session.add(row)
    db.session.flush()
