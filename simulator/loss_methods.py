"""One study under every socialized-loss method, side by side (``novation compare-methods``).

:func:`compare_methods` runs the study once per :class:`~protocol.params.SocializedLossMethod`
(only ``protocol.socialized_loss_method`` changes: the same book, the same seeded paths), each
into its own folder ``<out>/<method>/`` (resumable like any study), and
:func:`comparison_table` puts them side by side:

* the bad debt per path (mean), and the **shortfall** per path: the bad debt the insurance fund
  did not pay, socialized (charged to positions, deleveraged or to the winners' gains) plus left
  uncovered (with ``profit_haircut`` that is the debt later profit withdrawals pay down; the
  simulator's traders do not withdraw). Its mean, its 95 % value-at-risk (the nearest-rank 95th
  percentile, an actual path's outcome) and its 95 % expected shortfall (the mean of the paths
  from that rank up), exact decimals turned to float once;
* accounts deleveraged (distinct counterparties an ADL cut) and deleveragings per path;
* insurance-fund depletion (probability) and drawdown (mean);
* who bears the loss: the mean per path borne by each group of
  :data:`~simulator.results.BEARER_GROUPS` (account size, leverage, side, market maker, keeper).

:func:`write_comparison` writes ``comparison.csv``, ``comparison.md`` and the plot
``loss_bearers.png`` into ``<out>``, atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd

from protocol.errors import InvalidParameter
from protocol.params import SocializedLossMethod
from simulator.config import StudyConfig
from simulator.plots import plot_loss_bearers
from simulator.report import markdown_table
from simulator.results import BEARER_GROUPS, bearer_metric
from simulator.runner import run_study
from simulator.store import atomic_write
from simulator.summary import nearest_rank

__all__ = [
    "COMPARISON_FIELDS",
    "compare_methods",
    "comparison_row",
    "comparison_table",
    "markdown_cell",
    "markdown_comparison",
    "write_comparison",
]

#: Columns of the comparison, in order, with their labels (money in USD per path, means over
#: paths unless the label says otherwise; the module docstring defines each).
COMPARISON_FIELDS: dict[str, str] = {
    "bad_debt_mean_usd": "bad debt, mean",
    "shortfall_mean_usd": "shortfall, mean",
    "shortfall_var95_usd": "shortfall, VaR 95 %",
    "shortfall_es95_usd": "shortfall, ES 95 %",
    "socialized_mean_usd": "socialized, mean",
    "uncovered_mean_usd": "uncovered, mean",
    "accounts_deleveraged_mean": "accounts deleveraged",
    "deleveragings_mean": "deleveragings",
    "p_fund_depleted": "P(fund depleted)",
    "fund_drawdown_mean_usd": "fund drawdown, mean",
    **{f"borne_{g}_mean_usd": f"borne: {g.replace('_', ' ')}" for g in BEARER_GROUPS},
}

_P95 = Fraction(95, 100)


def _usd(values: pd.Series) -> list[Decimal]:
    return [Decimal(v) if not isinstance(v, Decimal) else v for v in values]


def _mean(values: Sequence[Decimal | int]) -> float:
    if not values:
        return math.nan
    with localcontext() as ctx:
        ctx.prec = 80
        return float(sum((Decimal(v) for v in values), Decimal(0)) / len(values))


def comparison_row(metrics: pd.DataFrame) -> dict[str, float]:
    """The comparison's columns for one method's per-path metrics (``StudyRun.metrics()``)."""
    if not isinstance(metrics, pd.DataFrame) or metrics.empty:
        raise InvalidParameter("comparison_row needs a non-empty metrics table (StudyRun.metrics())")
    socialized, uncovered = _usd(metrics["socialized_loss_wad"]), _usd(metrics["uncovered_loss_wad"])
    shortfall = [s + u for s, u in zip(socialized, uncovered, strict=True)]
    ordered = sorted(shortfall)
    rank = max(math.ceil(_P95 * len(ordered)), 1)
    row = {
        "bad_debt_mean_usd": _mean(_usd(metrics["bad_debt_wad"])),
        "shortfall_mean_usd": _mean(shortfall),
        "shortfall_var95_usd": float(nearest_rank(shortfall, _P95)),
        "shortfall_es95_usd": _mean(ordered[rank - 1 :]),
        "socialized_mean_usd": _mean(socialized),
        "uncovered_mean_usd": _mean(uncovered),
        "accounts_deleveraged_mean": _mean([int(v) for v in metrics["accounts_deleveraged"]]),
        "deleveragings_mean": _mean([int(v) for v in metrics["deleveragings"]]),
        "p_fund_depleted": _mean([int(v) for v in metrics["insurance_fund_depleted"]]),
        "fund_drawdown_mean_usd": _mean(_usd(metrics["insurance_fund_drawdown_wad"])),
    }
    for g in BEARER_GROUPS:
        row[f"borne_{g}_mean_usd"] = _mean(_usd(metrics[bearer_metric(g)]))
    return row


def comparison_table(metrics_by_method: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per method (index: the method's name), the columns of :data:`COMPARISON_FIELDS`."""
    if not metrics_by_method:
        raise InvalidParameter("a comparison needs at least one method's metrics")
    rows = {name: comparison_row(df) for name, df in metrics_by_method.items()}
    return pd.DataFrame.from_dict(rows, orient="index")[list(COMPARISON_FIELDS)]


