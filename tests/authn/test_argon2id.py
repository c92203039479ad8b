"""argon2id in our own working memory: argon2's encoded form, and the block given back when idle."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import HashingError, InvalidHashError

from idp.authn import argon2id

CHEAP = {"memory_kib": 256, "time_cost": 1, "parallelism": 1}


@pytest.fixture
def memory() -> argon2id.WorkingMemory:
    memory = argon2id.WorkingMemory()
    yield memory
    memory.release()


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def test_our_hashes_and_argon2_cffis_check_against_each_other(memory: argon2id.WorkingMemory) -> None:
    ours = argon2id.hash_password(memory, "một mật khẩu", **CHEAP)
    assert ours.startswith("$argon2id$v=19$m=256,t=1,p=1$")
    reference = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1, type=Type.ID)
    assert reference.verify(ours, "một mật khẩu")
    theirs = reference.hash("một mật khẩu")
    assert argon2id.verify(memory, theirs, "một mật khẩu")
    assert argon2id.verify(memory, ours, "một mật khẩu")
    assert not argon2id.verify(memory, ours, "mot mat khau")
    assert not argon2id.verify(memory, theirs, "")


def test_every_hash_has_its_own_salt(memory: argon2id.WorkingMemory) -> None:
    assert argon2id.hash_password(memory, "same", **CHEAP) != argon2id.hash_password(memory, "same", **CHEAP)


def test_other_parameters_and_variants_are_checked_with_their_own(memory: argon2id.WorkingMemory) -> None:
    """A hash made with older parameters (or argon2i) still checks: it is upgraded after the sign-in."""
    for kind in (Type.ID, Type.I):
        old = PasswordHasher(time_cost=2, memory_cost=512, parallelism=2, type=kind).hash("cũ")
        assert argon2id.verify(memory, old, "cũ")
        assert not argon2id.verify(memory, old, "cu")


@pytest.mark.parametrize("encoded", [
    "",
    "not a hash",
    "$argon2id$v=19$m=256,t=1,p=1$",
    "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$",  # no hash
    "$argon2id$v=19$m=256,t=1,p=1$!!!$c2FsdHNhbHRzYWx0",  # salt not base64
    "$argon2id$v=19$m=256,t=1,p=1$c2FsdA$c2FsdHNhbHRzYWx0",  # salt too short for argon2
    "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHRzYWx0$c2FsdHNhbHRzYWx0",  # memory below argon2's minimum
    "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$YWJj",  # output too short
    "$scrypt$ln=16,r=8,p=1$c2FsdA$c2FsdA",
])
def test_what_is_not_an_argon2_hash_is_refused(memory: argon2id.WorkingMemory, encoded: str) -> None:
    with pytest.raises(InvalidHashError):
        argon2id.verify(memory, encoded, "x")


def test_the_block_is_kept_between_hashes_and_given_back_when_idle() -> None:
    """OWASP's 19 MiB: mapped by the first hash, still there for the next, unmapped once idle."""
    hashing = argon2id.HashingThread(idle_seconds=1.0)
    before = _rss_mib()
    encoded = hashing.run(argon2id.hash_password, "secret", memory_kib=19456, time_cost=2, parallelism=1)
    assert hashing.run(argon2id.verify, encoded, "secret")
    assert hashing.memory.mapped_bytes >= 19456 * 1024
    assert _rss_mib() - before >= 15  # the block is resident while kept
    deadline = time.monotonic() + 10
    while hashing.memory.mapped_bytes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hashing.memory.mapped_bytes == 0
    assert _rss_mib() - before < 5
    # The next hash maps a block again.
    assert not hashing.run(argon2id.verify, encoded, "wrong")


def test_hashing_runs_on_its_own_thread_and_raises_in_the_callers() -> None:
    hashing = argon2id.HashingThread()
    names = hashing.run(lambda _memory: threading.current_thread().name)
    assert names == "argon2"
    with pytest.raises(InvalidHashError):
        hashing.run(argon2id.verify, "not a hash", "x")
    assert hashing.run(argon2id.verify, hashing.run(argon2id.hash_password, "a", **CHEAP), "a")


def _hash_in_child(hashing: argon2id.HashingThread, results: multiprocessing.Queue) -> None:
    results.put(hashing.run(argon2id.hash_password, "con", **CHEAP))


def test_a_forked_process_starts_its_own_hashing_thread() -> None:
    """Threads do not survive a fork: a worker forked after the parent hashed must not wait forever."""
    hashing = argon2id.HashingThread()
    hashing.run(argon2id.hash_password, "cha", **CHEAP)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_hash_in_child, args=(hashing, results))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert PasswordHasher().verify(results.get(timeout=5), "con")


def test_no_memory_for_the_block_is_the_servers_fault_not_a_wrong_password(
        memory: argon2id.WorkingMemory, monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = argon2id.hash_password(memory, "secret", **CHEAP)
    memory.release()

    def no_memory(*_args: object, **_kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(argon2id.mmap, "mmap", no_memory)
    with pytest.raises(HashingError):
        argon2id.verify(memory, encoded, "secret")
    with pytest.raises(HashingError):
        argon2id.hash_password(memory, "secret", **CHEAP)
