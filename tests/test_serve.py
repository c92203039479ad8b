"""The production server (``python -m idp.serve``): it serves the app, logs without query strings, and
stops on SIGTERM."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.slapd import free_port

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 60  # a generous bound for a loaded machine; the server usually answers within 2 s
LOG_SECONDS = 10


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return response.status


@pytest.fixture
def served(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "IDP_BIND": f"127.0.0.1:{port}", "IDP_WORKERS": "1", "IDP_THREADS": "2",
           "IDP_ACCESS_LOG": "true", "IDP_ISSUER": f"http://127.0.0.1:{port}",
           "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "IDP_INSTANCE_PATH": str(tmp_path / "instance"),
           "IDP_SECRET_KEY": secrets.token_urlsafe(32), "IDP_DATA_KEY": secrets.token_urlsafe(32)}
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "idp.serve"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serves_the_app_and_logs_paths_without_query_strings(served) -> None:
    url, process, log = served
    assert _get(f"{url}/.well-known/openid-configuration?code=secret-code-value") == 200
    line = '"GET /.well-known/openid-configuration HTTP/1.1" 200'
    # The worker logs a request after its response has gone out: wait for the line before stopping.
    deadline = time.monotonic() + LOG_SECONDS
    while line not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    text = log.read_text(errors="replace")
    assert line in text
    assert "secret-code-value" not in text


def test_a_serving_worker_loads_neither_alembic_nor_redis(tmp_path: Path) -> None:
    """Each worker holds only what serving needs (memory per worker is a goal: bench/README.md)."""
    code = ("import sys; from idp.serve import serving_app; serving_app(); "
            "print(sorted({'alembic', 'flask_migrate', 'redis'} & set(sys.modules)))")
    env = {**os.environ, "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "IDP_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_a_serving_worker_forgets_the_settings_environment(tmp_path: Path) -> None:
    """granian copies the process's environment into every request's WSGI environ: once the app has
    read its settings, the worker keeps no IDP_* variable (no secret in any request's environ)."""
    secret = secrets.token_urlsafe(32)
    code = ("import os; from idp.serve import serving_app; app = serving_app(); "
            "print(sorted(name for name in os.environ if name.startswith('IDP_'))); "
            "print(app.config['IDP_SECRET_KEY'] == os.environ['CHECK_SECRET'])")
    env = {**os.environ, "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "IDP_INSTANCE_PATH": str(tmp_path),
           "IDP_SECRET_KEY": secret, "IDP_DATA_KEY": secrets.token_urlsafe(32), "CHECK_SECRET": secret}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "True"]


_KEPT_CONNECTIONS = """
from sqlalchemy import event, text
from idp.serve import serving_app
from idp.storage import db, execute, reading
app = serving_app()
lent = []
with app.app_context():
    event.listen(db.engine, "checkout", lambda *args: lent.append(1))
    for _ in range(3):
        with reading():
            execute(text("SELECT 1")).scalar_one()
print(len(lent))
"""


def test_a_serving_workers_threads_keep_their_connections(tmp_path: Path) -> None:
    """Blocks one after another in a worker's thread take one connection from the pool, not one each
    (``storage.keep_connections``; its behaviour is tested in tests/storage/test_kept_connections.py)."""
    env = {**os.environ, "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "IDP_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", _KEPT_CONNECTIONS], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "1"


_THREAD_POLICIES = """
import json, os, threading
from idp.serve import serving_app
from idp.authn import passwords
app = serving_app()
with app.app_context():
    passwords.hash_password("a password of twelve")
def slice_ns(task):
    lines = [line for line in open(f"/proc/self/task/{task}/sched") if line.startswith("se.slice")]
    return int(lines[0].split(":")[1]) if lines else None
hashing = next(thread.native_id for thread in threading.enumerate() if thread.name == "argon2")
others = {int(task) for task in os.listdir("/proc/self/task")} - {hashing}
print(json.dumps({"hashing": os.sched_getscheduler(hashing), "slice": slice_ns(hashing),
                  "others": sorted({os.sched_getscheduler(task) for task in others})}))
"""


def _thread_policies(tmp_path: Path, turn_ms: str) -> dict[str, Any]:
    env = {**os.environ, "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "IDP_INSTANCE_PATH": str(tmp_path),
           "IDP_HASHING_TURN_MS": turn_ms}
    result = subprocess.run([sys.executable, "-c", _THREAD_POLICIES], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_request_threads_wait_for_the_hashing_threads_turn(tmp_path: Path) -> None:
    """A worker's other threads are SCHED_BATCH (they do not preempt a hash when they wake); its hashing
    thread keeps SCHED_OTHER, with the turn as its slice where the kernel has per-thread slices."""
    policies = _thread_policies(tmp_path, "50")
    assert policies["hashing"] == os.SCHED_OTHER
    assert policies["others"] == [os.SCHED_BATCH]
    assert policies["slice"] in (None, 50_000_000)  # None: a kernel that shows no slice (before EEVDF)


def test_a_turn_of_zero_leaves_the_scheduler_alone(tmp_path: Path) -> None:
    policies = _thread_policies(tmp_path, "0")
    assert policies["hashing"] == os.SCHED_OTHER
    assert policies["others"] == [os.SCHED_OTHER]
    assert policies["slice"] != 50_000_000
