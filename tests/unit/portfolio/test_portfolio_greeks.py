"""Position and account Greeks."""

from __future__ import annotations

import pytest

from protocol.errors import InvalidParameter
from protocol.portfolio import Instrument, Position, PositionBook, Underlyings, bs_greeks, portfolio_greeks

SPOT = (50_000.0, 3_000.0)


def test_position_greeks_are_size_times_unit_greeks_and_sum_per_underlying() -> None:
    und = Underlyings.uniform(SPOT, price_scan_range=0.15, vol_scan_up=0.1, rate=0.02)
    call = Position(0, Instrument.CALL, -2.0, strike=52_000.0, expiry_years=0.25, implied_vol=0.6)
    put = Position(1, Instrument.PUT, 3.0, strike=2_800.0, expiry_years=0.1, implied_vol=0.8, dividend_yield=0.035)
    perp = Position(0, Instrument.PERP, 1.5)
    book = PositionBook.from_accounts([[call, put, perp], []])
    g = portfolio_greeks(book, und)
    unit_call = bs_greeks(SPOT[0], 52_000.0, 0.25, 0.6, call=True, rate=0.02)
    unit_put = bs_greeks(SPOT[1], 2_800.0, 0.1, 0.8, call=False, rate=0.02, dividend_yield=0.035)
    for field in ("delta", "gamma", "vega", "theta", "rho"):
        pos = getattr(g.position, field)
        assert pos[0, 0] == pytest.approx(-2.0 * getattr(unit_call, field), rel=1e-12)
        assert pos[0, 1] == pytest.approx(3.0 * getattr(unit_put, field), rel=1e-12)
        assert pos[1].tolist() == [0.0, 0.0, 0.0]
    assert g.position.delta[0, 2] == 1.5
    assert (g.position.gamma[0, 2], g.position.vega[0, 2], g.position.theta[0, 2], g.position.rho[0, 2]) == (0.0,) * 4
    assert g.account.delta[0, 0] == g.position.delta[0, 0] + 1.5
    assert g.account.delta[0, 1] == g.position.delta[0, 1]
    assert g.account.vega[0, 0] == g.position.vega[0, 0]
    assert g.account.theta[1].tolist() == [0.0, 0.0]
    assert g.account.rho[0].tolist() == [g.position.rho[0, 0], g.position.rho[0, 1]]
    assert g.position.rho[0, 0] < 0.0  # a short call and a long put both lose as rates rise
    assert g.position.rho[0, 1] < 0.0


def test_greeks_validation() -> None:
    und = Underlyings.uniform([SPOT[0]], price_scan_range=0.15, vol_scan_up=0.1)
    book = PositionBook.from_accounts([[Position(1, Instrument.PERP, 1.0)]])
    with pytest.raises(InvalidParameter, match="refers to underlying 1 but only 1 are given"):
        portfolio_greeks(book, und)
    with pytest.raises(InvalidParameter, match="takes a PositionBook and an Underlyings"):
        portfolio_greeks(book, SPOT)  # type: ignore[arg-type]
