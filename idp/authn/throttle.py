"""Brute-force limits on sign-in: growing delays, then a temporary lock.

Two counters are consulted for every attempt: one per identifier (default: 5 failures per 15 minutes,
then a 15-minute lock) and one per client IP (a much higher threshold, no delays, because many
citizens share a public-service centre's address). Unknown identifiers are counted exactly like known
ones, so neither the delays nor the lock reveal whether an account exists.

The state machine is one pure function (``_after_failure``); where the counters live (database rows,
or Redis for the IP counters when ``IDP_REDIS_URL`` is set) is a detail of the two small stores.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Protocol

from flask import current_app

from idp.storage import throttle as rows

if TYPE_CHECKING:
    import redis

ACCOUNT = "account"
IP = "ip"


@dataclass(frozen=True)
class Limits:
    max_failures: int
    window: timedelta
    lock: timedelta
    delay_base: float
    delay_max: float


@dataclass(frozen=True)
class Counter:
    failures: int
    window_started_at: datetime
    retry_after: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may proceed; if not, why ("locked" or "wait") and for how many seconds.

    ``failures_on_record``: the account had failures counted when it was checked, so a success must
    forget them. Most sign-ins have none, and skip the write; a failure counted by a concurrent attempt
    after the check then survives the success, which only errs on the strict side.
    """

    allowed: bool
    reason: str | None = None
    seconds: int = 0
    failures_on_record: bool = False


ALLOWED = Verdict(True)
ALLOWED_WITH_FAILURES = Verdict(True, failures_on_record=True)


def _limits(scope: str) -> Limits:
    cfg = current_app.config
    if scope == ACCOUNT:
        return Limits(cfg["IDP_LOGIN_MAX_FAILURES"], timedelta(seconds=cfg["IDP_LOGIN_FAILURE_WINDOW_SECONDS"]),
                      timedelta(seconds=cfg["IDP_LOGIN_LOCK_SECONDS"]), cfg["IDP_LOGIN_DELAY_BASE_SECONDS"],
                      cfg["IDP_LOGIN_DELAY_MAX_SECONDS"])
    return Limits(cfg["IDP_LOGIN_IP_MAX_FAILURES"], timedelta(seconds=cfg["IDP_LOGIN_FAILURE_WINDOW_SECONDS"]),
                  timedelta(seconds=cfg["IDP_LOGIN_LOCK_SECONDS"]), 0.0, 0.0)


def _after_failure(counter: Counter | None, now: datetime, limits: Limits) -> Counter:
    """The counter after one more failure at ``now``: a fresh window once the old one has passed."""
    if counter is None or now - counter.window_started_at >= limits.window or (
        counter.locked_until is not None and counter.locked_until <= now
    ):
        counter = Counter(failures=0, window_started_at=now)
    failures = counter.failures + 1
    if failures >= limits.max_failures:
        return replace(counter, failures=failures, retry_after=None, locked_until=now + limits.lock)
    # A single typo costs nothing; from the second failure on, each one doubles the wait.
    delay = min(limits.delay_base * 2 ** (failures - 2), limits.delay_max) if failures >= 2 else 0
    retry_after = now + timedelta(seconds=delay) if delay > 0 else None
    return replace(counter, failures=failures, retry_after=retry_after)


def _verdict(counter: Counter | None, now: datetime) -> Verdict:
    if counter is None:
        return ALLOWED
    if counter.locked_until is not None and counter.locked_until > now:
        return Verdict(False, "locked", math.ceil((counter.locked_until - now).total_seconds()))
    if counter.retry_after is not None and counter.retry_after > now:
        return Verdict(False, "wait", math.ceil((counter.retry_after - now).total_seconds()))
    return ALLOWED


class CounterStore(Protocol):
    def get_many(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Counter]: ...
    def fail(self, scope: str, key: str, now: datetime, limits: Limits) -> Counter: ...
    def clear(self, scope: str, key: str) -> None: ...


class DatabaseStore:
    """Counters as rows, changed under a row lock in the caller's transaction."""

    def get_many(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Counter]:
        return {pair: Counter(*row) for pair, row in rows.get_many(pairs).items()}

    def fail(self, scope: str, key: str, now: datetime, limits: Limits) -> Counter:
        row = rows.get_for_update(scope, key, now)
        current = Counter(row.failures, row.window_started_at, row.retry_after, row.locked_until)
        updated = _after_failure(current if row.failures else None, now, limits)
        row.failures, row.window_started_at = updated.failures, updated.window_started_at
        row.retry_after, row.locked_until = updated.retry_after, updated.locked_until
        return updated

    def clear(self, scope: str, key: str) -> None:
        rows.clear(scope, key)


