"""TOTP (RFC 6238): enrolment, verification that accepts each code once, disabling and admin reset.

Codes are 6 digits for 30-second steps, SHA-1 (what every authenticator app supports), accepted one
step either side of the server's clock (RFC 6238 §5.2 recommends at most one step of drift). pyotp
has no replay protection, so the step a code matched is stored and only a later step is accepted,
by one conditional UPDATE: of two concurrent submissions of the same code exactly one passes.

Secrets are 160 random bits (RFC 4226 §4), encrypted at rest with IDP_DATA_KEY and never logged.
A new authenticator is first stored as pending; the one in force keeps working until a code from
the new one confirms it.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

import pyotp
from flask import current_app

from idp import audit, crypto
from idp.storage import mfa as rows
from idp.storage import reading, transaction, utcnow, writing
from idp.storage.subjects import Person, Subject

from . import (
    Completes,
    NoPendingEnrolment,
    NotAllowed,
    Outcome,
    VerifyResult,
    WrongCode,
    clear_failures,
    count_failure,
    lock_verdict,
    locked,
    passed,
    policy,
    recovery_codes,
)

PURPOSE = "totp-secret"
DIGITS = 6
INTERVAL = 30
VALID_WINDOW = 1
FACTOR = "totp"
_CODE = re.compile(r"[0-9]{6}")
_ID_NUMBER = re.compile(r"[0-9]{12}")


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows, once: never store or log it."""

    secret: str  # base32, no padding
    uri: str  # otpauth://totp/...
    svg: str  # the URI as an inline <svg> QR code (no script, no external request: fine under a strict CSP)
    grouped_key: str  # the secret in groups of 4, for typing it in by hand


def issuer() -> str:
    cfg = current_app.config
    province = cfg["IDP_PROVINCE_NAME"].strip()
    return cfg["IDP_TOTP_ISSUER"] or (f"Đăng nhập một lần {province}" if province else "dangnhap")


def provisioning_uri(secret: str, account: str, issuer_name: str) -> str:
    """The Key URI (otpauth://totp/Issuer:account?secret=…&issuer=…), every part percent-encoded as UTF-8.

    Neither part may contain a colon (it separates them in the label), and the account must not be an
    ID number: the label is visible to anyone who sees the phone.
    """
    for name, value in (("issuer", issuer_name), ("account", account)):
        if not value.strip() or ":" in value:
            raise ValueError(f"the {name} of a TOTP URI must be non-empty and without a colon")
    if _ID_NUMBER.fullmatch(account.strip()):
        raise ValueError("a TOTP account label must not be a personal ID number")
    label = f"{quote(issuer_name, safe='')}:{quote(account, safe='@')}"
    query = urlencode({"secret": secret, "issuer": issuer_name}, quote_via=quote, safe="")
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    # Imported here: only the enrolment page draws a QR code, and segno costs every worker ~1.4 MiB.
    import segno

    return segno.make(uri, error="m", micro=False).svg_inline(scale=4)


