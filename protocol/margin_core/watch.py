r"""Watching a book for liquidations step after step without screening every account every step.

Between two actions on an account, its equity minus maintenance moves only through the market
scalars of :mod:`protocol.margin_core.prices`. Exactly (``W = 1e18``)::

    |d(E - MM)| <= sum_j |s_j| (max(|d q_long_j|, |d q_short_j|) + |d mm_rate_j|)
                 + sum_k a_k |d value_rate_k|          <=  w * delta

with ``w = sum_j |s_j| + sum_k a_k`` (base units) and ``delta`` the largest per-unit change of
any scalar since a **baseline** (the value cap is 1-Lipschitz; the model's integer roundings
add at most ``2 * requirement_slack``). A full screen at the baseline gives every account's
``slack = E - MM`` within the screen's proven tolerance (see :mod:`protocol.margin_core.screen`),
hence a distance ``r = (|slack| - tol) / w`` in scalar units to the maintenance threshold, from
either side: an account healthy at the baseline stays healthy, and one below maintenance stays
below, while ``delta < r``. At a later step only accounts with ``r <= delta`` can have crossed
(in a crash the accounts already below maintenance, waiting for keepers, are most of the book's
liquidatable rows: they are not screened again). With the distances sorted that is a prefix
found by binary search; a baseline is sorted once it has lasted a few steps, and only its
``rescreen_fraction`` smallest distances (a partial sort: a longer prefix forces a rescreen
anyway); before that a linear pass over the distances finds the same rows. Only those accounts
(plus the accounts changed by actions since the baseline, until one holds no size and no
collateral: nothing the market moves) are screened — exactly, by
:func:`~protocol.margin_core.evaluate_rows` — and the others keep their baseline
decision. When they grow past ``rescreen_fraction`` of the book, the watch screens everything
and takes a new baseline (the "skin" of a Verlet neighbour list). When baselines keep failing
at the first step (a crash), the next full passes skip the distance bookkeeping, for 1, 3, 7,
... up to 16 steps.

The scalar changes are computed from exact integers (one rounding, then inflated), distances are
deflated by a relative ``1e-9``: far more than the float error of the few operations involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import NDArray

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.margin import maintenance_fraction
from protocol.margin_core.batch import MarginOutputs, evaluate, evaluate_rows
from protocol.margin_core.book import MarginBook
from protocol.margin_core.jit import kernel
from protocol.margin_core.screen import Tolerances

__all__ = ["LiquidationWatch"]

_SAFETY = 1e-9
#: A baseline is sorted once it has served this many steps (hot markets rescreen sooner).
_SORT_AFTER = 4
#: Longest run of full passes without a baseline after baselines kept failing at once.
_MAX_BACKOFF = 16
_WAD2 = WAD * WAD
#: What decides a row between full passes (``LiquidationWatch._source``).
_BASELINE, _CHANGED, _FIXED = 0, 1, 2


def _levels(book: MarginBook, prices: Mapping[int, int]) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Exact numerators of the scalars: per market ``(q_long * W, q_short * W, mm_rate * W**2)``,
    per asset ``value_rate * W**2``."""
    markets = []
    for mp in book.perpetuals:
        ms, p = book.markets[mp.market_id], prices[mp.feed_id]
        base = p - ms.funding_index
        markets.append((base - ms.loss_index_long, base + ms.loss_index_short, p * maintenance_fraction(mp)))
    assets = [prices[cp.feed_id] * (WAD - cp.haircut_wad) for cp in book.collaterals]
    return markets, assets


