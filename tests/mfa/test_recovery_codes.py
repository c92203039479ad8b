"""Recovery codes: ten shown once, stored hashed, each usable once (also under concurrency), replaced whole."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from sqlalchemy import text

from idp.mfa import NotEnrolled, Outcome, recovery_codes, totp
from idp.storage import audit_events, db
from idp.storage.subjects import Subject
from tests.mfa.test_totp import run_concurrently

NOW = datetime(2026, 3, 2, 1, 0, 10, tzinfo=UTC)


@pytest.fixture
def citizen(make_citizen) -> Subject:  # type: ignore[no-untyped-def]
    return make_citizen(email="an@example.vn").subject


@pytest.fixture
def codes(citizen: Subject) -> list[str]:
    """The citizen enrols a TOTP authenticator; the recovery codes it was given."""
    enrolment = totp.start_enrolment(citizen, "an@example.vn", now=NOW)
    return totp.confirm_enrolment(citizen, pyotp.TOTP(enrolment.secret).at(NOW), now=NOW)


def test_ten_distinct_codes_without_look_alikes(codes: list[str]) -> None:
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}", code), code


def test_codes_are_stored_hashed(codes: list[str]) -> None:
    stored = " ".join(str(v) for row in db.session.execute(text("SELECT * FROM recovery_code")).all() for v in row)
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored


def test_a_code_passes_once_and_says_how_many_remain(citizen: Subject, codes: list[str]) -> None:
    first = recovery_codes.use(citizen, codes[0], now=NOW, ip="10.1.2.3")
    assert (first.outcome, first.remaining) == (Outcome.OK, 9)
    assert recovery_codes.use(citizen, codes[0], now=NOW).outcome == Outcome.WRONG
    [event] = audit_events.recent(event="mfa.recovery_code_used")
    assert (event.subject, event.ip_address, event.details) == (citizen.sub, "10.1.2.3", {"remaining": 9})
    for code in codes[1:4]:
        assert recovery_codes.use(citizen, code, now=NOW).ok
    assert recovery_codes.remaining(citizen) == 6
    assert recovery_codes.use(citizen, codes[4], now=NOW).remaining == 5
    for event in audit_events.recent():
        assert not any(code in repr(event.details) or code.replace("-", "") in repr(event.details) for code in codes)


def test_typing_is_forgiving(citizen: Subject, codes: list[str]) -> None:
    typed = f"  {codes[0][:5].upper()} {codes[0][6:]} "
    assert recovery_codes.use(citizen, typed, now=NOW).ok
    assert recovery_codes.use(citizen, codes[1].replace("-", ""), now=NOW).ok


def test_regenerating_invalidates_the_old_set(citizen: Subject, codes: list[str]) -> None:
    recovery_codes.use(citizen, codes[0], now=NOW)
    new = recovery_codes.regenerate(citizen, now=NOW)
    assert recovery_codes.remaining(citizen) == 10 and not set(new) & set(codes)
    assert recovery_codes.use(citizen, codes[1], now=NOW).outcome == Outcome.WRONG
    assert recovery_codes.use(citizen, new[0], now=NOW).ok
    [event] = audit_events.recent(event="mfa.recovery_codes_regenerated")
    assert event.subject == citizen.sub and event.details == {"count": 10}


def test_re_enrolment_gives_a_new_set(citizen: Subject, codes: list[str]) -> None:
    later = NOW + timedelta(minutes=1)
    enrolment = totp.start_enrolment(citizen, "an@example.vn", now=later)
    new = totp.confirm_enrolment(citizen, pyotp.TOTP(enrolment.secret).at(later), now=later)
    assert recovery_codes.use(citizen, codes[0], now=later).outcome == Outcome.WRONG
    assert recovery_codes.use(citizen, new[0], now=later).ok


def test_not_enrolled(citizen: Subject) -> None:
    assert recovery_codes.use(citizen, "abcde-fghjk", now=NOW).outcome == Outcome.NOT_ENROLLED
    with pytest.raises(NotEnrolled):
        recovery_codes.regenerate(citizen, now=NOW)


def test_wrong_codes_count_toward_the_second_factor_lock(citizen: Subject, codes: list[str]) -> None:
    outcomes = [recovery_codes.use(citizen, guess, now=NOW).outcome
                for guess in ("aaaaa-aaaaa", "not a code", "bbbbb-bbbbb", "ccccc-ccccc", "ddddd-ddddd")]
    assert outcomes == [Outcome.WRONG] * 4 + [Outcome.LOCKED]
    assert recovery_codes.use(citizen, codes[0], now=NOW).outcome == Outcome.LOCKED
    assert totp.verify(citizen, "123456", now=NOW).outcome == Outcome.LOCKED
    assert recovery_codes.remaining(citizen) == 10
    assert {e.details["factor"] for e in audit_events.recent(event="mfa.failed")} == {"recovery_code"}


def test_the_same_code_used_twice_at_once_passes_once(app: Flask, citizen: Subject, codes: list[str]) -> None:
    for code in codes[:3]:
        results = run_concurrently(app, *[lambda code=code: recovery_codes.use(citizen, code, now=NOW)] * 2)
        assert sorted(r.outcome for r in results) == [Outcome.OK, Outcome.WRONG], results
    assert recovery_codes.remaining(citizen) == 7
