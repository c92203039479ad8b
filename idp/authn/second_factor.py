"""Completing a sign-in with its second factor: a TOTP code, a recovery code, or a first enrolment.

Each passes through ``idp.mfa`` (replay-safe codes, single-use recovery codes, their own failure
budget) and, on success, completes the SSO session in the transaction that uses the code up:
``amr`` gains the methods used (RFC 8176), so the ID token's ``acr`` becomes the MFA level, and
``auth_time`` becomes now. A session ended meanwhile raises ``sso.SessionEnded``, and the code stays
unused.
"""

from __future__ import annotations

from collections.abc import Callable

from idp import audit
from idp.mfa import VerifyResult, recovery_codes, totp
from idp.storage import utcnow
from idp.storage.sessions import SessionRecord, SsoSession

from . import sso

# RFC 8176: "otp" for an authenticator app's code, "mfa" for more than one factor. A recovery code
# is a one-time code too.
TOTP_METHODS = ["otp", "mfa"]


class _Completion:
    """What a right code does, in its transaction: the session completed and the sign-in audited.
    ``session`` is the session as it then is."""

    def __init__(self, session: SessionRecord, ip: str | None, factor: str) -> None:
        self.session, self.ip, self.factor = session, ip, factor

    def __call__(self) -> None:
        session = self.session = sso.add_factor(self.session, TOTP_METHODS, utcnow())
        audit.record("login.success", subject=session.subject, ip=self.ip, amr=session.amr, sid=session.sid,
                     factor=self.factor)


def _checked(check: Callable[..., VerifyResult], session: SessionRecord, code: str,
             ip: str | None, factor: str) -> tuple[VerifyResult, SessionRecord]:
    completion = _Completion(session, ip, factor)
    return check(session.subject, code, ip=ip, completes=completion), completion.session


def with_code(session: SessionRecord, code: str, ip: str | None) -> tuple[VerifyResult, SessionRecord]:
    """Check a code from the authenticator; the result, and the session as it now is (complete when
    the code passed)."""
    return _checked(totp.verify, session, code, ip, "totp")


def with_recovery_code(session: SessionRecord, code: str, ip: str | None) -> tuple[VerifyResult, SessionRecord]:
    """As ``with_code``, with one of the recovery codes."""
    return _checked(recovery_codes.use, session, code, ip, "recovery_code")


def enrol(session: SessionRecord, code: str, ip: str | None) -> list[str]:
    """Confirm the pending enrolment with its first code, completing the session; returns the recovery
    codes (shown once). Raises idp.mfa.WrongCode / NoPendingEnrolment."""
    return totp.confirm_enrolment(session.subject, code, ip=ip, completes=_Completion(session, ip, "enrolment"))


def account_label(session: SsoSession | SessionRecord) -> str:
    """How the authenticator app names the account: the e-mail, else the name (never an ID number)."""
    subject = session.subject
    return subject.email or subject.full_name