@kernel(parallel=False)
def _distances(
    magnitude: NDArray[np.float64],
    size: NDArray[np.float64],
    collateral: NDArray[np.float64],
    equity: NDArray[np.float64],
    maintenance: NDArray[np.float64],
    q_abs: NDArray[np.float64],
    value_rate: NDArray[np.float64],
    rel_tol: float,
    slack: float,
    distance: NDArray[np.float64],
) -> None:
    """``distance = (|E^ - MM^| - tol) / w`` (deflated), ``-inf`` where the margin is not
    positive, ``inf`` for an account with nothing the market moves (``w = 0``: its decision,
    exact at the baseline, holds until an action changes it); ``tol = rel_tol (A^ + MM^) +
    slack`` with ``A^`` the screen's magnitude at ``q_abs`` (USD per unit, ``max(|q_long|,
    |q_short|)``) and ``value_rate``."""
    for i in range(magnitude.shape[0]):
        mag = magnitude[i]
        weight = 0.0
        for j in range(size.shape[1]):
            a = abs(size[i, j])
            mag += a * q_abs[j]
            weight += a
        for k in range(collateral.shape[1]):
            c = collateral[i, k]
            mag += c * value_rate[k]
            weight += c
        margin = abs(equity[i] - maintenance[i]) - (rel_tol * (mag + maintenance[i]) + slack)
        if weight == 0.0:
            distance[i] = np.inf  # no size, no collateral: E - MM is a constant, decided exactly
        elif margin <= 0.0:
            distance[i] = -np.inf
        else:
            distance[i] = margin * (1.0 - _SAFETY) / (weight * (1.0 + _SAFETY))


