"""Linking directory entries to our subjects: the entry's entryUUID is the key, never its DN or uid.

A rename or a move between units changes the DN and perhaps the uid, but not the entryUUID, so the
official keeps their ``sub`` (and with it every consent and grant). What the directory says about the
person — name, e-mail, phone, title, unit, groups → roles, disabled — is copied here on every sign-in
and every sync, so pages and userinfo never ask the directory. ``profile``, ``status_after`` and
``roles_for`` say what the copy is; sign-in (``link_official``) and the sync both use them, so the two
can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app

from idp.storage import credentials, found_or_made, orgunits, reading, subjects
from idp.storage.orgunits import OrgUnit
from idp.storage.subjects import Identity, Subject, SubjectKind, SubjectStatus

from .ldap import SOURCE, DirectoryEntry

# The subject's columns the directory owns, as ``profile`` fills them.
PROFILE_FIELDS = ("full_name", "email", "email_verified", "phone", "title", "org_unit_id")
_EMAIL_MAX = 254


def roles_for(groups: tuple[str, ...]) -> set[str]:
    """Roles from group DNs through IDP_LDAP_ROLE_MAP (DNs compared case-insensitively)."""
    role_map = {dn.lower(): role for dn, role in current_app.config["IDP_LDAP_ROLE_MAP"].items()}
    return {role_map[dn.lower()] for dn in groups if dn.lower() in role_map}


def profile(entry: DirectoryEntry, unit_id: int | None) -> dict[str, Any]:
    """The subject's directory-owned fields as ``entry`` states them, cut to the columns' sizes
    (PostgreSQL refuses what does not fit; an address cut short would be wrong, so it is dropped)."""
    email = entry.email.lower() if entry.email and len(entry.email) <= _EMAIL_MAX else None
    return {
        "full_name": (" ".join(entry.name.split()) or entry.dn)[:200],
        "email": email,
        "email_verified": email is not None,
        "phone": entry.phone[:32] if entry.phone else None,
        "title": entry.title[:200] if entry.title else None,
        "org_unit_id": unit_id,
    }


def status_after(entry: DirectoryEntry, status: SubjectStatus) -> SubjectStatus:
    """Disabled in the directory → disabled here; enabled again there → active; a local lock stays."""
    if entry.disabled:
        return SubjectStatus.DISABLED
    if status == SubjectStatus.DISABLED:
        return SubjectStatus.ACTIVE
    return status


@dataclass
class UnitCache:
    """Unit ids by code, units created when first named by an entry (sync sees many people per unit).

    Ids, not rows: a sync commits batch after batch, and a committed row would be read again on use.
    """

    by_code: dict[str, int] = field(default_factory=dict)

    @classmethod
    def preloaded(cls) -> UnitCache:
        return cls({unit.code: unit.id for unit in orgunits.all_units()})

    def id_for(self, code: str | None) -> int | None:
        if not code:
            return None
        if code not in self.by_code:
            unit, _ = found_or_made(lambda: orgunits.by_code(code), lambda: _new_unit(code))
            self.by_code[code] = unit.id
        return self.by_code[code]


def _new_unit(code: str) -> OrgUnit:
    unit = OrgUnit(code=code[:64], name=code[:255])
    orgunits.add(unit)
    return unit


def apply(subject: Subject, identity: Identity, entry: DirectoryEntry, now: datetime, units: UnitCache) -> bool:
    """Copy ``entry`` onto the subject; True when something changed (roles included)."""
    wanted = profile(entry, units.id_for(entry.unit))
    wanted["status"] = status_after(entry, subject.status)
    changed = [name for name, value in wanted.items() if getattr(subject, name) != value]
    for name in changed:
        setattr(subject, name, wanted[name])
    identity.dn, identity.synced_at = entry.dn, now
    roles = roles_for(entry.groups)
    current_roles = set(subjects.roles_of(subject.id))
    subjects.set_roles(subject.id, roles, current_roles)
    return bool(changed) or roles != current_roles


def new_official(entry: DirectoryEntry) -> Identity:
    """A subject and its directory identity for an entry seen for the first time."""
    subject = Subject(kind=SubjectKind.OFFICIAL, full_name=profile(entry, None)["full_name"])
    subjects.add(subject)
    identity = Identity(subject_id=subject.id, source=SOURCE, external_id=entry.entry_uuid)
    subjects.add(identity)
    identity.subject = subject
    return identity


def unchanged_official(entry: DirectoryEntry) -> credentials.Official | None:
    """The official linked to ``entry``, as plain values, when the entry states what was copied of it
    (``profile``, ``status_after``, ``roles_for``): the usual sign-in, which then only records the
    sync time with its session (``record_synced``). None when there is something to copy, or no
    official yet: ``link_official`` copies it, or creates the official."""
    with reading():
        found = credentials.official(SOURCE, entry.entry_uuid)
    if found is None:
        return None
    record = found.subject
    same_unit = found.unit_code == entry.unit if entry.unit else record.org_unit_id is None
    copied = {name: found.title if name == "title" else getattr(record, name) for name in PROFILE_FIELDS}
    if not same_unit or profile(entry, record.org_unit_id) != copied:
        return None
    if status_after(entry, record.status) != record.status or roles_for(entry.groups) != found.enrolment.roles:
        return None
    return found


def record_synced(official: credentials.Official, entry: DirectoryEntry, now: datetime) -> None:
    """What a sign-in that found nothing to copy writes: the identity's DN and sync time, as
    ``apply`` does, in the caller's ``writing()`` block or transaction."""
    subjects.record_synced(official.identity_id, entry.dn, now)


def link_official(entry: DirectoryEntry, now: datetime) -> tuple[Subject, bool]:
    """The official's subject, created on first sight, refreshed from the entry; (subject, created)."""
    identity, created = found_or_made(lambda: subjects.find_identity(SOURCE, entry.entry_uuid),
                                      lambda: new_official(entry))
    apply(identity.subject, identity, entry, now, UnitCache())
    return identity.subject, created
