"""Benchmark (not a test): the directory sync of 50,000 officials from a private slapd.

    make bench-ldap                      # or: .venv/bin/python -m bench.ldap_sync [--officials N] [--repeat R]

A throwaway slapd (tests/helpers/slapd.py) is seeded offline with N generated officials
(``directory_data.officials``) plus the seed's nine, each generated one a member of its unit's group
and one in fifty a unit administrator, so memberships → roles are synced at scale. For each database
(SQLite always, PostgreSQL when the server at IDP_TEST_POSTGRES_URL answers) and each repetition, a
fresh database is migrated and three passes are timed:

- ``full``:        the first full sync, creating every official;
- ``full again``:  a second full sync, which must change nothing (idempotence);
- ``incremental``: ``--changed-since`` the start of the second pass: nothing changed, nothing to read.

The table gives entries, seconds and entries/s per pass (medians over the repetitions); a JSON file with
every run and the machine's load goes to bench/results/ (git-ignored). The goal: the first full sync of
50,000 officials under 60 s on a 2-core machine. Everything is bounded by ``--deadline``; slapd is stopped
by its pid and the databases are dropped, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import platform
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask_migrate import upgrade

from idp import create_app
from idp.identity import sync
from idp.storage import db, utcnow
from tests.helpers import directory_data as data
from tests.helpers.databases import POSTGRES_SERVER, postgres_available, throwaway_postgres
from tests.helpers.directory_settings import directory_settings
from tests.helpers.slapd import Slapd

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GOAL_SECONDS = 60.0
PASSES = ("full", "full again", "incremental")
_UNIT_GROUPS = {"SNV": "can-bo-snv", "STC": "can-bo-stc", "XA-DONGTIEN": "can-bo-xa-dongtien"}


class DeadlineExceeded(Exception):
    pass


def _on_alarm(_signum: int, _frame: object) -> None:
    raise DeadlineExceeded


def generated_officials(n: int) -> Iterator[data.Official]:
    """``n`` officials, each in their unit's group (where the seed has one), one in fifty a unit admin."""
    for i, official in enumerate(data.officials(n, prefix="bench")):
        groups = tuple(g for g in (_UNIT_GROUPS.get(official.unit), "quan-tri-don-vi" if i % 50 == 0 else None) if g)
        yield dataclasses.replace(official, groups=groups)


# --- databases -------------------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database(kind: str, directory: Path) -> Iterator[str]:
    """A new, empty database URL, dropped (or deleted) afterwards."""
    if kind == "sqlite":
        path = directory / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            path.unlink(missing_ok=True)
        return
    with throwaway_postgres("dangnhap_bench") as url:
        yield url


# --- one run: three passes on a fresh database --------------------------------------------------------


def _pass(name: str, changed_since: datetime | None) -> dict[str, Any]:
    started = time.perf_counter()
    summary = sync.sync(changed_since)
    seconds = time.perf_counter() - started
    return {"pass": name, "entries": summary.seen, "seconds": seconds,
            "entries_per_second": summary.seen / seconds if seconds else 0.0,
            "summary": dataclasses.asdict(summary)}


def _check(run: list[dict[str, Any]], expected: int) -> list[str]:
    """What went wrong with a run's outcome (empty when the sync did what it should)."""
    first, again, incremental = (r["summary"] for r in run)
    problems = []
    if (first["seen"], first["created"]) != (expected, expected):
        problems.append(f"full: saw {first['seen']}, created {first['created']}, expected {expected}")
    if (again["seen"], again["unchanged"], again["created"], again["updated"]) != (expected, expected, 0, 0):
        problems.append(f"full again is not idempotent: {again}")
    if incremental["seen"] != 0:
        problems.append(f"incremental saw {incremental['seen']} entries, expected none")
    if any(r["disabled"] for r in (first, again, incremental)):
        problems.append("some officials were disabled")
    return problems


