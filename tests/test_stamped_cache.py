"""The per-process cache and its version stamps: what is kept, when the stamps are read, what is dropped.

Stamps here have names of their own ("test-a", "test-b"), so the clients and keys caches of the app
are not involved. Time never passes by itself: the cache's clock is moved.
"""

from __future__ import annotations

import pytest
from flask import Flask

from idp import stamped_cache
from idp.stamped_cache import StampedCache
from idp.storage import stamps, transaction
from tests.helpers.queries import statements


def _bump(name: str) -> None:
    with transaction():
        stamps.bump(name)


class Loads:
    """A loader that counts its calls and returns their number."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(app: Flask, clock: Clock) -> StampedCache:
    return StampedCache(check_seconds=10, clock=clock)


def test_a_stamp_starts_at_its_first_bump_and_grows_by_one(app: Flask) -> None:
    assert "test-a" not in stamps.versions()
    _bump("test-a")
    _bump("test-a")
    with transaction():
        stamps.bump("test-a")
        stamps.bump("test-b")
    assert {k: v for k, v in stamps.versions().items() if k.startswith("test-")} == {"test-a": 3, "test-b": 1}


def test_a_rolled_back_bump_is_undone(app: Flask) -> None:
    _bump("test-a")
    with pytest.raises(RuntimeError), transaction():
        stamps.bump("test-a")
        raise RuntimeError
    assert stamps.versions()["test-a"] == 1


def test_values_are_kept_until_their_stamp_moves(app: Flask, cache: StampedCache, clock: Clock) -> None:
    load_a, load_b = Loads(), Loads()
    assert cache.get("test-a", "k", load_a) == cache.get("test-a", "k", load_a) == 1
    assert cache.get("test-b", "k", load_b) == 1
    _bump("test-a")  # by another process: this cache was not told
    assert cache.get("test-a", "k", load_a) == 1  # until its next look at the stamps
    clock.now += 10
    assert cache.get("test-a", "k", load_a) == 2
    assert cache.get("test-b", "k", load_b) == 1  # another stamp's values stay


def test_the_stamps_are_read_in_one_query_at_most_once_per_interval(app: Flask, cache: StampedCache,
                                                                    clock: Clock) -> None:
    _bump("test-a")
    _bump("test-b")
    with statements() as first:
        cache.get("test-a", "k", Loads())
    with statements() as within:
        for _ in range(5):
            cache.get("test-a", "k", Loads())
            cache.get("test-b", "k", Loads())
    clock.now += 10
    with statements() as after:
        cache.get("test-a", "k", Loads())
    assert first == ["SELECT cache_version"]  # the loaders here send no SQL
    assert within == []
    assert after == ["SELECT cache_version"]


def test_a_commit_in_this_process_is_seen_at_once(app: Flask) -> None:
    cache = stamped_cache.cache()  # the app's own: told by the stamps.committed signal
    load = Loads()
    assert cache.get("test-a", "k", load) == 1
    _bump("test-a")
    assert cache.get("test-a", "k", load) == 2


def test_a_load_that_spans_a_drop_is_returned_but_not_kept(app: Flask, cache: StampedCache, clock: Clock) -> None:
    calls = []

    def load_while_another_thread_sees_a_change() -> str:
        calls.append(1)
        if len(calls) == 1:
            _bump("test-a")  # committed while this load runs...
            clock.now += 10
            cache.get("test-b", "k", Loads())  # ...and another thread's access drops test-a's values
        return f"load {len(calls)}"

    assert cache.get("test-a", "k", load_while_another_thread_sees_a_change) == "load 1"
    assert cache.get("test-a", "k", load_while_another_thread_sees_a_change) == "load 2"  # not kept
    assert cache.get("test-a", "k", load_while_another_thread_sees_a_change) == "load 2"


def test_missing_values_are_never_kept(app: Flask, cache: StampedCache) -> None:
    calls = []
    for _ in range(3):
        assert cache.get("test-a", "unknown", lambda: calls.append(1)) is None
    assert len(calls) == 3


def test_a_failed_look_at_the_stamps_is_tried_again_at_the_next_access(app: Flask, cache: StampedCache,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> dict[str, int]:
        raise ConnectionError("database unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(stamps, "versions", unavailable)
        with pytest.raises(ConnectionError):
            cache.get("test-a", "k", Loads())
    with statements() as retried:
        cache.get("test-a", "k", Loads())
    assert retried == ["SELECT cache_version"]  # not postponed by the interval
