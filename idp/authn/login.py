"""The sign-in flow: throttle check, password check at the source that owns the identifier, session.

Each outcome is one transaction (failure counters with their audit events; the new session with its
event), and the directory is asked outside any transaction, since it waits on the network. The
outcome says what the page must tell the person, and nothing more: a wrong password and an unknown
identifier are the same outcome.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from idp import audit
from idp.identity import ldap, linking, local, routing
from idp.mfa import policy as mfa_policy
from idp.storage import reading, transaction, utcnow, writing
from idp.storage.clients import ClientRecord
from idp.storage.credentials import Credentials
from idp.storage.mfa import Enrolment
from idp.storage.sessions import SessionRecord
from idp.storage.subjects import Person, SubjectStatus

from . import passwords, sso, throttle

# What a session may still owe (SsoSession.pending_factor).
FACTOR_OTP = "otp"
FACTOR_ENROL = "enrol"


class Outcome(enum.StrEnum):
    SIGNED_IN = "signed_in"
    INVALID = "invalid"  # wrong password or unknown identifier: never told apart
    THROTTLED = "throttled"  # locked or asked to wait; ``seconds`` says how long
    ACCOUNT_LOCKED = "account_locked"  # locked by an operator, or by the directory's password policy
    ACCOUNT_DISABLED = "account_disabled"
    DIRECTORY_UNAVAILABLE = "directory_unavailable"  # officials only; citizens are unaffected
    SECOND_FACTOR = "second_factor"  # password right; a session exists but owes a second factor


@dataclass(frozen=True)
class Attempt:
    identifier: str
    password: str
    ip: str
    user_agent: str | None = None
    # The cookie secret of a session this browser already had: ended, so a planted id never survives.
    previous_token: str | None = None
    # What the application asking (if any) demands: it may require a second factor.
    client: ClientRecord | None = None
    acr_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    session: SessionRecord | None = None  # started (SIGNED_IN, or SECOND_FACTOR: it owes the factor)
    token: str | None = None
    throttle: throttle.Verdict = throttle.ALLOWED


def _refused(outcome: Outcome, event: str, attempt: Attempt, subject: Person | None = None, **details: str) -> Result:
    with transaction():
        audit.record(event, subject=subject, ip=attempt.ip, **details)
    return Result(outcome)


def _failed(attempt: Attempt, account: str, subject: Person | None, now: datetime, reason: str) -> Result:
    with transaction():
        locked = throttle.record_failure(account, attempt.ip, now)
        audit.record("login.failure", subject=subject, ip=attempt.ip, reason=reason)
        if locked:
            audit.record("login.locked", subject=subject, ip=attempt.ip)
    return Result(Outcome.INVALID)


def _directory_sign_in(attempt: Attempt, account: str, now: datetime, verdict: throttle.Verdict) -> Result:
    """Officials: an LDAP bind, outside any database transaction (it waits on the network)."""
    try:
        entry = ldap.directory().authenticate(attempt.identifier.strip(), attempt.password)
    except ldap.DirectoryUnavailable:
        return _refused(Outcome.DIRECTORY_UNAVAILABLE, "login.directory_unavailable", attempt)
    except ldap.DirectoryAccountLocked:
        return _refused(Outcome.ACCOUNT_LOCKED, "login.refused", attempt, reason="directory_locked")
    except ldap.DirectoryAccountDisabled:
        return _refused(Outcome.ACCOUNT_DISABLED, "login.refused", attempt, reason="directory_disabled")
    if entry is None:
        return _failed(attempt, account, None, now, reason="directory_password")
    unchanged = linking.unchanged_official(entry)
    if unchanged is not None:
        return _signed_in(attempt, account, unchanged.subject, now, verdict, unchanged.enrolment,
                          also=lambda: linking.record_synced(unchanged, entry, now))
    with transaction():
        subject, created = linking.link_official(entry, now)
        if created:
            audit.record("account.linked", subject=subject, source=ldap.SOURCE)
    return _signed_in(attempt, account, subject, now, verdict)


def _local_sign_in(attempt: Attempt, account: str, found: Credentials | None, now: datetime,
                   verdict: throttle.Verdict) -> Result:
    right = local.verify_password(found, attempt.password)
    if found is None:
        return _failed(attempt, account, None, now, reason="unknown_identifier")
    if not right:
        return _failed(attempt, account, found.subject, now, reason="password")
    return _signed_in(attempt, account, found.subject, now, verdict, found.enrolment)


def _signed_in(attempt: Attempt, account: str, subject: Person, now: datetime,
               verdict: throttle.Verdict, enrolment: Enrolment | None = None,
               also: Callable[[], None] | None = None) -> Result:
    """``enrolment``: the policy's facts when the caller read them with the person; ``also``: what
    is written with the session (an official's sync time)."""
    if subject.status != SubjectStatus.ACTIVE:
        outcome = Outcome.ACCOUNT_LOCKED if subject.status == SubjectStatus.LOCKED else Outcome.ACCOUNT_DISABLED
        return _refused(outcome, "login.refused", attempt, subject, reason=subject.status.value)
    requirement = mfa_policy.requirement_for(subject, client=attempt.client, acr_values=attempt.acr_values,
                                              enrolment=enrolment)
    owed = (FACTOR_ENROL if requirement.must_enrol else FACTOR_OTP) if requirement.required else None
    # Most sign-ins write only the session and its audit event, plain statements (on PostgreSQL one
    # round trip, without BEGIN and COMMIT); clearing failures or ending an earlier session goes
    # through the ORM session.
    plain = not verdict.failures_on_record and not attempt.previous_token
    with writing() if plain else transaction():
        if verdict.failures_on_record:
            throttle.clear(account)
        if attempt.previous_token:
            previous = sso.resume(attempt.previous_token, now)
            if previous is not None:
                sso.end(previous, reason="replaced")
        session, token = sso.start(subject, amr=["pwd"], now=now, ip=attempt.ip, user_agent=attempt.user_agent,
                                   pending_factor=owed, enrolment=enrolment)
        if also is not None:
            also()
        if owed is None:
            audit.record("login.success", subject=subject, ip=attempt.ip, amr="pwd", sid=session.sid)
        else:
            audit.record("login.password_ok", subject=subject, ip=attempt.ip, second_factor=owed,
                         reason=requirement.reason.value)
    return Result(Outcome.SIGNED_IN if owed is None else Outcome.SECOND_FACTOR, session=session, token=token)


def sign_in(attempt: Attempt) -> Result:
    """Check the identifier's budget, then its password at the one source that owns it."""
    now = utcnow()
    source = routing.source_for(attempt.identifier)
    # Nothing is written before the password is checked: these reads run outside any transaction
    # (in autocommit on PostgreSQL), so that none stays open across the hash or the directory's bind,
    # and none costs a BEGIN and a COMMIT.
    with reading():
        found = local.credentials(attempt.identifier) if source == routing.Source.LOCAL else None
        subject = found.subject if found is not None else None
        account = throttle.account_key(attempt.identifier, subject.sub if subject else None)
        verdict = throttle.check(account, attempt.ip, now)
    if not verdict.allowed:
        with transaction():
            audit.record("login.throttled", subject=subject, ip=attempt.ip, reason=verdict.reason)
        return Result(Outcome.THROTTLED, throttle=verdict)
    if source == routing.Source.DIRECTORY:
        return _directory_sign_in(attempt, account, now, verdict)
    if source is None:
        passwords.burn(attempt.password)  # no source owns it: same work, same answer as a wrong password
        return _failed(attempt, account, None, now, reason="unknown_identifier")
    return _local_sign_in(attempt, account, found, now, verdict)
