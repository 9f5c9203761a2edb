"""How sure a study is: confidence bounds, the paths a target needs, tail measures.

Everything a risk committee asks before it signs a parameter, from well-kept libraries
(:mod:`scipy.stats`) rather than hand-written formulas:

* **proportions** (the share of paths with an event): two-sided Wilson score intervals for
  display, and the one-sided **Clopper-Pearson** ("exact") upper bound for decisions, whose
  coverage is at least the level stated whatever the true probability
  (:func:`scipy.stats.binomtest`). With no event in ``n`` paths the upper bound is
  ``1 - (1 - c) ** (1 / n)`` (the "rule of three": about ``3 / n`` at 95 %), so a target ``t``
  needs at least ``ln(1 - c) / ln(1 - t)`` paths (:func:`paths_for_proportion`) — 2,995 for
  0.1 % at 95 %.
* **percentiles** (nearest rank, an actual path's outcome): distribution-free **order-statistic**
  bounds. The ``r``-th smallest of ``n`` outcomes lies at or above the true ``q`` quantile with
  probability ``P(Binomial(n, q) <= r - 1)``; the upper bound at level ``c`` is the smallest such
  order statistic reaching ``c``, and there is none (the bound is unresolved) while
  ``1 - q ** n < c`` (:func:`paths_for_quantile`: 59 paths for the 95th percentile, 299 for the
  99th at 95 %). A percentile is **just the worst path** when ``ceil(q * n) == n``.
* **means and expected shortfalls**: percentile **bootstrap** intervals
  (:func:`scipy.stats.bootstrap`, :data:`BOOTSTRAP_RESAMPLES` resamples) seeded from
  :data:`BOOTSTRAP_SEED`, so a summary is reproducible and the seed is stored with it.
* **expected shortfall** ``ES_a`` (:func:`expected_shortfall`): the mean of the worst ``1 - a``
  share of outcomes, the boundary outcome weighted by its fraction (Acerbi and Tasche, 2002),
  computed exactly on decimals.

Levels ``c`` are confidences in (0.5, 1): 0.95 means a one-sided bound that is wrong at most 5 %
of the time, or a two-sided interval with 2.5 % on each side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "DEFAULT_CONFIDENCE",
    "bootstrap_interval",
    "check_confidence",
    "expected_shortfall",
    "expected_shortfall_floats",
    "is_worst_path",
    "paths_for_proportion",
    "paths_for_quantile",
    "proportion_interval",
    "proportion_upper",
    "quantile_bounds",
]

#: The level of every bound unless the user states another.
DEFAULT_CONFIDENCE: Final = 0.95
#: Entropy of the bootstrap's :class:`numpy.random.SeedSequence` (recorded in summary.json).
BOOTSTRAP_SEED: Final = 20_260_415
#: Bootstrap resamples per interval.
BOOTSTRAP_RESAMPLES: Final = 2_000


def _stats() -> Any:
    """:mod:`scipy.stats`, imported when first needed (the command line stays quick to start)."""
    from scipy import stats

    return stats


def check_confidence(confidence: object, name: str = "confidence") -> float:
    """``confidence`` as a float in (0.5, 1), else InvalidParameter naming ``name``."""
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0.5 < confidence < 1:
        raise InvalidParameter(f"{name} must be a level in (0.5, 1) such as 0.95, got {confidence!r}")
    return float(confidence)


def _counts(successes: object, n: object) -> tuple[int, int]:
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InvalidParameter(f"{name} must be an integer, got {value!r}")
    k, total = int(successes), int(n)  # type: ignore[call-overload]
    if total < 1 or not 0 <= k <= total:
        raise InvalidParameter(f"need 0 <= successes <= n and n >= 1, got successes={k}, n={total}")
    return k, total


def proportion_interval(
    successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE, method: str = "wilson"
) -> tuple[float, float]:
    """Two-sided interval of a binomial proportion ``successes / n`` at ``confidence``:
    ``method`` ``"wilson"`` (score interval) or ``"exact"`` (Clopper-Pearson)."""
    k, total = _counts(successes, n)
    level = check_confidence(confidence)
    if method not in ("wilson", "exact"):
        raise InvalidParameter(f"method must be 'wilson' or 'exact', got {method!r}")
    ci = _stats().binomtest(k, total).proportion_ci(confidence_level=level, method=method)
    low = 0.0 if k == 0 else max(0.0, float(ci.low))
    high = 1.0 if k == total else min(1.0, float(ci.high))
    return low, high


def proportion_upper(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper bound of ``successes / n`` at ``confidence``: the true
    probability is at or below it with probability at least ``confidence``."""
    k, total = _counts(successes, n)
    level = check_confidence(confidence)
    if k == total:
        return 1.0
    return float(_stats().binomtest(k, total).proportion_ci(confidence_level=2 * level - 1, method="exact").high)


def paths_for_proportion(threshold: float, confidence: float = DEFAULT_CONFIDENCE) -> int | None:
    """Fewest paths whose upper bound (:func:`proportion_upper`) can be at most ``threshold``:
    the count at which a study with **no** event would support the target. None for a threshold
    of 0 (no finite count supports it); 1 for a threshold of 1."""
    level = check_confidence(confidence)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise InvalidParameter(f"threshold must be a probability in [0, 1], got {threshold!r}")
    if threshold == 0:
        return None
    if threshold == 1:
        return 1
    n = max(1, math.ceil(math.log(1 - level) / math.log1p(-threshold)))
    while n > 1 and proportion_upper(0, n - 1, level) <= threshold:  # guard the float rounding
        n -= 1
    while proportion_upper(0, n, level) > threshold:
        n += 1
    return n


