"""The benchmark's rounds: targets taking turns, and the median round and ratio the report gives."""

from __future__ import annotations

from typing import Any

from bench.protocol import turns
from bench.report import median_round, ratios


def test_targets_take_turns_so_that_none_always_comes_last() -> None:
    names = ["sqlite", "postgresql", "node"]
    orders = [turns(names, scenario, round_index) for scenario in range(2) for round_index in range(3)]
    assert orders[:3] == [names, ["postgresql", "node", "sqlite"], ["node", "sqlite", "postgresql"]]
    assert orders[3] == ["postgresql", "node", "sqlite"]  # the next scenario starts one further on
    assert all(sorted(order) == sorted(names) for order in orders)
    assert turns([], 3, 1) == []


def _window(target: str, round_index: int, rate: float | None, scenario: str = "userinfo") -> dict[str, Any]:
    row: dict[str, Any] = {"scenario": scenario, "target": target, "round": round_index}
    if rate is None:
        row.update(errors=1, error_sample="refused")
    else:
        row.update(ops_per_second=rate, p50_ms=rate / 1000)
    return row


def test_the_median_round_is_one_whole_window() -> None:
    windows = [_window("a", 1, 300.0), _window("a", 2, 100.0), _window("a", 3, 200.0)]
    assert median_round(windows) is windows[2]
    assert median_round(windows[:2]) is windows[1]  # the lower middle of an even count
    failed = _window("a", 1, None)
    assert median_round([failed, windows[0]]) is windows[0]
    assert median_round([failed]) is failed


def test_ratios_pair_each_round_with_nodes_own() -> None:
    results = [_window("dangnhap-sqlite", 1, 110.0), _window("node-oidc-provider", 1, 100.0),
               _window("dangnhap-sqlite", 2, 90.0), _window("node-oidc-provider", 2, 50.0),
               _window("dangnhap-sqlite", 3, 100.0), _window("node-oidc-provider", 3, 125.0),
               _window("dangnhap-sqlite", 1, 10.0, "discovery"), _window("node-oidc-provider", 1, None, "discovery"),
               _window("dangnhap-sqlite", 1, 10.0, "citizen sign-in page ×4")]
    assert ratios({"results": results}) == [
        # 1.1, 1.8 and 0.8 round by round: the median of those, not 100 / 100 of the median rates
        {"scenario": "userinfo", "target": "dangnhap-sqlite", "ratio": 1.1, "rounds": [1.1, 1.8, 0.8]}]
