"""The blocked, column-major screen kernel: every account gets the operations of the screen's
specification (``protocol.margin_core.screen``, module docstring) in their documented order,
whatever block, stripe or path (whole book in parallel, chosen rows on the calling thread) it
falls in, for odd and even market counts and with or without collateral."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from protocol.errors import InvalidParameter
from protocol.margin_core import ScreenArrays
from protocol.margin_core.screen import (
    BLOCK_ROWS,
    PARALLEL_MIN_ROWS,
    STRIPE_ROWS,
    Tolerances,
    position_bound,
    screen,
)

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def random_book(n: int, m: int, c: int, seed: int) -> tuple[Arrays, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Screen arrays (column-major) with zero, tiny and huge entries, and per-market rates."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))

    def spread(shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(size=shape) * 10.0 ** rng.integers(-12, 12, size=shape)

    held = rng.random((n, m)) < 0.6
    size = np.asfortranarray(spread((n, m)) * held)
    carry = np.asfortranarray(spread((n, m)) * held)
    collateral = np.asfortranarray(np.abs(spread((n, c))) * (rng.random((n, c)) < 0.5))
    balance = spread((n,))
    magnitude = np.abs(balance) + np.abs(carry).sum(axis=1)
    magnitude[rng.random(n) < 0.05] = 0.0
    balance[magnitude == 0.0] = 0.0
    near = slice(5, None, 97)  # flat accounts a wei from zero equity: the screen cannot decide them
    size[near], carry[near], collateral[near], balance[near], magnitude[near] = 0.0, 0.0, 0.0, 1e-20, 1.0
    market_rates = (spread((m,)), spread((m,)), np.abs(spread((m,))), np.abs(spread((m,))))
    collateral_rates = (np.abs(spread((c,))), np.abs(spread((c,))))
    return (balance, magnitude, size, carry, collateral), market_rates, collateral_rates


def fma(a: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once: exact rationals, then Python's correctly rounded conversion."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def reference_row(
    i: int,
    arrays: Arrays,
    market_rates: tuple[np.ndarray, ...],
    collateral_rates: tuple[np.ndarray, ...],
    tol: Tolerances,
) -> tuple[float, float, float, bool, bool, bool]:
    """One account, operation by operation as the screen's specification orders them (Python floats)."""
    balance, magnitude, size, carry, collateral = arrays
    q_long, q_short, im_rate, mm_rate = market_rates
    value_rate, value_cap = collateral_rates
    e, mag = float(balance[i]), float(magnitude[i])
    for k in range(collateral.shape[1]):
        v = float(collateral[i, k]) * float(value_rate[k])
        mag += v
        e += min(v, float(value_cap[k]))
    im = mm = 0.0
    for j in range(size.shape[1]):
        s = float(size[i, j])
        e += fma(s, float(q_long[j] if s > 0.0 else q_short[j]), float(carry[i, j]))
        im = fma(abs(s), float(im_rate[j]), im)
        mm = fma(abs(s), float(mm_rate[j]), mm)
    mag = fma(position_bound(q_long, q_short, im_rate), im, mag)
    dm, di = e - mm, e - im
    uncertain = (mag != 0.0 or im != 0.0) and (
        abs(e) <= tol.rel_tol * mag + tol.equity_slack
        or abs(dm) <= tol.rel_tol * (mag + mm) + tol.requirement_slack
        or abs(di) <= tol.rel_tol * (mag + im) + tol.requirement_slack
    )
    return e, im, mm, dm < 0.0, di >= 0.0, uncertain


def run(
    arrays: Arrays,
    market_rates: tuple[np.ndarray, ...],
    collateral_rates: tuple[np.ndarray, ...],
    tol: Tolerances,
    rows: np.ndarray | None,
) -> tuple[np.ndarray, ...]:
    n = arrays[0].shape[0] if rows is None else rows.size
    values = (np.empty(n), np.empty(n), np.empty(n))
    flags = (np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.bool_))
    screen(arrays, market_rates, collateral_rates, tol, values, flags, rows)
    return (*values, *flags)


@pytest.mark.parametrize(("m", "c"), [(1, 0), (2, 1), (3, 2), (8, 2)])
def test_every_account_follows_the_specified_order_in_every_block_and_path(m: int, c: int) -> None:
    n = STRIPE_ROWS + BLOCK_ROWS + 3  # two stripes, a partial last block
    assert n >= PARALLEL_MIN_ROWS
    arrays, market_rates, collateral_rates = random_book(n, m, c, seed=1_000 * m + c)
    tol = Tolerances(m, c)
    whole = run(arrays, market_rates, collateral_rates, tol, None)
    rng = np.random.default_rng(np.random.SeedSequence(7 + m + c))
    chosen = rng.permutation(n)[: 3 * BLOCK_ROWS + 5].astype(np.int64)  # several gathered blocks
    picked = run(arrays, market_rates, collateral_rates, tol, chosen)
    for name, full, part in zip(
        ("equity", "initial", "maintenance", "liq", "meets", "unsure"), whole, picked, strict=True
    ):
        np.testing.assert_array_equal(part, full[chosen], err_msg=name)
    edges = [0, BLOCK_ROWS - 1, BLOCK_ROWS, STRIPE_ROWS - 1, STRIPE_ROWS, n - 1]
    for i in [*edges, *rng.integers(0, n, size=300).tolist()]:
        expected = reference_row(i, arrays, market_rates, collateral_rates, tol)
        got = tuple(a[i].item() for a in whole)
        assert got == expected, f"row {i}"
    assert whole[5][5::97].all()


def test_screen_arrays_refuse_a_row_major_table() -> None:
    arrays, _, _ = random_book(4, 3, 1, seed=3)
    balance, magnitude, size, carry, collateral = arrays
    ScreenArrays(balance, magnitude, size, carry, collateral)
    with pytest.raises(InvalidParameter, match="column-major"):
        ScreenArrays(balance, magnitude, np.ascontiguousarray(size), carry, collateral)
    with pytest.raises(InvalidParameter, match="1-D float64"):
        ScreenArrays(balance.astype(np.float32), magnitude, size, carry, collateral)
