"""Aggregate a study's per-path metrics: the numbers a protocol designer asks for.

:func:`summarize` turns the table of :meth:`ResultStore.read_metrics` (one row per path) into
one flat mapping. Conventions:

* ``*_usd`` are USD, ``*_s`` seconds, ``p_*`` probabilities in [0, 1], ``*_mean`` plain means.
* Percentiles use the **nearest-rank** definition: the ``q`` percentile of ``n`` outcomes is the
  ``ceil(q * n)``-th smallest (the smallest outcome when that is 0), so every percentile is an
  actual path's outcome. Money percentiles and means are computed on the exact decimals and
  converted to float once, at the end. ``bad_debt_p95_usd`` is the insolvent-debt
  **value-at-risk** (95 %), ``liquidated_notional_p95_usd`` the **liquidations-at-risk** (95 %).
* Every probability ``p_x`` (a share of paths) comes with its standard error
  ``p_x_se = sqrt(p (1 - p) / n)`` and the Wilson score 95 % interval
  ``[p_x_ci_low, p_x_ci_high]`` (:func:`wilson_interval`), which stays inside [0, 1] and is
  informative when no path, or every path, had the event.
* A statistic of an empty set (the size of a socialized loss when none happened) is NaN;
  ``summary.json`` writes it as ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from protocol.errors import InvalidParameter
from simulator.results import METRICS, MetricKind
from simulator.store import ResultStore, write_json_atomic

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "ALL_FIELDS",
    "PERCENTILE_METHOD",
    "PROBABILITY_FIELDS",
    "SUMMARY_FIELDS",
    "Z95",
    "nearest_rank",
    "summarize",
    "summary_rows",
    "summary_table",
    "wilson_interval",
    "write_summary",
]

#: The standard normal 97.5 % quantile: two-sided 95 % intervals.
Z95 = 1.959963984540054
#: How percentiles are defined (recorded in summary.json).
PERCENTILE_METHOD = "nearest rank: the ceil(q*n)-th smallest path outcome (numpy method 'inverted_cdf')"

_P50, _P95, _P99 = Fraction(1, 2), Fraction(95, 100), Fraction(99, 100)

#: Every field of :func:`summarize` that is not a probability's ``_se`` / ``_ci_low`` /
#: ``_ci_high`` companion, in table order, with its meaning.
SUMMARY_FIELDS: dict[str, str] = {
    "n_paths": "paths summarized",
    "bad_debt_mean_usd": "bad debt per path, mean (USD)",
    "bad_debt_p50_usd": "bad debt, median (USD)",
    "bad_debt_p95_usd": "bad debt, 95th percentile: insolvent-debt value-at-risk (USD)",
    "bad_debt_p99_usd": "bad debt, 99th percentile (USD)",
    "bad_debt_max_usd": "bad debt, worst path (USD)",
    "p_bad_debt": "P(bad debt > 0)",
    "p_fund_depleted": "P(insurance fund depleted)",
    "fund_drawdown_mean_usd": "insurance-fund drawdown, mean (USD)",
    "fund_drawdown_p95_usd": "insurance-fund drawdown, 95th percentile (USD)",
    "p_socialized_loss": "P(socialized loss > 0): socialized-loss frequency",
    "socialized_loss_mean_usd": "socialized loss per path, mean over all paths (USD)",
    "socialized_loss_given_mean_usd": "socialized loss when one happened, mean (USD)",
    "socialized_loss_given_p95_usd": "socialized loss when one happened, 95th percentile (USD)",
    "p_uncovered_loss": "P(uncovered loss > 0): bad debt nobody could absorb",
    "liquidated_notional_mean_usd": "liquidated notional per path, mean (USD)",
    "liquidated_notional_p95_usd": "liquidated notional, 95th percentile: liquidations-at-risk (USD)",
    "liquidations_mean": "liquidation transactions per path, mean",
    "collateral_liquidations_mean": "collateral purchases per path, mean",
    "deleveragings_mean": "auto-deleveragings per path, mean",
    "accounts_liquidated_mean": "accounts liquidated per path, mean",
    "reduce_only_mean_s": "time some market was reduce-only (price not trusted) per path, mean (s)",
}

#: The probability fields; each has ``_se``, ``_ci_low`` and ``_ci_high`` companions.
PROBABILITY_FIELDS = ("p_bad_debt", "p_fund_depleted", "p_socialized_loss", "p_uncovered_loss")
#: Every key :func:`summarize` returns.
ALL_FIELDS = frozenset(SUMMARY_FIELDS) | {
    f"{p}_{suffix}" for p in PROBABILITY_FIELDS for suffix in ("se", "ci_low", "ci_high")
}


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
    """Wilson score interval of a binomial proportion ``successes / n`` (default 95 %).

    ``(c - h, c + h)`` with ``c = (p + z²/2n) / (1 + z²/n)`` and
    ``h = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²)``; clipped to [0, 1]."""
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameter(f"{name} must be an integer, got {value!r}")
    if n < 1 or not 0 <= successes <= n:
        raise InvalidParameter(f"need 0 <= successes <= n and n >= 1, got successes={successes}, n={n}")
    if not z > 0:
        raise InvalidParameter(f"z must be positive, got {z!r}")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


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


def _mean(values: Iterable[Decimal | int]) -> float:
    items = list(values)
    if not items:
        return math.nan
    with localcontext() as ctx:
        ctx.prec = 80
        return float(sum((Decimal(v) for v in items), Decimal(0)) / len(items))


def _probability(out: dict[str, float | int], name: str, events: Sequence[bool]) -> None:
    n, k = len(events), sum(events)
    p = k / n
    low, high = wilson_interval(k, n)
    out[name] = p
    out[f"{name}_se"] = math.sqrt(p * (1 - p) / n)
    out[f"{name}_ci_low"] = low
    out[f"{name}_ci_high"] = high


def summarize(df: pd.DataFrame) -> dict[str, float | int]:
    """Aggregate per-path metrics (the table of :meth:`ResultStore.read_metrics`) over paths.

    Returns the fields of :data:`SUMMARY_FIELDS` plus, for every probability ``p_x``,
    ``p_x_se``, ``p_x_ci_low`` and ``p_x_ci_high`` (see the module docstring for definitions).
    ``n_paths`` is an int, everything else a float (NaN when undefined).
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidParameter(f"summarize needs the metrics DataFrame, got {type(df).__name__}")
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
    happened = [v for v in social if v > zero]

    out: dict[str, float | int] = {"n_paths": len(df)}
    out["bad_debt_mean_usd"] = _mean(bad)
    out["bad_debt_p50_usd"] = float(nearest_rank(bad, _P50))
    out["bad_debt_p95_usd"] = float(nearest_rank(bad, _P95))
    out["bad_debt_p99_usd"] = float(nearest_rank(bad, _P99))
    out["bad_debt_max_usd"] = float(max(bad))
    _probability(out, "p_bad_debt", [v > zero for v in bad])
    _probability(out, "p_fund_depleted", flag["insurance_fund_depleted"])
    out["fund_drawdown_mean_usd"] = _mean(drawdown)
    out["fund_drawdown_p95_usd"] = float(nearest_rank(drawdown, _P95))
    _probability(out, "p_socialized_loss", [v > zero for v in social])
    out["socialized_loss_mean_usd"] = _mean(social)
    out["socialized_loss_given_mean_usd"] = _mean(happened)
    out["socialized_loss_given_p95_usd"] = float(nearest_rank(happened, _P95)) if happened else math.nan
    _probability(out, "p_uncovered_loss", [v > zero for v in wad["uncovered_loss_wad"]])
    out["liquidated_notional_mean_usd"] = _mean(notional)
    out["liquidated_notional_p95_usd"] = float(nearest_rank(notional, _P95))
    out["liquidations_mean"] = _mean(ints["liquidations"])
    out["collateral_liquidations_mean"] = _mean(ints["collateral_liquidations"])
    out["deleveragings_mean"] = _mean(ints["deleveragings"])
    out["accounts_liquidated_mean"] = _mean(ints["accounts_liquidated"])
    out["reduce_only_mean_s"] = _mean(ints["reduce_only_s"])
    return out


