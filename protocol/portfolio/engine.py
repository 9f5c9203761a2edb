"""Scenario portfolio margin of many accounts (float64, numba).

For account ``a`` and underlying ``u`` every position of ``a`` on ``u`` (perpetuals and
options) is revalued together in each scenario ``s`` of the grid
(:mod:`protocol.portfolio.scenarios` defines the moves), so gains on one position offset losses
on another:

* a perpetual's P&L is ``(size * spot) * move`` with ``move = price_scan_range[u] *
  price_units[s]``, computed in that order, so one perpetual's scenario loss is its notional
  times the move bit for bit;
* an option's P&L is ``size * (BS(shocked spot, shocked vol) - BS(spot, vol))`` with the
  strike, expiry, rate and the underlying's yield unchanged (the scenarios are instantaneous:
  no time decay), BS being :func:`protocol.black_scholes.price_unchecked` compiled by numba;

``loss[a, u, s] = -weights[s] * pnl[a, u, s]`` (USD, positive = the account loses). Per
underlying, ``scan_risk = max(0, max_s loss)`` and ``short_option_floor =
short_option_minimum[u] * spot[u] * (units of short options on u)``; the margin requirement
is

    margin[a] = sum over underlyings u of max(scan_risk[a, u], short_option_floor[a, u]).

Different underlyings are summed: no credit is given between them (SPAN's inter-commodity
spread credits are not modelled), which never understates the requirement of the separate
groups. Interpretation (initial vs maintenance) is the caller's: scale the ranges or the result.

Risk arrays (SPAN's method): every option series that at least two slots of the book hold
(:attr:`PositionBook.listed <protocol.portfolio.book.PositionBook.listed>`) is revalued once
per scenario into ``risk[n, s]`` (USD per unit, ``N x S``, in parallel over series); an
account's P&L then adds ``size * risk[n, :]`` per listed position, a sparse dot product of its
positions with the risk array. Options held by one slot only are revalued in place by the same
routine, so both paths give the same bits. The scenario count of a revaluation is therefore
``N * S`` for listed series, not ``positions * S``.

Public functions validate their inputs (raising :class:`~protocol.errors.InvalidParameter`)
and call private numba kernels that write into preallocated outputs; accounts are processed
in parallel chunks on numba's thread pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from protocol.portfolio._numba import chunk_count, kernel, parallel_kernel, prange
from protocol.portfolio._validate import out_array
from protocol.portfolio.black_scholes import DAYS_PER_YEAR, bs_price_nb
from protocol.portfolio.book import PositionBook
from protocol.portfolio.market import Underlyings
from protocol.portfolio.scenarios import VEGA_REFERENCE_DAYS, ScenarioGrid, VolShift

__all__ = ["MarginResult", "portfolio_margin", "scenario_losses"]


@dataclass(frozen=True, eq=False)
class MarginResult:
    """Portfolio margin of ``A`` accounts over ``U`` underlyings (USD)."""

    #: ``(A,)`` requirement: sum over underlyings of max(scan risk, short option floor).
    margin: NDArray[np.float64]
    #: ``(A, U)`` largest weighted scenario loss, at least 0 (0 where the account has no position).
    scan_risk: NDArray[np.float64]
    #: ``(A, U)`` short option minimum charge.
    short_option_floor: NDArray[np.float64]
    #: ``(A, U)`` index of the scenario with the largest weighted loss (first on ties); -1 where
    #: the account holds nothing on the underlying.
    worst_scenario: NDArray[np.int64]

    @classmethod
    def empty(cls, accounts: int, underlyings: int) -> MarginResult:
        """Uninitialised outputs to pass as ``out``."""
        return cls(
            margin=np.empty(accounts),
            scan_risk=np.empty((accounts, underlyings)),
            short_option_floor=np.empty((accounts, underlyings)),
            worst_scenario=np.empty((accounts, underlyings), dtype=np.int64),
        )


@dataclass(frozen=True)
class _Prepared:
    """Validated kernel inputs derived from one (book, underlyings, grid) triple."""

    move: NDArray[np.float64]  # (U, S) fractional price move
    shocked_spot: NDArray[np.float64]  # (U, S) spot * (1 + move)
    vol_units: NDArray[np.float64]  # (S,)
    weights: NDArray[np.float64]  # (S,)


def _prepare(book: PositionBook, und: Underlyings, grid: ScenarioGrid) -> _Prepared:
    for name, value, kind in (
        ("book", book, PositionBook),
        ("underlyings", und, Underlyings),
        ("grid", grid, ScenarioGrid),
    ):
        if not isinstance(value, kind):
            raise InvalidParameter(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    book.require_underlyings(und.count)
    price_units, vol_units, weights = grid.arrays()
    move = und.price_scan_range[:, None] * price_units[None, :]
    if (move <= -1.0).any():
        u, s = (int(i) for i in np.argwhere(move <= -1.0)[0])
        raise InvalidParameter(
            f"scenario {s} of grid {grid.name!r} moves underlying {u} by {move[u, s]:.0%}: the shocked price must "
            f"stay > 0; lower underlyings.price_scan_range[{u}] = {und.price_scan_range[u]}"
        )
    return _Prepared(
        move=move,
        shocked_spot=und.spot[:, None] * (1.0 + move),
        vol_units=vol_units,
        weights=weights,
    )


@kernel
def _option_pnl_row(
    is_call: bool,
    spot: float,
    shocked_spot: NDArray[np.float64],
    strike: float,
    t_years: float,
    vol: float,
    rate: float,
    dividend_yield: float,
    vol_units: NDArray[np.float64],
    vol_up: float,
    vol_down: float,
    relative: bool,
    power_short: float,
    power_long: float,
    dte_floor_days: float,
    min_vol: float,
    out: NDArray[np.float64],
    row: int,
) -> None:
    """Per-unit scenario P&L of one option (USD per unit of the underlying) into
    ``out[row, s]``: ``BS(shocked_spot[s], shocked vol) - BS(spot, vol)``. The one revaluation
    routine of both the risk array and the per-position path, so the two agree bit for bit."""
    factor = 1.0
    if relative:
        days = max(t_years * DAYS_PER_YEAR, dte_floor_days)
        power = power_short if days < VEGA_REFERENCE_DAYS else power_long
        factor = (VEGA_REFERENCE_DAYS / days) ** power
    base = bs_price_nb(is_call, spot, strike, t_years, vol, rate, dividend_yield)
    for s in range(vol_units.size):
        units = vol_units[s]
        shocked_vol = vol
        if units != 0.0:
            span = vol_up if units > 0.0 else vol_down
            shocked_vol = vol * (1.0 + units * span * factor) if relative else vol + units * span
            shocked_vol = max(shocked_vol, min_vol)
        out[row, s] = bs_price_nb(is_call, shocked_spot[s], strike, t_years, shocked_vol, rate, dividend_yield) - base


@parallel_kernel
def _risk_array_kernel(
    und: NDArray[np.int64],
    kind: NDArray[np.int64],
    strike: NDArray[np.float64],
    expiry: NDArray[np.float64],
    ivol: NDArray[np.float64],
    dividend_yield: NDArray[np.float64],
    spot: NDArray[np.float64],
    vol_up: NDArray[np.float64],
    vol_down: NDArray[np.float64],
    rate: float,
    shocked_spot: NDArray[np.float64],
    vol_units: NDArray[np.float64],
    relative: bool,
    power_short: float,
    power_long: float,
    dte_floor_days: float,
    min_vol: float,
    risk: NDArray[np.float64],
) -> None:
    """Risk array ``risk[n, s]``: per-unit scenario P&L of series ``n`` (USD per unit)."""
    for n in prange(strike.size):
        u = und[n]
        _option_pnl_row(
            kind[n] == 1, spot[u], shocked_spot[u], strike[n], expiry[n], ivol[n], rate, dividend_yield[n], vol_units,
            vol_up[u], vol_down[u], relative, power_short, power_long, dte_floor_days, min_vol, risk, n,
        )  # fmt: skip


@parallel_kernel
def _portfolio_kernel(
    n_chunks: int,
    und: NDArray[np.int64],
    kind: NDArray[np.int64],
    size: NDArray[np.float64],
    strike: NDArray[np.float64],
    expiry: NDArray[np.float64],
    ivol: NDArray[np.float64],
    dividend_yield: NDArray[np.float64],
    series: NDArray[np.int64],
    risk: NDArray[np.float64],
    spot: NDArray[np.float64],
    vol_up: NDArray[np.float64],
    vol_down: NDArray[np.float64],
    rate: float,
    move: NDArray[np.float64],
    shocked_spot: NDArray[np.float64],
    vol_units: NDArray[np.float64],
    relative: bool,
    power_short: float,
    power_long: float,
    dte_floor_days: float,
    min_vol: float,
    weights: NDArray[np.float64],
    short_option_minimum: NDArray[np.float64],
    margin: NDArray[np.float64],
    scan_risk: NDArray[np.float64],
    floor: NDArray[np.float64],
    worst: NDArray[np.int64],
    losses: NDArray[np.float64],
) -> None:
    """Margin outputs of every account; also the weighted losses when ``losses`` is
    ``(A, U, S)`` (pass a ``(0, U, S)`` array to skip them).

    Per account: scenario P&L ``pnl[u, s]`` (USD) over its slots, a listed option adding
    ``size * risk[series, s]`` and any other option ``size`` times its row revalued in place;
    then the worst weighted loss and the short option floor per underlying. The hot loops index
    arrays element-wise (no slices: a slice would touch the shared array's reference count from
    every thread)."""
    n_acc = size.shape[0]
    n_slots = size.shape[1]
    n_und = spot.size
    n_scen = weights.size
    keep = losses.shape[0] > 0
    for c in prange(n_chunks):
        pnl = np.empty((n_und, n_scen))
        row = np.empty((1, n_scen))
        short_units = np.empty(n_und)
        touched = np.empty(n_und, dtype=np.bool_)
        for a in range(c * n_acc // n_chunks, (c + 1) * n_acc // n_chunks):
            for u in range(n_und):
                short_units[u] = 0.0
                touched[u] = False
                for s in range(n_scen):
                    pnl[u, s] = 0.0
            for p in range(n_slots):
                q = size[a, p]
                if q == 0.0:
                    continue
                u = und[a, p]
                touched[u] = True
                if kind[a, p] == 0:
                    notional = q * spot[u]
                    for s in range(n_scen):
                        pnl[u, s] += notional * move[u, s]
                    continue
                if q < 0.0:
                    short_units[u] -= q
                n = series[a, p]
                if n >= 0:
                    for s in range(n_scen):
                        pnl[u, s] += q * risk[n, s]
                    continue
                _option_pnl_row(
                    kind[a, p] == 1, spot[u], shocked_spot[u], strike[a, p], expiry[a, p], ivol[a, p], rate,
                    dividend_yield[a, p], vol_units, vol_up[u], vol_down[u], relative, power_short, power_long,
                    dte_floor_days, min_vol, row, 0,
                )  # fmt: skip
                for s in range(n_scen):
                    pnl[u, s] += q * row[0, s]
            total = 0.0
            for u in range(n_und):
                largest = -np.inf
                at = -1
                for s in range(n_scen):
                    loss = -pnl[u, s] * weights[s]
                    if keep:
                        losses[a, u, s] = loss
                    if loss > largest or (math.isnan(loss) and not math.isnan(largest)):
                        largest = loss
                        at = s
                if not touched[u]:
                    scan_risk[a, u] = 0.0
                    floor[a, u] = 0.0
                    worst[a, u] = -1
                    continue
                scan = largest if largest > 0.0 or math.isnan(largest) else 0.0
                minimum = short_option_minimum[u] * spot[u] * short_units[u]
                scan_risk[a, u] = scan
                floor[a, u] = minimum
                worst[a, u] = at
                total += minimum if minimum > scan else scan
            margin[a] = total


def _run(
    book: PositionBook,
    und: Underlyings,
    grid: ScenarioGrid,
    out: MarginResult | None,
    losses_out: NDArray[np.float64] | None,
    *,
    keep_losses: bool,
) -> tuple[MarginResult, NDArray[np.float64]]:
    prep = _prepare(book, und, grid)
    n_acc, n_und = book.shape[0], und.count
    shape = (n_acc, n_und, grid.size)
    losses = out_array("out", losses_out, shape, np.float64) if keep_losses else np.empty((0, *shape[1:]))
    if out is None:
        out = MarginResult.empty(n_acc, n_und)
    relative = grid.vol_shift is VolShift.RELATIVE
    listed = book.listed
    risk = np.empty((listed.count, grid.size))
    _risk_array_kernel(
        listed.underlying, listed.kind, listed.strike, listed.expiry_years, listed.implied_vol,
        listed.dividend_yield, und.spot, und.vol_scan_up, und.vol_scan_down, und.rate, prep.shocked_spot,
        prep.vol_units, relative, grid.vega_power_short, grid.vega_power_long, grid.dte_floor_days, grid.min_vol, risk,
    )  # fmt: skip
    _portfolio_kernel(
        chunk_count(n_acc),
        book.underlying, book.kind, book.size, book.strike, book.expiry_years, book.implied_vol,
        book.dividend_yield, book.series, risk, und.spot, und.vol_scan_up, und.vol_scan_down, und.rate,
        prep.move, prep.shocked_spot, prep.vol_units,
        relative, grid.vega_power_short, grid.vega_power_long, grid.dte_floor_days,
        grid.min_vol, prep.weights, und.short_option_minimum,
        out_array("out.margin", out.margin, (n_acc,), np.float64),
        out_array("out.scan_risk", out.scan_risk, (n_acc, n_und), np.float64),
        out_array("out.short_option_floor", out.short_option_floor, (n_acc, n_und), np.float64),
        out_array("out.worst_scenario", out.worst_scenario, (n_acc, n_und), np.int64),
        losses,
    )  # fmt: skip
    if np.isnan(out.margin).any():
        a = int(np.flatnonzero(np.isnan(out.margin))[0])
        raise InvalidParameter(
            f"account {a} revalued to NaN: an option's expiry_years or implied_vol is too small to price"
        )
    return out, losses


def portfolio_margin(
    book: PositionBook, underlyings: Underlyings, grid: ScenarioGrid, *, out: MarginResult | None = None
) -> MarginResult:
    """Scenario portfolio margin of every account in ``book`` (definitions: module docstring).

    ``out``, when given, receives the results (shapes ``(A,)`` and ``(A, U)``) and is returned.
    Raises :class:`~protocol.errors.InvalidParameter` when the book refers to an unknown
    underlying, a scenario would move a price to <= 0, or the revaluation produces NaN.
    """
    return _run(book, underlyings, grid, out, None, keep_losses=False)[0]


def scenario_losses(
    book: PositionBook, underlyings: Underlyings, grid: ScenarioGrid, *, out: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Weighted scenario losses ``(A, U, S)`` in USD (positive = the account loses).

    The full array behind :func:`portfolio_margin`, for inspection and reports; ``out`` as there.
    """
    return _run(book, underlyings, grid, None, out, keep_losses=True)[1]
