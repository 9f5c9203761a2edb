"""Backtests of a margin series against realised MPOR losses.

For calibration bar ``t`` with margin fraction ``m_t`` and realised outcome ``X = p[t+h]/p[t] - 1``,
a long position has an **exception** when ``-X > m_t``, a short one when ``X > m_t``. With an
MPOR of ``h > 1`` bars consecutive outcomes overlap, so the statistical tests use every
``h``-th bar (non-overlapping periods); the overlapping count is reported beside them.

* Kupiec (1995) proportion of failures: ``LR = -2 ln[(1-p)^(n-x) p^x / ((1-x/n)^(n-x) (x/n)^x)]``,
  chi-squared with 1 degree of freedom.
* Christoffersen (1998) independence (first-order Markov against independent exceptions) and
  conditional coverage ``LR_cc = LR_pof + LR_ind`` (2 degrees of freedom).
* Basel traffic light (BCBS, 1996): exceptions in the last 250 observations; green while their
  binomial cumulative probability is below 95 %, red from 99.99 % (at 99 %: green 0-4,
  yellow 5-9, red 10 or more).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from protocol.errors import InvalidParameter

__all__ = [
    "TRAFFIC_WINDOW",
    "Backtest",
    "backtest",
    "christoffersen",
    "exceptions",
    "kupiec",
    "traffic_light",
    "traffic_light_series",
]

#: Observations of the Basel traffic light.
TRAFFIC_WINDOW: Final = 250
_ZONES: Final = ("green", "yellow", "red")


def exceptions(
    margins: NDArray[np.float64], outcomes: NDArray[np.float64]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Long and short exceptions per bar (bars whose outcome is not known yet are never one)."""
    m = np.asarray(margins, dtype=np.float64)
    x = np.asarray(outcomes, dtype=np.float64)
    if m.shape != x.shape:
        raise InvalidParameter(f"margins {m.shape} and outcomes {x.shape} must have one value per bar")
    known = np.isfinite(x)
    return known & (-np.where(known, x, 0.0) > m), known & (np.where(known, x, 0.0) > m)


def kupiec(failures: int, n: int, p: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures likelihood ratio and its chi-squared(1) p-value."""
    if n < 1 or not 0 <= failures <= n or not 0 < p < 1:
        raise InvalidParameter(f"need 0 <= failures <= n, n >= 1 and 0 < p < 1; got {failures}, {n}, {p}")
    x = failures

    def ll(q: float) -> float:  # log-likelihood of x failures in n at rate q (0 log 0 = 0)
        return (n - x) * (math.log1p(-q) if x < n else 0.0) + (x * math.log(q) if x > 0 else 0.0)

    lr = max(-2.0 * (ll(p) - ll(x / n)), 0.0)
    return lr, float(stats.chi2.sf(lr, 1))


def christoffersen(hits: NDArray[np.bool_]) -> tuple[float, float, dict[str, int]]:
    """Christoffersen's independence likelihood ratio, its chi-squared(1) p-value and the
    transition counts ``n00, n01, n10, n11``."""
    h = np.asarray(hits, dtype=bool)
    if len(h) < 2:
        raise InvalidParameter("the independence test needs at least two observations")
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum(~prev & ~cur))
    n01 = int(np.sum(~prev & cur))
    n10 = int(np.sum(prev & ~cur))
    n11 = int(np.sum(prev & cur))

    def ll(zeros: int, ones: int, q: float) -> float:
        return (zeros * math.log1p(-q) if zeros else 0.0) + (ones * math.log(q) if ones else 0.0)

    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    lr = max(-2.0 * (ll(n00 + n10, n01 + n11, pi) - ll(n00, n01, pi0) - ll(n10, n11, pi1)), 0.0)
    return lr, float(stats.chi2.sf(lr, 1)), {"n00": n00, "n01": n01, "n10": n10, "n11": n11}


def traffic_light(failures: int, n: int = TRAFFIC_WINDOW, p: float = 0.01) -> str:
    """Basel zone of ``failures`` exceptions in ``n`` observations at exception rate ``p``."""
    if n < 1 or not 0 <= failures <= n or not 0 < p < 1:
        raise InvalidParameter(f"need 0 <= failures <= n, n >= 1 and 0 < p < 1; got {failures}, {n}, {p}")
    cumulative = float(stats.binom.cdf(failures, n, p))
    return "green" if cumulative < 0.95 else "yellow" if cumulative < 0.9999 else "red"


def traffic_light_series(hits: NDArray[np.bool_], p: float, window: int = TRAFFIC_WINDOW) -> list[str]:
    """The zone of the last ``window`` observations at every observation from the ``window``-th on."""
    h = np.asarray(hits, dtype=np.int64)
    if len(h) < window:
        return []
    counts = np.convolve(h, np.ones(window, dtype=np.int64), mode="valid")
    zones = {c: traffic_light(int(c), window, p) for c in np.unique(counts)}
    return [zones[c] for c in counts]


@dataclass(frozen=True)
class Backtest:
    """One side's backtest: exceptions and the three tests on non-overlapping periods."""

    side: str
    observations: int
    exceptions: int
    expected: float
    overlapping_observations: int
    overlapping_exceptions: int
    kupiec_lr: float
    kupiec_p: float
    independence_lr: float
    independence_p: float
    conditional_coverage_lr: float
    conditional_coverage_p: float
    #: Zone of the last 250 non-overlapping observations, and the share of time in each zone.
    traffic_light: str
    zone_share: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return asdict(self)


def backtest(
    margins: NDArray[np.float64], outcomes: NDArray[np.float64], *, alpha: float, h: int
) -> tuple[Backtest, Backtest]:
    """Long and short backtests of ``margins`` against ``outcomes`` (one per calibration bar)."""
    if not 0 < alpha < 1 or h < 1:
        raise InvalidParameter(f"need 0 < alpha < 1 and h >= 1, got {alpha}, {h}")
    known = np.isfinite(np.asarray(outcomes, dtype=np.float64))
    p = 1.0 - alpha
    out = []
    for side, hits in zip(("long", "short"), exceptions(margins, outcomes), strict=True):
        all_hits = hits[known]
        tested = all_hits[::h]
        n, x = len(tested), int(tested.sum())
        if n < 2:
            raise InvalidParameter(f"only {n} non-overlapping MPOR periods to backtest; give a longer series")
        pof, pof_p = kupiec(x, n, p)
        ind, ind_p, _ = christoffersen(tested)
        zones = traffic_light_series(tested, p)
        share = {z: (zones.count(z) / len(zones) if zones else 0.0) for z in _ZONES}
        out.append(
            Backtest(
                side,
                n,
                x,
                n * p,
                len(all_hits),
                int(all_hits.sum()),
                pof,
                pof_p,
                ind,
                ind_p,
                pof + ind,
                float(stats.chi2.sf(pof + ind, 2)),
                zones[-1] if zones else "n/a",
                share,
            )
        )
    return out[0], out[1]
