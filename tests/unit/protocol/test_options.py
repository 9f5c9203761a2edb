"""European cash-settled options in the model: premium at the fill, intrinsic valuation,
settlement at the first price at or after expiry, and the portfolio requirement."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import pytest

from protocol.actions import SetFundingRate, SettleExpired, Withdraw
from protocol.black_scholes import price_unchecked
from protocol.constants import WAD
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import OptionSettled, SettlementPriceSet
from protocol.invariants import check_state
from protocol.option_margin import SPAN_SCENARIOS, group_requirement
from protocol.params import MarketKind, MarketParams
from protocol.scenarios import ACTORS, BTC_CALL, BTC_FEED, BTC_PERP, BTC_PUT, option_params
from protocol.state import Position

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

T0 = 1_700_000_000  # the desks' start time (tests/unit/protocol/conftest.py)
EXPIRY = T0 + 7 * 86_400
BUYER, WRITER = ACTORS["trader_leveraged"], ACTORS["trader_short"]


@pytest.fixture
def odesk(make_desk: DeskFactory) -> Desk:
    desk = make_desk(option_params(EXPIRY))
    desk.deposit_usdc(BUYER, 10_000)
    desk.deposit_usdc(WRITER, 50_000)
    return desk


def test_premium_moves_between_balances_at_the_fill(odesk: Desk) -> None:
    odesk.fill(BUYER, WRITER, 2 * WAD, 1_500 * WAD, market_id=BTC_CALL)
    # premium = floor(2e18 * 1500e18 / 1e18) = 3000e18, paid at once; no cost basis.
    assert odesk.account(BUYER).balance == 7_000 * WAD
    assert odesk.account(WRITER).balance == 53_000 * WAD
    assert odesk.account(BUYER).positions[BTC_CALL] == Position(size=2 * WAD)
    assert odesk.account(WRITER).positions[BTC_CALL].open_notional == 0
    assert not check_state(odesk.state, odesk.house.params)


def test_equity_counts_intrinsic_value(odesk: Desk) -> None:
    odesk.fill(BUYER, WRITER, 2 * WAD, 1_500 * WAD, market_id=BTC_CALL)
    odesk.push(BTC_FEED, 66_000 * WAD)  # call strike 65,000: intrinsic 1,000 per unit
    assert odesk.health(BUYER).equity == 7_000 * WAD + 2 * 1_000 * WAD
    assert odesk.health(WRITER).equity == 53_000 * WAD - 2 * 1_000 * WAD


def test_settlement_at_the_first_price_after_expiry_pays_out_exactly(odesk: Desk) -> None:
    odesk.fill(BUYER, WRITER, 2 * WAD, 1_500 * WAD, market_id=BTC_PUT)
    odesk.advance(EXPIRY - odesk.now - 1)
    assert not any(isinstance(e, SettlementPriceSet) for e in odesk.push(BTC_FEED, 50_000 * WAD))
    odesk.advance(1)
    events = odesk.push(BTC_FEED, 54_000 * WAD)
    assert SettlementPriceSet(BTC_PUT, 54_000 * WAD) in events
    odesk.push(BTC_FEED, 40_000 * WAD)  # later prices do not move the settlement
    # put strike 55,000 at 54,000: 1,000 per unit, 2 units.
    assert odesk.apply(SettleExpired(ACTORS["keeper"], BUYER, BTC_PUT)) == [
        OptionSettled(BUYER, BTC_PUT, 2 * WAD, 2_000 * WAD)
    ]
    assert odesk.account(BUYER).balance == 7_000 * WAD + 2_000 * WAD
    assert odesk.state.settlement_pool == -2_000 * WAD
    # The writer settles on its next touch (a withdrawal), paying the same 2,000.
    odesk.apply(Withdraw(WRITER, 0, 1))
    assert odesk.account(WRITER).balance == 53_000 * WAD - 2_000 * WAD - 10**12
    assert odesk.state.settlement_pool == 0
    assert odesk.state.markets[BTC_PUT].oi_long == odesk.state.markets[BTC_PUT].oi_short == 0
    assert not check_state(odesk.state, odesk.house.params)


def test_options_refuse_fills_after_expiry_funding_and_liquidation(odesk: Desk) -> None:
    odesk.advance(EXPIRY - odesk.now)
    odesk.push(BTC_FEED, 60_000 * WAD)
    with pytest.raises(ProtocolRevert, match="clearing: option expired"):
        odesk.fill(BUYER, WRITER, WAD, 10 * WAD, market_id=BTC_CALL)
    with pytest.raises(ProtocolRevert, match="funding: not a perpetual"):
        odesk.apply(SetFundingRate(ACTORS["funding_operator"], BTC_CALL, 1))
    with pytest.raises(ProtocolRevert, match="options: no position"):
        odesk.apply(SettleExpired(ACTORS["keeper"], BUYER, BTC_CALL))


def test_premium_above_the_spot_is_refused(odesk: Desk) -> None:
    before = odesk.house.snapshot()
    with pytest.raises(ProtocolRevert, match="clearing: premium out of bounds"):
        odesk.fill(BUYER, WRITER, WAD, 60_000 * WAD + 1, market_id=BTC_CALL)
    assert odesk.house.snapshot() == before


def test_writer_needs_the_portfolio_requirement(odesk: Desk) -> None:
    odesk.fill(BUYER, WRITER, 2 * WAD, 1_500 * WAD, market_id=BTC_CALL)
    health = odesk.health(WRITER)
    legs = [(odesk.house.params.market(BTC_CALL), Position(size=-2 * WAD))]
    im, mm = group_requirement(legs, 60_000 * WAD, odesk.now, odesk.house.params.protocol)
    assert (health.initial, health.maintenance) == (im, mm)
    assert mm > 0
    assert im == -((-mm * WAD) // odesk.house.params.protocol.portfolio_maintenance_share_wad)


def test_a_perpetual_hedge_offsets_the_option_risk(odesk: Desk) -> None:
    params = odesk.house.params
    call = params.market(BTC_CALL)
    perp = params.market(BTC_PERP)
    short_call = [(call, Position(size=-WAD))]
    hedged = [*short_call, (perp, Position(size=WAD // 2))]
    _, alone = group_requirement(short_call, 60_000 * WAD, T0, params.protocol)
    _, together = group_requirement(hedged, 60_000 * WAD, T0, params.protocol)
    assert together < alone


def test_the_underlyings_yield_moves_the_writers_requirement() -> None:
    """A yield q lowers the forward: calls lose value and delta, puts gain them, so a call
    writer needs less margin and a put writer more; a negative carry does the opposite."""
    params = option_params(EXPIRY)

    def maintenance(market_id: int, yield_wad: int) -> int:
        mp = dataclasses.replace(params.market(market_id), dividend_yield_wad=yield_wad)
        return group_requirement([(mp, Position(size=-WAD))], 60_000 * WAD, T0, params.protocol)[1]

    for market_id, direction in ((BTC_CALL, -1), (BTC_PUT, 1)):
        base = maintenance(market_id, 0)
        for q in (WAD // 20, WAD):
            assert (maintenance(market_id, q) - base) * direction > 0
        assert (maintenance(market_id, -(WAD // 20)) - base) * direction < 0


def test_the_span_grid_has_sixteen_scenarios_with_partial_extremes() -> None:
    assert len(SPAN_SCENARIOS) == 16
    assert [s.weight for s in SPAN_SCENARIOS].count(0.35) == 2
    assert {s.price_move for s in SPAN_SCENARIOS if s.weight == 0.35} == {3.0, -3.0}


def test_black_scholes_textbook_values() -> None:
    # Hull: S=42, K=40, sigma=20%, T=0.5 with r=10% gives 4.76 / 0.81; with r=0 the call is the
    # forward-neutral value. Check put-call parity with r=0 and the at-expiry intrinsic instead.
    call = price_unchecked(True, 42.0, 40.0, 0.5, 0.2)
    put = price_unchecked(False, 42.0, 40.0, 0.5, 0.2)
    assert math.isclose(call - put, 2.0, rel_tol=1e-12)
    assert price_unchecked(True, 42.0, 40.0, 0.0, 0.2) == 2.0
    assert price_unchecked(False, 38.0, 40.0, 0.0, 0.2) == 2.0


def test_option_parameters_are_validated() -> None:
    with pytest.raises(InvalidParameter, match=r"market\[9\]\.strike = 0 is out of range"):
        MarketParams(9, "X", 0, WAD // 10, WAD // 2, kind=MarketKind.CALL, strike_wad=0, expiry_s=1, volatility_wad=WAD)
    with pytest.raises(InvalidParameter, match="applies to options only"):
        MarketParams(9, "X", 0, WAD // 10, WAD // 2, strike_wad=WAD)
    with pytest.raises(InvalidParameter, match=r"market\[9\]\.dividend_yield_wad = 50000000000000000 applies to"):
        MarketParams(9, "X", 0, WAD // 10, WAD // 2, dividend_yield_wad=WAD // 20)

    def call(yield_wad: int) -> MarketParams:
        return MarketParams(
            9, "X", 0, WAD // 10, WAD // 2, kind=MarketKind.CALL, strike_wad=WAD, expiry_s=1, volatility_wad=WAD,
            dividend_yield_wad=yield_wad,
        )  # fmt: skip

    assert [call(bound).dividend_yield_wad for bound in (-WAD, 0, WAD)] == [-WAD, 0, WAD]
    with pytest.raises(
        InvalidParameter, match=r"market\[9\]\.dividend_yield = -1.000000000000000001 is out of range \[-1, 1\]"
    ):
        call(-WAD - 1)
    with pytest.raises(InvalidParameter, match=r"market\[9\]\.dividend_yield = 1.000000000000000001 is out of range"):
        call(WAD + 1)


def test_scan_range_keeps_the_extreme_scenario_price_positive() -> None:
    from protocol.params import ProtocolParams

    ProtocolParams(option_price_scan_range_wad=(WAD - 1) // 3)
    with pytest.raises(
        InvalidParameter, match=r"protocol\.option_price_scan_range = 0\.333333333333333334 is out of range"
    ):
        ProtocolParams(option_price_scan_range_wad=WAD // 3 + 1)
