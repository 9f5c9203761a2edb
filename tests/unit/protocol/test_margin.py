"""margin: equity, requirements, OI-scaled initial fraction, collateral haircut and cap, and the
maintenance threshold to the wei."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from protocol.actions import Liquidate
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import Liquidated
from protocol.margin import (
    Health,
    collateral_value,
    initial_fraction,
    maintenance_fraction,
    notional,
    pending_funding,
    pending_loss,
    position_requirement,
    unrealized_pnl,
)
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_FEED, ETH_PERP, WETH, default_params
from protocol.state import MarketState, Position

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

TRADER, MAKER, KEEPER = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["keeper"]
PARAMS = default_params()
BTC_MARKET, ETH_MARKET = PARAMS.market(BTC_PERP), PARAMS.market(ETH_PERP)
WETH_PARAMS = PARAMS.collateral(WETH)


# ----------------------------------------------------------------------------- pure formulas


def test_notional_rounds_up() -> None:
    assert notional(WAD, 60_000 * WAD) == 60_000 * WAD
    assert notional(-WAD, 60_000 * WAD) == 60_000 * WAD  # magnitude
    assert notional(1, WAD // 2) == 1  # 0.5 wei -> 1
    assert notional(WAD // 3, 60_000 * WAD + 1) == 19_999_999_999_999_999_980_001  # ...980000 + 0.33 -> UP


def test_unrealized_pnl_floors_the_value() -> None:
    long = Position(size=WAD // 3, open_notional=20_000 * WAD)
    # floor(333333333333333333 * 60000e18 / 1e18) = 19999999999999999980000
    assert unrealized_pnl(long, 60_000 * WAD) == 19_999_999_999_999_999_980_000 - 20_000 * WAD
    short = Position(size=-1, open_notional=-1)
    assert unrealized_pnl(short, WAD // 2) == -1 + 1  # floor(-0.5) = -1, minus (-1)


def test_pending_funding_charges_ceil_and_credits_floor() -> None:
    ms = MarketState(funding_index=10)
    assert pending_funding(Position(size=WAD // 3, funding_snapshot=7), ms) == -1  # pays ceil(0.999...) = 1
    assert pending_funding(Position(size=-(WAD // 3), funding_snapshot=7), ms) == 0  # receives floor(0.999...) = 0
    assert pending_funding(Position(size=WAD, funding_snapshot=13), ms) == 3  # index fell: longs receive


def test_pending_loss_is_a_charge_rounded_up_on_the_positions_side() -> None:
    ms = MarketState(loss_index_long=5, loss_index_short=9)
    assert pending_loss(Position(size=WAD // 2, loss_snapshot=0), ms) == -3  # ceil(0.5 * 5) = 3
    assert pending_loss(Position(size=-WAD // 2, loss_snapshot=2), ms) == -4  # ceil(0.5 * 7) = 4
    assert pending_loss(Position(size=WAD, loss_snapshot=5), ms) == 0


def test_collateral_value_haircut_and_cap() -> None:
    # 3 WETH at 3,000 = 9,000; 20 % haircut -> 7,200
    assert collateral_value(WETH_PARAMS, 3 * WAD, 3_000 * WAD) == 7_200 * WAD
    # 1 wei at 3,000.5: floor(3000.5e-18 * 1e18 ... ) gross = floor(1 * 3000.5e18 / 1e18) = 3000; * 0.8 = 2400
    assert collateral_value(WETH_PARAMS, 1, 3_000 * WAD + WAD // 2) == 2_400
    # 1 wei at 1,001 wei: gross floor(1001e-18) = 0
    assert collateral_value(WETH_PARAMS, 1, 1_001) == 0
    # 7 wei at 1e18: gross 7, net floor(7 * 0.8) = floor(5.6) = 5
    assert collateral_value(WETH_PARAMS, 7, WAD) == 5
    capped = dataclasses.replace(WETH_PARAMS, value_cap_wad=1_000 * WAD)
    assert collateral_value(capped, 3 * WAD, 3_000 * WAD) == 1_000 * WAD
    assert collateral_value(capped, WAD // 3, 3_000 * WAD) == 799_999_999_999_999_999_200  # below the cap


def ms_with_oi(oi_long: int) -> MarketState:
    return MarketState(oi_long=oi_long, oi_short=oi_long)


@pytest.mark.parametrize(
    ("oi_long", "fraction"),
    [
        (0, WAD // 10),
        (1_000 * WAD, WAD // 10),  # 3M USD < lower cap 5M
        (5_000_000 * WAD // 3_000, WAD // 10),  # 1666.666... ETH: ceil(oi * p) = 4,999,999.999999999999998 USD
        (2_000 * WAD, 12 * WAD // 100),  # 6M: 0.1 + 0.9 * (1M / 45M) = 0.12
        # 6M + 3000 wei: 0.1 + ceil(0.9e18 * (1e24 + 3000) / 45e24) = 0.12e18 + ceil(6e-5) = 0.12e18 + 1
        (2_000 * WAD + 1, 12 * WAD // 100 + 1),
        (10_000 * WAD, 6 * WAD // 10),  # 30M: 0.1 + 0.9 * 25/45 = 0.6
        (50_000_000 * WAD // 3_000 + 1, WAD),  # just above the 50M upper cap
        (20_000 * WAD, WAD),  # 60M
    ],
)
def test_initial_fraction_grows_with_open_interest(oi_long: int, fraction: int) -> None:
    assert initial_fraction(ETH_MARKET, ms_with_oi(oi_long), 3_000 * WAD) == fraction


def test_initial_fraction_exactly_at_the_caps() -> None:
    lo = dataclasses.replace(ETH_MARKET, oi_cap_lower_wad=3_000 * WAD, oi_cap_upper_wad=6_000 * WAD)
    assert initial_fraction(lo, ms_with_oi(WAD), 3_000 * WAD) == WAD // 10  # oi == lower: base
    assert initial_fraction(lo, ms_with_oi(2 * WAD), 3_000 * WAD) == WAD  # oi == upper: 100 %
    assert initial_fraction(BTC_MARKET, ms_with_oi(10**30), 60_000 * WAD) == WAD // 10  # no scaling on BTC


def test_maintenance_fraction_rounds_up() -> None:
    assert maintenance_fraction(BTC_MARKET) == WAD // 20  # 0.1 * 0.5
    # 0.12e18 + 1 times 0.5 = 0.06e18 + 0.5 -> 0.06e18 + 1
    odd = dataclasses.replace(BTC_MARKET, initial_margin_fraction_wad=12 * WAD // 100 + 1)
    assert maintenance_fraction(odd) == 6 * WAD // 100 + 1


def test_open_interest_raises_initial_but_never_maintenance() -> None:
    crowded = ms_with_oi(2_000 * WAD + 1)  # initial fraction 0.12e18 + 1 (above)
    assert position_requirement(ETH_MARKET, crowded, WAD, 3_000 * WAD, maintenance=False) == 360 * WAD + 3_000
    assert position_requirement(ETH_MARKET, crowded, WAD, 3_000 * WAD, maintenance=True) == 150 * WAD  # 5 %


def test_position_requirement_rounds_up() -> None:
    ms = MarketState()
    # notional(1 wei at 60,000e18) = 60000; IM = ceil(60000 * 0.1) = 6000; MM = ceil(60000 * 0.05) = 3000
    assert position_requirement(BTC_MARKET, ms, 1, 60_000 * WAD, maintenance=False) == 6_000
    # 3 wei at 1e18: notional 3; IM = ceil(0.3) = 1; MM = ceil(0.15) = 1
    assert position_requirement(BTC_MARKET, ms, 3, WAD, maintenance=False) == 1
    assert position_requirement(BTC_MARKET, ms, -3, WAD, maintenance=True) == 1


def test_health_properties() -> None:
    assert Health(equity=5, initial=10, maintenance=5).liquidatable is False  # strict
    assert Health(equity=4, initial=10, maintenance=5).liquidatable is True
    assert Health(equity=10, initial=10, maintenance=5).meets_initial is True
    assert Health(equity=9, initial=10, maintenance=5).meets_initial is False
    assert Health(equity=7, initial=10, maintenance=5).free_collateral == -3


# ----------------------------------------------------------------------------- through the house


@pytest.fixture
def long_btc(desk: Desk) -> Desk:
    """TRADER: 12,500 USDC, long 1 BTC at 60,000 against the market maker, no fees."""
    desk.deposit_usdc(TRADER, 12_500)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(KEEPER, 100_000)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    return desk


def test_equity_and_requirements_are_exact(long_btc: Desk) -> None:
    # E = 12,500 + 0; IM = 60,000 * 0.1; MM = 60,000 * 0.05
    assert long_btc.health(TRADER) == Health(12_500 * WAD, 6_000 * WAD, 3_000 * WAD)
    long_btc.push(BTC_FEED, 55_000 * WAD + 1)
    # E = 12,500 + floor(55000e18 + 1) - 60,000 = 7,500e18 + 1; IM = ceil((55000e18 + 1) * 0.1) = 5500e18 + 1
    assert long_btc.health(TRADER) == Health(7_500 * WAD + 1, 5_500 * WAD + 1, 2_750 * WAD + 1)


def test_cross_margin_sums_markets_and_collateral(long_btc: Desk) -> None:
    long_btc.deposit_weth(TRADER, 2 * WAD)  # 2 * 3,000 * 0.8 = 4,800
    long_btc.fill(TRADER, MAKER, -10 * WAD, 3_000 * WAD, market_id=ETH_PERP)  # short 10 ETH: IM 3,000, MM 1,500
    long_btc.push(ETH_FEED, 3_300 * WAD)  # short loses 3,000; WETH is worth 2 * 3,300 * 0.8 = 5,280
    h = long_btc.health(TRADER)
    assert h.equity == 12_500 * WAD + 5_280 * WAD - 3_000 * WAD
    assert h.initial == 6_000 * WAD + 3_300 * WAD
    assert h.maintenance == 3_000 * WAD + 1_650 * WAD


def test_collateral_value_cap_in_equity(make_desk: DeskFactory) -> None:
    base = default_params()
    capped = dataclasses.replace(
        base, collaterals=(dataclasses.replace(base.collateral(WETH), value_cap_wad=1_000 * WAD),)
    )
    desk = make_desk(capped)
    desk.deposit_usdc(TRADER, 100)
    desk.deposit_weth(TRADER, 3 * WAD)  # 7,200 after haircut, capped at 1,000
    assert desk.health(TRADER).equity == 1_100 * WAD


def test_open_interest_scales_initial_margin_in_the_house(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 1_000_000)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.fill(TRADER, MAKER, 2_000 * WAD, 3_000 * WAD, market_id=ETH_PERP)  # OI 6M USD
    h = desk.health(TRADER)
    # initial fraction 0.12: IM = 6,000,000 * 0.12 = 720,000; maintenance stays 0.1 * 0.5: 300,000
    assert (h.initial, h.maintenance) == (720_000 * WAD, 300_000 * WAD)


def test_maintenance_threshold_to_the_wei(long_btc: Desk) -> None:
    # at 50,000: E = 12,500 + 50,000 - 60,000 = 2,500 = MM = 50,000 * 5 %: healthy (trigger is strict)
    long_btc.push(BTC_FEED, 50_000 * WAD)
    h = long_btc.health(TRADER)
    assert (h.equity, h.maintenance) == (2_500 * WAD, 2_500 * WAD)
    before = long_btc.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^liquidation: account healthy$"):
        long_btc.apply(Liquidate(KEEPER, TRADER, BTC_PERP, WAD))
    assert long_btc.house.snapshot() == before
    assert long_btc.house.max_liquidation_size(TRADER, BTC_PERP) == 0

    # one wei lower: E = 2500e18 - 1; MM = ceil((50000e18 - 1) * 0.05) = ceil(2500e18 - 0.05) = 2500e18
    long_btc.push(BTC_FEED, 50_000 * WAD - 1)
    h = long_btc.health(TRADER)
    assert (h.equity, h.maintenance) == (2_500 * WAD - 1, 2_500 * WAD)
    assert h.liquidatable
    q = long_btc.house.max_liquidation_size(TRADER, BTC_PERP)
    assert q > 0
    events = long_btc.apply(Liquidate(KEEPER, TRADER, BTC_PERP, q))
    assert any(isinstance(e, Liquidated) and e.account == TRADER and e.size_wad == q for e in events)


def test_health_needs_trusted_prices(long_btc: Desk) -> None:
    long_btc.advance(3_601)
    with pytest.raises(ProtocolRevert, match=r"^margin: price not trusted$"):
        long_btc.health(TRADER)
    # an account without positions or collateral needs no price
    assert long_btc.health(KEEPER) == Health(100_000 * WAD, 0, 0)
