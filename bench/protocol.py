"""Benchmark (not a test): dangnhap's protocol endpoints and sign-in flows under load, next to
node-oidc-provider on the same scenarios, in one run.

    make bench                # or: .venv/bin/python -m bench.protocol [--rounds 3] [--seconds 3] [--targets ...]

The targets (dangnhap on SQLite, dangnhap on PostgreSQL, node-oidc-provider) are all started on core 0
and loaded from core 1, one window at a time, for a fixed time after a warm-up: wrk for fixed requests,
bench/loader.py (a keep-alive asyncio client) for sequences (code exchange, refresh, sign-in flows).
Each scenario runs on every target in turn before the next scenario starts, ``--rounds`` times, the
targets' order turning from round to round: the windows a ratio compares are seconds apart, so the
host's drift (this machine is shared) moves both sides alike.
For each window: operations/s, p50/p99 latency, the server's CPU use and its largest process's RSS,
and how much CPU other work on the machine took meanwhile (a window where other work took more than
a fifth of a core is marked busy). The table gives each scenario's median round and ends with
dangnhap / node ratios, the median of the rounds' own; the same figures go to
bench/results/protocol-<time>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import config
from idp.authn import argon2id
from tests.helpers import directory_data
from tests.helpers.databases import POSTGRES_SERVER, postgres_available
from tests.helpers.slapd import Slapd

from . import flows, seed, servers
from .report import BUSY_CORES, machine, print_report, ratios
from .scenarios import SCENARIOS, Scenario
from .servers import LOAD_CPU, SERVER_CPU
from .targets import Target, dangnhap, node

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "request.lua"
TOKEN = "{token}"  # in a request that goes round many tokens (bench/wrk/request.lua)


# --- measuring -------------------------------------------------------------------------------------


@dataclass
class Sample:
    """CPU seconds at one instant: the server (and each of its threads), its database server, everything."""

    at: float
    server: float
    database: float
    machine: float
    server_threads: dict[int, float]

    @classmethod
    def take(cls, target: Target) -> Sample:
        return cls(time.perf_counter(), target.server.cpu_seconds(),
                   sum(servers.cpu_seconds(pid) for pid in target.database_processes()),
                   servers.machine_busy_seconds(), target.server.thread_cpu_seconds())


def busiest_thread_share(before: Sample, after: Sample) -> float:
    """The busiest server thread's share of the server's CPU over the window.

    In a sign-in scenario that thread is dangnhap's argon2id thread (every hash of a worker runs on
    it, idp/authn/passwords.py), so this is the share of the core spent hashing: a sign-in's share
    of the argon2id limit, measured from one window alone. The limit itself is a second
    measurement, and this machine's speed drifts by 10-25% within minutes.
    """
    server = after.server - before.server
    busiest = max((seconds - before.server_threads.get(tid, 0.0) for tid, seconds in after.server_threads.items()),
                  default=0.0)
    return busiest / server if server > 0 else 0.0


def _row(scenario: Scenario, target: Target, before: Sample, after: Sample, load_cpu: float, *, ops: int,
         seconds: float, p50_ms: float, p99_ms: float, errors: int, error_sample: str = "") -> dict[str, Any]:
    wall = after.at - before.at or 1e-9
    server = after.server - before.server
    database = after.database - before.database
    other = max(0.0, (after.machine - before.machine) - server - database - load_cpu)
    memory = target.server.worker_memory_mib()
    return {"scenario": scenario.name, "target": target.name, "ops": ops, "seconds": round(seconds, 3),
            "ops_per_second": round(ops / seconds, 1) if seconds else 0.0, "p50_ms": p50_ms, "p99_ms": p99_ms,
            "server_cpu_percent": round(100 * server / wall, 1),
            "database_cpu_percent": round(100 * database / wall, 1),
            "cpu_ms_per_op": round(1000 * (server + database) / ops, 3) if ops else None,
            "load_cpu_percent": round(100 * load_cpu / wall, 1), "other_cpu_percent": round(100 * other / wall, 1),
            "busy": other / wall > BUSY_CORES, "worker_rss_mib": memory["rss"],
            "worker_anonymous_mib": memory["anonymous"],
            "errors": errors, "error_sample": error_sample}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- fixed requests with wrk -------------------------------------------------------------------------


def _basic(client: flows.Client) -> str:
    """The client's Basic authentication as a header line for wrk."""
    return "Authorization: " + client.auth_headers()["Authorization"]


