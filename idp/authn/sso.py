"""The SSO session: a server-side row, found from the random secret in the browser's cookie.

The secret is 256 random bits; the row keeps only its SHA-256, so a copy of the database cannot be
replayed as cookies. A new secret is issued at every sign-in (no session fixation) and the row is
deleted at sign-out, so a stolen cookie dies with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from blinker import Namespace
from flask import current_app

from idp.storage import reading, sessions, transaction, writing
from idp.storage.mfa import Enrolment
from idp.storage.sessions import SessionRecord, SsoSession
from idp.storage.subjects import Subject, SubjectRecord, SubjectStatus

_signals = Namespace()
# Sent with ``session=`` (the row, still present) and ``reason=`` just before a session row is deleted.
session_ended = _signals.signal("session-ended")


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta
    touch: timedelta


def lifetimes() -> Lifetimes:
    cfg = current_app.config
    return Lifetimes(timedelta(seconds=cfg["IDP_SESSION_IDLE_SECONDS"]),
                     timedelta(seconds=cfg["IDP_SESSION_ABSOLUTE_SECONDS"]),
                     timedelta(seconds=cfg["IDP_SESSION_TOUCH_SECONDS"]))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(subject: Subject | SubjectRecord, *, amr: list[str], now: datetime, ip: str | None,
          user_agent: str | None, pending_factor: str | None = None,
          enrolment: Enrolment | None = None) -> tuple[SessionRecord, str]:
    """Create a session for ``subject``; returns it as written (``enrolment`` carried along for the
    authorization flow) and the cookie secret (shown only here)."""
    token, sid = secrets.token_urlsafe(32), sessions.new_sid()
    written = SessionRecord(sid, subject, " ".join(amr), auth_time=now, last_seen_at=now,
                            expires_at=now + lifetimes().absolute, pending_factor=pending_factor,
                            enrolment=enrolment)
    sessions.add(token_hash=hash_token(token), sid=sid, subject_id=subject.id, created_at=now,
                 expires_at=written.expires_at, amr=written.amr, pending_factor=pending_factor,
                 ip_address=ip, user_agent=(user_agent or "")[:255] or None)
    return written, token


class SessionEnded(Exception):
    """The session was ended (signed out everywhere, by an admin) while a page was completing it."""


def add_factor(session: SessionRecord, methods: list[str], now: datetime) -> SessionRecord:
    """Record a second factor just passed, in the caller's transaction: the session is complete, its
    amr grows, and auth_time moves to now (OIDC Core §2: the time the authentication happened).
    Returns the session as it now is; raises SessionEnded when its row is gone, so that the caller's
    transaction (the code that passed, its audit event) is rolled back with it."""
    completed = replace(session, amr=" ".join(dict.fromkeys(session.amr.split() + methods)), pending_factor=None,
                        auth_time=now)
    if not sessions.complete(session.sid, completed.amr, now):
        raise SessionEnded()
    return completed


def is_live(row: SsoSession | SessionRecord, now: datetime) -> bool:
    """Within both lifetimes, and the person may still sign in."""
    return (row.expires_at > now and row.last_seen_at + lifetimes().idle > now
            and row.subject.status == SubjectStatus.ACTIVE)


def resume(token: str, now: datetime) -> SsoSession | None:
    """The live session the cookie secret points to, its activity time refreshed; else None.

    For the pages that change or end the session: the row is loaded as an ORM object.
    """
    if not _plausible(token):
        return None
    row = sessions.find_by_token_hash(hash_token(token))
    if row is None:
        return None
    if not is_live(row, now):
        end(row, reason="expired")
        return None
    if _touch_due(row, now):
        row.last_seen_at = now
    return row


def look_up(token: str, now: datetime) -> SessionRecord | None:
    """The live session the cookie secret points to, as plain values, its activity refreshed as
    ``resume`` does: for the authorization endpoint and the pages that only read the session. Every
    portal's first page sends a signed-in person there, so the session is read without the ORM and
    outside any transaction.

    A write follows only to refresh the activity time, or to end a session found past its lifetimes,
    which ``resume`` does (its applications are told).
    """
    if not _plausible(token):
        return None
    token_hash = hash_token(token)
    with reading():
        found = sessions.record_by_token_hash(token_hash)
    if found is None:
        return None
    if not is_live(found, now):
        with transaction():
            resume(token, now)
        return None
    if _touch_due(found, now):
        with writing():
            sessions.touch(token_hash, now)
    return found


def _touch_due(session: SsoSession | SessionRecord, now: datetime) -> bool:
    """Activity is written at most once per ``IDP_SESSION_TOUCH_SECONDS``, so that pages and the
    authorization endpoint do not each cost a database write."""
    return now - session.last_seen_at >= lifetimes().touch


def _plausible(token: str) -> bool:
    """Worth a lookup: a secret this server issued is 43 characters; a long one is not hashed."""
    return bool(token) and len(token) <= 128


def end(row: SsoSession, *, reason: str) -> None:
    """End one session. Listeners of ``session_ended`` (single logout) act in the same transaction,
    so a session is never gone without its applications being told, nor told without being gone."""
    session_ended.send(current_app._get_current_object(), session=row, reason=reason)  # type: ignore[attr-defined]
    sessions.delete_session(row)


def sessions_of(subject: Subject) -> list[SsoSession]:
    return sessions.for_subject(subject.id)


def end_all(subject: Subject, *, reason: str) -> int:
    """End every session of ``subject`` (sign out everywhere, account locked, password reset)."""
    rows = sessions_of(subject)
    for row in rows:
        end(row, reason=reason)
    return len(rows)