def compare_methods(
    config: StudyConfig,
    out_dir: Path | str,
    *,
    methods: Sequence[SocializedLossMethod] = tuple(SocializedLossMethod),
    **run_options: Any,
) -> pd.DataFrame:
    """Run ``config`` under each of ``methods`` into ``<out_dir>/<method>/`` (``run_options`` go
    to :func:`~simulator.runner.run_study`) and return :func:`comparison_table` of the runs."""
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    if not methods or not all(isinstance(m, SocializedLossMethod) for m in methods):
        raise InvalidParameter(f"methods must be SocializedLossMethod values, got {methods!r}")
    out = Path(out_dir)
    metrics: dict[str, pd.DataFrame] = {}
    for method in methods:
        study = config.override({"protocol.socialized_loss_method": method.value})
        run = run_study(study, out / method.value, label=f"{config.run.name} / {method.value}", **run_options)
        metrics[method.value] = run.metrics()
    return comparison_table(metrics)


def markdown_cell(name: str, value: float) -> str:
    """One value of the comparison as text (USD, percent or a plain number; — when undefined)."""
    if math.isnan(value):
        return "—"
    if name.startswith("p_"):
        return f"{value * 100:.3g} %"
    if name.endswith("_usd"):
        return f"${value:,.2f}"
    return f"{value:,.2f}"


def markdown_comparison(table: pd.DataFrame) -> str:
    """The comparison as a markdown table: one row per quantity, one column per method."""
    rows = [
        [meaning, *(markdown_cell(name, float(table.at[m, name])) for m in table.index)]
        for name, meaning in COMPARISON_FIELDS.items()
    ]
    return markdown_table(["per path", *table.index], rows, align="l" + "r" * len(table.index))


def write_comparison(out_dir: Path | str, table: pd.DataFrame, config: StudyConfig) -> Path:
    """Write ``comparison.csv``, ``comparison.md`` and ``loss_bearers.png`` into ``out_dir``
    (atomically); return the markdown file's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "comparison.csv", "w") as fh:
        table.to_csv(fh, index_label="method")
    plot_loss_bearers(table, out / "loss_bearers.png", title=f"{config.run.name}: who bears the socialized loss")
    run = config.run
    text = "\n".join(
        [
            f"# Socialized-loss methods compared: {run.name}",
            "",
            f"{run.paths:,} paths of {run.steps:,} steps of {run.step_s} s, {run.accounts:,} accounts, seed "
            f"{run.seed}; the same book and paths under every method (docs/SPEC.md §8). Shortfall = bad debt "
            "the insurance fund did not pay (socialized + uncovered); VaR and ES by nearest rank; borne: the "
            "mean loss per path borne by each group (simulator/results.py BEARER_GROUPS).",
            "",
            markdown_comparison(table),
            "",
            "![who bears the socialized loss](loss_bearers.png)",
            "",
        ]
    )
    with atomic_write(out / "comparison.md", "w") as fh:
        fh.write(text)
    return out / "comparison.md"