def _fixed_request(scenario: Scenario, target: Target) -> tuple[str, str, str, str, list[str]]:
    """(method, URL, form body, extra header lines, tokens) of a fixed-request scenario. Where it
    goes round many access tokens, ``TOKEN`` in the body or the headers stands for the next one."""
    d, clients = target.discovery, target.clients
    tokens = target.access_tokens if scenario.name.endswith("(many tokens)") else []
    token = TOKEN if tokens else target.access_token
    request = {
        "discovery": ("GET", target.server.issuer + "/.well-known/openid-configuration", "", ""),
        "jwks": ("GET", d["jwks_uri"], "", ""),
        "client_credentials RS256": ("POST", d["token_endpoint"], "grant_type=client_credentials",
                                     _basic(clients.cc_rs256)),
        "client_credentials ES256": ("POST", d["token_endpoint"], "grant_type=client_credentials",
                                     _basic(clients.cc_es256)),
        "userinfo": ("GET", d["userinfo_endpoint"], "", f"Authorization: Bearer {token}"),
        "introspection": ("POST", d.get("introspection_endpoint", ""), f"token={token}", _basic(clients.portal)),
    }[scenario.name.removesuffix(" (many tokens)")]
    return (*request, tokens)


def _check_once(method: str, url: str, body: str, headers: str) -> str:
    """Why one request of the scenario fails (empty when it answers 200 with what it should)."""
    request = urllib.request.Request(url, data=body.encode() if body else None, method=method,  # noqa: S310
                                     headers=dict(line.split(": ", 1) for line in headers.splitlines() if line))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            answer = json.load(response)
    except urllib.error.HTTPError as exc:
        return f"{exc.code}: {exc.read()[:200]!r}"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if answer.get("active") is False:
        return "introspection says the token is not active"
    return ""


