"""Anti-procyclicality (EMIR RTS 153/2013 Art. 28(1)) and the measures that show its effect.

The three options, applied to a model's margin series ``m_t``:

* **buffer** (a): a 25 % buffer held in calm markets and released in stress. As a hysteresis
  band: ``A_t = min(max(A_{t-1}, m_t), 1.25 m_t)`` from ``A_0 = 1.25 m_0`` — the margin stays
  where it was while that lies between the model margin and the model margin plus 25 %, so a
  rising model margin first consumes the buffer, and a falling one rebuilds it;
* **stressed** (b): 25 % weight on the stressed period, ``0.75 m_t + 0.25 S_t`` with ``S_t``
  the model's margin in its most stressed period so far (the running maximum over at most ten
  years);
* **floor** (c): the margin computed on a lookback of up to ten years, ``max(m_t, F_t)``.

Measures (Murphy, Vasios and Vause, Bank of England Financial Stability Paper 29, 2014): the
**peak-to-trough ratio** ``max m / min m`` over a period and the **largest n-day increase**
``max_t m_t / m_{t-n} - 1``.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter

__all__ = ["APC_OPTIONS", "BUFFER", "STRESS_WEIGHT", "apply_apc", "largest_increase", "peak_to_trough"]

#: The options of :func:`apply_apc` (``none`` leaves the model margin).
APC_OPTIONS: Final = ("none", "buffer", "stressed", "floor")
BUFFER: Final = 0.25
STRESS_WEIGHT: Final = 0.25


def _series(name: str, values: NDArray[np.float64]) -> NDArray[np.float64]:
    m = np.asarray(values, dtype=np.float64)
    if m.ndim != 1 or len(m) == 0 or not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise InvalidParameter(f"{name} must be a non-empty series of positive margins")
    return m


def apply_apc(
    option: str, margins: NDArray[np.float64], *, floor: NDArray[np.float64] | None = None, stress_bars: int = 3_650
) -> NDArray[np.float64]:
    """The margin series after ``option`` (:data:`APC_OPTIONS`); ``floor`` is the model's margin
    on the long lookback (option ``floor``), ``stress_bars`` how far back ``stressed`` looks."""
    m = _series("margins", margins)
    if option == "none":
        return m.copy()
    if option == "buffer":
        out = np.empty_like(m)
        level = (1.0 + BUFFER) * m[0]
        for t, value in enumerate(m):
            level = min(max(level, value), (1.0 + BUFFER) * value)
            out[t] = level
        return out
    if option == "stressed":
        import pandas as pd

        stressed = pd.Series(m).rolling(stress_bars, min_periods=1).max().to_numpy()
        result: NDArray[np.float64] = (1.0 - STRESS_WEIGHT) * m + STRESS_WEIGHT * stressed
        return result
    if option == "floor":
        if floor is None:
            raise InvalidParameter("the floor option needs the margins on the long lookback")
        f = _series("floor margins", floor)
        if f.shape != m.shape:
            raise InvalidParameter(f"floor margins {f.shape} must match margins {m.shape}")
        return np.maximum(m, f)
    raise InvalidParameter(f"anti-procyclicality option {option!r} is not one of {list(APC_OPTIONS)}")


def peak_to_trough(margins: NDArray[np.float64]) -> float:
    """``max / min`` of a margin series (1 for a constant margin)."""
    m = _series("margins", margins)
    return float(m.max() / m.min())


def largest_increase(margins: NDArray[np.float64], n: int) -> float:
    """The largest relative rise over ``n`` bars, ``max m_t / m_{t-n} - 1`` (0 if it never rises)."""
    m = _series("margins", margins)
    if n < 1:
        raise InvalidParameter(f"n must be a positive number of bars, got {n}")
    if len(m) <= n:
        return 0.0
    return float(max(np.max(m[n:] / m[:-n]) - 1.0, 0.0))
