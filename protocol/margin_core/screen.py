r"""The float64 screen: every account's equity and requirements, with a proven error bound.

Units. Screen arrays hold whole units as float64: USD for money, base units for sizes,
USD per base unit for prices and indices (``x_wad / 1e18``). All floats here are approximations
of exact WAD integers; the bound below says how far they may be from the model's integers.

Folding. With ``W = 1e18``, the model's position term (see :mod:`protocol.margin`) is, before
its integer roundings, ``s p/W - O - s (F - F0)/W - |s| (L - L0)/W``. It splits into a
price-dependent part and a *carry* fixed at construction::

    term = s * q_side + K,   q_long = (p - F - L_long) / W,   q_short = (p - F + L_short) / W,
    K    = -O + (s F0 + |s| L0) / W

so the kernel reads two floats per position (``s``, ``K``) and adds ``fma(s, q_side, K)``
(one rounding). Requirements are ``|s| * p * f / W**2`` with the model's exact effective
fractions ``f``, accumulated with fused multiply-adds.

Position magnitude. The error bound scales with ``sum |s q|``; instead of accumulating it per
position (two operations per market per account), the kernel bounds it by one per-price scalar,
``c >= max_j max(|q_long_j|, |q_short_j|) / im_rate_j`` (:func:`position_bound`), times the
initial requirement it computes anyway: ``sum_j |s_j q_j| <= c * sum_j |s_j| im_rate_j``. The
bound is loose by at most the spread of ``|q| / im_rate`` across markets (a few times for
fractions of a few per cent, each market's ``|q| / im_rate`` being about ``1 / imf``), which
only widens the band of accounts re-evaluated exactly by that factor (a band ``1e-14`` of the
account's gross notional wide).

Layout and kernel. The (N, M) and (N, C) arrays are column-major. The screen walks the book in
blocks of :data:`BLOCK_ROWS` accounts (threads take stripes of blocks); inside a block each loop
runs over the accounts of one or two columns, so every read is a contiguous slice, every byte is
read once, and the per-account accumulators (equity, initial and maintenance requirements, and
the collateral part of the magnitude) stay in cache: the loops compile to SIMD over accounts with
no branch per account. The order of the floating-point operations *within* an
account is the one the bound below analyses, whatever the block, so the whole-book pass and the
chosen-rows pass (which gathers its rows into a block first) agree bit for bit.

Error bound (``u = 2**-53``, ``g(k) = k u / (1 - k u)``; M markets, C collateral assets,
``n = 1 + C + 2M``, an upper bound on the roundings of the equity accumulator):

1. Inputs. Every stored float is ``x (1 + t)``, ``|t| <= g(3)``: ``x / W`` from a Python
   integer is correctly rounded (``u``); from limbs, ``whole + frac / 1e18`` takes three
   roundings of same-sign terms. Per-market scalars (``q_long``, ``q_short``,
   ``im_rate = p imf / W**2``, ``mm_rate``, ``value_rate = p (W - haircut) / W**2``, the value
   cap) are exact rationals rounded once (``u``).
2. Carry. ``K^ = (-O^ + s^ F0^) + |s^| L0^`` has error ``<= g(9) S`` with
   ``S = |O| + |s| |F0| + |s| |L0|`` (products ``g(7)``, two sums).
3. Terms. Collateral ``min(a^ value_rate^, cap^)`` is within ``g(6) V`` of the exact capped value,
   ``V = a * value_rate`` uncapped (``min`` is 1-Lipschitz; when the cap wins, ``cap <= V (1 + g(6))``).
   A position ``fma(s^, q^, K^)`` is within ``g(10) (|s q| + S)`` (``s^ q^`` within ``g(4) |s q|``,
   one rounding of the sum).
4. Equity. Recursive summation of those terms (Higham, Thm. 4.4) gives
   ``|E^ - E*| <= g(n + 11) A`` where ``A = |B| + sum V + sum (|s q| + S)`` and ``E*`` is the
   exact rational equity. Requirements are fused sums of ``M`` non-negative terms each within
   ``g(4)``: ``|R^ - R*| <= g(M + 5) R*``. The difference ``E^ - R^`` adds ``u (|E^| + R^)``.
5. Magnitude. The kernel computes ``A^ = fma(c, IM^, |B|^ + sum S^ + sum V^)``. The static and
   collateral parts are within a factor ``1 + g(n + 3)`` of their true values; the position
   part ``sum |s q|`` is at most ``(1 + g(4)) sum |s^ q^| <= (1 + g(4)) c sum |s^| im_rate^`` and
   the fused sum ``IM^`` is at least ``(1 - g(M)) sum |s^| im_rate^``, so with the last rounding
   ``A <= (1 + g(n + 2M + 6)) A^``. The requirement ``R`` is within ``1 + g(M + 5)`` of ``R^``.
   Altogether ``|(E^ - R^) - (E* - R*)| <= 2 g(n + 2M + 17) (A^ + R^)``, and we use
   ``rel_tol = 4 (n + 2M + 17) u`` (a further factor 2 covers the rounding of the tolerance
   itself and ``g(k) <= 1.01 k u`` for every ``k`` used).
6. Integer rounding of the model, in wei (the model always rounds against the user):
   equity ``E`` lies in ``(E* - (3M + 2C), E*]`` (per position: upnl FLOOR, funding CEIL,
   loss UP; per collateral: two DOWN), each requirement ``R`` in ``[R*, R* + kM)``: the notional
   rounded UP exceeds ``|s| p / W`` by less than 1 wei, which the fraction scales by ``f / W``,
   and the requirement rounded UP adds less than 1, so ``k = 1 + F / W`` with ``F =
   MAX_INITIAL_MARGIN_FRACTION`` (every effective fraction is at most ``max(base, W) <= F``, and
   a maintenance fraction is a share < 1 of it): ``k = 11`` at ``F = 1000 %``.

Decision rule. With ``tol_E = rel_tol A^ + (3M + 2C + 1) 1e-18`` and, for ``R`` the maintenance
(or initial) requirement, ``tol_R = rel_tol (A^ + R^) + ((3 + k) M + 2C + 2) 1e-18``: if
``|E^| > tol_E`` then ``sign(E) = sign(E^) != 0``; if ``|E^ - R^| > tol_R`` then
``sign(E - R) = sign(E^ - R^) != 0``. If ``A^ = IM^ = 0`` every input of the account is exactly
zero (a nonzero WAD integer never rounds to 0.0, and ``|s| im_rate > 0`` for ``s != 0``: it is at
least ``1e-39``), so the
model's ``E = IM = MM = 0`` and the screen's ``0 < 0`` / ``0 >= 0`` decide it exactly.
Otherwise the account is *uncertain* and the batch
re-evaluates it with the model's own integer functions. Hence ``E < MM`` (liquidatable,
strict), ``E >= IM`` (meets initial) and every sign are exact on every account. The bound
assumes IEEE binary64 with round-to-nearest and no reassociation (no ``fastmath``); the fused
multiply-adds are explicit (:func:`~protocol.margin_core.jit.fma`), so every loop and its
scalar remainder compute the same bits. No intermediate can overflow or underflow: model values
are int256 wei (``< 6e58`` units), products stay within ``1e-60 .. 1e120`` and ``c IM^`` below
``1e200`` (``c <= 6e58 / 1e-21``, ``im_rate`` being at least ``1e-18`` USD times the 0.1 %
minimum fraction).
"""

