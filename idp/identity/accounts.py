"""Operator actions on citizens' accounts (used by the CLI now, the admin console later).

Each function is one transaction with its audit event; the caller passes plain values and gets the
Subject back or an exception from this module's hierarchy.
"""

from __future__ import annotations

from datetime import date

from idp import audit
from idp.authn import password_policy, passwords, sso, throttle
from idp.storage import subjects, transaction
from idp.storage.subjects import Subject, SubjectStatus

from . import id_number, local


class AccountError(ValueError):
    """The operation cannot be done; the message is for the operator."""


class UnknownAccount(AccountError):
    pass


def create_citizen(*, id_number_text: str, full_name: str, password: str, email: str | None = None,
                   phone: str | None = None, address: str | None = None,
                   birthdate: date | None = None, actor: str = "cli") -> Subject:
    """Create a citizen account; an e-mail given by an operator counts as verified."""
    try:
        number = id_number.parse(id_number_text)
    except id_number.InvalidIdNumber as exc:
        raise AccountError(f"invalid personal identification number ({exc.reason})") from exc
    if birthdate is not None and birthdate.year != number.birth_year:
        raise AccountError("the birth date does not match the year encoded in the ID number")
    name = " ".join(full_name.split())
    if not name or len(name) > 200:
        raise AccountError("the full name must be 1 to 200 characters")
    _check_password(password, number.value, email)
    with transaction():
        try:
            subject = local.create_citizen(local.NewCitizen(
                id_number=number.value, full_name=name, password_hash=passwords.hash_password(password),
                email=email, email_verified=True, phone=phone, address=address, birthdate=birthdate))
        except local.AccountExists as exc:
            raise AccountError(f"an account with this {exc} already exists") from exc
        except ValueError as exc:
            raise AccountError(f"invalid {exc}") from exc
        audit.record("account.created", subject=subject, actor=actor)
    return subject


def _check_password(password: str, *identifiers: str | None) -> None:
    try:
        password_policy.validate(password, identifiers=tuple(i for i in identifiers if i))
    except password_policy.WeakPassword as exc:
        raise AccountError(f"password rejected: {exc.reason.replace('_', ' ')}") from exc


def require(identifier: str) -> Subject:
    """The citizen known by ``identifier``; raises UnknownAccount."""
    subject = local.find(identifier)
    if subject is None:
        raise UnknownAccount("no citizen account with this identifier")
    return subject


def set_password(identifier: str, password: str, *, actor: str = "cli") -> Subject:
    """Replace the password and end the account's sessions (whoever knew the old one is out)."""
    with transaction():
        subject = require(identifier)
        _check_password(password, identifier, subject.email)
        subjects.set_password(subject, passwords.hash_password(password))
        ended = sso.end_all(subject, reason="password_set")
        audit.record("account.password_set", subject=subject, actor=actor, sessions_ended=ended)
    return subject


def lock(identifier: str, *, actor: str = "cli") -> Subject:
    with transaction():
        subject = require(identifier)
        subject.status = SubjectStatus.LOCKED
        ended = sso.end_all(subject, reason="account_locked")
        audit.record("account.locked", subject=subject, actor=actor, sessions_ended=ended)
    return subject


def unlock(identifier: str, *, actor: str = "cli") -> Subject:
    """Undo an operator lock and forget recent failed sign-ins (the temporary lock too)."""
    with transaction():
        subject = require(identifier)
        subject.status = SubjectStatus.ACTIVE
        throttle.clear(throttle.account_key(identifier, subject.sub))
        audit.record("account.unlocked", subject=subject, actor=actor)
    return subject