def _check_level(q: object) -> Fraction:
    if isinstance(q, bool) or not isinstance(q, int | float | Fraction) or not 0 < q < 1:
        raise InvalidParameter(f"percentile level must be in (0, 1), got {q!r}")
    return Fraction(q) if not isinstance(q, float) else Fraction(str(q))


def is_worst_path(n: int, q: float | Fraction) -> bool:
    """Whether the nearest-rank ``q`` percentile of ``n`` outcomes is simply the largest one."""
    level = _check_level(q)
    return math.ceil(level * n) >= n


def paths_for_quantile(q: float | Fraction, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Fewest paths for which the ``q`` quantile has an order-statistic upper bound at
    ``confidence`` (``1 - q ** n >= confidence``)."""
    level = check_confidence(confidence)
    p = float(_check_level(q))
    n = max(1, math.ceil(math.log(1 - level) / math.log(p)))
    while n > 1 and 1 - p ** (n - 1) >= level:
        n -= 1
    while 1 - p**n < level:
        n += 1
    return n


def quantile_bounds(
    n: int, q: float | Fraction, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[int | None, int | None]:
    """1-based ranks ``(low, high)`` of the order statistics bounding the ``q`` quantile of ``n``
    outcomes, each one-sided at ``confidence``: ``P(X_(low) <= x_q) >= confidence`` and
    ``P(X_(high) >= x_q) >= confidence``. A side is None when no order statistic reaches the
    level (too few paths: below the smallest, or above the largest outcome)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameter(f"n must be a positive integer, got {n!r}")
    level = check_confidence(confidence)
    p = float(_check_level(q))
    cdf = _stats().binom.cdf(np.arange(n + 1), n, p)  # cdf[j] = P(Binomial(n, q) <= j)
    above = np.flatnonzero(cdf[:n] >= level)  # rank r = j + 1 with P(B <= r - 1) >= level
    below = np.flatnonzero(cdf[:n] <= 1 - level)  # rank l = j + 1 with P(B >= l) >= level
    high = int(above[0]) + 1 if above.size else None
    low = int(below[-1]) + 1 if below.size else None
    return low, high


def expected_shortfall(values: Sequence[Decimal], alpha: float | Fraction) -> Decimal:
    """Expected shortfall at level ``alpha`` (0.975, 0.99) of losses ``values``, exactly:
    the mean of the worst ``m = n (1 - alpha)`` outcomes, the ``ceil(m)``-th worst weighted by
    the fraction ``m - floor(m)``. With ``m < 1`` it is the worst outcome."""
    if not values:
        raise InvalidParameter("an expected shortfall needs at least one value")
    level = _check_level(alpha)
    ordered = sorted(values, reverse=True)
    n = len(ordered)
    tail = n * (1 - level)
    if tail <= 1:
        return ordered[0]
    whole = math.floor(tail)
    part = tail - whole
    with localcontext() as ctx:
        ctx.prec = 80
        total = sum(ordered[:whole], Decimal(0))
        if part:
            total += ordered[whole] * Decimal(part.numerator) / Decimal(part.denominator)
        return total * Decimal(tail.denominator) / Decimal(tail.numerator)


def expected_shortfall_floats(values: NDArray[np.float64], alpha: float, axis: int = -1) -> NDArray[np.float64]:
    """:func:`expected_shortfall` in float64 along ``axis`` (vectorised, for the bootstrap)."""
    level = _check_level(alpha)
    arr = -np.sort(-np.asarray(values, dtype=np.float64), axis=axis)  # descending
    n = arr.shape[axis]
    tail = n * (1 - level)
    if tail <= 1:
        return np.asarray(np.take(arr, 0, axis=axis), dtype=np.float64)
    whole = math.floor(tail)
    weights = np.zeros(n)
    weights[:whole] = 1.0
    if whole < n:
        weights[whole] = float(tail - whole)
    return np.asarray(np.moveaxis(arr, axis, -1) @ weights / float(tail))


def bootstrap_interval(
    values: NDArray[np.float64], statistic: str, confidence: float = DEFAULT_CONFIDENCE, *, alpha: float = 0.975
) -> tuple[float, float, float]:
    """Percentile-bootstrap bounds of the ``"mean"`` or the ``"es"`` (expected shortfall at
    ``alpha``) of ``values``: ``(low, high, upper)``, the two-sided interval at ``confidence`` and
    the one-sided upper bound at ``confidence`` (both from one bootstrap distribution). Seeded
    from :data:`BOOTSTRAP_SEED`; a constant sample has point bounds."""
    level = check_confidence(confidence)
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise InvalidParameter("bootstrap_interval needs a non-empty one-dimensional array of finite values")
    if statistic == "mean":

        def fn(x: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
            return np.asarray(np.mean(x, axis=axis))
    elif statistic == "es":

        def fn(x: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
            return expected_shortfall_floats(x, alpha, axis=axis)
    else:
        raise InvalidParameter(f"statistic must be 'mean' or 'es', got {statistic!r}")
    point = float(fn(arr))
    if float(arr.min()) == float(arr.max()):
        return point, point, point
    rng = np.random.default_rng(np.random.SeedSequence(BOOTSTRAP_SEED))
    common: dict[str, Any] = {"vectorized": True, "confidence_level": level, "method": "percentile"}
    both = _stats().bootstrap((arr,), fn, n_resamples=BOOTSTRAP_RESAMPLES, rng=rng, **common)
    one = _stats().bootstrap((arr,), fn, n_resamples=0, bootstrap_result=both, alternative="less", **common)
    low, high = both.confidence_interval
    return float(low), float(high), float(one.confidence_interval.high)
