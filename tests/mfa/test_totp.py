"""TOTP: enrolment, the ±1 step window, single use (also under concurrency), lock, disable, reset."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from flask import Flask
from sqlalchemy import text

from idp.authn import throttle
from idp.mfa import NoPendingEnrolment, NotAllowed, Outcome, WrongCode, recovery_codes, totp
from idp.storage import audit_events, db, subjects, transaction
from idp.storage import mfa as rows
from idp.storage.subjects import Subject, SubjectKind

# 10 s into a 30-second step, so ±30 s and ±60 s land in the neighbouring steps.
NOW = datetime(2026, 3, 2, 1, 0, 10, tzinfo=UTC)
ENROLLED_AT = NOW - timedelta(minutes=5)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def enrol(subject: Subject, when: datetime = ENROLLED_AT) -> tuple[str, list[str]]:
    """Enrol ``subject`` at ``when``; returns the secret and the recovery codes."""
    enrolment = totp.start_enrolment(subject, "an@example.vn", now=when)
    return enrolment.secret, totp.confirm_enrolment(subject, code_at(enrolment.secret, when), now=when)


def events(name: str) -> list[audit_events.AuditEvent]:
    return audit_events.recent(event=name)


@pytest.fixture
def citizen(make_citizen) -> Subject:  # type: ignore[no-untyped-def]
    return make_citizen(full_name="Nguyễn Văn An", email="an@example.vn").subject


@pytest.fixture
def make_official(app: Flask) -> Callable[..., Subject]:
    def make(roles: set[str] | None = None) -> Subject:
        with transaction():
            official = Subject(kind=SubjectKind.OFFICIAL, full_name="Trần Thị Bình")
            subjects.add(official)
            subjects.set_roles(official.id, roles or set())
        return official

    return make


# --- Enrolment -----------------------------------------------------------------------------------------

def test_enrolment_shows_a_qr_code_and_a_grouped_key(citizen: Subject) -> None:
    enrolment = totp.start_enrolment(citizen, "an@example.vn", now=NOW)
    assert len(base64.b32decode(enrolment.secret)) == 20  # 160 bits
    assert enrolment.grouped_key.split() == [enrolment.secret[i:i + 4] for i in range(0, 32, 4)]
    assert enrolment.svg.startswith("<svg") and "<script" not in enrolment.svg and "http" not in enrolment.svg
    parts = urlsplit(enrolment.uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Đăng nhập một lần Thanh Hóa:an@example.vn"
    assert parts.path.isascii() and parts.query.isascii() and " " not in enrolment.uri
    assert parse_qs(parts.query) == {"secret": [enrolment.secret], "issuer": ["Đăng nhập một lần Thanh Hóa"]}
    assert pyotp.parse_uri(enrolment.uri).secret == enrolment.secret


def test_issuer_setting_and_label_rules(app: Flask, citizen: Subject) -> None:
    app.config["IDP_TOTP_ISSUER"] = "Sở TT&TT / Thanh Hóa"
    uri = totp.start_enrolment(citizen, "binh.tt", now=NOW).uri
    assert uri.startswith("otpauth://totp/S%E1%BB%9F%20TT%26TT%20%2F%20Thanh%20H%C3%B3a:binh.tt?")
    assert parse_qs(urlsplit(uri).query)["issuer"] == ["Sở TT&TT / Thanh Hóa"]
    for label in ("038090123456", "a:b", " "):
        with pytest.raises(ValueError):
            totp.start_enrolment(citizen, label, now=NOW)


def test_wrong_code_is_refused_and_the_right_one_activates(citizen: Subject) -> None:
    enrolment = totp.start_enrolment(citizen, "an@example.vn", now=NOW)
    wrong = f"{(int(code_at(enrolment.secret, NOW)) + 1) % 1_000_000:06d}"
    with pytest.raises(WrongCode):
        totp.confirm_enrolment(citizen, wrong, now=NOW)
    assert not totp.is_enrolled(citizen)
    assert totp.verify(citizen, code_at(enrolment.secret, NOW), now=NOW).outcome == Outcome.NOT_ENROLLED

    codes = totp.confirm_enrolment(citizen, code_at(enrolment.secret, NOW), now=NOW)
    assert len(codes) == 10 and totp.is_enrolled(citizen)
    [event] = events("mfa.enrolled")
    assert event.subject == citizen.sub and event.details == {"factor": "totp", "replaced": False}


def test_nothing_to_confirm_without_a_fresh_enrolment(app: Flask, citizen: Subject) -> None:
    with pytest.raises(NoPendingEnrolment):
        totp.confirm_enrolment(citizen, "123456", now=NOW)
    enrolment = totp.start_enrolment(citizen, "an@example.vn", now=NOW)
    late = NOW + timedelta(seconds=app.config["IDP_TOTP_ENROLMENT_SECONDS"] + 1)
    with pytest.raises(NoPendingEnrolment):
        totp.confirm_enrolment(citizen, code_at(enrolment.secret, late), now=late)


def test_the_old_authenticator_works_until_the_new_one_is_confirmed(citizen: Subject) -> None:
    old, _ = enrol(citizen)
    new = totp.start_enrolment(citizen, "an@example.vn", now=NOW)
    assert totp.verify(citizen, code_at(old, NOW), now=NOW).ok
    later = NOW + timedelta(minutes=1)
    totp.confirm_enrolment(citizen, code_at(new.secret, later), now=later)
    assert events("mfa.enrolled")[0].details["replaced"] is True
    even_later = later + timedelta(minutes=1)
    assert totp.verify(citizen, code_at(old, even_later), now=even_later).outcome == Outcome.WRONG
    assert totp.verify(citizen, code_at(new.secret, even_later), now=even_later).ok


def test_restarting_an_enrolment_discards_the_unconfirmed_secret(citizen: Subject) -> None:
    first = totp.start_enrolment(citizen, "an@example.vn", now=NOW)
    second = totp.start_enrolment(citizen, "an@example.vn", now=NOW)
    with pytest.raises(WrongCode):
        totp.confirm_enrolment(citizen, code_at(first.secret, NOW), now=NOW)
    totp.confirm_enrolment(citizen, code_at(second.secret, NOW), now=NOW)


# --- Verification --------------------------------------------------------------------------------------

def test_a_code_is_accepted_once(citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    code = code_at(secret, NOW)
    assert totp.verify(citizen, code, now=NOW).ok
    assert totp.verify(citizen, code, now=NOW).outcome == Outcome.WRONG
    assert totp.verify(citizen, code, now=NOW + timedelta(seconds=25)).outcome == Outcome.WRONG
    assert events("mfa.failed")[0].details == {"factor": "totp", "reason": "replayed"}
    assert totp.verify(citizen, code_at(secret, NOW + timedelta(seconds=30)), now=NOW + timedelta(seconds=30)).ok


def test_the_enrolment_code_cannot_be_used_again_to_sign_in(citizen: Subject) -> None:
    secret, _ = enrol(citizen, when=NOW)
    assert totp.verify(citizen, code_at(secret, NOW), now=NOW).outcome == Outcome.WRONG


def test_one_step_of_clock_drift_either_way(citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    for offset in (-60, 60):
        assert totp.verify(citizen, code_at(secret, NOW + timedelta(seconds=offset)), now=NOW).outcome == Outcome.WRONG
    # Earliest step first: each later step is still new.
    for offset in (-30, 0, 30):
        assert totp.verify(citizen, code_at(secret, NOW + timedelta(seconds=offset)), now=NOW).ok


def test_an_older_step_is_refused_after_a_newer_one(citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    assert totp.verify(citizen, code_at(secret, NOW + timedelta(seconds=30)), now=NOW).ok
    assert totp.verify(citizen, code_at(secret, NOW), now=NOW).outcome == Outcome.WRONG


def test_spaces_are_ignored_and_other_text_is_wrong(citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    code = code_at(secret, NOW)
    assert totp.verify(citizen, f"  {code[:3]} {code[3:]}\t", now=NOW).ok
    for typed in ("12345", "1234567", "12a456", "１２３４５６"):
        assert totp.verify(citizen, typed, now=NOW).outcome == Outcome.WRONG
    assert events("mfa.failed")[0].details["reason"] == "malformed"


def test_not_enrolled(citizen: Subject) -> None:
    assert totp.verify(citizen, "123456", now=NOW).outcome == Outcome.NOT_ENROLLED
    totp.start_enrolment(citizen, "an@example.vn", now=NOW)
    assert totp.verify(citizen, "123456", now=NOW).outcome == Outcome.NOT_ENROLLED


# --- Lock ----------------------------------------------------------------------------------------------

def _wrong(secret: str, when: datetime) -> str:
    return f"{(int(code_at(secret, when)) + 500_000) % 1_000_000:06d}"


def test_lock_after_repeated_wrong_codes_refuses_the_right_one(citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    results = [totp.verify(citizen, _wrong(secret, NOW), now=NOW) for _ in range(5)]
    assert [r.outcome for r in results] == [Outcome.WRONG] * 4 + [Outcome.LOCKED]
    assert results[-1].seconds == 15 * 60
    later = NOW + timedelta(minutes=1)
    result = totp.verify(citizen, code_at(secret, later), now=later)
    assert (result.outcome, result.seconds) == (Outcome.LOCKED, 14 * 60)
    assert len(events("mfa.failed")) == 5 and len(events("mfa.locked")) == 1
    # The lock is the second factor's only: the password's budget is untouched.
    assert throttle.check(throttle.account_key("x", citizen.sub), "127.0.0.1", later).allowed
    after = NOW + timedelta(minutes=15, seconds=1)
    assert totp.verify(citizen, code_at(secret, after), now=after).ok


def test_a_right_code_clears_the_failures(citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    for _ in range(4):
        totp.verify(citizen, _wrong(secret, NOW), now=NOW)
    assert totp.verify(citizen, code_at(secret, NOW), now=NOW).ok
    results = [totp.verify(citizen, _wrong(secret, NOW), now=NOW).outcome for _ in range(4)]
    assert results == [Outcome.WRONG] * 4


def test_lock_settings(app: Flask, citizen: Subject) -> None:
    app.config.update(IDP_TOTP_MAX_FAILURES=2, IDP_TOTP_LOCK_SECONDS=60)
    secret, _ = enrol(citizen)
    totp.verify(citizen, _wrong(secret, NOW), now=NOW)
    result = totp.verify(citizen, _wrong(secret, NOW), now=NOW)
    assert (result.outcome, result.seconds) == (Outcome.LOCKED, 60)


# --- At rest -------------------------------------------------------------------------------------------

def test_the_secret_is_not_stored_in_clear(citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    pending = totp.start_enrolment(citizen, "an@example.vn", now=NOW).secret
    row = db.session.execute(text("SELECT * FROM totp_credential")).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    for value in (secret, pending):
        raw = base64.b32decode(value)
        for form in (value, value.lower(), raw.hex(), base64.b64encode(raw).decode().rstrip("=")):
            assert form not in stored
    assert row["secret_encrypted"].startswith("v1.") and row["pending_secret_encrypted"].startswith("v1.")
    for event in audit_events.recent():
        assert secret not in repr(event.details) and pending not in repr(event.details)


# --- Disable and reset ---------------------------------------------------------------------------------

def test_disabling_needs_a_fresh_code(citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    assert totp.disable(citizen, _wrong(secret, NOW), now=NOW).outcome == Outcome.WRONG
    assert totp.is_enrolled(citizen) and not events("mfa.disabled")
    assert totp.disable(citizen, code_at(secret, NOW), now=NOW).ok
    assert not totp.is_enrolled(citizen) and recovery_codes.remaining(citizen) == 0
    assert [e.subject for e in events("mfa.disabled")] == [citizen.sub]
    assert totp.verify(citizen, code_at(secret, NOW), now=NOW).outcome == Outcome.NOT_ENROLLED


def test_officials_and_admins_cannot_disable(citizen: Subject, make_official) -> None:  # type: ignore[no-untyped-def]
    official = make_official()
    secret, _ = enrol(official)
    with pytest.raises(NotAllowed):
        totp.disable(official, code_at(secret, NOW), now=NOW)
    subjects.set_roles(citizen.id, {"unit_admin"})
    secret, _ = enrol(citizen)
    with pytest.raises(NotAllowed):
        totp.disable(citizen, code_at(secret, NOW), now=NOW)
    assert totp.is_enrolled(official) and totp.is_enrolled(citizen)


def test_admin_reset_is_audited(citizen: Subject, make_official) -> None:  # type: ignore[no-untyped-def]
    admin = make_official({"admin"})
    secret, _ = enrol(citizen)
    for _ in range(5):
        totp.verify(citizen, _wrong(secret, NOW), now=NOW)
    assert totp.reset(citizen, admin, ip="10.0.0.7") is True
    assert not totp.is_enrolled(citizen) and recovery_codes.remaining(citizen) == 0
    [event] = events("mfa.reset")
    assert (event.subject, event.ip_address) == (citizen.sub, "10.0.0.7")
    assert event.details == {"factor": "totp", "actor": admin.sub, "existed": True}
    # The lock went with the credential: a new authenticator works at once.
    new, _ = enrol(citizen, when=NOW)
    later = NOW + timedelta(seconds=30)
    assert totp.verify(citizen, code_at(new, later), now=later).ok
    assert totp.reset(citizen, admin) is True and totp.reset(citizen, admin) is False


# --- Concurrency ---------------------------------------------------------------------------------------

def run_concurrently(app: Flask, *calls: Callable[[], Any]) -> list[Any]:
    """Run each call in its own thread, app context and database session, all released at once."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        with app.app_context():
            try:
                barrier.wait()
                results[index] = call()
            except Exception as exc:  # reported by the assertions, not as a thread warning
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_the_same_code_submitted_twice_at_once_passes_once(app: Flask, citizen: Subject) -> None:
    secret, _ = enrol(citizen)
    for round_ in range(3):
        when = NOW + timedelta(seconds=30 * round_)
        code = code_at(secret, when)
        results = run_concurrently(app, *[lambda code=code, when=when: totp.verify(citizen, code, now=when)] * 2)
        assert sorted(r.outcome for r in results) == [Outcome.OK, Outcome.WRONG], results


def test_accepting_a_step_is_atomic_across_sessions(app: Flask, citizen: Subject) -> None:
    enrol(citizen)
    step = totp.step_of(NOW)
    results: list[Any] = []
    other = threading.Thread(target=lambda: results.extend(
        run_concurrently(app, lambda: rows.accept_step(citizen.id, step, NOW))))
    with transaction():
        assert rows.accept_step(citizen.id, step, NOW)
        # The other session tries while this transaction still holds the row, and waits for it.
        other.start()
        other.join(timeout=0.2)
    other.join()
    assert results == [False]
