"""A citizen's sign-in reads the person, the password hash and the second-factor policy's facts in
one query, a row per role: the rows must collapse to the same answer the policy's own query gives."""

from __future__ import annotations

from flask import Flask

from idp.identity import local
from idp.mfa import totp
from idp.storage import mfa, subjects, transaction
from idp.storage.mfa import Enrolment
from tests.portal.test_second_factor import enrolled


def _read_both_ways(citizen) -> tuple[Enrolment, Enrolment]:  # type: ignore[no-untyped-def]
    by_number, by_email = local.credentials(citizen.id_number), local.credentials(citizen.subject.email)
    assert by_number is not None and by_email is not None
    assert by_number == by_email
    assert by_number.subject.id == citizen.subject.id and by_number.password_hash.startswith("$argon2id$")
    return by_number.enrolment, mfa.enrolment(citizen.subject.id)


def test_no_roles_and_no_authenticator(app: Flask, make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen(email="hoa@example.vn")
    read, own = _read_both_ways(citizen)
    assert read == own == Enrolment(False, frozenset())


def test_several_roles_and_a_confirmed_authenticator(app: Flask, make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen(email="binh@example.vn")
    other = make_citizen(email="cuong@example.vn")
    with transaction():
        subjects.set_roles(citizen.subject.id, {"admin", "auditor", "editor"})
        subjects.set_roles(other.subject.id, {"viewer"})
    enrolled(citizen.subject)
    read, own = _read_both_ways(citizen)
    assert read == own == Enrolment(True, frozenset({"admin", "auditor", "editor"}))
    assert _read_both_ways(other)[0] == Enrolment(False, frozenset({"viewer"}))


def test_an_unconfirmed_authenticator_is_not_an_enrolment(app: Flask, make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen(email="dung@example.vn")
    totp.start_enrolment(citizen.subject, "dung@example.vn")
    read, own = _read_both_ways(citizen)
    assert read == own == Enrolment(False, frozenset())


def test_no_such_citizen(app: Flask) -> None:
    assert local.credentials("038099000001") is None
    assert local.credentials("nobody@example.vn") is None
