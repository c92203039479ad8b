"""argon2id hashes made and checked in working memory that is given back when hashing stops.

argon2id's memory cost is a block the size of ``m`` (19 MiB with OWASP's parameters) that every
hash fills. Through argon2-cffi's ``PasswordHasher`` the library takes it from malloc, and glibc
keeps it in the hashing thread's arena once freed: a worker that has signed one person in holds
19 MiB more for the rest of its life (measured: 85 → 105–113 MiB on SQLite, 95 → 115–120 MiB on
PostgreSQL). Returning it after every hash instead costs a third of the hashing throughput: each
hash then faults in and zeroes 4,864 pages again.

Here the block is an anonymous mapping of our own, handed to argon2 through its allocation
callbacks (``argon2_ctx``, which argon2-cffi exposes as ``low_level.core``). The process's hashing
thread reuses it hash after hash and unmaps it once no hash has come for ``IDLE_SECONDS``: during a
burst of sign-ins nothing is faulted twice, and afterwards the worker is back to its idle size.
The mapping is aligned to 2 MiB and offered to the kernel for transparent huge pages, so that the
first hash after an idle spell faults in ten pages rather than thousands (measured in a loop that
returned the block after every hash: +5% per hash with huge pages, +50% without).

The encoded form is argon2's own (``$argon2id$v=19$m=…,t=…,p=…$salt$hash``, unpadded base64):
hashes made here and by ``PasswordHasher`` check against each other (tests/authn/test_argon2id.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import mmap
import os
import queue
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from argon2 import Parameters, Type, extract_parameters
from argon2.exceptions import HashingError, InvalidHashError
from argon2.low_level import ARGON2_VERSION, core, error_to_str, ffi, lib

from idp.authn import hashing_turns

# How long the hashing thread keeps its block with no hash to do. A burst of sign-ins (one every
# few hundred ms per worker at the least) keeps it; a quiet minute does not.
IDLE_SECONDS = 2.0

SALT_BYTES = 16
HASH_BYTES = 32
_HUGE_PAGE = 2 << 20


logger = logging.getLogger(__name__)


def _allocation_failed(kind: type[BaseException], error: BaseException, _traceback: Any) -> None:
    logger.error("argon2id: no memory for a working block: %s: %s", kind.__name__, error)


class WorkingMemory:
    """One thread's argon2 block: mapped at the first hash, reused by the next ones, unmapped by
    ``release``. argon2 asks for it once per hash, from the thread that runs the hash."""

    def __init__(self) -> None:
        self._mapping: mmap.mmap | None = None
        self._view: Any = None  # the cffi view of the mapping, which pins it while it exists
        self._start: Any = ffi.NULL
        self._size = 0
        # argon2 calls these from C; on an error (no memory to map) it gets ARGON2_MEMORY_ALLOCATION_ERROR.
        self.allocate = ffi.callback("int(uint8_t **, size_t)", self._allocate,
                                     error=lib.ARGON2_MEMORY_ALLOCATION_ERROR, onerror=_allocation_failed)
        self.free = ffi.callback("void(uint8_t *, size_t)", self._free)

    @property
    def mapped_bytes(self) -> int:
        return self._size

    def _allocate(self, memory: Any, size: int) -> int:
        if size > self._size:
            self.release()
            self._map(size)
        memory[0] = self._start
        return lib.ARGON2_OK

    def _free(self, _memory: Any, _size: int) -> None:
        """argon2 has wiped the block before calling this; it stays mapped for the next hash."""

    def _map(self, size: int) -> None:
        rounded = -(-size // _HUGE_PAGE) * _HUGE_PAGE
        mapping = mmap.mmap(-1, rounded + _HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            mapping.madvise(mmap.MADV_HUGEPAGE)
        view = ffi.from_buffer("uint8_t[]", mapping)
        offset = -int(ffi.cast("uintptr_t", view)) % _HUGE_PAGE
        self._mapping, self._view, self._start, self._size = mapping, view, view + offset, rounded

    def release(self) -> None:
        """Give the block back to the kernel (the next hash maps a new one)."""
        if self._mapping is None:
            return
        ffi.release(self._view)
        self._mapping.close()
        self._mapping, self._view, self._start, self._size = None, None, ffi.NULL, 0


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidHashError("a part of the hash is not base64") from exc  # no hash material in messages


def _raw(memory: WorkingMemory, password: bytes, salt: bytes, params: Parameters) -> bytes | int:
    """argon2's raw output for these inputs, or its error code."""
    out = ffi.new("uint8_t[]", params.hash_len)
    pwd = ffi.from_buffer("uint8_t[]", password)
    salt_buffer = ffi.from_buffer("uint8_t[]", salt)
    context = ffi.new("argon2_context *", {
        "out": out, "outlen": params.hash_len, "pwd": pwd, "pwdlen": len(password),
        "salt": salt_buffer, "saltlen": len(salt), "secret": ffi.NULL, "secretlen": 0,
        "ad": ffi.NULL, "adlen": 0, "t_cost": params.time_cost, "m_cost": params.memory_cost,
        "lanes": params.parallelism, "threads": params.parallelism, "version": params.version,
        "allocate_cbk": memory.allocate, "free_cbk": memory.free, "flags": lib.ARGON2_DEFAULT_FLAGS,
    })
    error = core(context, params.type.value)
    return bytes(ffi.buffer(out)) if error == lib.ARGON2_OK else error