def _wrk(url: str, method: str, body: str, headers: str, seconds: float, connections: int,
         tokens_file: Path | None = None) -> dict[str, Any]:
    env = {**os.environ, "BENCH_METHOD": method, "BENCH_BODY": body, "BENCH_HEADERS": headers,
           "BENCH_TOKENS": str(tokens_file or "")}
    command = servers.pinned(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                              "-s", str(WRK_SCRIPT), url], LOAD_CPU)
    output = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60,
                            check=False).stdout
    line = next((line for line in output.splitlines() if line.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {output[-300:]!r}")
    return json.loads(line[len("BENCH "):])


def run_fixed(scenario: Scenario, target: Target, args: argparse.Namespace) -> dict[str, Any]:
    method, url, body, headers, tokens = _fixed_request(scenario, target)
    for token in (tokens[0], tokens[-1]) if tokens else [""]:
        if problem := _check_once(method, url, body.replace(TOKEN, token), headers.replace(TOKEN, token)):
            return {"scenario": scenario.name, "target": target.name, "errors": 1, "error_sample": problem}
    with tempfile.NamedTemporaryFile("w", prefix="dangnhap-bench-tokens-", suffix=".txt") as listed:
        listed.write("".join(f"{token}\n" for token in tokens))
        listed.flush()
        tokens_file = Path(listed.name) if tokens else None
        _wrk(url, method, body, headers, args.warmup, args.connections, tokens_file)
        before, children = Sample.take(target), _children_cpu()
        summary = _wrk(url, method, body, headers, args.seconds, args.connections, tokens_file)
        after = Sample.take(target)
    errors = sum(summary["errors"].values())
    return _row(scenario, target, before, after, _children_cpu() - children, ops=summary["requests"] - errors,
                seconds=summary["duration_us"] / 1e6, p50_ms=summary["p50_us"] / 1000,
                p99_ms=summary["p99_us"] / 1000, errors=errors,
                error_sample="non-2xx answers or socket errors" if errors else "")


# --- sequences with bench.loader -------------------------------------------------------------------------


def _loader_client(scenario: Scenario, target: Target) -> flows.Client:
    return target.clients.public if scenario.name == "refresh (public)" else target.clients.portal


def run_sequence(scenario: Scenario, target: Target, args: argparse.Namespace) -> dict[str, Any]:
    people = target.people.get(scenario.people, [])
    if not people:
        return {"scenario": scenario.name, "target": target.name, "errors": 1, "error_sample": "no such people"}
    spec = {"mode": scenario.kind, "host": "127.0.0.1", "port": target.server.port,
            "provider": asdict(target.provider), "client": asdict(_loader_client(scenario, target)),
            "users": [asdict(u) for u in people], "concurrency": scenario.concurrency, "warmup": args.warmup,
            "seconds": args.seconds, "mint_seconds": args.mint_seconds}
    command = servers.pinned([sys.executable, "-m", "bench.loader"], LOAD_CPU)
    process = subprocess.Popen(command, cwd=servers.ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdin is not None and process.stdout is not None
    deadline = _kill_after(process, 90 + args.mint_seconds + args.warmup + args.seconds)
    try:
        process.stdin.write(json.dumps(spec))
        process.stdin.close()
        before = after = None
        load_before = 0.0
        load_after = 0.0
        for line in process.stdout:
            if line.strip() == "measure":
                before, load_before = Sample.take(target), servers.cpu_seconds(process.pid)
            elif line.strip() == "done":
                after, load_after = Sample.take(target), servers.cpu_seconds(process.pid)
            elif line.startswith("{"):
                result = json.loads(line)
                break
        else:
            raise RuntimeError(f"the loader ended without a result (exit {process.wait()})")
    finally:
        deadline.cancel()
        process.wait()
    # The TOTP steps the window used stay used: the scenario's next round comes within 30 s.
    for user in people:
        user.last_step = max(user.last_step, result.get("totp_steps", {}).get(user.login, -1))
    if before is None or after is None:
        return {"scenario": scenario.name, "target": target.name, "errors": result["errors"],
                "error_sample": result["error_sample"]}
    row = _row(scenario, target, before, after, load_after - load_before, ops=result["ops"],
               seconds=result["seconds"], p50_ms=result["latencies"]["p50_ms"],
               p99_ms=result["latencies"]["p99_ms"], errors=result["errors"], error_sample=result["error_sample"])
    if scenario.hashes_passwords:
        row["busiest_thread_cpu_share"] = round(busiest_thread_share(before, after), 3)
    row["codes_minted"] = result.get("codes_minted", 0)
    row["waited_for_totp_seconds"] = result.get("waited_for_totp_seconds", 0.0)
    return row


def _kill_after(process: subprocess.Popen[str], seconds: float) -> threading.Timer:
    """Kill ``process`` (by its pid) should it outlive ``seconds``: every load loop is bounded."""
    timer = threading.Timer(seconds, lambda: process.poll() is None and process.kill())
    timer.daemon = True
    timer.start()
    return timer


# --- argon2 limit -----------------------------------------------------------------------------------


def _memory_at_rest(name: str, target: Target) -> dict[str, float]:
    """The worker's RSS, and its parts, once argon2id's thread has given its block back (dangnhap
    signs a person in to get its first access token, and its sign-in scenarios end with the block held)."""
    if name != "node":
        time.sleep(argon2id.IDLE_SECONDS + 1.0)
    return target.server.worker_memory_mib()


def argon2_limit(args: argparse.Namespace) -> float:
    """Password verifications per second on the server's core with the configured (OWASP) parameters:
    the ceiling of sign-ins a core can serve. Measured with the server's own argon2id code
    (idp/authn/argon2id.py), in one working block kept from hash to hash, as a busy worker keeps it."""
    memory = argon2id.WorkingMemory()
    hashed = argon2id.hash_password(memory, seed.PASSWORD, memory_kib=args.argon2_memory_kib,
                                    time_cost=args.argon2_time_cost, parallelism=1)
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SERVER_CPU} if (os.cpu_count() or 1) > SERVER_CPU else previous)
    try:
        rates = []
        for _ in range(5):
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < 1.0:
                argon2id.verify(memory, hashed, seed.PASSWORD)
                count += 1
            rates.append(count / (time.perf_counter() - started))
    finally:
        os.sched_setaffinity(0, previous)
        memory.release()
    return statistics.median(rates)


class DeadlineReached(Exception):
    """``--deadline`` passed. Not an OSError (as TimeoutError is), which would pass for one target's
    failure and let the others run on unbounded."""


def _deadline_reached(*_: object) -> None:
    raise DeadlineReached


# What ends one target's part of the run (a server that would not start or answer, a flow that failed),
# while the other targets go on.
TARGET_FAILURES = (RuntimeError, OSError, flows.FlowError)


def _node_available() -> bool:
    return (servers.NODE_SERVER.parent / "node_modules").is_dir()


def turns(names: list[str], scenario_index: int, round_index: int) -> list[str]:
    """The order the targets take a scenario's round in: turned by one from round to round and from
    scenario to scenario, so that no target always comes first or last (the host's speed drifts)."""
    if not names:
        return []
    shift = (scenario_index + round_index) % len(names)
    return names[shift:] + names[:shift]


def _measure(scenario: Scenario, name: str, target: Target, args: argparse.Namespace,
             round_index: int) -> dict[str, Any]:
    """One window of ``scenario`` on ``target``; for a sign-in, the argon2id limit measured right before
    it, so that the share compares two rates of the machine in the same state."""
    limit = argon2_limit(args) if name != "node" and scenario.hashes_passwords else None
    row = (run_fixed if scenario.kind == "fixed" else run_sequence)(scenario, target, args)
    if limit is not None:
        row["argon2_limit_per_second"] = round(limit, 1)
    row["round"] = round_index + 1
    return row


def _start(names: list[str], stack: contextlib.ExitStack, work: Path, slapd: Slapd | None,
           args: argparse.Namespace, log: IO[bytes], report: dict[str, Any]) -> dict[str, Target]:
    """Every target started and seeded, and its worker's memory at rest before any scenario; one
    that fails to start is reported and left out."""
    started: dict[str, Target] = {}
    for name in names:
        print(f"{name}: starting", flush=True)
        (work / name).mkdir(exist_ok=True)
        manager = node(work, log) if name == "node" else dangnhap(name, work / name, slapd, args, log)
        try:
            started[name] = stack.enter_context(manager)
        except TARGET_FAILURES as exc:
            print(f"{name}: failed: {exc}", file=sys.stderr)
            report["failures"][name] = str(exc)
    for name, target in started.items():
        report["worker_memory_at_rest"][target.name] = {"before": _memory_at_rest(name, target)}
    return started


def _run_rounds(started: dict[str, Target], scenarios: list[Scenario], args: argparse.Namespace,
                report: dict[str, Any]) -> None:
    """Each scenario's rounds on every target in turn; a target that fails is reported and left out
    of what follows."""
    for index, scenario in enumerate(scenarios):
        for round_index in range(args.rounds):
            names = [name for name in started
                     if name not in report["failures"] and (name != "node" or scenario.node)]
            for name in turns(names, index, round_index):
                try:
                    row = _measure(scenario, name, started[name], args, round_index)
                except TARGET_FAILURES as exc:
                    print(f"{name}: failed: {exc}", file=sys.stderr)
                    report["failures"][name] = str(exc)
                    continue
                report["results"].append(row)
                print(f"  {scenario.name:<28} {name:<10} round {round_index + 1}: {row.get('ops_per_second', 'error')}",
                      flush=True)
    for name, target in started.items():
        if name not in report["failures"]:
            report["worker_memory_at_rest"][target.name]["after"] = _memory_at_rest(name, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per window (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per window (default 1)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="windows per scenario and target, the targets taking turns (default 3)")
    parser.add_argument("--mint-seconds", type=float, default=10.0,
                        help="seconds spent minting codes before the code-exchange scenario (default 10)")
    parser.add_argument("--targets", default="sqlite,postgresql,node",
                        help="comma-separated: sqlite, postgresql, node (default: all three)")
    parser.add_argument("--scenarios", default="", help="only scenarios whose name contains one of these (comma)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (default 8)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes on the server core (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="WSGI threads per worker (default 4)")
    parser.add_argument("--totp-people", type=int, default=600, help="citizens with TOTP (default 600)")
    # An official signs in by a bind, ≈ 100/s: a window takes ≈ 500 of them, and a TOTP code is good once
    # per 30 s and person, within which a target runs the scenario's three rounds.
    parser.add_argument("--officials", type=int, default=2000, help="officials with TOTP in the slapd (default 2000)")
    parser.add_argument("--argon2-memory-kib", type=int, default=config.IDP_ARGON2_MEMORY_KIB,
                        help="argon2id memory of dangnhap's hashes and of the limit (default: config.py's)")
    parser.add_argument("--argon2-time-cost", type=int, default=config.IDP_ARGON2_TIME_COST,
                        help="argon2id passes, likewise")
    parser.add_argument("--deadline", type=int, default=0,
                        help="give up after this many seconds (default: 1200 + 600 per round)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    wanted = [w.strip() for w in args.scenarios.split(",") if w.strip()]
    scenarios = [s for s in SCENARIOS if not wanted or any(w in s.name for w in wanted)]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if "postgresql" in targets and not postgres_available():
        print(f"PostgreSQL not reachable at {POSTGRES_SERVER}: skipped", file=sys.stderr)
        targets.remove("postgresql")
    if "node" in targets and not _node_available():
        print("bench/node/node_modules is missing (make bench installs it): node-oidc-provider skipped",
              file=sys.stderr)
        targets.remove("node")

    deadline = args.deadline or 1200 + 600 * args.rounds
    signal.signal(signal.SIGALRM, _deadline_reached)
    signal.alarm(deadline)
    report: dict[str, Any] = {"benchmark": "protocol", "started_at": datetime.now().astimezone().isoformat(),
                              "machine_before": machine(), "settings": vars(args), "results": [],
                              "worker_memory_at_rest": {}, "failures": {},
                              "argon2": {"memory_kib": args.argon2_memory_kib, "time_cost": args.argon2_time_cost}}
    report["argon2_verifications_per_second"] = argon2_limit(args)
    needs_slapd = any(s.people == "officials_with_totp" for s in scenarios) and args.officials > 0
    with tempfile.TemporaryDirectory(prefix="dangnhap-bench-") as tmp:
        work = Path(tmp)
        log_path = work / "servers.log"
        with open(log_path, "wb") as log, contextlib.ExitStack() as stack:
            slapd = None
            if needs_slapd and any(t in ("sqlite", "postgresql") for t in targets):
                slapd = stack.enter_context(Slapd(
                    work / "slapd", seed=directory_data.seed_entries(
                        directory_data.officials(args.officials, prefix=seed.OFFICIAL_PREFIX)),
                    name="slapd-bench"))
            try:
                _run_rounds(_start(targets, stack, work, slapd, args, log, report), scenarios, args, report)
            except DeadlineReached:
                report["failures"]["deadline"] = f"{deadline} s reached: the run was cut short"
            finally:
                signal.alarm(0)
        if report["failures"]:
            print(log_path.read_text()[-3000:], file=sys.stderr)
    report["machine_after"] = machine()
    report["ratios"] = ratios(report)
    print_report(report)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"protocol-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"\nresults: {path.relative_to(servers.ROOT)}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
