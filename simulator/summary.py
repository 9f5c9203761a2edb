"""Aggregate a study's per-path metrics: the numbers a protocol designer asks for, with how sure they are.

:func:`summarize` turns the table of :meth:`ResultStore.read_metrics` (one row per path) into
one flat mapping. Conventions:

* ``*_usd`` are USD, ``*_s`` seconds, ``p_*`` probabilities in [0, 1], ``*_mean`` plain means,
  ``*_share`` fractions of the insurance fund, ``fund_coverage_p99`` a ratio.
* Percentiles use the **nearest-rank** definition: the ``q`` percentile of ``n`` outcomes is the
  ``ceil(q * n)``-th smallest (the smallest outcome when that is 0), so every percentile is an
  actual path's outcome. Money percentiles, means and expected shortfalls are computed on the
  exact decimals and converted to float once, at the end. ``bad_debt_p95_usd`` is the
  insolvent-debt **value-at-risk** (95 %), ``liquidated_notional_p95_usd`` the
  **liquidations-at-risk** (95 %), ``*_es975_usd`` / ``*_es99_usd`` the **expected shortfall**
  (mean of the worst 2.5 % / 1 % of paths, :func:`~simulator.uncertainty.expected_shortfall`).
* **Every statistic carries its uncertainty** at the summary's ``confidence`` (95 % unless
  stated; :mod:`simulator.uncertainty` says how each is computed):

  - ``x_ci_low`` / ``x_ci_high``: a two-sided interval — Wilson score for a probability,
    order statistics for a percentile, a seeded percentile bootstrap for a mean or an expected
    shortfall;
  - ``x_upper``: a one-sided upper bound, the value a decision must hold at — Clopper-Pearson for
    a probability, an order statistic for a percentile (``inf`` while the path count cannot bound
    it), the bootstrap for a mean or an expected shortfall;
  - probabilities also keep their standard error ``p_x_se = sqrt(p (1 - p) / n)``.

  :func:`resolution_notes` lists the percentiles that are just the worst path and the bounds the
  path count cannot resolve, with the number of paths each needs.
* A statistic of an empty set (the size of a socialized loss when none happened) is NaN;
  ``summary.json`` writes NaN and infinite values as ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from protocol.errors import InvalidParameter
from simulator.results import BAD_DEBT_CAUSES, METRICS, MetricKind
from simulator.store import ResultStore, write_json_atomic
from simulator.uncertainty import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    DEFAULT_CONFIDENCE,
    bootstrap_interval,
    check_confidence,
    expected_shortfall,
    is_worst_path,
    paths_for_quantile,
    proportion_interval,
    proportion_upper,
    quantile_bounds,
)

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "ALL_FIELDS",
    "CONVERGENCE_METRICS",
    "ES_FIELDS",
    "HEADLINE_METRICS",
    "INTERVAL_FIELDS",
    "INTERVAL_METHOD",
    "PERCENTILE_FIELDS",
    "PERCENTILE_METHOD",
    "PROBABILITY_FIELDS",
    "SUMMARY_FIELDS",
    "Z95",
    "checkpoints",
    "convergence",
    "headline_rows",
    "jsonable",
    "nearest_rank",
    "resolution_notes",
    "resolvable",
    "summarize",
    "summary_headers",
    "summary_rows",
    "summary_table",
    "upper_bound",
    "wilson_interval",
    "write_summary",
]

#: The standard normal 97.5 % quantile: two-sided 95 % intervals.
Z95 = 1.959963984540054
#: How percentiles are defined (recorded in summary.json).
PERCENTILE_METHOD = "nearest rank: the ceil(q*n)-th smallest path outcome (numpy method 'inverted_cdf')"
#: How the intervals are computed (recorded in summary.json).
INTERVAL_METHOD = (
    "probabilities: Wilson score interval, upper bound one-sided Clopper-Pearson; percentiles: distribution-free "
    "order-statistic bounds; means and expected shortfalls: percentile bootstrap "
    f"({BOOTSTRAP_RESAMPLES} resamples, numpy SeedSequence({BOOTSTRAP_SEED})); scipy.stats throughout"
)

_P50, _P95, _P99 = Fraction(1, 2), Fraction(95, 100), Fraction(99, 100)
_ES975, _ES99 = Fraction(975, 1000), Fraction(99, 100)

#: Every headline field of :func:`summarize`, in table order, with its meaning.
SUMMARY_FIELDS: dict[str, str] = {
    "n_paths": "paths summarized",
    "bad_debt_mean_usd": "bad debt per path, mean (USD)",
    "bad_debt_p50_usd": "bad debt, median (USD)",
    "bad_debt_p95_usd": "bad debt, 95th percentile: insolvent-debt value-at-risk (USD)",
    "bad_debt_p99_usd": "bad debt, 99th percentile (USD)",
    "bad_debt_es975_usd": "bad debt, expected shortfall 97.5 % (USD)",
    "bad_debt_es99_usd": "bad debt, expected shortfall 99 % (USD)",
    "bad_debt_max_usd": "bad debt, worst path (USD)",
    "bad_debt_collateral_share": "bad debt attributed to the fall of collateral prices, share",
    "bad_debt_gap_share": "bad debt attributed to the price gap (already bankrupt when first flagged), share",
    "bad_debt_latency_share": "bad debt attributed to keeper latency, share",
    "bad_debt_block_cap_share": "bad debt attributed to the block's liquidation cap, share",
    "bad_debt_gas_share": "bad debt attributed to the block's gas budget, share",
    "bad_debt_untrusted_share": "bad debt attributed to untrusted prices (oracle outage, reduce-only), share",
    "bad_debt_other_share": "bad debt attributed to the keeper's margin or deleveraging, share",
    "p_bad_debt": "P(bad debt > 0)",
    "p_fund_depleted": "P(insurance fund depleted)",
    "fund_start_usd": "insurance fund at the start (USD)",
    "fund_drawdown_mean_usd": "insurance-fund drawdown, mean (USD)",
    "fund_drawdown_p95_usd": "insurance-fund drawdown, 95th percentile (USD)",
    "fund_drawdown_p99_usd": "insurance-fund drawdown, 99th percentile (USD)",
    "fund_drawdown_es975_usd": "insurance-fund drawdown, expected shortfall 97.5 % (USD)",
    "fund_drawdown_es99_usd": "insurance-fund drawdown, expected shortfall 99 % (USD)",
    "fund_drawdown_p99_share": "insurance-fund drawdown as a share of the starting fund, 99th percentile",
    "fund_coverage_p99": "fund coverage ratio: starting fund / 99th-percentile bad debt",
    "p_socialized_loss": "P(socialized loss > 0): socialized-loss frequency",
    "socialized_loss_mean_usd": "socialized loss per path, mean over all paths (USD)",
    "socialized_loss_es975_usd": "socialized loss, expected shortfall 97.5 % (USD)",
    "socialized_loss_es99_usd": "socialized loss, expected shortfall 99 % (USD)",
    "socialized_loss_given_mean_usd": "socialized loss when one happened, mean (USD)",
    "socialized_loss_given_p95_usd": "socialized loss when one happened, 95th percentile (USD)",
    "p_uncovered_loss": "P(uncovered loss > 0): bad debt nobody could absorb",
    "liquidated_notional_mean_usd": "liquidated notional per path, mean (USD)",
    "liquidated_notional_p95_usd": "liquidated notional, 95th percentile: liquidations-at-risk (USD)",
    "liquidations_mean": "liquidation transactions per path, mean",
    "collateral_liquidations_mean": "collateral purchases per path, mean",
    "deleveragings_mean": "auto-deleveragings per path, mean",
    "accounts_liquidated_mean": "accounts liquidated per path, mean",
    "deferred_liquidations_mean": "keeper actions deferred to a later block (summed over blocks), mean",
    "deferred_gas_mean": "keeper actions deferred by the block's gas budget, mean",
    "deferred_block_cap_mean": "keeper actions deferred by the block's liquidation cap, mean",
    "deferred_untrusted_mean": "keeper actions deferred by an untrusted price (oracle outage), mean",
    "deferred_keeper_mean": "keeper actions deferred by the keeper's own margin, mean",
    "deferred_counterparty_mean": "deleveragings deferred for want of a counterparty, mean",
    "keeper_waits_mean": "account-blocks waiting for a keeper to land (latency), mean",
    "liquidations_block_peak_mean": "most liquidations in one block, mean over paths",
    "backlog_peak_mean": "largest backlog (flagged, not yet served accounts), mean over paths",
    "backlog_clear_mean_s": "longest time to clear the backlog, mean over paths (s)",
    "liquidation_impact_max_bps_mean": "largest price impact of liquidation sales (bps), mean over paths",
    "keeper_rewards_mean_usd": "keeper revenue (penalty shares) per path, mean (USD)",
    "keeper_gas_mean": "gas the keepers and the collateral liquidator spent per path, mean",
    "keeper_revenue_per_mgas_usd": "keeper revenue per million gas spent (USD)",
    "keeper_gas_cost_mean_usd": "keepers' gas cost per path at the study's gas price, mean (USD)",
    "keeper_profit_mean_usd": "keeper revenue minus gas cost per path, mean (USD)",
    "keeper_revenue_to_gas_cost": "keeper revenue / gas cost over all paths (above 1: keeping pays)",
    "oracle_rejections_mean": "price readings rejected by the oracle guards per path, mean",
    "reduce_only_mean_s": "time some market was reduce-only (price not trusted) per path, mean (s)",
}

#: The probability fields; each has ``_se``, ``_ci_low``, ``_ci_high`` and ``_upper`` companions.
PROBABILITY_FIELDS = ("p_bad_debt", "p_fund_depleted", "p_socialized_loss", "p_uncovered_loss")
#: Percentile fields and their levels (order-statistic bounds).
PERCENTILE_FIELDS: dict[str, Fraction] = {
    "bad_debt_p50_usd": _P50,
    "bad_debt_p95_usd": _P95,
    "bad_debt_p99_usd": _P99,
    "fund_drawdown_p95_usd": _P95,
    "fund_drawdown_p99_usd": _P99,
    "fund_drawdown_p99_share": _P99,
    "socialized_loss_given_p95_usd": _P95,
    "liquidated_notional_p95_usd": _P95,
}
#: Expected-shortfall fields and their levels (bootstrap bounds).
ES_FIELDS: dict[str, Fraction] = {
    f"{base}_es{tag}_usd": level
    for base in ("bad_debt", "fund_drawdown", "socialized_loss")
    for tag, level in (("975", _ES975), ("99", _ES99))
}
#: Fields with ``_ci_low``, ``_ci_high`` and ``_upper`` companions (the coverage ratio has a
#: two-sided interval only: a larger ratio is the safe side).
INTERVAL_FIELDS = frozenset(
    [*PROBABILITY_FIELDS, *PERCENTILE_FIELDS, *ES_FIELDS, *(k for k in SUMMARY_FIELDS if "_mean" in k)]
)
#: Every key :func:`summarize` returns.
ALL_FIELDS = (
    frozenset(SUMMARY_FIELDS)
    | {f"{p}_se" for p in PROBABILITY_FIELDS}
    | {f"{f}_{suffix}" for f in INTERVAL_FIELDS for suffix in ("ci_low", "ci_high", "upper")}
    | {"fund_coverage_p99_ci_low", "fund_coverage_p99_ci_high", "confidence"}
)


def nearest_rank(values: Sequence[Decimal], q: Fraction) -> Decimal:
    """The ``q`` percentile (0 <= q <= 1) of ``values`` by nearest rank: the ``ceil(q * n)``-th
    smallest value (the smallest for q = 0). Exact: the result is one of ``values``."""
    if not values:
        raise InvalidParameter("a percentile needs at least one value")
    if not 0 <= q <= 1:
        raise InvalidParameter(f"percentile level must be in [0, 1], got {q}")
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered))
    return ordered[max(rank, 1) - 1]


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n``, two-sided at the
    level of the standard normal quantile ``z`` (default 95 %): scipy's
    ``binomtest(successes, n).proportion_ci(method="wilson")``, 0 and 1 exact at the ends."""
    if isinstance(z, bool) or not isinstance(z, int | float) or not z > 0:
        raise InvalidParameter(f"z must be positive, got {z!r}")
    return proportion_interval(successes, n, math.erf(z / math.sqrt(2)), method="wilson")  # 2 Phi(z) - 1


