"""Listed series and risk arrays: grouping of option slots, both revaluation paths, the one
Black-Scholes implementation shared with the model, and the model's import graph."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any, cast

import numpy as np

from protocol import black_scholes, option_margin
from protocol.portfolio import (
    Instrument,
    Position,
    PositionBook,
    Underlyings,
    VolShift,
    portfolio_margin,
    scenario_losses,
    span_grid,
)
from protocol.portfolio.black_scholes import bs_greeks_nb, bs_price_nb

BTC, ETH = 0, 1
MONTH = 30 / 365
CALL = Position(BTC, Instrument.CALL, 1.0, strike=55_000.0, expiry_years=MONTH, implied_vol=0.6)
PUT = Position(ETH, Instrument.PUT, 1.0, strike=2_800.0, expiry_years=MONTH, implied_vol=0.8)


def markets() -> Underlyings:
    return Underlyings.uniform((50_000.0, 3_000.0), price_scan_range=0.15, vol_scan_up=0.25, short_option_minimum=0.01)


def sized(pos: Position, size: float) -> Position:
    return dataclasses.replace(pos, size=size)


def test_slots_of_one_series_share_a_risk_array_row() -> None:
    unique = Position(BTC, Instrument.CALL, 1.0, strike=55_000.0, expiry_years=MONTH, implied_vol=0.61)
    book = PositionBook.from_accounts(
        [
            [sized(CALL, 2.0), sized(PUT, -1.0), Position(BTC, Instrument.PERP, 1.0)],
            [sized(CALL, -3.0), unique],
            [sized(PUT, 1.0), sized(CALL, 0.0)],
        ],
        slots=3,
    )
    assert book.listed.count == 2
    call_row, put_row = int(book.series[0, 0]), int(book.series[0, 1])
    assert {call_row, put_row} == {0, 1}
    assert book.series.tolist() == [[call_row, put_row, -1], [call_row, -1, -1], [put_row, -1, -1]]
    assert book.listed.underlying[call_row] == BTC
    assert book.listed.kind[call_row] == Instrument.CALL
    assert (book.listed.strike[put_row], book.listed.implied_vol[put_row]) == (2_800.0, 0.8)
    assert not book.series.flags.writeable


def test_the_yield_is_part_of_the_series() -> None:
    staked = dataclasses.replace(CALL, dividend_yield=0.035)
    book = PositionBook.from_accounts([[CALL, staked], [sized(CALL, -1.0), sized(staked, 2.0)]])
    assert book.listed.count == 2
    assert book.series[0].tolist() == book.series[1].tolist()
    assert sorted(book.listed.dividend_yield.tolist()) == [0.0, 0.035]
    assert not book.listed.dividend_yield.flags.writeable


def test_a_book_without_options_lists_nothing() -> None:
    book = PositionBook.from_accounts([[Position(BTC, Instrument.PERP, 1.0)], []])
    assert book.listed.count == 0
    assert (book.series == -1).all()


def test_risk_array_and_per_position_paths_give_the_same_bits() -> None:
    und = markets()
    grid = span_grid()
    account = [sized(CALL, -2.5), sized(PUT, 4.0), Position(BTC, Instrument.PERP, 0.7)]
    account.append(dataclasses.replace(CALL, size=1.2, dividend_yield=0.04))  # options on a yielding asset
    shared = PositionBook.from_accounts([account, [sized(CALL, 1.0), sized(PUT, -1.0)]])
    alone = PositionBook.from_accounts([account])
    assert shared.listed.count == 2
    assert alone.listed.count == 0
    np.testing.assert_array_equal(scenario_losses(shared, und, grid)[0], scenario_losses(alone, und, grid)[0])
    assert portfolio_margin(shared, und, grid).margin[0] == portfolio_margin(alone, und, grid).margin[0]


def test_zero_volatility_floor_prices_the_forward_intrinsic_value() -> None:
    # An absolute 25-point drop from 20 % vol hits the floor 0: the call is worth max(S - K, 0).
    und = markets()
    grid = span_grid(vol_shift=VolShift.ABSOLUTE, min_vol=0.0)
    call = Position(BTC, Instrument.CALL, 1.0, strike=45_000.0, expiry_years=MONTH, implied_vol=0.2)
    losses = scenario_losses(PositionBook.from_accounts([[call]]), und, grid)[0, BTC]
    base = black_scholes.bs_price(50_000.0, 45_000.0, MONTH, 0.2, call=True)
    assert losses[1] == -(max(50_000.0 - 45_000.0, 0.0) - base)  # scenario 2: price unchanged, vol down
    assert black_scholes.price_unchecked(False, 90.0, 100.0, 1.0, 0.0, 0.05) == 100.0 * np.exp(-0.05) - 90.0


def test_model_and_engine_share_one_black_scholes() -> None:
    assert option_margin.price_unchecked is black_scholes.price_unchecked  # the model calls it
    assert cast(Any, bs_price_nb).py_func is black_scholes.price_unchecked  # numba's original function
    assert cast(Any, bs_greeks_nb).py_func is black_scholes.greeks_unchecked
    for q in (0.0, 0.035, -0.01):
        args = (True, 61_000.0, 65_000.0, 7 / 365, 0.6, 0.0, q)
        assert bs_price_nb(*args) == black_scholes.price_unchecked(*args)
        assert bs_greeks_nb(*args) == black_scholes.greeks_unchecked(*args)


def test_the_model_imports_neither_numpy_nor_numba() -> None:
    code = "import sys, protocol.clearing_house; print(sorted({'numpy', 'numba', 'scipy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
