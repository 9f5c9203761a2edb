"""Two studies side by side: a baseline and a proposal, each metric's difference and whether it is significant.

:func:`compare_studies` reads two study folders. When both use the same root seed, the paths
they share (the same ``path_index``) saw the same market (common random numbers), so the
comparison is **paired** on those paths — far more sensitive than comparing two independent
samples; otherwise the two samples are compared as independent. The tests come from
:mod:`scipy.stats`:

================  ==================================  ==========================================
metric            paired (same seed, shared paths)     independent
================  ==================================  ==========================================
probability       exact McNemar test (binomial test   Fisher's exact test on the 2 x 2 table
                  on the discordant paths)
mean              Wilcoxon signed-rank test; paired    Mann-Whitney U test; two-sample
                  bootstrap interval of the            bootstrap interval of the difference
                  difference
================  ==================================  ==========================================

A difference is **significant** when the test's two-sided p-value is below ``1 - confidence``.
Differences are ``B - A`` (the proposal minus the baseline) in the metric's unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from simulator.store import ResultStore
from simulator.uncertainty import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, DEFAULT_CONFIDENCE, check_confidence

__all__ = ["COMPARED", "Comparison", "compare_studies"]

#: Compared metrics: name -> (per-path column, kind). ``event``: the share of paths where the
#: column is positive (or the flag is set); ``mean``: the column's mean per path.
COMPARED: dict[str, tuple[str, str]] = {
    "p_bad_debt": ("bad_debt_usd", "event"),
    "p_fund_depleted": ("insurance_fund_depleted", "event"),
    "p_socialized_loss": ("socialized_loss_usd", "event"),
    "p_uncovered_loss": ("uncovered_loss_usd", "event"),
    "bad_debt_mean_usd": ("bad_debt_usd", "mean"),
    "socialized_loss_mean_usd": ("socialized_loss_usd", "mean"),
    "fund_drawdown_mean_usd": ("insurance_fund_drawdown_usd", "mean"),
    "liquidated_notional_mean_usd": ("liquidated_notional_usd", "mean"),
    "liquidations_mean": ("liquidations", "mean"),
    "deferred_liquidations_mean": ("deferred_liquidations", "mean"),
    "backlog_peak_mean": ("backlog_peak", "mean"),
    "keeper_rewards_mean_usd": ("keeper_rewards_usd", "mean"),
}


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare_studies`."""

    study_a: str
    study_b: str
    #: Paths compared from each study (the shared ones when paired).
    n_a: int
    n_b: int
    paired: bool
    confidence: float
    #: One row per metric of :data:`COMPARED`: ``metric``, ``a``, ``b``, ``difference`` (B - A),
    #: ``ci_low`` / ``ci_high`` (interval of the difference; NaN for probabilities), ``p_value``,
    #: ``significant``, ``test``.
    table: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (NaN as None)."""
        rows = [
            {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
            for row in self.table.to_dict("records")
        ]
        return {
            "study_a": self.study_a,
            "study_b": self.study_b,
            "n_a": self.n_a,
            "n_b": self.n_b,
            "paired": self.paired,
            "confidence": self.confidence,
            "difference": "B - A",
            "bootstrap_seed": BOOTSTRAP_SEED,
            "metrics": rows,
        }


def _stats() -> Any:
    from scipy import stats

    return stats


def _event(df: pd.DataFrame, column: str) -> NDArray[np.bool_]:
    return np.asarray(df[column], dtype=np.float64) > 0


def _difference_interval(
    a: NDArray[np.float64], b: NDArray[np.float64], paired: bool, confidence: float
) -> tuple[float, float]:
    """Bootstrap interval of ``mean(b) - mean(a)``; a point interval when nothing varies."""
    point = float(b.mean() - a.mean())
    if (paired and np.ptp(b - a) == 0) or (not paired and np.ptp(a) == 0 and np.ptp(b) == 0):
        return point, point

    def diff(x: NDArray[np.float64], y: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
        return np.asarray(np.mean(y, axis=axis) - np.mean(x, axis=axis))

    result = _stats().bootstrap(
        (a, b),
        diff,
        paired=paired,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(np.random.SeedSequence(BOOTSTRAP_SEED)),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _event_p_value(a: NDArray[np.bool_], b: NDArray[np.bool_], paired: bool) -> tuple[float, str]:
    stats = _stats()
    if paired:
        only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
        if only_a + only_b == 0:
            return 1.0, "exact McNemar (no discordant path)"
        return float(stats.binomtest(only_b, only_a + only_b, 0.5).pvalue), "exact McNemar"
    table = [[int(a.sum()), int((~a).sum())], [int(b.sum()), int((~b).sum())]]
    return float(stats.fisher_exact(table).pvalue), "Fisher exact"


def _mean_p_value(a: NDArray[np.float64], b: NDArray[np.float64], paired: bool) -> tuple[float, str]:
    stats = _stats()
    if paired:
        if not np.any(b - a):
            return 1.0, "Wilcoxon signed-rank (no path differs)"
        return float(stats.wilcoxon(b, a).pvalue), "Wilcoxon signed-rank"
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0, "Mann-Whitney U (all equal)"
    return float(stats.mannwhitneyu(b, a, alternative="two-sided").pvalue), "Mann-Whitney U"


def _open(folder: str | Path, which: str) -> tuple[ResultStore, pd.DataFrame]:
    path = Path(folder)
    if not path.is_dir():
        raise InvalidParameter(f"study {which} {path} does not exist; give a folder written by simulate or stress")
    store = ResultStore(path)
    df = store.read_metrics()
    if df.empty:
        raise InvalidParameter(f"study {which} {path} holds no finished paths; run it first")
    return store, df


def compare_studies(a: str | Path, b: str | Path, *, confidence: float = DEFAULT_CONFIDENCE) -> Comparison:
    """Compare study folder ``b`` (the proposal) with ``a`` (the baseline), metric by metric
    (:data:`COMPARED`), paired on their shared paths when they share a root seed."""
    level = check_confidence(confidence)
    store_a, df_a = _open(a, "A")
    store_b, df_b = _open(b, "B")
    paired = store_a.manifest.get("root_seed") == store_b.manifest.get("root_seed")
    if paired:
        shared = sorted(set(df_a["path_index"]) & set(df_b["path_index"]))
        if not shared:
            raise InvalidParameter(f"studies {a} and {b} share a seed but no finished path; run them further")
        df_a = df_a[df_a["path_index"].isin(shared)].reset_index(drop=True)
        df_b = df_b[df_b["path_index"].isin(shared)].reset_index(drop=True)
    rows = []
    for metric, (column, kind) in COMPARED.items():
        if kind == "event":
            xa, xb = _event(df_a, column), _event(df_b, column)
            va, vb = float(xa.mean()), float(xb.mean())
            low = high = math.nan
            p_value, test_name = _event_p_value(xa, xb, paired)
        else:
            fa = np.asarray(df_a[column], dtype=np.float64)
            fb = np.asarray(df_b[column], dtype=np.float64)
            va, vb = float(fa.mean()), float(fb.mean())
            low, high = _difference_interval(fa, fb, paired, level)
            p_value, test_name = _mean_p_value(fa, fb, paired)
        rows.append(
            {
                "metric": metric,
                "a": va,
                "b": vb,
                "difference": vb - va,
                "ci_low": low,
                "ci_high": high,
                "p_value": p_value,
                "significant": bool(p_value < 1 - level),
                "test": test_name,
            }
        )
    return Comparison(
        study_a=str(store_a.manifest.get("name")),
        study_b=str(store_b.manifest.get("name")),
        n_a=len(df_a),
        n_b=len(df_b),
        paired=paired,
        confidence=level,
        table=pd.DataFrame(rows),
    )
