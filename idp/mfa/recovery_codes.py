"""Recovery codes: ten one-time codes that pass the second factor when the authenticator is lost.

Each code is 10 characters from a 31-letter alphabet without look-alikes (no 0/o, 1/i/l), about 49
bits, shown once as ``xxxxx-xxxxx``. Only a SHA-256 is stored: the codes are random, so a slow KDF
would add nothing; hashing the subject's ``sub`` with the code keeps one guess from being tried
against every subject's hashes at once. A code is used up by a conditional UPDATE (unused → used),
so two requests with the same code cannot both pass. A new set replaces the old one entirely.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from idp import audit
from idp.storage import mfa as rows
from idp.storage import transaction, utcnow
from idp.storage.subjects import Person, Subject

from . import Completes, NotEnrolled, Outcome, VerifyResult, count_failure, lock_verdict, locked, passed

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
COUNT = 10
LENGTH = 10
FACTOR = "recovery_code"


def _new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def _shown(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def normalise(text: str) -> str | None:
    """The code as stored (no spaces or dashes, lower case), or None when it cannot be one of ours."""
    if len(text) > 4 * LENGTH:
        return None
    code = "".join(text.split()).replace("-", "").lower()
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def _hash(subject: Person, code: str) -> str:
    return hashlib.sha256(f"dangnhap-recovery:{subject.sub}:{code}".encode()).hexdigest()


def issue(subject: Person, now: datetime) -> list[str]:
    """A new set, replacing any earlier one, in the caller's transaction; the codes are shown only now."""
    codes = [_new_code() for _ in range(COUNT)]
    rows.replace_recovery_codes(subject.id, [_hash(subject, code) for code in codes], now)
    return [_shown(code) for code in codes]


def regenerate(subject: Subject, *, now: datetime | None = None, ip: str | None = None) -> list[str]:
    """Replace the subject's recovery codes (the old ones stop working); raises NotEnrolled."""
    now = now or utcnow()
    with transaction():
        if not rows.is_enrolled(subject.id):
            raise NotEnrolled()
        codes = issue(subject, now)
        audit.record("mfa.recovery_codes_regenerated", subject=subject, ip=ip, count=len(codes))
    return codes


def remaining(subject: Subject) -> int:
    """How many unused recovery codes the subject has."""
    return rows.unused_recovery_codes(subject.id)


def use(subject: Person, code: str, *, now: datetime | None = None, ip: str | None = None,
        completes: Completes = None) -> VerifyResult:
    """Pass the second factor with a recovery code, once; ``remaining`` says how many are left.
    ``completes`` runs in the transaction that uses the code up."""
    now = now or utcnow()
    if not rows.is_enrolled(subject.id):
        return VerifyResult(Outcome.NOT_ENROLLED)
    verdict = lock_verdict(subject, now)
    if not verdict.allowed:
        return locked(verdict)
    normalised = normalise(code)
    with transaction():
        if normalised is not None and rows.use_recovery_code(subject.id, _hash(subject, normalised), now):
            left = rows.unused_recovery_codes(subject.id)
            audit.record("mfa.recovery_code_used", subject=subject, ip=ip, remaining=left)
            passed(subject, verdict, completes)
            return VerifyResult(Outcome.OK, remaining=left)
        # An unknown code and an already used one are the same failure.
        return count_failure(subject, now, factor=FACTOR, reason="wrong" if normalised else "malformed", ip=ip)
