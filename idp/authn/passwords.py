"""Password hashing with argon2id, parameters from configuration.

The dummy hash used for unknown identifiers costs one full hash, and is made once per parameter
set, not per request.

Every hash and verification in a process runs on one thread of its own (``argon2id.HashingThread``),
in a block of memory it reuses during a burst and gives back afterwards. Hashing on four request
threads had left a worker holding about 80 MiB more after a burst of sign-ins: memory freed by one
thread stays with that thread's malloc arena.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError
from flask import current_app

from idp.authn import argon2id


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


_HASHING = argon2id.HashingThread()


@cache
def _hasher(params: Argon2Params) -> PasswordHasher:
    """argon2-cffi's hasher, for its reading of a stored hash's parameters (``check_needs_rehash``)."""
    return PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                          parallelism=params.parallelism, type=Type.ID)


def _hash(params: Argon2Params, password: str) -> str:
    return _HASHING.run(argon2id.hash_password, password, memory_kib=params.memory_kib,
                        time_cost=params.time_cost, parallelism=params.parallelism)


@cache
def _dummy_hash(params: Argon2Params) -> str:
    return _hash(params, secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hash(current_params(), password)


def check(stored_hash: str, password: str) -> CheckResult:
    """Verify ``password``; when right and the hash is outdated, also return a fresh hash."""
    params = current_params()
    try:
        ok = _HASHING.run(argon2id.verify, stored_hash, password)
    except InvalidHashError:
        return CheckResult(ok=False)
    if not ok:
        return CheckResult(ok=False)
    new_hash = _hash(params, password) if _hasher(params).check_needs_rehash(stored_hash) else None
    return CheckResult(ok=True, new_hash=new_hash)


def burn(password: str) -> None:
    """Spend the same work as a real check, for an identifier that has no password.

    Without it an unknown identifier answers ~20 ms faster than a wrong password: a timing oracle
    that reveals which ID numbers have accounts.
    """
    params = current_params()
    check(_dummy_hash(params), password)
