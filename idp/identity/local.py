"""The local identity source: citizens' and businesses' own accounts, argon2id passwords.

A citizen is found by the 12-digit personal identification number (the ``local`` identity's external
id) or by a verified e-mail address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from idp.authn import passwords
from idp.storage import credentials as stored_credentials
from idp.storage import subjects, transaction
from idp.storage.credentials import Credentials
from idp.storage.subjects import Identity, Subject, SubjectKind

from . import emails, id_number

SOURCE = "local"


class AccountExists(ValueError):
    """An account already uses this ID number or e-mail address."""


@dataclass(frozen=True)
class NewCitizen:
    id_number: str
    full_name: str
    password_hash: str
    email: str | None = None
    email_verified: bool = False
    phone: str | None = None
    address: str | None = None
    birthdate: date | None = None


def credentials(identifier: str) -> Credentials | None:
    """The citizen known by ``identifier`` (ID number or verified e-mail), their password hash and
    second-factor enrolment, as plain values: what a sign-in checks."""
    if id_number.looks_like(identifier):
        return stored_credentials.by_identity(SOURCE, identifier.strip())
    email = emails.normalise(identifier)
    if email is None:
        return None
    return stored_credentials.by_verified_email(email, SubjectKind.CITIZEN)


def find(identifier: str) -> Subject | None:
    """The citizen known by ``identifier``, to act on (lock, set a password, ...)."""
    found = credentials(identifier)
    return subjects.get_subject(found.subject.id) if found is not None else None


def verify_password(found: Credentials | None, password: str) -> bool:
    """True if ``password`` is the citizen's; the work done is the same when there is no one to check.

    A right password hashed with outdated parameters is re-hashed, and the new hash written in a
    transaction of its own: none is open while the hash runs.
    """
    if found is None or found.password_hash is None:
        passwords.burn(password)
        return False
    result = passwords.check(found.password_hash, password)
    if result.ok and result.new_hash is not None:
        with transaction():
            subjects.set_password(found.subject, result.new_hash)
    return result.ok


def create_citizen(data: NewCitizen) -> Subject:
    """Add a citizen with its local identity and password (the caller commits)."""
    number = id_number.parse(data.id_number).value
    if subjects.find_identity(SOURCE, number) is not None:
        raise AccountExists("id_number")
    email = emails.normalise(data.email) if data.email else None
    if data.email and email is None:
        raise ValueError("email")
    if email and data.email_verified and subjects.find_by_verified_email(email, SubjectKind.CITIZEN):
        raise AccountExists("email")
    subject = Subject(kind=SubjectKind.CITIZEN, full_name=data.full_name, email=email,
                      email_verified=bool(email) and data.email_verified, phone=data.phone,
                      address=data.address, birthdate=data.birthdate)
    subjects.add(subject)
    subjects.add(Identity(subject_id=subject.id, source=SOURCE, external_id=number))
    subjects.set_password(subject, data.password_hash)
    return subject