# --------------------------------------------------------------------------------------------
# presentation


def _format_usd(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def _format_percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{value * 100:.3g} %"


def _format_value(name: str, value: float | int) -> str:
    if name == "n_paths":
        return f"{int(value):,}"
    if name.endswith("_usd"):
        return _format_usd(float(value))
    if name.startswith("p_"):
        return _format_percent(float(value))
    if math.isnan(value):
        return "—"
    if name.endswith("_s"):
        return f"{value:,.0f} s ({value / 3600:,.2f} h)"
    return f"{value:,.2f}"


def summary_rows(summary: Mapping[str, float | int]) -> list[tuple[str, str, str]]:
    """``(meaning, value, 95 % interval)`` per field of :data:`SUMMARY_FIELDS` present in ``summary``."""
    rows = []
    for name, meaning in SUMMARY_FIELDS.items():
        if name not in summary:
            continue
        value = summary[name]
        interval = ""
        if name in PROBABILITY_FIELDS and f"{name}_ci_low" in summary:
            low, high = summary[f"{name}_ci_low"], summary[f"{name}_ci_high"]
            interval = f"[{_format_percent(float(low))}, {_format_percent(float(high))}]"
        rows.append((meaning, _format_value(name, value), interval))
    return rows


def summary_table(summary: Mapping[str, float | int], title: str = "Stress study summary") -> Table:
    """A :class:`rich.table.Table` of a :func:`summarize` result (quantity, value, Wilson 95 % interval)."""
    from rich.table import Table

    if not isinstance(summary, Mapping) or "n_paths" not in summary:
        raise InvalidParameter("summary_table needs the mapping summarize() returns")
    table = Table(title=title, caption=f"percentiles: {PERCENTILE_METHOD}; intervals: Wilson score 95 %")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("95 % interval", justify="right")
    for row in summary_rows(summary):
        table.add_row(*row)
    return table


def _jsonable(summary: Mapping[str, float | int]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in summary.items()}


def write_summary(out_dir: str | Path) -> dict[str, float | int]:
    """Summarize the study stored in ``out_dir`` and write ``out_dir/summary.json`` atomically.

    The file holds the study's name and fingerprint, whether every path is stored
    (``complete``), the percentile and interval definitions, and the summary (NaN as null).
    Returns the summary."""
    store = ResultStore(out_dir)
    df = store.read_metrics()
    summary = summarize(df)
    payload = {
        "study": store.manifest.get("name"),
        "fingerprint": store.fingerprint,
        "n_paths_study": store.n_paths,
        "complete": len(df) == store.n_paths,
        "percentiles": PERCENTILE_METHOD,
        "intervals": "Wilson score, 95 % (z = 1.959963984540054); *_se = sqrt(p(1-p)/n)",
        "summary": _jsonable(summary),
    }
    write_json_atomic(Path(out_dir) / "summary.json", payload)
    return summary
