"""The benchmark's CPU accounting per thread, read from /proc of a real process."""

from __future__ import annotations

import os
import threading
import time

from bench.protocol import Sample, busiest_thread_share
from bench.scenarios import SCENARIOS
from bench.servers import thread_cpu_seconds


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_thread_cpu_seconds_names_the_thread_that_worked() -> None:
    before = thread_cpu_seconds(os.getpid())
    busy, done = threading.Event(), threading.Event()

    def work_then_wait() -> None:
        _spin(0.3)
        busy.set()
        done.wait(timeout=30)

    worker = threading.Thread(target=work_then_wait)
    worker.start()
    busy.wait(timeout=30)
    after = thread_cpu_seconds(os.getpid())  # while the thread still exists: a finished one leaves /proc
    done.set()
    worker.join(timeout=30)
    assert worker.native_id in after and worker.native_id not in before
    assert after[worker.native_id] >= 0.25
    assert after[threading.get_native_id()] >= before[threading.get_native_id()]


def test_busiest_thread_share_is_against_the_whole_server() -> None:
    before = Sample(0.0, server=10.0, database=0.0, machine=0.0, server_threads={1: 5.0, 2: 5.0})
    # Thread 2 worked 8 s of the 10 s; thread 3 appeared and worked 2 s.
    after = Sample(10.0, server=20.0, database=0.0, machine=0.0, server_threads={1: 5.0, 2: 13.0, 3: 2.0})
    assert busiest_thread_share(before, after) == 0.8
    assert busiest_thread_share(after, after) == 0.0


def test_only_citizen_sign_ins_are_measured_against_argon2id() -> None:
    hashing = {s.name for s in SCENARIOS if s.hashes_passwords}
    assert hashing == {"citizen sign-in page ×4", "citizen sign-in flow ×1", "citizen sign-in flow ×4",
                       "citizen sign-in + TOTP ×4"}  # officials bind to the directory; the rest sign nobody in
