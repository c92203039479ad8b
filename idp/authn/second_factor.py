"""Completing a sign-in with its second factor: a TOTP code, a recovery code, or a first enrolment.

Each passes through ``idp.mfa`` (replay-safe codes, single-use recovery codes, their own failure
budget) and, on success, completes the SSO session: ``amr`` gains the methods used (RFC 8176), so the
ID token's ``acr`` becomes the MFA level, and ``auth_time`` becomes now.
"""

from __future__ import annotations

from idp import audit
from idp.mfa import VerifyResult, recovery_codes, totp
from idp.storage import transaction, utcnow
from idp.storage.sessions import SsoSession

from . import sso

# RFC 8176: "otp" for an authenticator app's code, "mfa" for more than one factor. A recovery code
# is a one-time code too.
TOTP_METHODS = ["otp", "mfa"]


def _complete(session: SsoSession, ip: str | None, factor: str) -> None:
    with transaction():
        sso.add_factor(session, TOTP_METHODS, utcnow())
        audit.record("login.success", subject=session.subject, ip=ip, amr=session.amr, sid=session.sid,
                     factor=factor)


def with_code(session: SsoSession, code: str, ip: str | None) -> VerifyResult:
    result = totp.verify(session.subject, code, ip=ip)
    if result.ok:
        _complete(session, ip, "totp")
    return result


def with_recovery_code(session: SsoSession, code: str, ip: str | None) -> VerifyResult:
    result = recovery_codes.use(session.subject, code, ip=ip)
    if result.ok:
        _complete(session, ip, "recovery_code")
    return result


def enrol(session: SsoSession, code: str, ip: str | None) -> list[str]:
    """Confirm the pending enrolment with its first code; returns the recovery codes (shown once).
    Raises idp.mfa.WrongCode / NoPendingEnrolment."""
    codes = totp.confirm_enrolment(session.subject, code, ip=ip)
    _complete(session, ip, "enrolment")
    return codes


def account_label(session: SsoSession) -> str:
    """How the authenticator app names the account: the e-mail, else the name (never an ID number)."""
    subject = session.subject
    return subject.email or subject.full_name