def group_key(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def normalise(code: str) -> str | None:
    """The six digits typed, without spaces anywhere ("123 456"), or None when it is not six digits."""
    if len(code) > 32:
        return None
    digits = "".join(code.split())
    return digits if _CODE.fullmatch(digits) else None


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // INTERVAL


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The latest step within the window whose code is ``code`` (compared in constant time), if any."""
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    current = step_of(now)
    for step in range(current + VALID_WINDOW, current - VALID_WINDOW - 1, -1):
        if hmac.compare_digest(otp.generate_otp(step), code):
            return step
    return None


def _decrypt(token: str) -> str:
    return crypto.decrypt(token, PURPOSE).decode("ascii")


def is_enrolled(subject: Person) -> bool:
    return rows.is_enrolled(subject.id)


def start_enrolment(subject: Person, account: str, *, now: datetime | None = None) -> Enrolment:
    """A new secret for ``subject``, stored as pending; ``account`` labels it in the app (e-mail or uid)."""
    now = now or utcnow()
    secret = base64.b32encode(secrets.token_bytes(20)).decode("ascii")
    uri = provisioning_uri(secret, account, issuer())
    with transaction():
        rows.set_pending(subject.id, crypto.encrypt(secret.encode("ascii"), PURPOSE), now)
    return Enrolment(secret=secret, uri=uri, svg=qr_svg(uri), grouped_key=group_key(secret))


def confirm_enrolment(subject: Person, code: str, *, now: datetime | None = None,
                      ip: str | None = None, completes: Completes = None) -> list[str]:
    """Put the pending secret in force once ``code`` proves the person's app has it; returns the new
    recovery codes (shown once). Raises NoPendingEnrolment or WrongCode. ``completes`` runs in the
    same transaction (a first sign-in's second factor)."""
    now = now or utcnow()
    row = rows.credential(subject.id)
    if row is None or row.pending_secret_encrypted is None or row.pending_since is None:
        raise NoPendingEnrolment()
    if now - row.pending_since > timedelta(seconds=current_app.config["IDP_TOTP_ENROLMENT_SECONDS"]):
        raise NoPendingEnrolment()
    pending, replacing = row.pending_secret_encrypted, row.secret_encrypted is not None
    digits = normalise(code)
    step = matching_step(_decrypt(pending), digits, now) if digits else None
    if step is None:
        raise WrongCode()
    with transaction():
        if not rows.confirm_pending(subject.id, pending, step, now):
            raise NoPendingEnrolment()
        codes = recovery_codes.issue(subject, now)
        audit.record("mfa.enrolled", subject=subject, ip=ip, factor=FACTOR, replaced=replacing)
        if completes is not None:
            completes()
    return codes


def verify(subject: Person, code: str, *, now: datetime | None = None, ip: str | None = None,
           completes: Completes = None) -> VerifyResult:
    """Check a code from the subject's authenticator; each code passes at most once.

    Every official's sign-in passes here, so a right code costs plain statements: the secret and the
    failure budget read outside any transaction, then one ``writing()`` block that uses the code's
    step up and does what it ``completes`` (the session's second factor). A person with failures on
    record, and every failure, go through the ORM session's transaction (the counter is locked)."""
    now = now or utcnow()
    with reading():
        secret = rows.secret_in_force(subject.id)
        if secret is None:
            return VerifyResult(Outcome.NOT_ENROLLED)
        verdict = lock_verdict(subject, now)
    if not verdict.allowed:
        return locked(verdict)
    digits = normalise(code)
    step = matching_step(_decrypt(secret), digits, now) if digits else None
    if step is not None:
        with transaction() if verdict.failures_on_record else writing():
            if rows.accept_step(subject.id, step, now):
                passed(subject, verdict, completes)
                return VerifyResult(Outcome.OK)
    reason = "malformed" if digits is None else "wrong" if step is None else "replayed"
    with transaction():
        return count_failure(subject, now, factor=FACTOR, reason=reason, ip=ip)


def disable(subject: Subject, code: str, *, now: datetime | None = None, ip: str | None = None) -> VerifyResult:
    """Switch TOTP off (and drop the recovery codes) on a fresh code from it; raises NotAllowed when
    the policy requires a second factor of the subject anyway (officials and admins)."""
    if policy.always_required(subject):
        raise NotAllowed()
    result = verify(subject, code, now=now, ip=ip)
    if result.ok:
        with transaction():
            rows.delete_credential(subject.id)
            audit.record("mfa.disabled", subject=subject, ip=ip, factor=FACTOR)
    return result


def provision(subject: Subject, account: str, *, now: datetime | None = None) -> tuple[str, list[str]]:
    """An operator sets up an authenticator on someone's behalf: in force at once, replacing any other.
    Returns the otpauth:// URI to load into the device and the new recovery codes."""
    now = now or utcnow()
    enrolment = start_enrolment(subject, account, now=now)
    # Confirmed with the previous step's code (within the ±1 window), so the code the device shows
    # right now is still good for a first sign-in.
    previous = pyotp.TOTP(enrolment.secret).at(now - timedelta(seconds=INTERVAL))
    return enrolment.uri, confirm_enrolment(subject, previous, now=now)


def reset(subject: Subject, actor: Subject | None, *, ip: str | None = None) -> bool:
    """An admin removes the subject's TOTP and recovery codes (a lost phone); the next sign-in that
    requires a second factor enrols again. Whether ``actor`` may do so is the admin console's check.
    True when there was something to remove."""
    with transaction():
        existed = rows.delete_credential(subject.id)
        clear_failures(subject)
        audit.record("mfa.reset", subject=subject, ip=ip, factor=FACTOR, actor=actor.sub if actor else "cli",
                     existed=existed)
    return existed