from __future__ import annotations

import numpy as np
from numba import prange
from numpy.typing import NDArray

from protocol.constants import MAX_INITIAL_MARGIN_FRACTION, WAD
from protocol.errors import InvalidParameter
from protocol.margin_core.jit import fma, kernel

__all__ = [
    "BLOCK_ROWS",
    "PARALLEL_MIN_ROWS",
    "STRIPE_ROWS",
    "Tolerances",
    "position_bound",
    "prepare",
    "prepare_rows",
    "screen",
]

UNIT_ROUNDOFF = 2.0**-53
WEI = 1e-18
#: ``k`` of the module docstring: a requirement's integer rounding per position is below this many wei.
REQUIREMENT_ROUNDING_WEI = 1 + -(-MAX_INITIAL_MARGIN_FRACTION // WAD)


class Tolerances:
    """The constants of the decision rule for ``n_markets`` and ``n_collaterals`` (see module doc)."""

    __slots__ = ("equity_slack", "rel_tol", "requirement_slack")

    def __init__(self, n_markets: int, n_collaterals: int) -> None:
        additions = 1 + n_collaterals + 2 * n_markets
        #: Relative tolerance applied to the magnitude bound ``A^`` (and ``A^ + R^``).
        self.rel_tol = 4.0 * (additions + 2 * n_markets + 17) * UNIT_ROUNDOFF
        #: Absolute slack for equity alone: the model's integer rounding, in USD units.
        self.equity_slack = (3 * n_markets + 2 * n_collaterals + 1) * WEI
        #: Absolute slack for equity minus a requirement, in USD units.
        self.requirement_slack = ((3 + REQUIREMENT_ROUNDING_WEI) * n_markets + 2 * n_collaterals + 2) * WEI


#: Below this many rows a kernel runs on the calling thread: waking numba's thread pool costs
#: more than it saves, and on a busy machine one descheduled worker stalls the whole pass. Every
#: variant runs the same per-account operations, so their outputs are bit for bit identical.
PARALLEL_MIN_ROWS = 8_192

#: Accounts per block of the column-major screen. Each pass over a block reads every column
#: slice once, as one contiguous run of ``8 * BLOCK_ROWS`` bytes (32 KiB); DRAM serves few long
#: runs faster than many short ones. The five scratch rows (four accumulators and a zero column,
#: 5 x 32 KiB) then live in L2 rather than L1, which costs less than it saves: at 1,000,000
#: accounts, 8 markets and 2 assets on one thread, 512-account blocks (4 KiB runs, scratch in L1)
#: took about 12 % longer.
BLOCK_ROWS = 4096
#: Accounts per task of the parallel pass (blocks in a row; one scratch allocation per task).
STRIPE_ROWS = 8 * BLOCK_ROWS
#: Scratch rows are padded by this many doubles so that they do not sit a multiple of 4 KiB
#: apart (loads and stores to such addresses falsely depend on each other).
_STAGGER = 8


@kernel(parallel=False, inline=True)
def _prepare_row(
    i: int,
    balance: NDArray[np.float64],
    size: NDArray[np.float64],
    open_notional: NDArray[np.float64],
    funding_snapshot: NDArray[np.float64],
    loss_snapshot: NDArray[np.float64],
    carry: NDArray[np.float64],
    magnitude: NDArray[np.float64],
) -> None:
    mag = abs(balance[i])
    for j in range(size.shape[1]):
        s = size[i, j]
        a = abs(s)
        carry[i, j] = (-open_notional[i, j] + s * funding_snapshot[i, j]) + a * loss_snapshot[i, j]
        mag += abs(open_notional[i, j]) + a * abs(funding_snapshot[i, j]) + a * abs(loss_snapshot[i, j])
    magnitude[i] = mag


@kernel(parallel=True)
def _prepare_parallel(
    balance: NDArray[np.float64],
    size: NDArray[np.float64],
    open_notional: NDArray[np.float64],
    funding_snapshot: NDArray[np.float64],
    loss_snapshot: NDArray[np.float64],
    carry: NDArray[np.float64],
    magnitude: NDArray[np.float64],
) -> None:
    for i in prange(balance.shape[0]):
        _prepare_row(i, balance, size, open_notional, funding_snapshot, loss_snapshot, carry, magnitude)


@kernel(parallel=False)
def _prepare_rows(
    rows: NDArray[np.int64],
    balance: NDArray[np.float64],
    size: NDArray[np.float64],
    open_notional: NDArray[np.float64],
    funding_snapshot: NDArray[np.float64],
    loss_snapshot: NDArray[np.float64],
    carry: NDArray[np.float64],
    magnitude: NDArray[np.float64],
) -> None:
    for k in range(rows.shape[0]):
        _prepare_row(rows[k], balance, size, open_notional, funding_snapshot, loss_snapshot, carry, magnitude)


def prepare(
    balance: NDArray[np.float64],
    size: NDArray[np.float64],
    open_notional: NDArray[np.float64],
    funding_snapshot: NDArray[np.float64],
    loss_snapshot: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Carry ``K`` (USD, shape N x M, column-major like ``size``) and static magnitude
    ``|B| + sum S`` (USD, shape N).

    Inputs are validated float64 arrays in whole units (callers check shapes).
    """
    carry = np.empty(size.shape, dtype=np.float64, order="F")
    magnitude = np.empty(balance.shape, dtype=np.float64)
    n = balance.shape[0]
    if n >= PARALLEL_MIN_ROWS:
        _prepare_parallel(balance, size, open_notional, funding_snapshot, loss_snapshot, carry, magnitude)
    else:
        rows = np.arange(n, dtype=np.int64)
        _prepare_rows(rows, balance, size, open_notional, funding_snapshot, loss_snapshot, carry, magnitude)
    return carry, magnitude


def prepare_rows(
    rows: NDArray[np.int64],
    balance: NDArray[np.float64],
    size: NDArray[np.float64],
    open_notional: NDArray[np.float64],
    funding_snapshot: NDArray[np.float64],
    loss_snapshot: NDArray[np.float64],
    carry: NDArray[np.float64],
    magnitude: NDArray[np.float64],
) -> None:
    """Recompute ``carry`` and ``magnitude`` of ``rows`` in place from the other arrays (as
    :func:`prepare` computes them), on the calling thread: a few refreshed rows of a large book.

    ``rows`` are valid row indices (int64); arrays as for :func:`prepare`, outputs writable.
    """
    _prepare_rows(rows, balance, size, open_notional, funding_snapshot, loss_snapshot, carry, magnitude)


@kernel(parallel=False, inline=True)
def _screen_block(
    lo: int,
    hi: int,
    dst: int,
    balance: NDArray[np.float64],
    magnitude: NDArray[np.float64],
    size: NDArray[np.float64],
    carry: NDArray[np.float64],
    collateral: NDArray[np.float64],
    q_long: NDArray[np.float64],
    q_short: NDArray[np.float64],
    im_rate: NDArray[np.float64],
    mm_rate: NDArray[np.float64],
    value_rate: NDArray[np.float64],
    value_cap: NDArray[np.float64],
    price_per_requirement: float,
    rel_tol: float,
    equity_slack: float,
    requirement_slack: float,
    scratch: NDArray[np.float64],
    equity: NDArray[np.float64],
    initial: NDArray[np.float64],
    maintenance: NDArray[np.float64],
    liquidatable: NDArray[np.bool_],
    meets_initial: NDArray[np.bool_],
    uncertain: NDArray[np.bool_],
) -> None:
    """Screen book rows ``lo:hi`` (at most :data:`BLOCK_ROWS`) into output slots ``dst:dst + (hi - lo)``.

    ``size``, ``carry`` (M, N) and ``collateral`` (C, N) are row-major tables, one row per market
    or asset (the transposes of the book's column-major arrays).

    ``scratch`` is a (5, >= BLOCK_ROWS) work array: four per-account accumulators (equity, the
    static and collateral part of the magnitude, initial, maintenance) and a column of zeros; the
    magnitude bound adds ``price_per_requirement`` (``c`` of the module docstring) times the
    initial requirement at the end. Each loop runs over the block's
    accounts, reading contiguous column slices of the column-major arrays and updating the
    accumulators, which stay in cache: it compiles to SIMD over accounts. Markets go two per pass
    (half the accumulator traffic); an odd last market is paired with the zero column, whose terms
    are exactly ``+0.0`` (adding them changes no value, at most the sign of a zero). Every
    account takes the operations of the module docstring in their order (balance, collateral
    ``k`` ascending, market ``j`` ascending), so the result does not depend on the block.
    """
    n = hi - lo
    e, mag, im, mm, zero = scratch[0, :n], scratch[1, :n], scratch[2, :n], scratch[3, :n], scratch[4, :n]
    b = balance[lo:hi]
    m0 = magnitude[lo:hi]
    for r in range(n):
        e[r] = b[r]
        mag[r] = m0[r]
        im[r] = 0.0
        mm[r] = 0.0
        zero[r] = 0.0
    for k in range(collateral.shape[0]):
        amount = collateral[k, lo:hi]
        rate = value_rate[k]
        cap = value_cap[k]
        for r in range(n):
            v = amount[r] * rate
            mag[r] += v
            e[r] += min(v, cap)
    m = size.shape[0]
    for j in range(0, m, 2):
        paired = j + 1 < m
        s0, k0 = size[j, lo:hi], carry[j, lo:hi]
        s1, k1 = (size[j + 1, lo:hi], carry[j + 1, lo:hi]) if paired else (zero, zero)
        ql0, qs0, ir0, mr0 = q_long[j], q_short[j], im_rate[j], mm_rate[j]
        j1 = j + 1 if paired else j  # the zero column's terms are +0.0 at any rate
        ql1, qs1, ir1, mr1 = q_long[j1], q_short[j1], im_rate[j1], mm_rate[j1]
        for r in range(n):
            x0 = s0[r]
            x1 = s1[r]
            # a select: the sign of a size is not predictable
            e[r] = (e[r] + fma(x0, ql0 if x0 > 0.0 else qs0, k0[r])) + fma(x1, ql1 if x1 > 0.0 else qs1, k1[r])
            a0 = abs(x0)
            a1 = abs(x1)
            im[r] = fma(a1, ir1, fma(a0, ir0, im[r]))
            mm[r] = fma(a1, mr1, fma(a0, mr0, mm[r]))
    equity_out = equity[dst : dst + n]
    initial_out = initial[dst : dst + n]
    maintenance_out = maintenance[dst : dst + n]
    liquidatable_out = liquidatable[dst : dst + n]
    meets_out = meets_initial[dst : dst + n]
    uncertain_out = uncertain[dst : dst + n]
    for r in range(n):
        er, ir, mr = e[r], im[r], mm[r]
        mg = fma(price_per_requirement, ir, mag[r])
        equity_out[r] = er
        initial_out[r] = ir
        maintenance_out[r] = mr
        dm = er - mr
        di = er - ir
        liquidatable_out[r] = dm < 0.0
        meets_out[r] = di >= 0.0
        # Every input of an account with mag = im = 0 is exactly 0: so is every model value.
        # Bitwise operators, not and/or: no branch per account.
        uncertain_out[r] = ((mg != 0.0) | (ir != 0.0)) & (
            (abs(er) <= rel_tol * mg + equity_slack)
            | (abs(dm) <= rel_tol * (mg + mr) + requirement_slack)
            | (abs(di) <= rel_tol * (mg + ir) + requirement_slack)
        )


@kernel(parallel=True)
def _screen_parallel(
    balance: NDArray[np.float64],
    magnitude: NDArray[np.float64],
    size: NDArray[np.float64],
    carry: NDArray[np.float64],
    collateral: NDArray[np.float64],
    q_long: NDArray[np.float64],
    q_short: NDArray[np.float64],
    im_rate: NDArray[np.float64],
    mm_rate: NDArray[np.float64],
    value_rate: NDArray[np.float64],
    value_cap: NDArray[np.float64],
    price_per_requirement: float,
    rel_tol: float,
    equity_slack: float,
    requirement_slack: float,
    equity: NDArray[np.float64],
    initial: NDArray[np.float64],
    maintenance: NDArray[np.float64],
    liquidatable: NDArray[np.bool_],
    meets_initial: NDArray[np.bool_],
    uncertain: NDArray[np.bool_],
) -> None:
    n = balance.shape[0]
    for stripe in prange((n + STRIPE_ROWS - 1) // STRIPE_ROWS):
        scratch = np.empty((5, BLOCK_ROWS + _STAGGER))
        end = min(n, (stripe + 1) * STRIPE_ROWS)
        for lo in range(stripe * STRIPE_ROWS, end, BLOCK_ROWS):
            _screen_block(
                lo, min(end, lo + BLOCK_ROWS), lo, balance, magnitude, size, carry, collateral, q_long,
                q_short, im_rate, mm_rate, value_rate, value_cap, price_per_requirement, rel_tol, equity_slack,
                requirement_slack, scratch, equity, initial, maintenance, liquidatable, meets_initial, uncertain,
            )  # fmt: skip


@kernel(parallel=False)
def _screen_rows(
    rows: NDArray[np.int64],
    balance: NDArray[np.float64],
    magnitude: NDArray[np.float64],
    size: NDArray[np.float64],
    carry: NDArray[np.float64],
    collateral: NDArray[np.float64],
    q_long: NDArray[np.float64],
    q_short: NDArray[np.float64],
    im_rate: NDArray[np.float64],
    mm_rate: NDArray[np.float64],
    value_rate: NDArray[np.float64],
    value_cap: NDArray[np.float64],
    price_per_requirement: float,
    rel_tol: float,
    equity_slack: float,
    requirement_slack: float,
    equity: NDArray[np.float64],
    initial: NDArray[np.float64],
    maintenance: NDArray[np.float64],
    liquidatable: NDArray[np.bool_],
    meets_initial: NDArray[np.bool_],
    uncertain: NDArray[np.bool_],
) -> None:
    """Gather ``rows`` a block at a time into column-major copies and screen them with the same
    block code as the whole-book pass."""
    m, c = size.shape[0], collateral.shape[0]
    width = min(rows.shape[0], BLOCK_ROWS)
    b, m0 = np.empty(width), np.empty(width)
    s, k, a = np.empty((m, width)), np.empty((m, width)), np.empty((c, width))
    scratch = np.empty((5, BLOCK_ROWS + _STAGGER))
    for lo in range(0, rows.shape[0], BLOCK_ROWS):
        hi = min(rows.shape[0], lo + BLOCK_ROWS)
        for r in range(hi - lo):
            i = rows[lo + r]
            b[r] = balance[i]
            m0[r] = magnitude[i]
            for j in range(m):
                s[j, r] = size[j, i]
                k[j, r] = carry[j, i]
            for q in range(c):
                a[q, r] = collateral[q, i]
        _screen_block(
            0, hi - lo, lo, b, m0, s, k, a, q_long, q_short, im_rate, mm_rate, value_rate, value_cap,
            price_per_requirement, rel_tol, equity_slack, requirement_slack, scratch, equity, initial,
            maintenance, liquidatable, meets_initial, uncertain,
        )  # fmt: skip


def position_bound(q_long: NDArray[np.float64], q_short: NDArray[np.float64], im_rate: NDArray[np.float64]) -> float:
    """``c >= max_j max(|q_long_j|, |q_short_j|) / im_rate_j`` (USD per USD of initial requirement):
    ``sum_j |s_j q_j| <= c * sum_j |s_j| im_rate_j``, the position part of the error bound.

    The float quotient is within ``u`` of the exact one; inflating it by ``1 + 4u`` and rounding
    again leaves a value above it. ``0.0`` for a book without markets. Raises InvalidParameter
    for a rate that is not positive (a validated price vector never gives one).
    """
    if im_rate.size == 0:
        return 0.0
    if not bool(np.all(im_rate > 0.0)):
        raise InvalidParameter("im_rate must be positive for every market (a price or fraction is not)")
    ratio = float(np.max(np.maximum(np.abs(q_long), np.abs(q_short)) / im_rate))
    return ratio * (1.0 + 4.0 * UNIT_ROUNDOFF)


def screen(
    book_arrays: tuple[
        NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]
    ],
    market_rates: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    collateral_rates: tuple[NDArray[np.float64], NDArray[np.float64]],
    tolerances: Tolerances,
    values_out: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    flags_out: tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]],
    rows: NDArray[np.int64] | None = None,
) -> None:
    """Run the screen into ``values_out`` = (equity, initial, maintenance), USD, approximate, and
    ``flags_out`` = (liquidatable, meets_initial, uncertain), exact unless ``uncertain``.

    ``book_arrays`` = (balance, magnitude, size, carry, collateral) of a
    :class:`~protocol.margin_core.book.ScreenArrays`; ``market_rates`` = (q_long, q_short,
    im_rate, mm_rate) and ``collateral_rates`` = (value_rate, value_cap) from
    :mod:`protocol.margin_core.prices`. With ``rows`` (valid int64 row indices) only those rows
    are screened, output ``k`` holding row ``rows[k]``; otherwise every row, output ``i`` row
    ``i``. Callers have validated every shape and dtype; the (N, M) and (N, C) arrays are
    column-major, and the kernels take their transposes, (M, N) and (C, N) row-major tables whose
    row ``j`` is column ``j`` (numba types those as contiguous whatever the shape, so the block
    loops always read contiguous slices).
    """
    balance, magnitude, size, carry, collateral = book_arrays
    q_long, q_short, im_rate, mm_rate = market_rates
    value_rate, value_cap = collateral_rates
    equity, initial, maintenance = values_out
    liquidatable, meets_initial, uncertain = flags_out
    rel_tol, equity_slack, requirement_slack = tolerances.rel_tol, tolerances.equity_slack, tolerances.requirement_slack
    price_per_requirement = position_bound(q_long, q_short, im_rate)
    if rows is None and balance.shape[0] >= PARALLEL_MIN_ROWS:
        _screen_parallel(
            balance, magnitude, size.T, carry.T, collateral.T, q_long, q_short, im_rate, mm_rate, value_rate,
            value_cap, price_per_requirement, rel_tol, equity_slack, requirement_slack, equity, initial,
            maintenance, liquidatable, meets_initial, uncertain,
        )  # fmt: skip
        return
    _screen_rows(
        np.arange(balance.shape[0], dtype=np.int64) if rows is None else rows,
        balance, magnitude, size.T, carry.T, collateral.T, q_long, q_short, im_rate, mm_rate, value_rate,
        value_cap, price_per_requirement, rel_tol, equity_slack, requirement_slack, equity, initial,
        maintenance, liquidatable, meets_initial, uncertain,
    )  # fmt: skip
