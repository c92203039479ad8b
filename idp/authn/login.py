"""The sign-in flow: throttle check, password check at the source that owns the identifier, session.

One call is one transaction: the failure counters, the audit events and the new session are written
together or not at all. The outcome says what the page must tell the person, and nothing more: a
wrong password and an unknown identifier are the same outcome.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from idp import audit
from idp.identity import local
from idp.storage import transaction, utcnow
from idp.storage.sessions import SsoSession
from idp.storage.subjects import SubjectStatus

from . import sso, throttle


class Outcome(enum.StrEnum):
    SIGNED_IN = "signed_in"
    INVALID = "invalid"  # wrong password or unknown identifier: never told apart
    THROTTLED = "throttled"  # locked or asked to wait; ``seconds`` says how long
    ACCOUNT_LOCKED = "account_locked"  # locked by an operator
    ACCOUNT_DISABLED = "account_disabled"


@dataclass(frozen=True)
class Attempt:
    identifier: str
    password: str
    ip: str
    user_agent: str | None = None
    # The cookie secret of a session this browser already had: ended, so a planted id never survives.
    previous_token: str | None = None


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    session: SsoSession | None = None
    token: str | None = None
    throttle: throttle.Verdict = throttle.ALLOWED


def sign_in(attempt: Attempt) -> Result:
    now = utcnow()
    with transaction():
        subject = local.find(attempt.identifier) if local.owns(attempt.identifier) else None
        account = throttle.account_key(attempt.identifier, subject.sub if subject else None)
        verdict = throttle.check(account, attempt.ip, now)
        if not verdict.allowed:
            audit.record("login.throttled", subject=subject, ip=attempt.ip, reason=verdict.reason)
            return Result(Outcome.THROTTLED, throttle=verdict)
        if not local.verify_password(subject, attempt.password) or subject is None:
            locked = throttle.record_failure(account, attempt.ip, now)
            audit.record("login.failure", subject=subject, ip=attempt.ip,
                         reason="password" if subject else "unknown_identifier")
            if locked:
                audit.record("login.locked", subject=subject, ip=attempt.ip)
            return Result(Outcome.INVALID)
        if subject.status != SubjectStatus.ACTIVE:
            audit.record("login.refused", subject=subject, ip=attempt.ip, reason=subject.status.value)
            outcome = Outcome.ACCOUNT_LOCKED if subject.status == SubjectStatus.LOCKED else Outcome.ACCOUNT_DISABLED
            return Result(outcome)
        throttle.clear(account)
        if attempt.previous_token:
            previous = sso.resume(attempt.previous_token, now)
            if previous is not None:
                sso.end(previous, reason="replaced")
        session, token = sso.start(subject, amr=["pwd"], now=now, ip=attempt.ip, user_agent=attempt.user_agent)
        audit.record("login.success", subject=subject, ip=attempt.ip, amr="pwd", sid=session.sid)
    return Result(Outcome.SIGNED_IN, session=session, token=token)
