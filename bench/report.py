"""The protocol benchmark's report: a table per target, the ratios to node-oidc-provider, the sign-in
share of the argon2id limit, and the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from .scenarios import SCENARIOS
from .servers import LOAD_CPU, pinned

BUSY_CORES = 0.2  # other work above this share of a core during a measurement marks it busy


def _cell(row: dict[str, Any] | None, key: str, fmt: str) -> str:
    if row is None:
        return "—"
    if "ops_per_second" not in row:
        return "error"
    return format(row[key], fmt)


def _per_op(row: dict[str, Any]) -> str:
    """The server's and the database's CPU per operation: what an operation costs where the rate
    says less (a flow waiting on slapd or on the load generator, a core not saturated)."""
    cost = row.get("cpu_ms_per_op")
    return "—" if cost is None else f"{cost:.3f}"


def _memory(memory: dict[str, float]) -> str:
    return f"{memory['rss']:.0f} MiB ({memory['anonymous']:.0f} anonymous + {memory['files']:.0f} mapped from files)"


def print_report(report: dict[str, Any]) -> None:
    rows = report["results"]
    by = {(r["target"], r["scenario"]): r for r in rows}
    targets = list(dict.fromkeys(r["target"] for r in rows))
    print(f"\ndangnhap's server ran under Python {report['machine_before']['python']}")
    for target in targets:
        print(f"\n{target}")
        print(f"  {'scenario':<28} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'srv CPU%':>8} {'db CPU%':>8} "
              f"{'CPU ms/op':>9} {'load CPU%':>9} {'RSS MiB':>8} {'anon MiB':>8} {'errors':>6}  busy")
        for scenario in SCENARIOS:
            row = by.get((target, scenario.name))
            if row is None:
                continue
            if "ops_per_second" not in row:
                print(f"  {scenario.name:<28} error: {row['error_sample'][:80]}")
                continue
            print(f"  {scenario.name:<28} {row['ops_per_second']:>8.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
                  f"{row['server_cpu_percent']:>8.0f} {row['database_cpu_percent']:>8.0f} "
                  f"{_per_op(row):>9} {row['load_cpu_percent']:>9.0f} {row['worker_rss_mib']:>8.0f} "
                  f"{row['worker_anonymous_mib']:>8.0f} "
                  f"{row['errors']:>6}  "
                  f"{'BUSY (other work ' + str(row['other_cpu_percent']) + '% of a core)' if row['busy'] else ''}")
    for target, memory in report.get("worker_memory_at_rest", {}).items():
        print(f"\n{target}: worker RSS at rest {_memory(memory['before'])} before the scenarios, "
              f"{_memory(memory['after'])} after them"
              + (" (once argon2id's thread has given its block back)" if target.startswith("dangnhap") else ""))
    dangnhaps = [t for t in targets if t.startswith("dangnhap")]
    if "node-oidc-provider" in targets and dangnhaps:
        print("\nratio dangnhap / node-oidc-provider (ops/s; ≥ 1.0 means dangnhap is ahead)")
        print(f"  {'scenario':<28} {'node ops/s':>10} " + " ".join(f"{t:>22}" for t in dangnhaps))
        for scenario in SCENARIOS:
            ours = [by.get((t, scenario.name)) for t in dangnhaps]
            theirs = by.get(("node-oidc-provider", scenario.name))
            if theirs is None and not any(ours):
                continue  # not run this time (--scenarios)
            ratios = []
            for row in ours:
                if row and theirs and row.get("ops_per_second") and theirs.get("ops_per_second"):
                    ratios.append(f"{row['ops_per_second'] / theirs['ops_per_second']:>22.2f}")
                else:
                    ratios.append(f"{'—':>22}")
            print(f"  {scenario.name:<28} {_cell(theirs, 'ops_per_second', '>10.0f'):>10} " + " ".join(ratios))
        print("  node-oidc-provider keeps everything in memory (its adapter persists nothing) and its sign-in "
              "checks a fixed password without hashing; dangnhap commits every grant, token and session to its "
              "database and verifies argon2id hashes (bench/node/README.md).")
    limit = report["argon2_verifications_per_second"]
    print(f"\nargon2id limit on one core: {limit:.0f} verifications/s at the start "
          f"({report['argon2']['memory_kib']} KiB, t={report['argon2']['time_cost']}, p=1); each sign-in "
          "scenario against the limit measured just before it, and the argon2id thread's share of the "
          "server's CPU in the same window (the same share measured without a second window):")
    for target in dangnhaps:
        for scenario in SCENARIOS:
            row = by.get((target, scenario.name))
            ceiling = row.get("argon2_limit_per_second") if row else None
            if row and row.get("ops_per_second") and ceiling:
                hashing = row.get("busiest_thread_cpu_share")
                print(f"  {target}: {scenario.name:<28} {row['ops_per_second']:>5.0f}/s of {ceiling:.0f}/s "
                      f"= {100 * row['ops_per_second'] / ceiling:.0f}%"
                      + (f"; hashing {100 * hashing:.0f}% of the server's CPU" if hashing else ""))
    busy = [r for r in rows if r.get("busy")]
    if busy:
        print(f"\n{len(busy)} measurement(s) ran while other work used more than {BUSY_CORES:.0%} of a core: "
              "their figures are low; run again when the machine is quiet.")


def interpreter() -> str:
    """This process's Python, which bench.servers also starts the server with: its version and the
    file behind the venv's link, since two builds of one version differ in speed."""
    return f"{platform.python_version()} ({os.path.realpath(sys.executable)})"


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": interpreter(),
            "platform": platform.platform(), "taskset": pinned(["x"], LOAD_CPU) != ["x"]}