def hash_password(memory: WorkingMemory, password: str, *, memory_kib: int, time_cost: int,
                  parallelism: int) -> str:
    """A new argon2id hash of ``password`` with a random salt, in argon2's encoded form."""
    params = Parameters(type=Type.ID, version=ARGON2_VERSION, salt_len=SALT_BYTES, hash_len=HASH_BYTES,
                        time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    salt = secrets.token_bytes(SALT_BYTES)
    raw = _raw(memory, password.encode(), salt, params)
    if isinstance(raw, int):
        raise HashingError(error_to_str(raw))
    return (f"$argon2id$v={params.version}$m={memory_kib},t={time_cost},p={parallelism}"
            f"${_b64encode(salt)}${_b64encode(raw)}")


def verify(memory: WorkingMemory, encoded: str, password: str) -> bool:
    """Whether ``password`` is the one ``encoded`` was made from (compared in constant time).

    Raises ``InvalidHashError`` when ``encoded`` is not an argon2 hash argon2 can recompute, and
    ``HashingError`` when its working memory could not be mapped."""
    params = extract_parameters(encoded)
    *_, salt_text, hash_text = encoded.split("$")
    salt, expected = _b64decode(salt_text), _b64decode(hash_text)
    if not expected:
        raise InvalidHashError("the hash has no output")
    raw = _raw(memory, password.encode(), salt, params)
    if raw == lib.ARGON2_MEMORY_ALLOCATION_ERROR:
        raise HashingError(error_to_str(raw))  # the server's fault, not a wrong password
    if isinstance(raw, int):
        raise InvalidHashError(error_to_str(raw))
    return hmac.compare_digest(raw, expected)


T = TypeVar("T")
_Job = tuple[Future[Any], Callable[[WorkingMemory], Any]]


class HashingThread:
    """The process's one argon2 thread, started on first use in each process (threads do not
    survive a fork, so the process id is checked).

    A worker process has a core's worth of CPU, so a second argon2id at the same time would finish
    nothing sooner; it would only hold a second block. The thread gives its block back after
    ``idle_seconds`` without work."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self.memory = WorkingMemory()
        self._lock = threading.Lock()
        self._pid = 0
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()

    def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work(memory, *args, **kwargs)`` on the hashing thread, with its block; its result, or
        its exception raised here."""
        with self._lock:
            if self._pid != os.getpid():
                # A forked child has its own copy of the block (the mapping is private) but not the
                # thread, nor the jobs its parent's threads were queueing.
                self._jobs = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(self._jobs,), name="argon2", daemon=True).start()
                self._pid = os.getpid()
            jobs = self._jobs
        future: Future[T] = Future()
        jobs.put((future, lambda memory: work(memory, *args, **kwargs)))
        return future.result()

    def _serve(self, jobs: queue.SimpleQueue[_Job]) -> None:
        hashing_turns.hashing_thread_started()
        memory = self.memory
        while True:
            try:
                future, work = jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                memory.release()
                future, work = jobs.get()
            try:
                future.set_result(work(memory))
            except BaseException as exc:  # handed to the caller, who raises it in its own thread
                future.set_exception(exc)
