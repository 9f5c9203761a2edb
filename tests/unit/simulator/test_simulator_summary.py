"""summarize on a hand-made table, nearest-rank percentiles on exact decimals, Wilson intervals."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from simulator.config import StudyConfig
from simulator.results import METRICS, SERIES, MetricKind, study_metrics
from simulator.store import PathRecord, ResultStore
from simulator.summary import (
    ALL_FIELDS,
    SUMMARY_FIELDS,
    Z95,
    nearest_rank,
    resolution_notes,
    resolvable,
    summarize,
    summary_table,
    wilson_interval,
    write_summary,
)

CONFIG = StudyConfig.from_dict({"run": {"name": "summary-test", "paths": 5, "steps": 2}})


def usd(text: str) -> int:
    """WAD of a USD amount written exactly."""
    return int(Decimal(text) * WAD)


#: Five paths, chosen by hand (USD amounts, counts, seconds, flags).
TABLE: dict[str, list[int]] = {
    "bad_debt_wad": [0, 0, usd("10.5"), usd("100.25"), usd("3")],
    "insurance_fund_depleted": [0, 0, 0, 1, 0],
    "insurance_fund_drawdown_wad": [usd("1"), usd("2"), usd("3"), usd("4"), usd("5.5")],
    "socialized_loss_wad": [0, 0, 0, usd("7.25"), usd("0.75")],
    "uncovered_loss_wad": [0, 0, 0, usd("0.5"), 0],
    "liquidated_notional_wad": [usd("100"), usd("200"), usd("300"), usd("400"), usd("1000")],
    "liquidations": [1, 2, 3, 4, 5],
    "accounts_liquidated": [0, 1, 1, 2, 6],
    "reduce_only_s": [0, 60, 120, 0, 3600],
}


def hand_made(tmp_path: Path) -> pd.DataFrame:
    store = ResultStore(tmp_path, CONFIG)
    records = []
    for i in range(5):
        seed = CONFIG.path_seed(i)
        metrics = {name: TABLE[name][i] if name in TABLE else 0 for name in study_metrics(CONFIG.book_params())}
        series = {name: np.zeros(3) for name in SERIES}
        records.append(PathRecord(i, int(seed.entropy), tuple(seed.spawn_key), metrics, series))
    store.write(records)
    return store.read_metrics()


def test_summary_of_a_hand_made_table(tmp_path: Path) -> None:
    s = summarize(hand_made(tmp_path))
    assert set(s) == ALL_FIELDS
    assert s["n_paths"] == 5
    assert isinstance(s["n_paths"], int)
    # bad debt sorted: 0, 0, 3, 10.5, 100.25 -> ranks ceil(q * 5): p50 -> 3rd, p95 and p99 -> 5th
    assert s["bad_debt_mean_usd"] == 22.75  # 113.75 / 5
    assert s["bad_debt_p50_usd"] == 3.0
    assert s["bad_debt_p95_usd"] == 100.25
    assert s["bad_debt_p99_usd"] == 100.25
    assert s["bad_debt_max_usd"] == 100.25
    assert s["p_bad_debt"] == 0.6
    assert s["p_fund_depleted"] == 0.2
    assert s["fund_drawdown_mean_usd"] == 3.1  # 15.5 / 5, the float nearest 3.1
    assert s["fund_drawdown_p95_usd"] == 5.5
    assert s["p_socialized_loss"] == 0.4
    assert s["socialized_loss_mean_usd"] == 1.6  # 8 / 5
    assert s["socialized_loss_given_mean_usd"] == 4.0  # (7.25 + 0.75) / 2
    assert s["socialized_loss_given_p95_usd"] == 7.25  # rank ceil(0.95 * 2) = 2
    assert s["p_uncovered_loss"] == 0.2
    assert s["liquidated_notional_mean_usd"] == 400.0
    assert s["liquidated_notional_p95_usd"] == 1000.0
    assert s["liquidations_mean"] == 3.0
    assert s["accounts_liquidated_mean"] == 2.0
    assert s["reduce_only_mean_s"] == 756.0
    # every probability carries its standard error and Wilson interval
    for name, k in (("p_bad_debt", 3), ("p_fund_depleted", 1), ("p_socialized_loss", 2), ("p_uncovered_loss", 1)):
        p = k / 5
        assert s[f"{name}_se"] == math.sqrt(p * (1 - p) / 5)
        assert (s[f"{name}_ci_low"], s[f"{name}_ci_high"]) == wilson_interval(k, 5)
        assert s[f"{name}_ci_low"] < p < s[f"{name}_ci_high"]


def test_percentiles_are_exact_path_outcomes() -> None:
    values = [Decimal(f"{10**19 + i}.000000000000000001") for i in range(100)]  # 38 significant digits
    values.reverse()
    assert nearest_rank(values, Fraction(95, 100)) == values[100 - 95]  # the 95th smallest
    assert nearest_rank(values, Fraction(0)) == min(values)
    assert nearest_rank(values, Fraction(1)) == max(values)
    assert nearest_rank(values, Fraction(1, 100)) == min(values)
    assert nearest_rank(values, Fraction(101, 10000)) == sorted(values)[1]  # rank ceil(1.01) = 2
    with pytest.raises(InvalidParameter, match="at least one value"):
        nearest_rank([], Fraction(1, 2))


def test_wilson_interval_known_values() -> None:
    # 0 of 10: [0, z^2 / (n + z^2)]
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(Z95**2 / (10 + Z95**2), rel=1e-12)
    assert high == pytest.approx(0.2775328, abs=1e-7)
    # 50 of 100 -> [0.4038315, 0.5961685] (textbook); 1 of 1000 worked by hand: centre 0.00290955,
    # half-width 1.952460 * sqrt(9.99e-7 + 9.60366e-7) = 0.00273300
    assert wilson_interval(50, 100) == pytest.approx((0.4038315, 0.5961685), abs=1e-7)
    assert wilson_interval(1, 1000) == pytest.approx((0.0001765, 0.0056426), abs=1e-7)
    assert wilson_interval(10, 10) == (pytest.approx(1 - high, rel=1e-12), 1.0)
    # symmetric: low(k) = 1 - high(n - k)
    assert wilson_interval(3, 17)[0] == pytest.approx(1 - wilson_interval(14, 17)[1], rel=1e-12)
    for bad in ((-1, 10), (11, 10), (0, 0), (1.0, 10)):
        with pytest.raises(InvalidParameter):
            wilson_interval(*bad)  # type: ignore[arg-type]


def test_undefined_statistics_are_nan_and_null_in_the_file(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, CONFIG)
    records = []
    for i in range(3):  # three of five paths, no socialized loss
        seed = CONFIG.path_seed(i)
        metrics = dict.fromkeys(study_metrics(CONFIG.book_params()), 0)
        records.append(PathRecord(i, int(seed.entropy), tuple(seed.spawn_key), metrics, None))
    store.write(records)
    s = write_summary(tmp_path)
    assert math.isnan(s["socialized_loss_given_mean_usd"])
    assert math.isnan(s["socialized_loss_given_p95_usd"])
    assert s["p_socialized_loss"] == 0.0
    assert s["p_socialized_loss_ci_low"] == 0.0
    assert s["p_socialized_loss_ci_high"] == pytest.approx(Z95**2 / (3 + Z95**2), rel=1e-12)
    payload = json.loads((tmp_path / "summary.json").read_text())
    assert payload["summary"]["socialized_loss_given_mean_usd"] is None
    assert payload["summary"]["n_paths"] == 3
    assert payload["complete"] is False
    assert payload["fingerprint"] == CONFIG.fingerprint()
    assert "nearest rank" in payload["percentiles"]


def test_summary_table_renders_every_field(tmp_path: Path) -> None:
    s = summarize(hand_made(tmp_path))
    console = Console(record=True, width=160)
    console.print(summary_table(s))
    text = console.export_text()
    assert "insolvent-debt value-at-risk" in text
    assert "liquidations-at-risk" in text
    assert "$100.25" in text
    assert "40 %" in text  # p_socialized_loss
    low, high = wilson_interval(2, 5)
    assert f"[{low * 100:.3g} %, {high * 100:.3g} %]" in text
    assert len([line for line in text.splitlines() if "│" in line]) >= len(SUMMARY_FIELDS)


def test_bad_tables(tmp_path: Path) -> None:
    df = hand_made(tmp_path)
    with pytest.raises(InvalidParameter, match="no paths to summarize"):
        summarize(df.iloc[0:0])
    with pytest.raises(InvalidParameter, match=r"lacks columns \['bad_debt_wad'\]"):
        summarize(df.drop(columns=["bad_debt_wad"]))
    floats = df.copy()
    floats["bad_debt_wad"] = floats["bad_debt_usd"]
    with pytest.raises(InvalidParameter, match="bad_debt_wad must hold exact USD decimals"):
        summarize(floats)
    flags = df.copy()
    flags["insurance_fund_depleted"] = [0, 2, 0, 0, 0]
    with pytest.raises(InvalidParameter, match="insurance_fund_depleted must hold 0/1 flags"):
        summarize(flags)
    with pytest.raises(InvalidParameter, match="metrics DataFrame"):
        summarize({"n": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="summary_table needs"):
        summary_table({})
    assert all(kind is not MetricKind.WAD or name in df.columns for name, (kind, _) in METRICS.items())


def test_tail_metrics_and_their_bounds_on_100_paths(tmp_path: Path) -> None:
    """Bad debt 1..100 USD on paths 0..99, drawdown equal to it, a 1,000 USD fund."""
    config = StudyConfig.from_dict({"run": {"name": "tail-test", "paths": 100, "steps": 2}})
    store = ResultStore(tmp_path, config)
    records = []
    for i in range(100):
        seed = config.path_seed(i)
        metrics = dict.fromkeys(study_metrics(config.book_params()), 0)
        metrics |= {
            "bad_debt_wad": usd(str(i + 1)),
            "insurance_fund_drawdown_wad": usd(str(i + 1)),
            "insurance_fund_start_wad": usd("1000"),
        }
        records.append(PathRecord(i, int(seed.entropy), tuple(seed.spawn_key), metrics, None))
    store.write(records)
    s = summarize(store.read_metrics())
    assert s["bad_debt_p95_usd"] == 95.0
    assert s["bad_debt_p95_usd_upper"] == 99.0  # the 99th smallest (see test_order_statistic_bounds)
    assert s["bad_debt_p95_usd_ci_low"] == 90.0  # two-sided 95 %: 97.5 % on each side, ranks (90, 100)
    assert s["bad_debt_p95_usd_ci_high"] == 100.0
    assert s["bad_debt_p99_usd"] == 99.0
    assert math.isinf(s["bad_debt_p99_usd_upper"])  # 100 paths cannot bound the 99th percentile
    assert s["bad_debt_es975_usd"] == 99.2  # (100 + 99 + 0.5 * 98) / 2.5
    assert s["bad_debt_es99_usd"] == 100.0
    assert s["fund_drawdown_es975_usd"] == 99.2
    assert s["fund_drawdown_p99_share"] == 0.099  # 99 / 1,000
    assert s["fund_coverage_p99"] == 1000 / 99
    assert s["fund_coverage_p99_ci_high"] == 1000 / s["bad_debt_p99_usd_ci_low"]
    assert s["bad_debt_mean_usd"] == 50.5
    assert s["bad_debt_mean_usd_ci_low"] < 50.5 < s["bad_debt_mean_usd_upper"] < s["bad_debt_mean_usd_ci_high"]
    assert s["p_bad_debt"] == 1.0
    assert s["p_bad_debt_upper"] == 1.0
    notes = resolution_notes(s)
    assert (
        "`bad_debt_p99_usd`: with 100 paths the 99th percentile is a path outcome, and has no 95% upper bound "
        "before 299 paths" in notes
    )
    assert not any("bad_debt_p95_usd" in n for n in notes)
    assert any("`socialized_loss_mean_usd`" in n and "zero on every path" in n for n in notes)
    # a stricter level widens the bounds
    strict = summarize(store.read_metrics(), 0.99)
    assert strict["confidence"] == 0.99
    assert strict["bad_debt_p95_usd_upper"] == 100.0  # P(B(100, 0.95) <= 99) = 1 - 0.95 ** 100 = 0.994 >= 0.99


def test_resolvable_known_answers() -> None:
    # the 95th percentile's two-sided 95 % interval is finite from 72 paths (1 - 0.95**72 >= 0.975)
    assert resolvable({"n_paths": 72, "confidence": 0.95, "bad_debt_p95_usd": 1.0}, "bad_debt_p95_usd") == (True, "")
    assert resolvable({"n_paths": 71, "confidence": 0.95, "bad_debt_p95_usd": 1.0}, "bad_debt_p95_usd") == (
        False,
        "needs 72 paths for its interval",
    )
    mean = {"n_paths": 20, "confidence": 0.95, "bad_debt_mean_usd": 1.0}
    assert resolvable(mean | {"bad_debt_mean_usd_ci_low": 0.8, "bad_debt_mean_usd_ci_high": 1.2}, "bad_debt_mean_usd")[
        0
    ]
    wide = mean | {"bad_debt_mean_usd_ci_low": 0.7, "bad_debt_mean_usd_ci_high": 1.3}
    assert resolvable(wide, "bad_debt_mean_usd") == (False, "interval wider than the value")
    few = mean | {"n_paths": 19, "bad_debt_mean_usd_ci_low": 1.0, "bad_debt_mean_usd_ci_high": 1.0}
    assert resolvable(few, "bad_debt_mean_usd") == (False, "a bootstrap needs 20 paths")
    # an expected shortfall 99 % of 100 paths averages one path; of 101, two
    es = {
        "confidence": 0.95,
        "bad_debt_es99_usd": 1.0,
        "bad_debt_es99_usd_ci_low": 0.9,
        "bad_debt_es99_usd_ci_high": 1.1,
    }
    assert resolvable(es | {"n_paths": 100}, "bad_debt_es99_usd") == (False, "its tail is one path")
    assert resolvable(es | {"n_paths": 101}, "bad_debt_es99_usd") == (True, "")
    never = {"n_paths": 100, "confidence": 0.95, "p_bad_debt": 0.0, "p_bad_debt_ci_low": 0.0}
    never |= {"p_bad_debt_ci_high": 0.037, "p_bad_debt_upper": 0.0295}
    assert resolvable(never, "p_bad_debt") == (False, "no path showed it; upper bound 2.95 %")