class RedisStore:
    """Counters as Redis strings (JSON), changed in an optimistic WATCH/MULTI transaction."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @staticmethod
    def _name(scope: str, key: str) -> str:
        return f"dangnhap:throttle:{scope}:{key}"

    @staticmethod
    def _decode(raw: bytes | None) -> Counter | None:
        if raw is None:
            return None
        data = json.loads(raw)
        return Counter(data["failures"], *(datetime.fromisoformat(data[f]) if data[f] else None
                                           for f in ("window_started_at", "retry_after", "locked_until")))

    def get_many(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Counter]:
        raws = self.client.mget([self._name(scope, key) for scope, key in pairs])
        return {pair: counter for pair, raw in zip(pairs, raws, strict=True)
                if (counter := self._decode(raw)) is not None}

    def fail(self, scope: str, key: str, now: datetime, limits: Limits) -> Counter:
        name = self._name(scope, key)
        ttl = int(max(limits.window, limits.lock).total_seconds()) + 1

        def update(pipe: redis.client.Pipeline) -> Counter:
            updated = _after_failure(self._decode(pipe.get(name)), now, limits)
            encoded = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(updated).items()}
            pipe.multi()
            pipe.set(name, json.dumps(encoded), ex=ttl)
            return updated

        return self.client.transaction(update, name, value_from_callable=True)

    def clear(self, scope: str, key: str) -> None:
        self.client.delete(self._name(scope, key))


@cache
def _redis_store(url: str) -> RedisStore:
    # Imported only where Redis is configured: the client library costs each worker ~5 MiB.
    import redis

    return RedisStore(redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))


_DATABASE = DatabaseStore()


def _store(scope: str) -> CounterStore:
    url = current_app.config["IDP_REDIS_URL"]
    if scope == IP and url:
        return _redis_store(url)
    return _DATABASE


def _counters(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Counter]:
    """The counters of several (scope, key) pairs: one read per store, however many pairs it holds."""
    by_store: dict[CounterStore, list[tuple[str, str]]] = {}
    for scope, key in pairs:
        by_store.setdefault(_store(scope), []).append((scope, key))
    return {pair: counter for store, wanted in by_store.items() for pair, counter in store.get_many(wanted).items()}


def _key(scope: str, value: str) -> str:
    """A keyed hash, so the table never holds an ID number or an address in clear."""
    secret = current_app.config["IDP_SECRET_KEY"].encode()
    return hmac.new(secret, f"{scope}:{value}".encode(), hashlib.sha256).hexdigest()


def account_key(identifier: str, subject_sub: str | None) -> str:
    """The counter an attempt counts against: the account when the identifier names one (so its ID
    number and its e-mail share one budget), else the identifier as typed, case-folded."""
    return f"sub:{subject_sub}" if subject_sub else f"identifier:{identifier.strip().casefold()}"


def check(account: str, ip: str, now: datetime) -> Verdict:
    """May this attempt go ahead? The stricter of the account's and the IP's verdicts."""
    pairs = [(ACCOUNT, _key(ACCOUNT, account)), (IP, _key(IP, ip))]
    counters = _counters(pairs)
    verdicts = [_verdict(counters.get(pair), now) for pair in pairs]
    refused = [v for v in verdicts if not v.allowed]
    if refused:
        return max(refused, key=lambda v: (v.reason == "locked", v.seconds))
    return ALLOWED_WITH_FAILURES if pairs[0] in counters else ALLOWED


def record_failure(account: str, ip: str, now: datetime) -> bool:
    """Count a failed attempt; True when it has just locked the account."""
    _store(IP).fail(IP, _key(IP, ip), now, _limits(IP))
    counter = _store(ACCOUNT).fail(ACCOUNT, _key(ACCOUNT, account), now, _limits(ACCOUNT))
    return counter.locked_until is not None


def clear(account: str) -> None:
    """Forget the account's failures (after a successful sign-in, or an operator's unlock)."""
    _store(ACCOUNT).clear(ACCOUNT, _key(ACCOUNT, account))


# --- One counter of another scope (e.g. "otp": second-factor failures), with the caller's limits --------
# The sign-in pair above (account + IP) keeps its own functions; a factor checked after the password
# counts against its own budget, so a wrong code never locks the password or the other way round.

def check_scope(scope: str, value: str, now: datetime) -> Verdict:
    """May an attempt counted against ``scope``'s counter for ``value`` go ahead?"""
    pair = (scope, _key(scope, value))
    counter = _counters([pair]).get(pair)
    verdict = _verdict(counter, now)
    return ALLOWED_WITH_FAILURES if verdict.allowed and counter is not None else verdict


def record_scope_failure(scope: str, value: str, now: datetime, limits: Limits) -> Counter:
    """Count a failure against ``scope``'s counter for ``value``; the counter says if it is now locked."""
    return _store(scope).fail(scope, _key(scope, value), now, limits)


def clear_scope(scope: str, value: str) -> None:
    _store(scope).clear(scope, _key(scope, value))
