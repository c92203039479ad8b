"""Password hashing with argon2id, parameters from configuration.

One hasher per parameter set is cached: building it is cheap, but the dummy hash used for unknown
identifiers costs one full hash, and must be made once, not per request.

Every hash and verification in a process runs on one thread of its own. A worker process has a
core's worth of CPU, so a second argon2id at the same time finishes nothing sooner; it would only
hold another 19 MiB. And memory freed by one thread stays with that thread's malloc arena: hashing
on four request threads left a worker holding about 80 MiB more after a burst of sign-ins, hashing
on one thread reuses the same block every time.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app


@dataclass(frozen=True)
class Argon2Params:
    memory_kib: int
    time_cost: int
    parallelism: int


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    # The new hash to store when the password was right but hashed with older parameters.
    new_hash: str | None = None


def current_params() -> Argon2Params:
    cfg = current_app.config
    return Argon2Params(cfg["IDP_ARGON2_MEMORY_KIB"], cfg["IDP_ARGON2_TIME_COST"],
                        cfg["IDP_ARGON2_PARALLELISM"])


T = TypeVar("T")


class _HashingThread:
    """The process's one argon2 thread, made on first use in each process (threads do not survive
    a fork, so the process id is checked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._executor: ThreadPoolExecutor | None = None

    def run(self, work: Callable[..., T], *args: str) -> T:
        with self._lock:
            if self._executor is None or self._pid != os.getpid():
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
                self._pid = os.getpid()
            executor = self._executor
        return executor.submit(work, *args).result()


_HASHING = _HashingThread()


@cache
def _hasher(params: Argon2Params) -> PasswordHasher:
    return PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                          parallelism=params.parallelism, type=Type.ID)


@cache
def _dummy_hash(params: Argon2Params) -> str:
    return _HASHING.run(_hasher(params).hash, secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _HASHING.run(_hasher(current_params()).hash, password)


def check(stored_hash: str, password: str) -> CheckResult:
    """Verify ``password``; when right and the hash is outdated, also return a fresh hash."""
    hasher = _hasher(current_params())
    try:
        _HASHING.run(hasher.verify, stored_hash, password)
    except (VerificationError, InvalidHashError):
        return CheckResult(ok=False)
    new_hash = _HASHING.run(hasher.hash, password) if hasher.check_needs_rehash(stored_hash) else None
    return CheckResult(ok=True, new_hash=new_hash)


def burn(password: str) -> None:
    """Spend the same work as a real check, for an identifier that has no password.

    Without it an unknown identifier answers ~20 ms faster than a wrong password: a timing oracle
    that reveals which ID numbers have accounts.
    """
    params = current_params()
    check(_dummy_hash(params), password)
