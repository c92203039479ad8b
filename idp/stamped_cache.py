"""Per-process caches of what is read on every request and changes rarely (clients, signing keys),
kept right across processes by the version stamps in the database (``idp.storage.stamps``).

One cache per app, in ``app.extensions`` (a worker has one app; the tests make many). Entries are
grouped by stamp name. The threads of a worker share them, so a value must be an immutable snapshot
(a frozen dataclass, tuples) and never an ORM row, which belongs to one request's session.

Freshness: before answering, the cache reads every stamp in one query when IDP_CACHE_CHECK_SECONDS have
passed since it last looked, and drops the entries of each stamp that moved. A change committed by any
process is so seen everywhere within that time, and one committed by this process at once (the
``stamps.committed`` signal makes the next access look). In steady state a request costs no query for
what is cached, and a process one query per interval.

A load that overlaps a drop of its stamp is returned but not kept, since it may have read the old rows;
so is a load inside a transaction that has itself changed the stamp's tables (it may roll back). A
missing value (``load`` returned None: an unknown client_id, say) is never kept, so made-up keys cannot
fill memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import Flask, current_app

from idp.storage import stamps

EXTENSION = "dangnhap.stamped_cache"
V = TypeVar("V")


class StampedCache:
    """Values by (stamp, key), dropped when the stamp's version in the database changes."""

    def __init__(self, check_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.check_seconds = check_seconds
        self.clock = clock  # tests move it rather than wait
        self._lock = threading.Lock()
        self._entries: dict[str, dict[Hashable, Any]] = {}
        self._seen: dict[str, int] = {}  # stamp → version the entries were loaded under (absent: 0)
        self._drops: dict[str, int] = {}  # stamp → times its entries were dropped (a load spanning one is not kept)
        self._next_check = float("-inf")
        self._looks = 0  # looks at the stamps begun...
        self._applied = 0  # ...and the latest one applied (an older answer arriving late is ignored)

    def get(self, stamp: str, key: Hashable, load: Callable[[], V]) -> V:
        """The value for ``key`` under ``stamp``, from memory or from ``load()`` (kept unless None)."""
        self._check()
        if stamps.pending(stamp):
            return load()  # this transaction changed the tables: read them, keep nothing
        with self._lock:
            entries = self._entries.get(stamp)
            if entries is not None and key in entries:
                return entries[key]  # type: ignore[no-any-return]
            drops = self._drops.get(stamp, 0)
        value = load()
        if value is None or stamps.pending(stamp):
            return value
        with self._lock:
            if self._drops.get(stamp, 0) == drops:
                self._entries.setdefault(stamp, {})[key] = value
        return value

    def discard(self, stamp: str, key: Hashable) -> None:
        """Forget one value (it expired by its own rule, like a retired key's publication date)."""
        with self._lock:
            self._entries.get(stamp, {}).pop(key, None)

    def check_soon(self) -> None:
        """Look at the stamps at the next access (this process just committed a change)."""
        with self._lock:
            self._next_check = float("-inf")

    def _check(self) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next_check:
                return
            self._next_check = now + self.check_seconds
            self._looks += 1
            look = self._looks
        try:
            current = stamps.versions()  # outside the lock: other threads keep reading meanwhile
        except BaseException:
            self.check_soon()  # the database failed: look again at the next access
            raise
        with self._lock:
            if look < self._applied:
                return
            self._applied = look
            for name in self._seen.keys() | current.keys():
                version = current.get(name, 0)  # a stamp never bumped has no row yet
                if self._seen.get(name, 0) != version:
                    self._seen[name] = version
                    self._entries.pop(name, None)
                    self._drops[name] = self._drops.get(name, 0) + 1


def _on_committed(app: Flask, *, names: frozenset[str]) -> None:
    app.extensions[EXTENSION].check_soon()


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = StampedCache(float(app.config["IDP_CACHE_CHECK_SECONDS"]))
    stamps.committed.connect(_on_committed, sender=app, weak=False)


def cache() -> StampedCache:
    """This app's cache."""
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def get(stamp: str, key: Hashable, load: Callable[[], V]) -> V:
    return cache().get(stamp, key, load)
