"""The second factor: TOTP (``totp``), recovery codes (``recovery_codes``), who must present one (``policy``).

This module holds what the two factors share: the result of checking a code, the errors, and one
failure budget per subject (scope ``otp`` of ``idp.authn.throttle``, limits IDP_TOTP_*). The budget
is separate from the password's, so guessing codes never locks the password sign-in and the other
way round, and shared by both factors, so recovery codes are no way around a lock on TOTP codes.

No ``mfa.verified`` event is recorded: the sign-in that the factor completes is audited as such
(``login.success`` with its ``amr``), and one more row per official's sign-in would only add noise.
Failures, locks, and every change to a credential are audited.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from idp import audit
from idp.authn import throttle
from idp.storage.subjects import Person

THROTTLE_SCOPE = "otp"


class Outcome(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"  # wrong, malformed or already used: the page says the same for each
    LOCKED = "locked"  # too many failures; ``seconds`` says for how long
    NOT_ENROLLED = "not_enrolled"


@dataclass(frozen=True)
class VerifyResult:
    outcome: Outcome
    seconds: int = 0
    # Recovery codes only: how many unused codes the subject has left after this attempt.
    remaining: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.OK


class MfaError(Exception):
    """A second-factor operation was refused; the subclass says why."""


class NotEnrolled(MfaError):
    """The subject has no confirmed TOTP credential."""


class NoPendingEnrolment(MfaError):
    """Nothing to confirm: no enrolment was started, it expired, or another request completed it."""


class WrongCode(MfaError):
    """The code does not match the authenticator being enrolled (or is not six digits)."""


class NotAllowed(MfaError):
    """The policy requires a second factor of this subject whatever the client: it cannot be disabled."""


def _limits() -> throttle.Limits:
    cfg = current_app.config
    # No growing delays: the budget is small and a lock follows quickly.
    return throttle.Limits(cfg["IDP_TOTP_MAX_FAILURES"], timedelta(seconds=cfg["IDP_TOTP_FAILURE_WINDOW_SECONDS"]),
                           timedelta(seconds=cfg["IDP_TOTP_LOCK_SECONDS"]), 0.0, 0.0)


def lock_verdict(subject: Person, now: datetime) -> throttle.Verdict:
    """Whether the subject may try a code now (read only)."""
    return throttle.check_scope(THROTTLE_SCOPE, subject.sub, now)


def locked(verdict: throttle.Verdict) -> VerifyResult:
    return VerifyResult(Outcome.LOCKED, seconds=verdict.seconds)


def count_failure(subject: Person, now: datetime, *, factor: str, reason: str, ip: str | None) -> VerifyResult:
    """Count and audit a failed code, in the caller's transaction; LOCKED when this failure locked."""
    counter = throttle.record_scope_failure(THROTTLE_SCOPE, subject.sub, now, _limits())
    audit.record("mfa.failed", subject=subject, ip=ip, factor=factor, reason=reason)
    if counter.locked_until is not None:
        audit.record("mfa.locked", subject=subject, ip=ip, factor=factor)
        return VerifyResult(Outcome.LOCKED, seconds=math.ceil((counter.locked_until - now).total_seconds()))
    return VerifyResult(Outcome.WRONG)


def clear_failures(subject: Person) -> None:
    """Forget the subject's failed codes (after a right one, or an admin's reset), in the caller's transaction."""
    throttle.clear_scope(THROTTLE_SCOPE, subject.sub)


# What a right code was asked for (a session's second factor, a first enrolment), done in the
# transaction that uses the code up: a code is never spent without it, nor it done without the code.
Completes = Callable[[], None] | None


def passed(subject: Person, verdict: throttle.Verdict, completes: Completes) -> None:
    """What every right code does in the transaction that uses it up: forget the failures on record
    (most people have none, and their sign-in skips the write), then what the code completes."""
    if verdict.failures_on_record:
        clear_failures(subject)
    if completes is not None:
        completes()
