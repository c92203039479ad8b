"""Directory sync: bring every official's subject in line with the directory, in pages and batches.

A full sync reads the whole user base (paged), creates and updates subjects, and disables those whose
entry vanished or is disabled — ending their sessions, so their applications are told. An incremental
sync reads only entries modified since a time (``modifyTimestamp``); it cannot see deletions nor moves
out of the user base, so a full sync should still run, e.g. nightly. Memberships live on the groups
(adding someone to a group does not touch their entry), so both read every group and bring everyone's
roles up to date. Both are idempotent.

Cost: what the database holds about officials is read once, as plain values, and each batch of entries
is compared in memory and written with a few multi-row statements in one transaction; nothing is
asked per person, of the directory or of the database. (50,000 officials: see bench/ldap_sync.py.)
The bulk statements are at the end of this module; they belong with the storage package's queries.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from idp import audit
from idp.authn import sso
from idp.storage import officials, subjects, transaction, utcnow
from idp.storage.subjects import SubjectKind, SubjectStatus

from . import ldap, linking

BATCH = 1000


@dataclass
class SyncSummary:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    disabled: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (f"seen {self.seen}, created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
                f"disabled {self.disabled} in {self.seconds:.1f} s")


@dataclass
class Known:
    """What the database holds about one official, as plain values (they survive each batch's commit)."""

    identity_id: int
    subject_id: int
    dn: str | None
    status: SubjectStatus
    profile: dict[str, Any]
    roles: set[str] = field(default_factory=set)


@dataclass
class _Batch:
    """The writes one batch of entries needs."""

    new: list[tuple[ldap.DirectoryEntry, dict[str, Any], set[str]]] = field(default_factory=list)
    subject_changes: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    seen_identities: list[int] = field(default_factory=list)
    roles_added: list[dict[str, Any]] = field(default_factory=list)
    roles_removed: dict[int, set[str]] = field(default_factory=dict)
    newly_disabled: list[int] = field(default_factory=list)


def _batches(items: Iterable[ldap.DirectoryEntry], size: int) -> Iterator[list[ldap.DirectoryEntry]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def sync(changed_since: datetime | None = None) -> SyncSummary:
    started = time.monotonic()
    now = utcnow()
    summary = SyncSummary()
    directory = ldap.directory()
    known = _load_known()
    units = linking.UnitCache.preloaded()
    memberships = directory.memberships()
    seen: set[str] = set()
    for chunk in _batches(directory.entries(changed_since, memberships), BATCH):
        with transaction():
            _sync_batch(chunk, known, units, seen, now, summary)
    summary.seen = len(seen)
    with transaction():
        if changed_since is None:
            _disable_vanished(known, seen, summary)
        else:
            _refresh_roles(known, seen, memberships, summary)
    summary.seconds = time.monotonic() - started
    with transaction():
        audit.record("ldap.sync", mode="incremental" if changed_since else "full", seen=summary.seen,
                     created=summary.created, updated=summary.updated, disabled=summary.disabled)
    return summary


def _sync_batch(chunk: list[ldap.DirectoryEntry], known: dict[str, Known], units: linking.UnitCache,
                seen: set[str], now: datetime, summary: SyncSummary) -> None:
    batch = _Batch()
    for entry in chunk:
        if entry.entry_uuid in seen:
            continue  # the same entry twice in one read (a referral, a replica's echo): once is enough
        seen.add(entry.entry_uuid)
        wanted = linking.profile(entry, units.id_for(entry.unit))
        roles = linking.roles_for(entry.groups)
        official = known.get(entry.entry_uuid)
        if official is None:
            batch.new.append((entry, wanted, roles))
        elif _compare(entry, official, wanted, roles, batch):
            summary.updated += 1
        else:
            summary.unchanged += 1
    summary.created += len(batch.new)
    _write(batch, known, now)
    for subject_id in batch.newly_disabled:
        _end_sessions(subject_id, "directory_disabled")
        summary.disabled += 1


def _compare(entry: ldap.DirectoryEntry, official: Known, wanted: dict[str, Any], roles: set[str],
             batch: _Batch) -> bool:
    """Queue what differs between the entry and the database; True when something does."""
    changes = {name: value for name, value in wanted.items() if official.profile[name] != value}
    status = linking.status_after(entry, official.status)
    if status != official.status:
        changes["status"] = status
        if status == SubjectStatus.DISABLED:
            batch.newly_disabled.append(official.subject_id)
    if changes:
        batch.subject_changes.append({"id": official.subject_id, **changes})
        official.profile.update((k, v) for k, v in changes.items() if k in official.profile)
        official.status = status
    moved = entry.dn != official.dn
    if moved:
        batch.moved.append({"id": official.identity_id, "dn": entry.dn})
        official.dn = entry.dn
    batch.seen_identities.append(official.identity_id)
    roles_changed = _queue_roles(official, roles, batch)
    return bool(changes) or moved or roles_changed


def _queue_roles(official: Known, roles: set[str], batch: _Batch) -> bool:
    if roles == official.roles:
        return False
    batch.roles_added += [{"subject_id": official.subject_id, "role": r} for r in sorted(roles - official.roles)]
    if official.roles - roles:
        batch.roles_removed[official.subject_id] = official.roles - roles
    official.roles = set(roles)
    return True


def _end_sessions(subject_id: int, reason: str) -> None:
    """End the subject's sessions (single logout tells its applications) and audit why."""
    subject = subjects.get_subject(subject_id)
    if subject is None:
        return
    sso.end_all(subject, reason=reason)
    audit.record("account.disabled", subject=subject, source=ldap.SOURCE, reason=reason)


def _disable_vanished(known: dict[str, Known], seen: set[str], summary: SyncSummary) -> None:
    """Full sync: whoever the directory no longer lists (deleted, moved out of the user base) is disabled."""
    if not seen and known:
        # A filter or base that matches nobody reads like an empty directory: refuse to disable everyone.
        raise ldap.DirectoryUnavailable("the directory listed no officials: nobody was disabled")
    gone = [official for uuid, official in known.items()
            if uuid not in seen and official.status != SubjectStatus.DISABLED]
    officials.update_subjects([{"id": official.subject_id, "status": SubjectStatus.DISABLED, "updated_at": utcnow()}
                               for official in gone])
    for official in gone:
        official.status = SubjectStatus.DISABLED
        _end_sessions(official.subject_id, "directory_removed")
    summary.disabled += len(gone)


def _refresh_roles(known: dict[str, Known], seen: set[str], memberships: dict[str, tuple[str, ...]],
                   summary: SyncSummary) -> None:
    """Incremental sync: roles of the officials not read this time, from the groups as they are now."""
    batch = _Batch()
    for uuid, official in known.items():
        if uuid in seen or official.dn is None:
            continue
        if _queue_roles(official, linking.roles_for(memberships.get(official.dn.lower(), ())), batch):
            summary.updated += 1
    _write_roles(batch)


# --- bulk writes: a few statements per batch -----------------------------------------------------------


def _load_known() -> dict[str, Known]:
    """Every directory identity with its subject's directory-owned fields and roles, in two queries."""
    rows = officials.directory_subjects(ldap.SOURCE, linking.PROFILE_FIELDS)
    roles = subjects.all_roles()
    known = {}
    for external_id, identity_id, dn, subject_id, status, *values in rows:
        known[external_id] = Known(identity_id, subject_id, dn, status, dict(zip(linking.PROFILE_FIELDS, values,
                                                                                  strict=True)),
                                   set(roles.get(subject_id, ())))
    return known


def _write(batch: _Batch, known: dict[str, Known], now: datetime) -> None:
    _insert_new(batch, known, now)
    officials.update_subjects([{**change, "updated_at": now} for change in batch.subject_changes])
    officials.update_identities(batch.moved)
    officials.mark_synced(batch.seen_identities, now)
    _write_roles(batch)


def _insert_new(batch: _Batch, known: dict[str, Known], now: datetime) -> None:
    """Subjects, identities and roles of first-seen entries: three multi-row INSERTs."""
    if not batch.new:
        return
    statuses = [linking.status_after(entry, SubjectStatus.ACTIVE) for entry, _, _ in batch.new]
    subject_ids = officials.insert_subjects(
        [{"kind": SubjectKind.OFFICIAL, "status": status, "created_at": now, "updated_at": now, **wanted}
         for (_, wanted, _), status in zip(batch.new, statuses, strict=True)])
    identity_ids = officials.insert_identities(
        [{"subject_id": subject_id, "source": ldap.SOURCE, "external_id": entry.entry_uuid, "dn": entry.dn,
          "synced_at": now, "created_at": now}
         for (entry, _, _), subject_id in zip(batch.new, subject_ids, strict=True)])
    for (entry, wanted, roles), status, subject_id, identity_id in zip(batch.new, statuses, subject_ids, identity_ids,
                                                                      strict=True):
        known[entry.entry_uuid] = Known(identity_id, subject_id, entry.dn, status, dict(wanted), set(roles))
        batch.roles_added += [{"subject_id": subject_id, "role": role} for role in sorted(roles)]


def _write_roles(batch: _Batch) -> None:
    for subject_id, removed in batch.roles_removed.items():
        officials.remove_roles(subject_id, removed)
    officials.add_roles(batch.roles_added)
