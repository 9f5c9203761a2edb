"""Scenario engine: known answers, offsets, floors, outputs and validation."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.black_scholes import bs_price
from protocol.errors import InvalidParameter
from protocol.portfolio import (
    Instrument,
    MarginResult,
    Position,
    PositionBook,
    Underlyings,
    VolShift,
    deribit_grid,
    portfolio_margin,
    scenario_losses,
    span_grid,
)

BTC, ETH = 0, 1
SPOT = (50_000.0, 3_000.0)
MONTH = 30 / 365


def markets(**kw: float) -> Underlyings:
    args = {"price_scan_range": 0.15, "vol_scan_up": 0.10, "short_option_minimum": 0.01, **kw}
    return Underlyings.uniform(SPOT, **args)


def book(*accounts: list[Position]) -> PositionBook:
    return PositionBook.from_accounts(list(accounts))


def test_long_perp_loss_is_notional_times_move() -> None:
    und = markets()
    grid = span_grid()
    losses = scenario_losses(book([Position(BTC, Instrument.PERP, 2.0)]), und, grid)
    for s in range(grid.size):
        move = grid.price_units[s] * 0.15
        assert losses[0, BTC, s] == -((2.0 * SPOT[BTC]) * move) * grid.weights[s]
    result = portfolio_margin(book([Position(BTC, Instrument.PERP, 2.0)]), und, grid)
    # Scenario 16: price down three scan ranges counted at 35 % (0.1575) beats scenario 13 (0.15).
    assert result.margin[0] == -((2.0 * SPOT[BTC]) * (-3.0 * 0.15)) * 0.35
    assert result.worst_scenario[0, BTC] == 15
    two_x = portfolio_margin(book([Position(BTC, Instrument.PERP, 2.0)]), und, span_grid(extreme_multiple=2.0))
    assert two_x.margin[0] == (2.0 * SPOT[BTC]) * 0.15  # scenario 13: price down one scan range
    assert two_x.worst_scenario[0, BTC] == 12
    assert result.worst_scenario[0, ETH] == -1
    assert result.short_option_floor[0, BTC] == 0.0


def test_short_call_by_hand() -> None:
    und = markets()
    grid = span_grid()
    pos = Position(BTC, Instrument.CALL, -3.0, strike=55_000.0, expiry_years=MONTH, implied_vol=0.6)
    losses = scenario_losses(book([pos]), und, grid)[0, BTC]
    base = bs_price(SPOT[BTC], 55_000.0, MONTH, 0.6, call=True)
    for s in range(grid.size):
        spot = SPOT[BTC] * (1 + grid.price_units[s] * 0.15)
        vol = 0.6 * (1 + grid.vol_units[s] * 0.10)  # relative: 60 % +- 6 points
        expected = 3.0 * (bs_price(spot, 55_000.0, MONTH, vol, call=True) - base) * grid.weights[s]
        assert losses[s] == pytest.approx(expected, rel=1e-12, abs=1e-9)
    result = portfolio_margin(book([pos]), und, grid)
    assert result.margin[0] == result.scan_risk[0, BTC] == losses.max()
    assert result.worst_scenario[0, BTC] == int(np.argmax(losses)) == 14  # price up three ranges, at 35 %


def test_covered_call_offsets_within_one_underlying() -> None:
    und = markets()
    grid = span_grid()
    perp = Position(BTC, Instrument.PERP, 1.0)
    call = Position(BTC, Instrument.CALL, -1.0, strike=50_000.0, expiry_years=MONTH, implied_vol=0.6)
    m = portfolio_margin(book([perp], [call], [perp, call]), und, grid).margin
    assert m[2] < m[0]
    assert m[2] < m[1]
    assert m[2] <= m[0] + m[1]


def test_underlyings_are_summed_without_offset() -> None:
    und = markets()
    grid = span_grid()
    btc_long = Position(BTC, Instrument.PERP, 1.0)
    eth_short = Position(ETH, Instrument.PERP, -10.0)
    m = portfolio_margin(book([btc_long], [eth_short], [btc_long, eth_short]), und, grid).margin
    assert m[2] == m[0] + m[1]  # opposite exposures on different underlyings get no credit


def test_short_option_minimum_floors_far_out_of_the_money_shorts() -> None:
    und = markets(short_option_minimum=0.02)
    put = Position(BTC, Instrument.PUT, -4.0, strike=5_000.0, expiry_years=7 / 365, implied_vol=0.5)
    result = portfolio_margin(book([put]), und, span_grid())
    assert result.scan_risk[0, BTC] < 1e-6
    assert result.short_option_floor[0, BTC] == 0.02 * SPOT[BTC] * 4.0
    assert result.margin[0] == result.short_option_floor[0, BTC]


def test_long_options_have_no_floor_and_no_gain_counts() -> None:
    call = Position(ETH, Instrument.CALL, 5.0, strike=3_000.0, expiry_years=MONTH, implied_vol=0.7)
    result = portfolio_margin(book([call]), markets(), span_grid())
    assert result.short_option_floor[0, ETH] == 0.0
    premium = 5.0 * bs_price(SPOT[ETH], 3_000.0, MONTH, 0.7, call=True)
    assert 0.0 < result.margin[0] < premium  # a long option never loses more than its premium


def test_empty_accounts_and_slots() -> None:
    und = markets()
    empty_slot = Position(BTC, Instrument.CALL, 0.0)  # size 0: strike, expiry, vol ignored
    result = portfolio_margin(book([], [empty_slot]), und, span_grid())
    assert result.margin.tolist() == [0.0, 0.0]
    assert result.worst_scenario.tolist() == [[-1, -1], [-1, -1]]


def test_unchanged_scenario_is_exactly_zero() -> None:
    grid = deribit_grid(price_points=5)
    centre = grid.price_units.index(0.0) + 1  # price unchanged, volatility unchanged
    assert (grid.price_units[centre], grid.vol_units[centre]) == (0.0, 0.0)
    positions = [
        Position(BTC, Instrument.CALL, -1.5, 52_000.0, MONTH, 0.55),
        Position(BTC, Instrument.PUT, 2.0, 45_000.0, 0.5, 0.65),
        Position(BTC, Instrument.PERP, 0.3),
    ]
    losses = scenario_losses(book(positions), markets(vol_scan_up=0.5, vol_scan_down=0.25), grid)
    assert losses[0, BTC, centre] == 0.0


def test_option_at_expiry_is_revalued_at_intrinsic() -> None:
    und = markets()
    grid = span_grid()
    call = Position(BTC, Instrument.CALL, 1.0, strike=50_000.0, expiry_years=0.0, implied_vol=0.5)
    losses = scenario_losses(book([call]), und, grid)[0, BTC]
    for s in range(grid.size):
        spot = SPOT[BTC] * (1 + grid.price_units[s] * 0.15)
        assert losses[s] == pytest.approx(-max(spot - 50_000.0, 0.0) * grid.weights[s], rel=1e-15, abs=1e-9)


def test_absolute_vol_shift_is_floored_at_min_vol() -> None:
    und = markets(vol_scan_up=0.10)
    grid = span_grid(vol_shift=VolShift.ABSOLUTE, min_vol=1e-3)
    call = Position(BTC, Instrument.CALL, -1.0, strike=50_000.0, expiry_years=MONTH, implied_vol=0.05)
    losses = scenario_losses(book([call]), und, grid)[0, BTC]
    base = bs_price(SPOT[BTC], 50_000.0, MONTH, 0.05, call=True)
    down = bs_price(SPOT[BTC], 50_000.0, MONTH, grid.min_vol, call=True)  # 0.05 - 0.10 floored
    assert losses[1] == pytest.approx(down - base, rel=1e-12)


def test_relative_vol_shift_scales_with_expiry() -> None:
    und = markets(vol_scan_up=0.5, vol_scan_down=0.25)
    grid = deribit_grid(price_points=3)
    for days, power in ((7.0, 0.3), (90.0, 0.13)):
        t = days / 365
        put = Position(ETH, Instrument.PUT, -1.0, strike=2_900.0, expiry_years=t, implied_vol=0.8)
        losses = scenario_losses(book([put]), und, grid)[0, ETH]
        base = bs_price(SPOT[ETH], 2_900.0, t, 0.8, call=False)
        for s in range(grid.size):
            units = grid.vol_units[s]
            shock = units * (0.5 if units > 0 else 0.25) * (30.0 / days) ** power
            spot = SPOT[ETH] * (1 + grid.price_units[s] * 0.15)
            expected = bs_price(spot, 2_900.0, t, 0.8 * (1 + shock), call=False) - base
            assert losses[s] == pytest.approx(expected, rel=1e-11, abs=1e-9)


def test_margin_equals_max_of_scenario_losses() -> None:
    rng = np.random.default_rng(np.random.SeedSequence(7))
    accounts = []
    for _ in range(50):
        accounts.append(
            [
                Position(
                    int(rng.integers(2)),
                    Instrument(int(rng.integers(3))),
                    float(rng.normal(0, 3)),
                    float(SPOT[0] * rng.uniform(0.7, 1.3)),
                    float(rng.uniform(0, 1)),
                    float(rng.uniform(0.2, 1.2)),
                )
                for _ in range(int(rng.integers(0, 5)))
            ]
        )
    b = PositionBook.from_accounts(accounts, slots=4)
    und = markets()
    grid = span_grid()
    losses = scenario_losses(b, und, grid)
    result = portfolio_margin(b, und, grid)
    held = result.worst_scenario >= 0
    np.testing.assert_array_equal(result.scan_risk[held], np.maximum(losses.max(axis=2), 0.0)[held])
    np.testing.assert_array_equal(result.worst_scenario[held], losses.argmax(axis=2)[held])
    np.testing.assert_array_equal(
        result.margin, np.maximum(result.scan_risk, result.short_option_floor).sum(axis=1, dtype=np.float64)
    )


def test_out_is_filled_and_returned() -> None:
    b = book([Position(BTC, Instrument.PERP, 1.0)], [Position(ETH, Instrument.PERP, -1.0)])
    out = MarginResult.empty(2, 2)
    assert portfolio_margin(b, markets(), span_grid(), out=out) is out
    assert out.margin[1] == -((-1.0 * 3_000.0) * (3.0 * 0.15)) * 0.35  # scenario 15: up three ranges at 35 %
    losses = np.empty((2, 2, 16))
    assert scenario_losses(b, markets(), span_grid(), out=losses) is losses
    with pytest.raises(InvalidParameter, match=r"out.scan_risk has shape \(2, 3\), expected \(2, 2\)"):
        portfolio_margin(
            b,
            markets(),
            span_grid(),
            out=MarginResult(np.empty(2), np.empty((2, 3)), np.empty((2, 2)), np.empty((2, 2), np.int64)),
        )
    with pytest.raises(InvalidParameter, match=r"out\.worst_scenario must be a numpy array of dtype int64"):
        portfolio_margin(
            b,
            markets(),
            span_grid(),
            out=MarginResult(np.empty(2), np.empty((2, 2)), np.empty((2, 2)), np.empty((2, 2))),
        )
    with pytest.raises(InvalidParameter, match=r"out has shape \(2, 2, 15\)"):
        scenario_losses(b, markets(), span_grid(), out=np.empty((2, 2, 15)))


def test_engine_validation() -> None:
    b = book([Position(ETH, Instrument.PERP, 1.0)])
    with pytest.raises(InvalidParameter, match="refers to underlying 1 but only 1 are given"):
        portfolio_margin(b, Underlyings.uniform([50_000.0], price_scan_range=0.1, vol_scan_up=0.1), span_grid())
    with pytest.raises(InvalidParameter, match=r"scenario 15 of grid 'span16' moves underlying 0 by -120%"):
        portfolio_margin(b, markets(price_scan_range=0.4), span_grid(extreme_multiple=3.0))
    with pytest.raises(InvalidParameter, match="grid must be a ScenarioGrid"):
        portfolio_margin(b, markets(), "span")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="book must be a PositionBook"):
        scenario_losses([[1.0]], markets(), span_grid())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": 3}, "book.kind must be one of"),
        ({"underlying": -1}, "book.underlying must be >= 0"),
        ({"underlying": 0.5}, r"book.underlying\[0, 0\] = 0.5 must be an integer"),
        ({"size": np.nan}, r"book.size\[0, 0\] = nan must be finite"),
        ({"strike": 0.0}, r"book.strike\[0, 0\] = 0.0 must be > 0"),
        ({"expiry_years": -1.0}, r"book.expiry_years\[0, 0\] = -1.0 must be >= 0"),
        ({"implied_vol": np.inf}, r"book.implied_vol\[0, 0\] = inf must be finite"),
        ({"dividend_yield": np.nan}, r"book.dividend_yield\[0, 0\] = nan must be finite"),
    ],
)
def test_book_validation(changes: dict[str, float], message: str) -> None:
    fields = {
        "underlying": 0,
        "kind": 1,
        "size": -1.0,
        "strike": 100.0,
        "expiry_years": 0.1,
        "implied_vol": 0.5,
        "dividend_yield": 0.03,
    }
    fields.update(changes)
    with pytest.raises(InvalidParameter, match=message):
        PositionBook(**{k: np.full((1, 1), v) for k, v in fields.items()})  # type: ignore[arg-type]


def test_book_shapes_and_perp_fields_ignored() -> None:
    perp = PositionBook.from_accounts([[Position(BTC, Instrument.PERP, 1.0)]])
    assert perp.shape == (1, 1)
    assert not perp.size.flags.writeable
    with pytest.raises(InvalidParameter, match="book arrays must be 2-D"):
        PositionBook(*(np.zeros(3) for _ in range(7)))
    with pytest.raises(InvalidParameter, match=r"book.size has shape \(1, 2\) but book.underlying has shape \(1, 1\)"):
        PositionBook(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 2)), *(np.zeros((1, 1)) for _ in range(4)))
    with pytest.raises(InvalidParameter, match="more than slots = 1 positions"):
        PositionBook.from_accounts([[Position(BTC, Instrument.PERP, 1.0)] * 2], slots=1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"spot": [0.0, 1.0]}, r"underlyings.spot\[0\] = 0.0 must be > 0"),
        ({"price_scan_range": [0.1, -0.1]}, r"underlyings.price_scan_range\[1\] = -0.1 must be > 0"),
        ({"vol_scan_down": [np.nan, 0.1]}, r"underlyings.vol_scan_down\[0\] = nan must be finite"),
        ({"short_option_minimum": [0.1]}, "underlyings.short_option_minimum has shape"),
        ({"rate": np.inf}, "underlyings.rate = inf must be finite"),
        ({"spot": [[1.0, 2.0]]}, "underlyings.spot must be a 1-D array"),
    ],
)
def test_underlyings_validation(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "spot": [1.0, 2.0],
        "price_scan_range": [0.1, 0.1],
        "vol_scan_up": [0.1, 0.1],
        "vol_scan_down": [0.1, 0.1],
        "short_option_minimum": [0.0, 0.0],
    }
    fields.update(changes)
    with pytest.raises(InvalidParameter, match=message):
        Underlyings(**fields)  # type: ignore[arg-type]
