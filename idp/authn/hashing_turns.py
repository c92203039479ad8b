"""Whole turns on the core for password hashing: a serving worker's request threads do not cut into
a hash; they run between hashes.

Why: a worker has one core, shared by its hashing thread (every argon2id of the process,
``idp.authn.argon2id.HashingThread``) and its request threads. Linux's scheduler lets a thread that
wakes up (a request arriving, a database answer) preempt the running one at once, so during a
burst of sign-ins each hash was cut seven times on average (its thread's involuntary switches, on
the bench), and each cut ran request code straight after a hash had swept its 19 MiB block
through the core's caches: cold, at about twice its warm cost (bench/README.md). Here the request
threads are ``SCHED_BATCH``, which the kernel does not let preempt on wake-up, and the hashing
thread (started by one of them, so ``SCHED_BATCH`` too at first) goes back to ``SCHED_OTHER`` with
a time slice of ``turn_ms`` (Linux 6.12 and later honour a fair thread's own slice; older kernels
keep their default). Requests that arrive during a hash
then wait for the end of the hashing thread's turn and run together, one after the other, on
caches the first of them has warmed. The kernel still shares the core fairly over time: a turn is
how long the hashing thread keeps it once it has it, not how much of it the thread gets.

The price is latency: a request that arrives while the worker hashes waits up to one turn. That is
why the turn is a setting (``IDP_HASHING_TURN_MS`` for ``python -m idp.serve``; 0 leaves the
scheduler as it is).

Only a serving worker asks for this (``idp.serve``): commands, tests and the development server
keep the scheduler's defaults, as does a platform without ``SCHED_BATCH``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading

logger = logging.getLogger(__name__)

# sched_setattr(2)'s number per machine: Python's os module does not wrap it, and only it sets a
# fair thread's slice (``sched_runtime``).
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


class _SchedAttr(ctypes.Structure):
    """Linux's ``struct sched_attr`` (include/uapi/linux/sched/types.h)."""

    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32), ("sched_flags", ctypes.c_uint64),
                ("sched_nice", ctypes.c_int32), ("sched_priority", ctypes.c_uint32),
                ("sched_runtime", ctypes.c_uint64), ("sched_deadline", ctypes.c_uint64),
                ("sched_period", ctypes.c_uint64), ("sched_util_min", ctypes.c_uint32),
                ("sched_util_max", ctypes.c_uint32)]


_turn_ns = 0  # set by ``request_threads_wait_for_hashing``; 0: hashing threads change nothing


def request_threads_wait_for_hashing(turn_ms: int) -> None:
    """Make every thread of this process ``SCHED_BATCH`` (threads they start inherit it), and have
    the hashing thread, when it starts, take turns of ``turn_ms``."""
    global _turn_ns
    if turn_ms <= 0 or not hasattr(os, "SCHED_BATCH"):
        return
    for task in os.listdir("/proc/self/task"):
        try:
            os.sched_setscheduler(int(task), os.SCHED_BATCH, os.sched_param(0))
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
    _turn_ns = turn_ms * 1_000_000


def hashing_thread_started() -> None:
    """Called by the hashing thread as it starts: back to ``SCHED_OTHER``, with its own slice.

    A failure (a kernel without sched_setattr, a sandbox that forbids it) leaves the thread as it
    was: hashing still works, only without whole turns."""
    if not _turn_ns:
        return
    number = _SCHED_SETATTR.get(os.uname().machine)
    attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_policy=os.SCHED_OTHER, sched_runtime=_turn_ns)
    libc = ctypes.CDLL(None, use_errno=True)
    if number is None or libc.syscall(number, 0, ctypes.byref(attr), 0) != 0:
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError as error:
            logger.warning("hashing thread %s keeps its scheduling policy: %s", threading.get_native_id(), error)