def run_once(kind: str, server: Slapd, work: Path, expected: int) -> list[dict[str, Any]]:
    with throwaway_database(kind, work) as url:
        config = {"IDP_DATABASE_URL": url, "IDP_INSTANCE_PATH": str(work / "instance"),
                  "IDP_SECRET_KEY": secrets.token_urlsafe(32), "IDP_DATA_KEY": secrets.token_urlsafe(32),
                  **directory_settings(server, tls="starttls", IDP_LDAP_TIMEOUT=30.0)}
        app = create_app(config)
        try:
            with app.app_context():
                with contextlib.redirect_stderr(io.StringIO()):  # Alembic's INFO lines
                    upgrade()
                first = _pass("full", None)
                # Entries are stamped to the second: start the incremental window a second later.
                since = utcnow() + timedelta(seconds=1)
                time.sleep(1.1)
                again = _pass("full again", None)
                incremental = _pass("incremental", since)
                db.session.remove()
        finally:
            with app.app_context():
                db.engine.dispose()
    run = [first, again, incremental]
    for problem in _check(run, expected):
        print(f"  !! {kind}: {problem}", file=sys.stderr)
    return run


# --- report ----------------------------------------------------------------------------------------


def medians(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for index, name in enumerate(PASSES):
        seconds = statistics.median(run[index]["seconds"] for run in runs)
        entries = runs[0][index]["entries"]
        rows.append({"pass": name, "entries": entries, "seconds": seconds,
                     "entries_per_second": entries / seconds if seconds else 0.0, "runs": len(runs)})
    return rows


def print_table(kind: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{kind} (median of {rows[0]['runs']})")
    print(f"  {'pass':<12} {'entries':>8} {'seconds':>8} {'entries/s':>10}")
    for row in rows:
        print(f"  {row['pass']:<12} {row['entries']:>8} {row['seconds']:>8.2f} {row['entries_per_second']:>10.0f}")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version(),
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--officials", type=int, default=50_000, help="generated officials (default 50000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per database; medians are reported")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql (skipped when unreachable)")
    parser.add_argument("--deadline", type=int, default=1800, help="give up after this many seconds")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if "postgresql" in kinds and not postgres_available():
        print(f"PostgreSQL not reachable at {POSTGRES_SERVER}: skipped", file=sys.stderr)
        kinds.remove("postgresql")

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.deadline)
    started_at = datetime.now().astimezone()
    report: dict[str, Any] = {"benchmark": "ldap_sync", "started_at": started_at.isoformat(),
                              "officials": args.officials, "machine_before": machine(), "databases": {}}
    expected = args.officials + len(data.OFFICIALS)
    try:
        with tempfile.TemporaryDirectory(prefix="dangnhap-bench-") as tmp:
            work = Path(tmp)
            prepared = time.perf_counter()
            server = Slapd(work / "slapd", seed=data.seed_entries(generated_officials(args.officials)),
                           name="slapd-bench")
            try:
                server.start()
                report["slapd_prepare_seconds"] = time.perf_counter() - prepared
                print(f"slapd with {expected} officials ready in {report['slapd_prepare_seconds']:.1f} s "
                      f"(pid {server.pid}); load average {os.getloadavg()[0]:.2f}")
                for kind in kinds:
                    runs = [run_once(kind, server, work, expected) for _ in range(args.repeat)]
                    rows = medians(runs)
                    report["databases"][kind] = {"median": rows, "runs": runs}
                    print_table(kind, rows)
            finally:
                server.cleanup()  # SIGTERM to its pid, then its directory removed
    except DeadlineExceeded:
        print(f"deadline of {args.deadline} s exceeded: stopped", file=sys.stderr)
        report["deadline_exceeded"] = True
    finally:
        signal.alarm(0)
    report["machine_after"] = machine()
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"ldap-sync-{started_at:%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}; results: {out.relative_to(Path.cwd())}")
    slow = [kind for kind, result in report["databases"].items() if result["median"][0]["seconds"] > GOAL_SECONDS]
    if slow:
        print(f"goal missed (first full sync over {GOAL_SECONDS:.0f} s): {', '.join(slow)}", file=sys.stderr)
    return 1 if report.get("deadline_exceeded") else 0


if __name__ == "__main__":
    sys.exit(main())