# --------------------------------------------------------------------------------------------


def _decimals(df: pd.DataFrame, column: str) -> list[Decimal]:
    out: list[Decimal] = []
    for v in df[column]:
        if isinstance(v, Decimal) and v.is_finite():
            out.append(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            out.append(Decimal(v))
        else:
            raise InvalidParameter(f"metrics column {column} must hold exact USD decimals, got {v!r}")
    return out


def _flags(df: pd.DataFrame, column: str) -> list[bool]:
    out: list[bool] = []
    for v in df[column]:
        if v in (0, 1):  # True/False, 0/1, numpy bools and ints alike
            out.append(bool(v))
        else:
            raise InvalidParameter(f"metrics column {column} must hold 0/1 flags, got {v!r}")
    return out


def _integers(df: pd.DataFrame, column: str) -> list[int]:
    try:
        values = [int(v) for v in df[column]]
    except (TypeError, ValueError):
        raise InvalidParameter(f"metrics column {column} must hold integers") from None
    if any(v != w for v, w in zip(values, df[column], strict=True)):
        raise InvalidParameter(f"metrics column {column} must hold integers")
    return values


def _exact_mean(values: Iterable[Decimal | int]) -> float:
    items = list(values)
    if not items:
        return math.nan
    with localcontext() as ctx:
        ctx.prec = 80
        return float(sum((Decimal(v) for v in items), Decimal(0)) / len(items))


class _Summary:
    """Fills the summary mapping, each statistic with its interval and upper bound."""

    def __init__(self, n: int, confidence: float) -> None:
        self.out: dict[str, float | int] = {"n_paths": n, "confidence": confidence}
        self.confidence = confidence
        self.two_sided = (1 + confidence) / 2  # each side of a two-sided interval

    def _nan(self, name: str) -> None:
        self.out[name] = math.nan
        if name in INTERVAL_FIELDS:
            self.out.update({f"{name}_ci_low": math.nan, f"{name}_ci_high": math.nan, f"{name}_upper": math.nan})

    def probability(self, name: str, events: Sequence[bool]) -> None:
        n, k = len(events), sum(events)
        p = k / n
        self.out[name] = p
        self.out[f"{name}_se"] = math.sqrt(p * (1 - p) / n)
        self.out[f"{name}_ci_low"], self.out[f"{name}_ci_high"] = proportion_interval(k, n, self.confidence)
        self.out[f"{name}_upper"] = proportion_upper(k, n, self.confidence)

    def mean(self, name: str, values: Sequence[Decimal | int]) -> None:
        if not values:
            return self._nan(name)
        self.out[name] = _exact_mean(values)
        floats = np.asarray([float(v) for v in values], dtype=np.float64)
        bounds = bootstrap_interval(floats, "mean", self.confidence)
        self.out[f"{name}_ci_low"], self.out[f"{name}_ci_high"], self.out[f"{name}_upper"] = bounds
        return None

    def shortfall(self, name: str, values: Sequence[Decimal]) -> None:
        level = ES_FIELDS[name]
        self.out[name] = float(expected_shortfall(values, level))
        floats = np.asarray([float(v) for v in values], dtype=np.float64)
        bounds = bootstrap_interval(floats, "es", self.confidence, alpha=float(level))
        self.out[f"{name}_ci_low"], self.out[f"{name}_ci_high"], self.out[f"{name}_upper"] = bounds

    def percentile(self, name: str, values: Sequence[Decimal]) -> None:
        if not values:
            return self._nan(name)
        q = PERCENTILE_FIELDS[name]
        ordered = sorted(values)
        self.out[name] = float(nearest_rank(ordered, q))
        low, _ = quantile_bounds(len(ordered), q, self.two_sided)
        _, high = quantile_bounds(len(ordered), q, self.two_sided)
        _, upper = quantile_bounds(len(ordered), q, self.confidence)
        # every metric here is non-negative: 0 is a valid lower bound when no order statistic is
        self.out[f"{name}_ci_low"] = 0.0 if low is None else float(ordered[low - 1])
        self.out[f"{name}_ci_high"] = math.inf if high is None else float(ordered[high - 1])
        self.out[f"{name}_upper"] = math.inf if upper is None else float(ordered[upper - 1])
        return None


def summarize(df: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, float | int]:
    """Aggregate per-path metrics (the table of :meth:`ResultStore.read_metrics`) over paths.

    Returns the fields of :data:`SUMMARY_FIELDS`, every companion of :data:`ALL_FIELDS`
    (intervals and upper bounds at ``confidence``; see the module docstring) and ``confidence``
    itself. ``n_paths`` is an int, everything else a float (NaN when undefined, ``inf`` for an
    upper bound the path count cannot resolve).
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidParameter(f"summarize needs the metrics DataFrame, got {type(df).__name__}")
    level = check_confidence(confidence)
    missing = [name for name in METRICS if name not in df.columns]
    if missing:
        raise InvalidParameter(f"metrics table lacks columns {missing}; pass ResultStore.read_metrics()")
    if len(df) == 0:
        raise InvalidParameter("metrics table has no paths to summarize; run the study first")

    wad = {name: _decimals(df, name) for name, (kind, _) in METRICS.items() if kind is MetricKind.WAD}
    flag = {name: _flags(df, name) for name, (kind, _) in METRICS.items() if kind is MetricKind.FLAG}
    ints = {
        name: _integers(df, name)
        for name, (kind, _) in METRICS.items()
        if kind in (MetricKind.COUNT, MetricKind.SECONDS)
    }
    zero = Decimal(0)
    bad, drawdown = wad["bad_debt_wad"], wad["insurance_fund_drawdown_wad"]
    social, notional = wad["socialized_loss_wad"], wad["liquidated_notional_wad"]
    start = wad["insurance_fund_start_wad"]
    happened = [v for v in social if v > zero]
    with localcontext() as ctx:
        ctx.prec = 80
        share = [
            d / s if s > zero else (zero if d == zero else Decimal("Infinity"))
            for d, s in zip(drawdown, start, strict=True)
        ]

    s = _Summary(len(df), level)
    s.mean("bad_debt_mean_usd", bad)
    for name in ("bad_debt_p50_usd", "bad_debt_p95_usd", "bad_debt_p99_usd"):
        s.percentile(name, bad)
    s.shortfall("bad_debt_es975_usd", bad)
    s.shortfall("bad_debt_es99_usd", bad)
    s.out["bad_debt_max_usd"] = float(max(bad))
    total = sum(bad, zero)
    for cause in BAD_DEBT_CAUSES:  # shares of all paths' bad debt (the method: simulator.engine)
        part = sum(wad[f"bad_debt_{cause}_wad"], zero)
        s.out[f"bad_debt_{cause}_share"] = float(part / total) if total else math.nan
    s.probability("p_bad_debt", [v > zero for v in bad])
    s.probability("p_fund_depleted", flag["insurance_fund_depleted"])
    s.out["fund_start_usd"] = _exact_mean(start)
    s.mean("fund_drawdown_mean_usd", drawdown)
    s.percentile("fund_drawdown_p95_usd", drawdown)
    s.percentile("fund_drawdown_p99_usd", drawdown)
    s.shortfall("fund_drawdown_es975_usd", drawdown)
    s.shortfall("fund_drawdown_es99_usd", drawdown)
    s.percentile("fund_drawdown_p99_share", share)
    fund = s.out["fund_start_usd"]

    def coverage(loss: float) -> float:
        return math.inf if loss == 0 else fund / loss

    s.out["fund_coverage_p99"] = coverage(float(s.out["bad_debt_p99_usd"]))
    s.out["fund_coverage_p99_ci_low"] = coverage(float(s.out["bad_debt_p99_usd_ci_high"]))
    s.out["fund_coverage_p99_ci_high"] = coverage(float(s.out["bad_debt_p99_usd_ci_low"]))
    s.probability("p_socialized_loss", [v > zero for v in social])
    s.mean("socialized_loss_mean_usd", social)
    s.shortfall("socialized_loss_es975_usd", social)
    s.shortfall("socialized_loss_es99_usd", social)
    s.mean("socialized_loss_given_mean_usd", happened)
    s.percentile("socialized_loss_given_p95_usd", happened)
    s.probability("p_uncovered_loss", [v > zero for v in wad["uncovered_loss_wad"]])
    s.mean("liquidated_notional_mean_usd", notional)
    s.percentile("liquidated_notional_p95_usd", notional)
    for name in ("liquidations", "collateral_liquidations", "deleveragings", "accounts_liquidated"):
        s.mean(f"{name}_mean", ints[name])
    s.mean("deferred_liquidations_mean", ints["deferred_liquidations"])
    for cause in ("gas", "block_cap", "untrusted", "keeper", "counterparty"):
        s.mean(f"deferred_{cause}_mean", ints[f"deferred_{cause}"])
    s.mean("keeper_waits_mean", ints["keeper_waits"])
    s.mean("liquidations_block_peak_mean", ints["liquidations_block_peak"])
    s.mean("backlog_peak_mean", ints["backlog_peak"])
    s.mean("backlog_clear_mean_s", ints["backlog_clear_s"])
    s.mean("liquidation_impact_max_bps_mean", ints["liquidation_impact_max_bps"])
    s.mean("keeper_rewards_mean_usd", wad["keeper_rewards_wad"])
    s.mean("keeper_gas_mean", ints["keeper_gas"])
    gas = sum(ints["keeper_gas"])
    s.out["keeper_revenue_per_mgas_usd"] = (
        float(sum(wad["keeper_rewards_wad"], zero) * 10**6 / gas) if gas else math.nan
    )
    cost = wad["keeper_gas_cost_wad"]
    s.mean("keeper_gas_cost_mean_usd", cost)
    s.mean("keeper_profit_mean_usd", [r - c for r, c in zip(wad["keeper_rewards_wad"], cost, strict=True)])
    total_cost = sum(cost, zero)
    s.out["keeper_revenue_to_gas_cost"] = (
        float(sum(wad["keeper_rewards_wad"], zero) / total_cost) if total_cost else math.nan
    )
    s.mean("oracle_rejections_mean", ints["oracle_rejections"])
    s.mean("reduce_only_mean_s", ints["reduce_only_s"])
    return s.out


#: Headline metrics of the convergence table and plot.
CONVERGENCE_METRICS = (
    "p_bad_debt",
    "p_socialized_loss",
    "bad_debt_mean_usd",
    "bad_debt_p95_usd",
    "bad_debt_es975_usd",
    "fund_drawdown_p99_usd",
)


def checkpoints(n: int, count: int = 12) -> list[int]:
    """About ``count`` path counts from 1 to ``n``, evenly spaced on a log scale, ``n`` last."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameter(f"n must be a positive integer, got {n!r}")
    return sorted({max(1, round(n ** (k / (count - 1)))) for k in range(count)} | {n})


def convergence(df: pd.DataFrame, confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """The summary of the first ``n`` paths (by path index) at each of :func:`checkpoints`:
    one row per ``n`` with :data:`CONVERGENCE_METRICS` and their intervals. Path ``i`` is the
    same whatever the study's size, so each row is what a study of ``n`` paths would report."""
    if not isinstance(df, pd.DataFrame) or "path_index" not in df.columns or df.empty:
        raise InvalidParameter("convergence needs the metrics DataFrame of at least one path")
    ordered = df.sort_values("path_index", kind="stable")
    columns = ["n_paths", *(f"{m}{x}" for m in CONVERGENCE_METRICS for x in ("", "_ci_low", "_ci_high", "_upper"))]
    rows = []
    for n in checkpoints(len(ordered)):
        summary = summarize(ordered.iloc[:n], confidence)
        rows.append({c: summary[c] for c in columns})
    return pd.DataFrame(rows, columns=columns)


def upper_bound(summary: Mapping[str, float | int], metric: str) -> float:
    """The value a decision on ``metric`` must hold at: its one-sided upper bound
    (``metric_upper``) when it has one, else the metric itself (already a bound, or a count)."""
    value = summary.get(f"{metric}_upper", summary[metric])
    return float(value)


#: The report's headline metrics, in order.
HEADLINE_METRICS = (
    "p_bad_debt",
    "bad_debt_mean_usd",
    "bad_debt_p95_usd",
    "bad_debt_p99_usd",
    "bad_debt_es975_usd",
    "bad_debt_es99_usd",
    "p_fund_depleted",
    "fund_drawdown_p99_share",
    "fund_coverage_p99",
    "p_socialized_loss",
    "socialized_loss_es99_usd",
    "p_uncovered_loss",
    "keeper_profit_mean_usd",
)
#: Relative width (interval width over the point) up to which an interval resolves its metric:
#: the interval lies within about +-25 % of the value.
RESOLVED_RELATIVE_WIDTH = 0.5
#: Fewest paths a bootstrap interval (means, expected shortfalls) is trusted with: below it the
#: resamples take too few distinct values to bound anything.
MIN_BOOTSTRAP_PATHS = 20


def resolvable(summary: Mapping[str, float | int], name: str) -> tuple[bool, str]:
    """Whether the path count resolves ``name`` at the summary's confidence, and why not.

    A percentile (and the coverage ratio, through the 99th percentile) is resolved when it is
    not just the worst path and its two-sided interval is finite (:func:`paths_for_quantile` at
    the interval's one-sided level);
    an expected shortfall when its tail holds more than one path; a probability, mean or
    expected shortfall when its two-sided interval is at most :data:`RESOLVED_RELATIVE_WIDTH`
    times the point (a probability no path showed is not resolved: only its upper bound is), and
    a bootstrap interval needs at least :data:`MIN_BOOTSTRAP_PATHS` paths."""
    n = int(summary["n_paths"])
    confidence = float(summary.get("confidence", DEFAULT_CONFIDENCE))
    base = "bad_debt_p99_usd" if name == "fund_coverage_p99" else name
    if base in PERCENTILE_FIELDS:
        q = PERCENTILE_FIELDS[base]
        needed = paths_for_quantile(q, (1 + confidence) / 2)  # the two-sided interval's upper end
        if is_worst_path(n, q) or n < needed:
            return False, f"needs {needed:,} paths for its interval" if n < needed else "just the worst path"
        return True, ""
    if base in ES_FIELDS and n * (1 - ES_FIELDS[base]) <= 1:
        return False, "its tail is one path"
    if base not in PROBABILITY_FIELDS and n < MIN_BOOTSTRAP_PATHS:
        return False, f"a bootstrap needs {MIN_BOOTSTRAP_PATHS} paths"
    point = float(summary[base])
    low, high = float(summary.get(f"{base}_ci_low", math.nan)), float(summary.get(f"{base}_ci_high", math.nan))
    if math.isnan(point) or math.isnan(low) or math.isnan(high):
        return False, "undefined"
    if base in PROBABILITY_FIELDS and point == 0:
        return False, f"no path showed it; upper bound {_format_percent(float(summary[f'{base}_upper']))}"
    if point == 0 and high == 0:
        return False, "zero on every path"
    if high - low > RESOLVED_RELATIVE_WIDTH * abs(point):
        return False, "interval wider than the value"
    return True, ""


def headline_rows(summary: Mapping[str, float | int]) -> list[tuple[str, str, str, str]]:
    """The headline table: ``(metric, point, two-sided interval, resolvable yes/no and why not)``
    for each of :data:`HEADLINE_METRICS` (see :func:`resolvable`)."""
    rows = []
    for name in HEADLINE_METRICS:
        if name not in summary:
            continue
        point = _format_value(name, summary[name])
        interval = ""
        if f"{name}_ci_low" in summary:
            low, high = summary[f"{name}_ci_low"], summary[f"{name}_ci_high"]
            interval = f"[{_format_value(name, low)}, {_format_value(name, high)}]"
        ok, why = resolvable(summary, name)
        rows.append((SUMMARY_FIELDS[name], point, interval, "yes" if ok else f"no: {why}"))
    return rows


def resolution_notes(summary: Mapping[str, float | int]) -> list[str]:
    """Warnings a reader must see: percentiles and expected shortfalls that are just the worst
    path, and percentile upper bounds the path count cannot resolve (with the paths they need)."""
    n = int(summary["n_paths"])
    confidence = float(summary.get("confidence", DEFAULT_CONFIDENCE))
    notes = []
    for name, q in PERCENTILE_FIELDS.items():
        if name not in summary or name.startswith("socialized_loss_given"):
            continue
        pct = f"{float(q) * 100:g}th percentile"
        worst = is_worst_path(n, q)
        needed = paths_for_quantile(q, confidence)
        if worst or n < needed:
            what = "is just the worst path" if worst else "is a path outcome"
            bound = f", and has no {confidence:.0%} upper bound before {needed:,} paths" if n < needed else ""
            notes.append(f"`{name}`: with {n:,} paths the {pct} {what}{bound}")
    zeros = [
        name
        for name in SUMMARY_FIELDS
        if ("_mean" in name or name in ES_FIELDS) and summary.get(name) == 0 and summary.get(f"{name}_upper") == 0
    ]
    if zeros:
        notes.append(
            f"zero on every path: {', '.join(f'`{z}`' for z in zeros)} (a bootstrap cannot bound what no path "
            "showed; the probabilities' upper bounds say how likely a first event still is)"
        )
    worst_es = [name for name, level in ES_FIELDS.items() if name in summary and n * (1 - level) <= 1]
    if worst_es:
        notes.append(f"{', '.join(f'`{e}`' for e in worst_es)}: with {n:,} paths each is just the worst path")
    return notes


# --------------------------------------------------------------------------------------------
# presentation


def _format_usd(value: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "unresolved" if value > 0 else "—"
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _format_percent(value: float) -> str:
    if math.isinf(value):
        return "unresolved"
    return "—" if math.isnan(value) else f"{value * 100:.3g} %"


def _format_value(name: str, value: float | int) -> str:
    if name == "n_paths":
        return f"{int(value):,}"
    if name.endswith("_usd"):
        return _format_usd(float(value))
    if name.startswith("p_") or name.endswith("_share"):
        return _format_percent(float(value))
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if name.startswith("fund_coverage") else "unresolved"
    if name.endswith("_s"):
        return f"{value:,.0f} s ({value / 3600:,.2f} h)"
    return f"{value:,.2f}"


def summary_rows(summary: Mapping[str, float | int]) -> list[tuple[str, str, str, str]]:
    """``(meaning, value, two-sided interval, one-sided upper bound)`` per field of
    :data:`SUMMARY_FIELDS` present in ``summary``; a percentile that is just the worst path says so."""
    rows = []
    n = int(summary.get("n_paths", 0))
    for name, meaning in SUMMARY_FIELDS.items():
        if name not in summary:
            continue
        value = _format_value(name, summary[name])
        if name in PERCENTILE_FIELDS and n and is_worst_path(n, PERCENTILE_FIELDS[name]):
            value += " (worst path)"
        interval = upper = ""
        if f"{name}_ci_low" in summary:
            low, high = summary[f"{name}_ci_low"], summary[f"{name}_ci_high"]
            interval = f"[{_format_value(name, low)}, {_format_value(name, high)}]"
        if f"{name}_upper" in summary:
            upper = _format_value(name, summary[f"{name}_upper"])
        rows.append((meaning, value, interval, upper))
    return rows


def _level(summary: Mapping[str, float | int]) -> str:
    return f"{float(summary.get('confidence', DEFAULT_CONFIDENCE)) * 100:g} %"


def summary_headers(summary: Mapping[str, float | int]) -> tuple[str, str, str, str]:
    """Column titles of :func:`summary_rows` (the interval level written out)."""
    level = _level(summary)
    return ("quantity", "value", f"{level} interval", f"{level} upper bound")


def summary_table(summary: Mapping[str, float | int], title: str = "Stress study summary") -> Table:
    """A :class:`rich.table.Table` of a :func:`summarize` result: quantity, value, two-sided
    interval and one-sided upper bound, and the resolution notes as its caption."""
    from rich.table import Table

    if not isinstance(summary, Mapping) or "n_paths" not in summary:
        raise InvalidParameter("summary_table needs the mapping summarize() returns")
    notes = resolution_notes(summary)
    caption = f"percentiles: {PERCENTILE_METHOD}; intervals: {INTERVAL_METHOD}"
    table = Table(title=title, caption=caption + "".join(f"\nnote: {note}" for note in notes))
    for i, header in enumerate(summary_headers(summary)):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in summary_rows(summary):
        table.add_row(*row)
    return table


def jsonable(summary: Mapping[str, Any]) -> dict[str, Any]:
    """``summary`` with NaN and infinite values as None (strict JSON)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in summary.items()}


def write_summary(out_dir: str | Path, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, float | int]:
    """Summarize the study stored in ``out_dir`` at ``confidence`` and write
    ``out_dir/summary.json`` atomically.

    The file holds the study's name and fingerprint, whether every path is stored
    (``complete``), the percentile and interval definitions with the bootstrap's seed, the
    resolution notes, and the summary (NaN and infinity as null). Returns the summary."""
    store = ResultStore(out_dir)
    df = store.read_metrics()
    summary = summarize(df, confidence)
    payload = {
        "study": store.manifest.get("name"),
        "fingerprint": store.fingerprint,
        "n_paths_study": store.n_paths,
        "complete": len(df) == store.n_paths,
        "confidence": summary["confidence"],
        "percentiles": PERCENTILE_METHOD,
        "intervals": INTERVAL_METHOD,
        "bootstrap_seed": BOOTSTRAP_SEED,
        "notes": resolution_notes(summary),
        "summary": jsonable(summary),
    }
    write_json_atomic(Path(out_dir) / "summary.json", payload)
    return summary
