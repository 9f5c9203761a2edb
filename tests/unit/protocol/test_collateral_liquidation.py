"""Collateral liquidation: a negative settlement balance of an account below its requirement is
covered by selling collateral at a discount; bad debt is recognised only once positions and
collateral are gone.

Set-up (``negative_balance``): the collateral trader deposits 1,000 USDC and some WETH, buys
0.1 BTC at 60,000 from the market maker, BTC falls to 42,000 and it sells the 0.1 BTC at 42,000
to the conservative trader: realized 4,200 - 6,000 = -1,800, balance -800. With 3 WETH the
account is healthy at ETH 3,000 (equity -800 + 3 x 3,000 x 0.8 = 6,400; F-05: its collateral is
not for sale) and ETH falls to 300 (equity -800 + 720 = -80 < 0). With a 5 % discount and a 1 %
fee, n wei of WETH then sell for ``proceeds = floor(floor(n * 300) * 0.95) = 285 n`` and
``fee = ceil(proceeds / 100)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocol.actions import LiquidateCollateral, SetFundingRate, SetPaused
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import BadDebtSettled, CollateralLiquidated, InsuranceFundChanged, LossSocialized
from protocol.invariants import check_state, check_transition
from protocol.keeper import collateral_to_sell
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_FEED, WETH

if TYPE_CHECKING:
    from conftest import Desk

COLL, MAKER, BUYER = ACTORS["trader_collateral"], ACTORS["market_maker"], ACTORS["trader_conservative"]
LIQUIDATOR, GOV, BROKE = ACTORS["liquidator"], ACTORS["governance"], ACTORS["keeper"]

#: fewest wei of WETH whose net proceeds cover 800 at ETH 300: 285 n - ceil(2.85 n) >= 800e18
N_MIN = 2_835_371_256_423_888_003
#: ETH price (USD) once the 3 WETH no longer cover the debt with their haircut.
ETH_LOW = 300


def sale(n: int, eth: int = ETH_LOW) -> tuple[int, int]:
    proceeds = (n * eth * WAD // WAD) * 95 // 100
    return proceeds, -(-proceeds // 100)


def below_requirement(desk: Desk) -> Desk:
    """ETH falls from 3,000 to ``ETH_LOW`` within the move bound: the 3 WETH of ``negative_balance``
    no longer cover its debt, the account is below its requirement (equity -80)."""
    with pytest.raises(ProtocolRevert, match=r"^liquidation: account healthy$"):
        desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, N_MIN))  # F-05: healthy at 3,000
    for eth in (1_500, 750, 375, ETH_LOW):
        desk.push(ETH_FEED, eth * WAD)
    assert desk.house.liquidation_health(COLL).equity == -80 * WAD
    return desk


def negative_balance(desk: Desk, weth_wad: int) -> Desk:
    desk.deposit_usdc(COLL, 1_000)
    desk.deposit_weth(COLL, weth_wad)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(BUYER, 100_000)
    desk.deposit_usdc(LIQUIDATOR, 50_000)
    desk.fill(COLL, MAKER, WAD // 10, 60_000 * WAD)
    desk.push(BTC_FEED, 42_000 * WAD)
    events = desk.fill(COLL, BUYER, -WAD // 10, 42_000 * WAD)
    assert desk.account(COLL).balance == -800 * WAD
    assert not any(isinstance(e, BadDebtSettled) for e in events)  # collateral is still there
    return desk


def test_sale_arithmetic_of_the_minimal_amount() -> None:
    proceeds, fee = sale(N_MIN)
    assert (proceeds, fee) == (808_080_808_080_808_080_855, 8_080_808_080_808_080_809)
    assert proceeds - fee == 800_000_000_000_000_000_046 >= 800 * WAD
    p1, f1 = sale(N_MIN - 1)
    assert p1 - f1 == 799_999_999_999_999_999_764 < 800 * WAD


def test_sells_exactly_what_is_needed(desk: Desk) -> None:
    below_requirement(negative_balance(desk, 3 * WAD))
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^liquidation: sells more than needed$"):
        desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, N_MIN + 1))
    assert desk.house.snapshot() == before

    events = desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, N_MIN))
    proceeds, fee = sale(N_MIN)
    assert CollateralLiquidated(COLL, LIQUIDATOR, WETH, N_MIN, proceeds, fee) in events
    assert InsuranceFundChanged(fee, fee, "collateral liquidation fee") in events
    assert desk.account(COLL).balance == -800 * WAD + proceeds - fee == 46
    assert desk.account(COLL).collateral[WETH] == 3 * WAD - N_MIN
    assert desk.account(LIQUIDATOR).balance == 50_000 * WAD - proceeds
    assert desk.account(LIQUIDATOR).collateral[WETH] == N_MIN
    assert desk.state.insurance_fund == fee
    assert check_state(desk.state, desk.house.params) == {}
    assert check_transition(before, desk.state, events, desk.house.params) == {}
    # the balance is no longer negative: nothing more may be sold
    with pytest.raises(ProtocolRevert, match=r"^liquidation: balance not negative$"):
        desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, 1))


def test_smaller_sales_are_allowed(desk: Desk) -> None:
    below_requirement(negative_balance(desk, 3 * WAD))
    desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, WAD // 10))
    proceeds, fee = sale(WAD // 10)  # 28.5 and 0.285
    assert (proceeds, fee) == (28_500_000_000_000_000_000, 285_000_000_000_000_000)
    assert desk.account(COLL).balance == -800 * WAD + proceeds - fee


def test_only_while_the_balance_is_negative(desk: Desk) -> None:
    desk.deposit_usdc(COLL, 1_000)
    desk.deposit_weth(COLL, WAD)
    desk.deposit_usdc(LIQUIDATOR, 50_000)
    with pytest.raises(ProtocolRevert, match=r"^liquidation: balance not negative$"):
        desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, 1))


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (LiquidateCollateral(COLL, COLL, WETH, 1), "liquidation: self liquidation"),
        (LiquidateCollateral(LIQUIDATOR, COLL, 5, 1), "liquidation: unknown asset"),
        (LiquidateCollateral(LIQUIDATOR, COLL, WETH, 3 * WAD + 1), "liquidation: amount exceeds collateral"),
        (LiquidateCollateral(BROKE, COLL, WETH, N_MIN), "liquidation: liquidator balance too low"),
    ],
)
def test_refusals(desk: Desk, action: LiquidateCollateral, reason: str) -> None:
    below_requirement(negative_balance(desk, 3 * WAD))
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert) as info:
        desk.apply(action)
    assert info.value.reason == reason
    assert desk.house.snapshot() == before


def test_needs_a_trusted_collateral_price(desk: Desk) -> None:
    negative_balance(desk, WAD // 10)  # below its requirement at 3,000
    desk.push(ETH_FEED, -1)  # rejected: ETH untrusted
    with pytest.raises(ProtocolRevert, match=r"^liquidation: price not trusted$"):
        desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, N_MIN))


def test_paused(desk: Desk) -> None:
    below_requirement(negative_balance(desk, 3 * WAD))
    desk.apply(SetPaused(GOV, True))
    with pytest.raises(ProtocolRevert, match=r"^liquidation: paused$"):
        desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, N_MIN))


def test_bad_debt_is_settled_once_the_collateral_is_gone(desk: Desk) -> None:
    negative_balance(desk, WAD // 10)  # 0.1 WETH: not enough
    before = desk.house.snapshot()
    events = desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, WAD // 10))
    proceeds, fee = 285 * WAD, 2_850_000_000_000_000_000
    debt = 800 * WAD - (proceeds - fee)  # 517.85
    assert debt == 517_850_000_000_000_000_000
    # the fund holds only the fee just paid; it covers that much; the rest was created by no
    # bankrupt close (the trader closed its position itself while solvent): uncovered (F-15)
    assert BadDebtSettled(COLL, debt, fee, debt - fee) in events
    assert debt - fee == 515 * WAD
    assert not [e for e in events if isinstance(e, LossSocialized)]
    assert desk.state.uncovered_loss == 515 * WAD
    assert desk.account(COLL).balance == 0
    assert desk.account(COLL).collateral[WETH] == 0
    assert desk.state.insurance_fund == 0
    assert desk.health(MAKER).equity == 1_000_000 * WAD + 1_800 * WAD
    assert check_state(desk.state, desk.house.params) == {}
    assert check_transition(before, desk.state, events, desk.house.params) == {}


def test_reference_keeper_sells_what_the_settled_balance_needs(desk: Desk) -> None:
    """Pending funding is settled by the purchase itself: the keeper sizes the sale on the settled
    balance (``ClearingHouse.settled_account``), so the protocol accepts it as the minimal one."""
    negative_balance(desk, 3 * WAD)
    desk.fill(COLL, MAKER, WAD // 10, 42_000 * WAD)  # long again: it pays funding
    desk.advance(3_600)  # a whole funding ramp: the rate may move from 0 to the maximum
    desk.push(BTC_FEED, 42_000 * WAD)
    desk.push(ETH_FEED, 3_000 * WAD)
    desk.apply(SetFundingRate(ACTORS["funding_operator"], BTC_PERP, 10**11))
    desk.advance(3_600)
    desk.push(BTC_FEED, 42_000 * WAD)
    for eth in (1_500, 750, 375, ETH_LOW):  # below its requirement (F-05)
        desk.push(ETH_FEED, eth * WAD)
    before = desk.house.snapshot()
    stored, settled = desk.account(COLL).balance, desk.house.settled_account(COLL).balance
    assert settled < stored < 0  # 0.1 BTC x 1e11/s x 3,600 s x 42,000 USD of funding is pending
    assert desk.house.snapshot() == before  # settled_account changes nothing
    n = collateral_to_sell(desk.house, COLL, WETH, ETH_LOW * WAD)
    assert n > N_MIN
    desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, n))
    assert desk.account(COLL).balance >= 0
