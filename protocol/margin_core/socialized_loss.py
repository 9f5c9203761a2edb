"""Auto-deleveraging counterparties for a whole book: the pool a keeper ranks exactly.

With the ADL method the protocol closes a bankrupt position against opposite positions in
profit that a keeper supplies, ranked by :func:`protocol.socialized_loss.adl_score`
(``profit / |cost| * notional / equity``, non-increasing; with the gains method by unrealized
profit, ``by_gain``), and verifies only the accounts it is handed. Scoring every account exactly
costs a model evaluation each; :func:`adl_pool` scores the whole book in float64 and returns
the ``pool`` best rows, and the keeper ranks those exactly
(:func:`protocol.keeper.adl_counterparties` with ``candidates``). Floats only choose whom to
look at: whatever the keeper sends is checked by the model's integers, so a float error can at
worst leave out an account ranked just below the pool's last one, never send an ineligible one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from protocol.errors import InvalidParameter

__all__ = ["adl_pool"]

#: Relative slack on the profit test, so that a tiny float error cannot hide a profitable row.
_PROFIT_SLACK = 1e-12


def _column(name: str, value: ArrayLike, n: int | None) -> NDArray[np.float64]:
    try:
        a = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{name} must be a float array, got {type(value).__name__}") from None
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        raise InvalidParameter(f"{name} must have shape (N,) like size, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InvalidParameter(f"{name} holds NaN or infinite values")
    return a


def adl_pool(
    size: ArrayLike,
    open_notional: ArrayLike,
    equity: ArrayLike,
    *,
    price: float,
    side: int,
    pool: int,
    by_gain: bool = False,
) -> NDArray[np.int64]:
    """Rows that may deleverage a bankrupt position on ``side`` (+1 long, -1 short), best first.

    ``size`` (base units), ``open_notional`` (USD cost basis) and ``equity`` (USD, e.g.
    :attr:`MarginBatch.equity <protocol.margin_core.MarginBatch.equity>`, whose sign is exact)
    are one market column of N accounts; ``price`` is the market's oracle price (USD). Rows on
    the opposite side whose profit ``size * price - open_notional`` is positive (up to a
    ``1e-12`` relative slack) are scored as the protocol scores them (an account with no cost
    basis or no positive equity first), or with ``by_gain`` (the ``gains`` method) by their
    profit (USD); at most ``pool`` are returned, highest score first, ties by row.
    """
    s = _column("size", size, None)
    n = s.shape[0]
    o = _column("open_notional", open_notional, n)
    e = _column("equity", equity, n)
    if isinstance(price, bool) or not isinstance(price, int | float) or not np.isfinite(price) or price <= 0:
        raise InvalidParameter(f"price must be a positive finite number (USD), got {price!r}")
    if side not in (1, -1) or isinstance(side, bool):
        raise InvalidParameter(f"side must be +1 (a long is bankrupt) or -1 (a short), got {side!r}")
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
        raise InvalidParameter(f"pool must be a positive integer, got {pool!r}")
    if not isinstance(by_gain, bool):
        raise InvalidParameter(f"by_gain must be a bool, got {by_gain!r}")
    value = s * price
    profit = value - o
    eligible = (s * side < 0) & (profit > -_PROFIT_SLACK * (np.abs(value) + np.abs(o)))
    rows = np.flatnonzero(eligible)
    if rows.size == 0:
        return rows
    if by_gain:
        score = profit[rows]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(
                (o[rows] == 0.0) | (e[rows] <= 0.0),
                np.inf,
                profit[rows] / np.abs(o[rows]) * np.abs(value[rows]) / e[rows],
            )
    if rows.size > pool:
        keep = np.argpartition(-score, pool - 1)[:pool]
        rows, score = rows[keep], score[keep]
    order = np.lexsort((rows, -score))
    return rows[order]