class LiquidationWatch:
    """A screen for a book whose rows change a few at a time (a simulation's live book).

    Call it with the book view of the step, the prices, and the rows refreshed since the last
    call; it returns the rows with equity < maintenance, exactly as the model decides. A caller
    that needs no decision on some rows now (a simulation's accounts already flagged, waiting for
    a keeper) marks them in ``skip``: between full passes those are not screened.
    """

    def __init__(self, n_accounts: int, *, rescreen_fraction: float = 0.0625) -> None:
        if isinstance(n_accounts, bool) or not isinstance(n_accounts, int) or n_accounts < 0:
            raise InvalidParameter(f"n_accounts must be a non-negative integer, got {n_accounts!r}")
        if not 0.0 < rescreen_fraction <= 1.0:
            raise InvalidParameter(f"rescreen_fraction must be in (0, 1], got {rescreen_fraction!r}")
        self._n = n_accounts
        self._limit = max(int(n_accounts * rescreen_fraction), 1)
        self._out = MarginOutputs.allocate(n_accounts)
        #: Decisions of the baseline (by row) and a scratch copy the steps between overwrite.
        self._liquidatable = np.zeros(n_accounts, dtype=np.bool_)
        self._decided = np.zeros(n_accounts, dtype=np.bool_)
        #: Distances of the baseline: by row until sorted (``_order`` None), then the smallest
        #: ``_limit + 1`` ascending (rows in ``_order``).
        self._order: NDArray[np.int64] | None = None
        self._distance = np.zeros(0)
        self._age = 0
        #: Full passes left without a baseline, and the current back-off length (hot markets).
        self._hot = 0
        self._backoff = 0
        self._baseline: tuple[list[tuple[int, int, int]], list[int]] | None = None
        #: Rows changed by actions since the baseline, distinct, in arrival order (the first
        #: ``_n_changed`` entries). ``_source`` says what decides each row between
        #: full passes: its baseline distance, a screen every step (changed), or its last decision
        #: for good (a changed row left with nothing the market moves).
        self._source = np.full(n_accounts, _BASELINE, dtype=np.uint8)
        self._changed = np.zeros(n_accounts, dtype=np.int64)
        self._n_changed = 0
        #: Accounts screened so far (full passes count every row), for reports.
        self.screened = 0
        self.full_screens = 0

    def __call__(
        self,
        book: MarginBook,
        prices: Mapping[int, int],
        changed: Iterable[int] = (),
        skip: NDArray[np.bool_] | None = None,
    ) -> NDArray[np.int64]:
        """Rows of ``book`` below maintenance at ``prices``, ascending: every such row except
        that rows marked in ``skip`` (a boolean mask by row, None: no row) may be left out;
        every row returned is below maintenance."""
        if book.n_accounts != self._n:
            raise InvalidParameter(f"the watch was built for {self._n} accounts, the book has {book.n_accounts}")
        if skip is not None and (
            not isinstance(skip, np.ndarray) or skip.dtype != np.bool_ or skip.shape != (self._n,)
        ):
            raise InvalidParameter(f"skip must be a boolean numpy array of shape ({self._n},), one flag per row")
        for r in changed:
            if self._source[r] != _CHANGED:
                self._source[r] = _CHANGED
                self._changed[self._n_changed] = r
                self._n_changed += 1
        if self._baseline is None or self._hot:
            return self._full(book, prices)
        delta = self._delta(book, prices)
        self._age += 1
        if self._order is None and self._age >= _SORT_AFTER:
            self._sort()
            self._backoff = 0
        if self._order is None:
            near = np.flatnonzero(self._distance <= delta)
        else:
            near = self._order[: int(np.searchsorted(self._distance, delta, side="right"))]
        if near.size + self._n_changed > self._limit:
            if self._age <= 1:  # a hot market: the next full passes skip the baseline bookkeeping
                self._backoff = min(2 * self._backoff + 1, _MAX_BACKOFF)
                self._hot = self._backoff
            return self._full(book, prices)
        near = near[self._source[near] == _BASELINE]
        decided = self._decided
        if skip is None:
            np.copyto(decided, self._liquidatable)
        else:  # a skipped row is reported only if screened (changed): its baseline decision may be stale
            near = near[~skip[near]]
            np.greater(self._liquidatable, skip, out=decided)  # liquidatable at the baseline and not skipped
        # Distinct rows, in no particular order: each decision is written back by row.
        rows = np.concatenate((near, self._changed[: self._n_changed]))
        self.screened += int(rows.size)
        if rows.size:
            decided[rows] = evaluate_rows(book, prices, rows).liquidatable
            self._retire_fixed(book, decided)
        return np.flatnonzero(decided)

    def _retire_fixed(self, book: MarginBook, decided: NDArray[np.bool_]) -> None:
        """Changed rows without size or collateral (``E - MM`` is then a constant: balance less
        cost bases) keep the decision just taken until the next full pass and leave the changed set."""
        changed = self._changed[: self._n_changed]
        _, _, size, _, collateral = book.screen.as_tuple()
        fixed = ~(size[changed].any(axis=1) | collateral[changed].any(axis=1))
        if not fixed.any():
            return
        rows = changed[fixed]
        self._liquidatable[rows] = decided[rows]
        self._source[rows] = _FIXED
        kept = changed[~fixed]
        self._changed[: kept.size] = kept
        self._n_changed = int(kept.size)

    def _sort(self) -> None:
        """Keep the ``_limit + 1`` smallest distances, ascending, with their rows in ``_order``."""
        k = min(self._limit + 1, self._n)
        part = np.argpartition(self._distance, k - 1)[:k] if k < self._n else np.arange(self._n, dtype=np.int64)
        self._order = part[np.argsort(self._distance[part], kind="stable")]
        self._distance = self._distance[self._order]

    def _delta(self, book: MarginBook, prices: Mapping[int, int]) -> float:
        """Largest change per unit of size or collateral of any scalar since the baseline (USD)."""
        assert self._baseline is not None
        markets, assets = _levels(book, prices)
        base_markets, base_assets = self._baseline
        delta = 0.0
        for (ql, qs, mm), (ql0, qs0, mm0) in zip(markets, base_markets, strict=True):
            change = max(abs(ql - ql0), abs(qs - qs0)) * WAD + abs(mm - mm0)
            delta = max(delta, change / _WAD2)
        for v, v0 in zip(assets, base_assets, strict=True):
            delta = max(delta, abs(v - v0) / _WAD2)
        return delta * (1.0 + _SAFETY)

    def _full(self, book: MarginBook, prices: Mapping[int, int]) -> NDArray[np.int64]:
        batch = evaluate(book, prices, out=self._out)
        self.screened += self._n
        self.full_screens += 1
        self._source.fill(_BASELINE)
        self._n_changed = 0
        if self._hot:
            self._hot -= 1
            self._baseline = None
            return np.flatnonzero(batch.liquidatable)
        markets, assets = _levels(book, prices)
        _, magnitude, size, _, collateral = book.screen.as_tuple()
        q_abs = np.asarray([max(abs(ql), abs(qs)) / WAD for ql, qs, _ in markets])
        value_rate = np.asarray([v / _WAD2 for v in assets])
        tol = Tolerances(len(book.perpetuals), len(book.collaterals))
        distance = np.empty(self._n)
        _distances(
            magnitude,
            size,
            collateral,
            batch.equity,
            batch.maintenance,
            q_abs,
            value_rate,
            2.0 * tol.rel_tol,
            4.0 * tol.requirement_slack,
            distance,
        )
        self._order, self._distance, self._age = None, distance, 0
        self._baseline = (markets, assets)
        np.copyto(self._liquidatable, batch.liquidatable)
        return np.flatnonzero(batch.liquidatable)
