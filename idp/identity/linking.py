"""Linking directory entries to our subjects: the entry's entryUUID is the key, never its DN or uid.

A rename or a move between units changes the DN and perhaps the uid, but not the entryUUID, so the
official keeps their ``sub`` (and with it every consent and grant). What the directory says about the
person — name, e-mail, phone, title, unit, groups → roles, disabled — is copied here on every sign-in
and every sync, so pages and userinfo never ask the directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app

from idp.storage import orgunits, subjects
from idp.storage.orgunits import OrgUnit
from idp.storage.subjects import Identity, Subject, SubjectKind, SubjectStatus

from .ldap import SOURCE, DirectoryEntry


def roles_for(groups: tuple[str, ...]) -> set[str]:
    """Roles from group DNs through IDP_LDAP_ROLE_MAP (DNs compared case-insensitively)."""
    role_map = {dn.lower(): role for dn, role in current_app.config["IDP_LDAP_ROLE_MAP"].items()}
    return {role_map[dn.lower()] for dn in groups if dn.lower() in role_map}


@dataclass
class UnitCache:
    """Units by code, created when first named by an entry (sync sees many people per unit)."""

    by_code: dict[str, OrgUnit] = field(default_factory=dict)

    def get(self, code: str) -> OrgUnit:
        unit = self.by_code.get(code) or orgunits.by_code(code)
        if unit is None:
            unit = OrgUnit(code=code, name=code)
            orgunits.add(unit)
        self.by_code[code] = unit
        return unit


def apply(subject: Subject, identity: Identity, entry: DirectoryEntry, now: datetime, units: UnitCache,
          current_roles: set[str] | None = None) -> bool:
    """Copy ``entry`` onto the subject; True when something changed (roles included)."""
    wanted = {
        "full_name": " ".join(entry.name.split())[:200] or entry.dn,
        "email": entry.email.lower() if entry.email else None,
        "email_verified": entry.email is not None,
        "phone": entry.phone[:32] if entry.phone else None,
        "title": entry.title[:200] if entry.title else None,
        "org_unit_id": units.get(entry.unit).id if entry.unit else None,
    }
    if entry.disabled:
        wanted["status"] = SubjectStatus.DISABLED
    elif subject.status == SubjectStatus.DISABLED:
        wanted["status"] = SubjectStatus.ACTIVE  # enabled again in the directory; a local lock stays
    changed = [name for name, value in wanted.items() if getattr(subject, name) != value]
    for name in changed:
        setattr(subject, name, wanted[name])
    identity.dn, identity.synced_at = entry.dn, now
    roles = roles_for(entry.groups)
    if current_roles is None:
        current_roles = set(subjects.roles_of(subject.id))
    subjects.set_roles(subject.id, roles, current_roles)
    return bool(changed) or roles != current_roles


def new_official(entry: DirectoryEntry) -> Identity:
    """A subject and its directory identity for an entry seen for the first time."""
    subject = Subject(kind=SubjectKind.OFFICIAL, full_name=entry.name[:200] or entry.dn)
    subjects.add(subject)
    identity = Identity(subject_id=subject.id, source=SOURCE, external_id=entry.entry_uuid)
    subjects.add(identity)
    identity.subject = subject
    return identity


def link_official(entry: DirectoryEntry, now: datetime) -> tuple[Subject, bool]:
    """The official's subject, created on first sight, refreshed from the entry; (subject, created)."""
    identity = subjects.find_identity(SOURCE, entry.entry_uuid)
    created = identity is None
    if identity is None:
        identity = new_official(entry)
    apply(identity.subject, identity, entry, now, UnitCache())
    return identity.subject, created
