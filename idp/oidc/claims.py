"""Claims about a person, per scope (OIDC Core §5.1, §5.4), from our own database only.

Vietnamese names are written family name first ("Nguyễn Văn An"): ``family_name`` is the first word
and ``given_name`` the rest. Phone numbers are given in E.164 as OIDC asks (+84…).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from idp.storage import orgunits, subjects
from idp.storage.subjects import Subject, SubjectKind, SubjectRecord

from .scopes import SCOPE_CLAIMS


def _e164(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    if digits.startswith("0"):
        return "+84" + digits[1:]
    return digits


def _all_claims(subject: Subject | SubjectRecord, names: set[str]) -> dict[str, Any]:
    """The person's claims; the unit and roles (a query each) only when ``names`` asks for them, since
    most ID tokens and userinfo answers do not."""
    words = subject.full_name.split()
    values: dict[str, Any] = {
        "name": subject.full_name,
        "family_name": words[0] if len(words) > 1 else None,
        "given_name": " ".join(words[1:]) if len(words) > 1 else subject.full_name,
        "preferred_username": subject.email if subject.email_verified else None,
        "locale": current_app.config["IDP_DEFAULT_LOCALE"],
        "updated_at": int(subject.updated_at.timestamp()),
        "birthdate": subject.birthdate.isoformat() if subject.birthdate else None,
        "email": subject.email,
        "email_verified": subject.email_verified if subject.email else None,
        "phone_number": _e164(subject.phone) if subject.phone else None,
        "phone_number_verified": subject.phone_verified if subject.phone else None,
        "address": {"formatted": subject.address} if subject.address else None,
    }
    if names & {"org_unit", "roles"}:
        unit = orgunits.by_id(subject.org_unit_id) if subject.org_unit_id is not None else None
        if unit is not None:
            values["org_unit"] = {"code": unit.code, "name": unit.name}
        if subject.kind == SubjectKind.OFFICIAL or unit is not None:
            values["roles"] = subjects.roles_of(subject.id)
    return values


def names_for(scopes: set[str]) -> set[str]:
    return {name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ())} - {"sub"}


def release(subject: Subject | SubjectRecord, *, scopes: set[str], requested: Mapping[str, Any] | None = None,
            only_requested: bool = False) -> dict[str, Any]:
    """The claims ``scopes`` allow, or only those of them in ``requested`` (claims parameter members).

    ``sub`` is never included: callers set it, so no claim can override the subject.
    """
    names = names_for(scopes)
    if only_requested:
        names &= set(requested or {})
    values = _all_claims(subject, names)
    return {name: values[name] for name in sorted(names) if values.get(name) is not None}
