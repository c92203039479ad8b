"""The servers under test, pinned to one core, and what they cost: CPU time and memory from /proc.

dangnhap runs as in production (``python -m idp.serve``: granian), node-oidc-provider as
``node bench/node/server.mjs``. Both are started under ``taskset`` when it exists, so the server has
one core and the load generator the other. Every process is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
NODE_SERVER = ROOT / "bench" / "node" / "server.mjs"
_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CPU, LOAD_CPU = 0, 1


def pinned(command: list[str], cpu: int) -> list[str]:
    """``command`` on one core, where taskset exists (and the machine has that core)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu), *command]
    return command


def _stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat (``pid`` may be "<pid>/task/<tid>" for one thread)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from the 3rd on; the name may hold spaces


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 when it has gone)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS if fields else 0.0


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU time of each thread of one process, by thread id."""
    try:
        tids = [int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return {}
    times = {tid: _stat(f"{pid}/task/{tid}") for tid in tids}
    return {tid: (int(f[11]) + int(f[12])) / _TICKS for tid, f in times.items() if f}


def memory_mib(pid: int) -> dict[str, float]:
    """A process's RSS and its two parts: ``anonymous`` (its heap, Python's objects, thread stacks:
    its own) and ``files`` (the libraries' code and data mapped from files, which every worker on a
    host maps from the same page cache). N workers take about N × anonymous + files, not N × RSS."""
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(value.split()[0]) / 1024
    return {"rss": round(fields.get("VmRSS", 0.0), 1), "anonymous": round(fields.get("RssAnon", 0.0), 1),
            "files": round(fields.get("RssFile", 0.0) + fields.get("RssShmem", 0.0), 1)}


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (granian's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def processes_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def machine_busy_seconds() -> float:
    """CPU seconds spent by everything on the machine (all cores, not idle or waiting)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


@dataclass
class Server:
    """A started server: its process, port and issuer."""

    name: str
    process: subprocess.Popen[bytes]
    port: int

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in descendants(self.process.pid))

    def thread_cpu_seconds(self) -> dict[int, float]:
        """CPU time of every thread of every process of the server, by thread id."""
        return {tid: seconds for pid in descendants(self.process.pid)
                for tid, seconds in thread_cpu_seconds(pid).items()}

    def _workers(self) -> list[int]:
        """granian's workers (not its master); node's one process."""
        pids = descendants(self.process.pid)
        return pids[1:] if len(pids) > 1 else pids

    def worker_memory_mib(self) -> dict[str, float]:
        """The largest worker's RSS and its parts (``memory_mib``)."""
        return max((memory_mib(pid) for pid in self._workers()), key=lambda memory: memory["rss"],
                   default={"rss": 0.0, "anonymous": 0.0, "files": 0.0})

    def get_json(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.issuer + path, timeout=10) as response:  # noqa: S310 - loopback
            return json.load(response)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait_until_up(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
        try:
            server.get_json(path)
            return
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer {path} within {timeout:.0f} s")


def _env_value(value: Any) -> str:
    """Settings as IDP_* environment variables, as idp.settings reads them: sequences space-separated,
    mappings as JSON."""
    if isinstance(value, tuple | list):
        return " ".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def start_dangnhap(name: str, port: int, config: Mapping[str, Any], *, workers: int, threads: int,
                   log: IO[bytes]) -> Server:
    """``python -m idp.serve`` (granian, the production configuration), on the server core.

    The server runs in the benchmark's own interpreter (``make bench``: .venv's), so running the
    benchmark with another one measures the server under it: interpreter builds differ by up to a
    fifth in speed (bench/README.md), and the report names the one measured.
    """
    env = {**os.environ, **{key: _env_value(value) for key, value in config.items()},
           "IDP_BIND": f"127.0.0.1:{port}", "IDP_WORKERS": str(workers), "IDP_THREADS": str(threads)}
    command = pinned([sys.executable, "-m", "idp.serve"], SERVER_CPU)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    server = Server(name, process, port)
    _wait_until_up(server, "/healthz")
    return server


def start_node(port: int, setup_file: Path, *, log: IO[bytes]) -> Server:
    """node-oidc-provider (bench/node/server.mjs) on the server core; it prints ``ready`` when listening."""
    command = pinned(["node", str(NODE_SERVER), "--port", str(port), "--setup", str(setup_file)], SERVER_CPU)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    server = Server("node-oidc-provider", process, port)
    _wait_until_up(server, "/.well-known/openid-configuration")
    return server
