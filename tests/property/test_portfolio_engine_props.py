"""Scenario engine properties: agreement with a pure-Python reference, exact linear losses,
monotonicity in long calls, subadditivity of margin (hedges never cost more than the parts)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from protocol.portfolio import (
    DAYS_PER_YEAR,
    Instrument,
    Position,
    PositionBook,
    ScenarioGrid,
    Underlyings,
    VolShift,
    bs_greeks,
    bs_price,
    deribit_grid,
    portfolio_greeks,
    portfolio_margin,
    scenario_losses,
    span_grid,
)

#: The protocol's SPAN grid (3x extremes, relative vol), the 2x absolute variant, a Deribit grid.
GRIDS = (
    span_grid(),
    span_grid(extreme_multiple=2.0, vol_shift=VolShift.ABSOLUTE, min_vol=1e-3),
    deribit_grid(price_points=7),
)

underlyings = st.builds(
    lambda spots, scan, up, down, som, rate: Underlyings(
        spot=np.array(spots),
        price_scan_range=np.array(scan),
        vol_scan_up=np.array(up),
        vol_scan_down=np.array(down),
        short_option_minimum=np.array(som),
        rate=rate,
    ),
    st.lists(st.floats(1.0, 1e5), min_size=2, max_size=2),
    st.lists(st.floats(0.01, 0.3), min_size=2, max_size=2),
    st.lists(st.floats(0.0, 0.5), min_size=2, max_size=2),
    st.lists(st.floats(0.0, 0.5), min_size=2, max_size=2),
    st.lists(st.floats(0.0, 0.05), min_size=2, max_size=2),
    st.floats(-0.01, 0.1),
)


@st.composite
def positions(draw: st.DrawFn, und: Underlyings, kinds: tuple[Instrument, ...] = tuple(Instrument)) -> Position:
    u = draw(st.integers(0, und.count - 1))
    kind = draw(st.sampled_from(kinds))
    size = draw(st.floats(-10.0, 10.0))
    if kind is Instrument.PERP:
        return Position(u, kind, size)
    strike = float(und.spot[u]) * math.exp(draw(st.floats(-0.7, 0.7)))
    return Position(u, kind, size, strike, draw(st.floats(0.0, 2.0)), draw(st.floats(0.1, 1.5)))


def accounts(und: Underlyings, max_size: int = 5) -> st.SearchStrategy[list[Position]]:
    return st.lists(positions(und), max_size=max_size)


@st.composite
def listed_accounts(draw: st.DrawFn, und: Underlyings) -> list[list[Position]]:
    """Accounts trading a few listed series (so series repeat across slots) plus perps and
    the odd unique option."""
    listing = draw(st.lists(positions(und, kinds=(Instrument.CALL, Instrument.PUT)), min_size=1, max_size=3))
    slot = st.one_of(
        st.builds(
            lambda pos, size: Position(pos.underlying, pos.kind, size, pos.strike, pos.expiry_years, pos.implied_vol),
            st.sampled_from(listing),
            st.floats(-10.0, 10.0),
        ),
        positions(und),
    )
    return draw(st.lists(st.lists(slot, max_size=4), min_size=2, max_size=6))


def shocked_vol(grid: ScenarioGrid, und: Underlyings, pos: Position, s: int) -> float:
    units = grid.vol_units[s]
    if units == 0.0:
        return pos.implied_vol
    span = float(und.vol_scan_up[pos.underlying] if units > 0 else und.vol_scan_down[pos.underlying])
    if grid.vol_shift is VolShift.ABSOLUTE:
        return max(pos.implied_vol + units * span, grid.min_vol)
    days = max(pos.expiry_years * DAYS_PER_YEAR, grid.dte_floor_days)
    power = grid.vega_power_short if days < 30 else grid.vega_power_long
    return max(pos.implied_vol * (1 + units * span * (30 / days) ** power), grid.min_vol)


def reference(account: list[Position], und: Underlyings, grid: ScenarioGrid) -> tuple[list[list[float]], float]:
    """Weighted losses per (underlying, scenario) and the margin, scalar by scalar."""
    pnl = [[0.0] * grid.size for _ in range(und.count)]
    shorts = [0.0] * und.count
    held = [False] * und.count
    for pos in account:
        if pos.size == 0.0:
            continue
        u = pos.underlying
        held[u] = True
        spot = float(und.spot[u])
        for s in range(grid.size):
            move = grid.price_units[s] * float(und.price_scan_range[u])
            if pos.kind is Instrument.PERP:
                pnl[u][s] += pos.size * spot * move
                continue
            call = pos.kind is Instrument.CALL
            before = bs_price(spot, pos.strike, pos.expiry_years, pos.implied_vol, call=call, rate=und.rate)
            vol = shocked_vol(grid, und, pos, s)
            after = bs_price(spot * (1 + move), pos.strike, pos.expiry_years, vol, call=call, rate=und.rate)
            pnl[u][s] += pos.size * (after - before)
        if pos.kind is not Instrument.PERP and pos.size < 0:
            shorts[u] -= pos.size
    losses = [[-pnl[u][s] * grid.weights[s] for s in range(grid.size)] for u in range(und.count)]
    margin = sum(
        max(max(losses[u]), 0.0, float(und.short_option_minimum[u] * und.spot[u]) * shorts[u])
        for u in range(und.count)
        if held[u]
    )
    return losses, margin


def scale(account: list[Position], und: Underlyings) -> float:
    """USD size of an account: the tolerance unit for float comparisons."""
    return sum(abs(p.size) * float(und.spot[p.underlying]) for p in account) + 1.0


@given(st.data(), underlyings, st.sampled_from(GRIDS))
def test_engine_matches_scalar_reference(data: st.DataObject, und: Underlyings, grid: ScenarioGrid) -> None:
    book_accounts = data.draw(st.lists(accounts(und), min_size=1, max_size=4))
    book = PositionBook.from_accounts(book_accounts, slots=5)
    losses = scenario_losses(book, und, grid)
    result = portfolio_margin(book, und, grid)
    for a, account in enumerate(book_accounts):
        ref_losses, ref_margin = reference(account, und, grid)
        tol = 1e-10 * scale(account, und)
        np.testing.assert_allclose(losses[a], ref_losses, rtol=1e-9, atol=tol)
        assert math.isclose(result.margin[a], ref_margin, rel_tol=1e-9, abs_tol=tol)


@given(st.data(), underlyings, st.sampled_from(GRIDS))
def test_risk_array_matches_reference_and_per_position_path(
    data: st.DataObject, und: Underlyings, grid: ScenarioGrid
) -> None:
    book_accounts = data.draw(listed_accounts(und))
    book = PositionBook.from_accounts(book_accounts, slots=4)
    losses = scenario_losses(book, und, grid)
    result = portfolio_margin(book, und, grid)
    for a, account in enumerate(book_accounts):
        ref_losses, ref_margin = reference(account, und, grid)
        tol = 1e-10 * scale(account, und)
        np.testing.assert_allclose(losses[a], ref_losses, rtol=1e-9, atol=tol)
        assert math.isclose(result.margin[a], ref_margin, rel_tol=1e-9, abs_tol=tol)
        # Alone in a book its options are mostly held once (revalued in place): same bits.
        alone = PositionBook.from_accounts([account], slots=4)
        np.testing.assert_array_equal(scenario_losses(alone, und, grid)[0], losses[a])
        assert portfolio_margin(alone, und, grid).margin[0] == result.margin[a]


@given(
    st.floats(-1e6, 1e6),
    st.floats(1e-6, 1e7),
    st.floats(1e-4, 0.3),
    st.sampled_from(GRIDS),
)
def test_perp_scenario_loss_is_exactly_notional_times_move(
    size: float, spot: float, scan: float, grid: ScenarioGrid
) -> None:
    und = Underlyings.uniform([spot], price_scan_range=scan, vol_scan_up=0.1)
    losses = scenario_losses(PositionBook.from_accounts([[Position(0, Instrument.PERP, size)]]), und, grid)[0, 0]
    for s in range(grid.size):
        move = grid.price_units[s] * scan
        assert losses[s] == -((size * spot) * move) * grid.weights[s]
        if grid.weights[s] == 1.0:
            assert abs(losses[s]) == (abs(size) * spot) * abs(move)


@given(st.data(), underlyings, st.sampled_from(GRIDS))
def test_adding_a_long_call_never_increases_loss_in_up_scenarios(
    data: st.DataObject, und: Underlyings, grid: ScenarioGrid
) -> None:
    account = data.draw(accounts(und, max_size=4))
    call = data.draw(positions(und, kinds=(Instrument.CALL,)))
    call = Position(call.underlying, call.kind, abs(call.size), call.strike, call.expiry_years, call.implied_vol)
    book = PositionBook.from_accounts([account, [*account, call]], slots=5)
    losses = scenario_losses(book, und, grid)
    tol = 1e-12 * scale([call], und)
    for s in range(grid.size):
        if grid.price_units[s] > 0 and grid.vol_units[s] >= 0:
            assert losses[1, call.underlying, s] <= losses[0, call.underlying, s] + tol


@given(st.data(), underlyings, st.sampled_from(GRIDS), st.booleans())
def test_margin_of_combined_positions_is_at_most_the_sum(
    data: st.DataObject, und: Underlyings, grid: ScenarioGrid, delta_hedge: bool
) -> None:
    first = data.draw(accounts(und, max_size=4))
    if delta_hedge:  # the second part is the perpetual hedge of the first's delta per underlying
        deltas = portfolio_greeks(PositionBook.from_accounts([first], slots=4), und).account.delta[0]
        second = [Position(u, Instrument.PERP, -float(d)) for u, d in enumerate(deltas)]
    else:
        second = data.draw(accounts(und, max_size=4))
    book = PositionBook.from_accounts([first, second, first + second], slots=8)
    m = portfolio_margin(book, und, grid).margin
    assert m[2] <= m[0] + m[1] + 1e-10 * scale(first + second, und)


@given(st.data(), underlyings)
def test_account_greeks_are_sums_of_scalar_greeks(data: st.DataObject, und: Underlyings) -> None:
    account = data.draw(accounts(und))
    g = portfolio_greeks(PositionBook.from_accounts([account], slots=5), und)
    for u in range(und.count):
        expected = 0.0
        for p in account:
            if p.underlying != u or p.size == 0.0:
                continue
            if p.kind is Instrument.PERP:
                expected += p.size
            else:
                spot = float(und.spot[u])
                unit = bs_greeks(
                    spot, p.strike, p.expiry_years, p.implied_vol, call=p.kind is Instrument.CALL, rate=und.rate
                )
                expected += p.size * unit.delta
        assert math.isclose(g.account.delta[0, u], expected, rel_tol=1e-12, abs_tol=1e-12)
