"""Directory sync: bring every official's subject in line with the directory, in pages and batches.

A full sync reads the whole user base (paged), creates and updates subjects, and disables those whose
entry vanished or is disabled — ending their sessions, so their applications are told. An incremental
sync reads only entries modified since a time (``modifyTimestamp``); it cannot see deletions, so a full
sync should still run, e.g. nightly. Both are idempotent. Identities, roles and units are loaded once
and entries are written in batches, one transaction each: no query per person to the directory, and
few to the database.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from idp import audit
from idp.authn import sso
from idp.storage import orgunits, subjects, transaction, utcnow
from idp.storage.subjects import Identity, SubjectStatus

from . import ldap, linking

BATCH = 500


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


def _batches(items: Iterable[ldap.DirectoryEntry], size: int) -> Iterator[list[ldap.DirectoryEntry]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _disable(identity: Identity, reason: str) -> None:
    subject = identity.subject
    subject.status = SubjectStatus.DISABLED
    sso.end_all(subject, reason=reason)


def sync(changed_since: datetime | None = None) -> SyncSummary:
    started = time.monotonic()
    now = utcnow()
    summary = SyncSummary()
    known = {identity.external_id: identity for identity in subjects.identities_of(ldap.SOURCE)}
    roles = subjects.all_roles()
    units = linking.UnitCache({unit.code: unit for unit in orgunits.all_units()})
    seen: set[str] = set()
    for chunk in _batches(ldap.directory().entries(changed_since), BATCH):
        with transaction():
            for entry in chunk:
                seen.add(entry.entry_uuid)
                identity = known.get(entry.entry_uuid)
                created = identity is None
                if identity is None:
                    identity = known[entry.entry_uuid] = linking.new_official(entry)
                was_active = identity.subject.status != SubjectStatus.DISABLED
                changed = linking.apply(identity.subject, identity, entry, now, units,
                                        roles.get(identity.subject_id, set()))
                if created:
                    summary.created += 1
                elif changed:
                    summary.updated += 1
                else:
                    summary.unchanged += 1
                if entry.disabled and was_active and not created:
                    sso.end_all(identity.subject, reason="directory_disabled")
                    summary.disabled += 1
    summary.seen = len(seen)
    if changed_since is None:
        for uuid, identity in known.items():
            if uuid not in seen and identity.subject.status != SubjectStatus.DISABLED:
                with transaction():
                    _disable(identity, "directory_removed")
                summary.disabled += 1
    summary.seconds = time.monotonic() - started
    with transaction():
        audit.record("ldap.sync", mode="incremental" if changed_since else "full", seen=summary.seen,
                     created=summary.created, updated=summary.updated, disabled=summary.disabled)
    return summary
