"""The protocol benchmark's report: a table per target, the ratios to node-oidc-provider, the sign-in
share of the argon2id limit, and the machine it ran on."""

from __future__ import annotations

import os
import platform
import statistics
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


def _waited(row: dict[str, Any]) -> str:
    """A TOTP scenario whose people all used their code of the current 30 s step waits for the next:
    its rate is then low for want of people, not of speed."""
    waited = row.get("waited_for_totp_seconds", 0.0)
    return f" WAITED {waited:.1f} s for TOTP steps (too few people)" if waited else ""


def _memory(memory: dict[str, float]) -> str:
    return f"{memory['rss']:.0f} MiB ({memory['anonymous']:.0f} anonymous + {memory['files']:.0f} mapped from files)"


NODE = "node-oidc-provider"


def _rounds(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The windows of each (target, scenario), one per round."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["target"], row["scenario"]), []).append(row)
    return grouped


def median_round(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The window with the median rate (the lower middle one of an even count), whole: its latencies,
    CPU and memory belong together, as medians taken column by column would not. A scenario whose
    every window failed gives its first failure."""
    measured = sorted((w for w in windows if "ops_per_second" in w), key=lambda w: w["ops_per_second"])
    return measured[(len(measured) - 1) // 2] if measured else windows[0]


def ratios(report: dict[str, Any]) -> list[dict[str, Any]]:
    """dangnhap / node-oidc-provider per scenario: each round's windows paired (measured seconds apart,
    the host in the same state), and the median of those rounds' ratios."""
    grouped = _rounds(report["results"])

    def rates(target: str, scenario: str) -> dict[int, float]:
        return {w.get("round", 1): w["ops_per_second"] for w in grouped.get((target, scenario), [])
                if w.get("ops_per_second")}

    found = []
    for target in dict.fromkeys(r["target"] for r in report["results"] if r["target"] != NODE):
        for scenario in SCENARIOS:
            ours, theirs = rates(target, scenario.name), rates(NODE, scenario.name)
            per_round = [ours[k] / theirs[k] for k in sorted(ours.keys() & theirs.keys())]
            if per_round:
                found.append({"scenario": scenario.name, "target": target,
                              "ratio": round(statistics.median(per_round), 2),
                              "rounds": [round(r, 2) for r in per_round]})
    return found


def _ratio_cell(found: dict[str, Any] | None) -> str:
    if found is None:
        return "—"
    if len(found["rounds"]) == 1:
        return f"{found['ratio']:.2f}"
    return f"{found['ratio']:.2f} ({min(found['rounds']):.2f}–{max(found['rounds']):.2f})"


def print_report(report: dict[str, Any]) -> None:
    """The run's tables; ``report["ratios"]`` is ``ratios(report)``, as bench.protocol stores it."""
    rows = report["results"]
    by = {key: median_round(windows) for key, windows in _rounds(rows).items()}
    targets = list(dict.fromkeys(r["target"] for r in rows))
    rounds = report["settings"].get("rounds", 1)
    print(f"\ndangnhap's server ran under Python {report['machine_before']['python']}")
    if rounds > 1:
        print(f"each scenario ran {rounds} rounds, the targets taking turns; each line is its median round")
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
                  f"{'BUSY (other work ' + str(row['other_cpu_percent']) + '% of a core)' if row['busy'] else ''}"
                  f"{_waited(row)}")
    for target, memory in report.get("worker_memory_at_rest", {}).items():
        after = f"{_memory(memory['after'])} after them" if "after" in memory else "not measured after them"
        once = " (once argon2id's thread has given its block back)" if target.startswith("dangnhap") else ""
        print(f"\n{target}: worker RSS at rest{once}: {_memory(memory['before'])} before the scenarios, {after}")
    dangnhaps = [t for t in targets if t.startswith("dangnhap")]
    if NODE in targets and dangnhaps:
        found = {(r["target"], r["scenario"]): r for r in report["ratios"]}
        print("\nratio dangnhap / node-oidc-provider (ops/s; ≥ 1.0 means dangnhap is ahead"
              + ("; the median of the rounds' ratios, their range in brackets)" if rounds > 1 else ")"))
        print(f"  {'scenario':<28} {'node ops/s':>10} " + " ".join(f"{t:>22}" for t in dangnhaps))
        for scenario in SCENARIOS:
            theirs = by.get((NODE, scenario.name))
            if theirs is None and not any((t, scenario.name) in by for t in dangnhaps):
                continue  # not run this time (--scenarios)
            print(f"  {scenario.name:<28} {_cell(theirs, 'ops_per_second', '>10.0f'):>10} "
                  + " ".join(f"{_ratio_cell(found.get((t, scenario.name))):>22}" for t in dangnhaps))
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
