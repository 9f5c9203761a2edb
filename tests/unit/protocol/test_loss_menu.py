"""The loss-socialization menu (docs/SPEC.md §8): open interest, profit haircut, partial ADL, the
collateral close factor and debt-ratio trigger, each with hand-computed numbers.

Common start (``bankrupt_long`` of test_socialized_loss): TRADER buys 1 BTC at 60,000 with 12,500
USDC, BUYER buys 2 from SHORT at 60,000, BTC falls to 47,000: TRADER's equity is -500 and the
insurance fund is empty. Longs: TRADER 1, BUYER 2; shorts: MAKER 1, SHORT 2 (3 BTC a side).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from test_collateral_liquidation import COLL, ETH_LOW, LIQUIDATOR, below_requirement, negative_balance, sale
from test_socialized_loss import (
    BUYER,
    BYSTANDER,
    KEEPER,
    MAKER,
    SHORT,
    TRADER,
    apply_checked,
    bankrupt_long,
    deleverage,
)

from protocol.actions import AutoDeleverage, Liquidate, LiquidateCollateral, Withdraw
from protocol.constants import WAD
from protocol.context import Context
from protocol.errors import ProtocolRevert
from protocol.events import Deleveraged, GainsCharged, LossSocialized, ProfitHaircut, ShortfallSettled
from protocol.keeper import collateral_to_sell
from protocol.loss_allocation import allocate
from protocol.margin import Health
from protocol.params import SocializedLossMethod
from protocol.scenarios import BTC_FEED, BTC_PERP, USDC, WETH

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

# ----------------------------------------------------------------------------- open interest


def test_open_interest_splits_the_loss_over_both_sides(make_desk: DeskFactory) -> None:
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.OPEN_INTEREST), short_size=2 * WAD, short_deposit=100_000
    )
    events = apply_checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, WAD))
    # 500 in halves: shorts (the opposite side) ceil(500 / 2) = 250, longs floor = 250; 3 BTC a
    # side (the keeper took TRADER's long over): step = ceil(250e18 * 1e18 / 3e18) on each side
    step = 83_333_333_333_333_333_334
    assert step == -(-250 * WAD * WAD // (3 * WAD))
    assert ShortfallSettled(TRADER, BTC_PERP, 500 * WAD, 0, 500 * WAD) in events
    socialized = [e for e in events if isinstance(e, LossSocialized)]
    assert socialized == [LossSocialized(BTC_PERP, -1, 250 * WAD, step), LossSocialized(BTC_PERP, 1, 250 * WAD, step)]
    ms = desk.state.markets[BTC_PERP]
    assert (ms.loss_index_short, ms.loss_index_long) == (step, step)
    # every unit of open interest pays the same: 1 BTC -> step, 2 BTC -> 2 step, either side
    assert desk.health(SHORT).equity == 100_000 * WAD + 26_000 * WAD - 2 * step
    assert desk.health(BUYER).equity == 200_000 * WAD - 26_000 * WAD - 2 * step
    assert desk.health(KEEPER).equity == 100_000 * WAD - step
    assert desk.health(BYSTANDER) == Health(5_000 * WAD, 0, 0)  # no position, no loss


def test_open_interest_gives_the_odd_wei_to_the_opposite_side(make_desk: DeskFactory) -> None:
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.OPEN_INTEREST), short_size=2 * WAD, short_deposit=100_000
    )
    ctx = Context(desk.state.fork(), desk.house.params)
    allocate(ctx, BTC_PERP, 1, 7)  # a long's 7 wei: shorts 4, longs 3
    assert ctx.events == [LossSocialized(BTC_PERP, -1, 4, 2), LossSocialized(BTC_PERP, 1, 3, 1)]  # ceil(4/3), ceil(3/4)
    ctx.state.markets[BTC_PERP].oi_long = ctx.state.markets[BTC_PERP].oi_short = 0
    allocate(ctx, BTC_PERP, 1, 5)  # no open interest: uncovered
    assert ctx.state.uncovered_loss == 5


# ----------------------------------------------------------------------------- profit haircut


@pytest.fixture
def haircut(make_desk: DeskFactory) -> Desk:
    """Profit haircut at 50 %: the 500 shortfall is uncovered; SHORT then closes its 2 BTC at 47,000
    (realized +26,000, balance 126,000)."""
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.PROFIT_HAIRCUT), short_size=2 * WAD, short_deposit=100_000
    )
    events = apply_checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, WAD))
    assert ShortfallSettled(TRADER, BTC_PERP, 500 * WAD, 0, 500 * WAD) in events
    assert not [e for e in events if isinstance(e, LossSocialized)]  # no position is charged
    assert desk.state.uncovered_loss == 500 * WAD
    desk.fill(SHORT, BUYER, 2 * WAD, 47_000 * WAD)
    assert desk.account(SHORT).realized_pnl == 26_000 * WAD
    return desk


def test_withdrawals_of_realized_profit_pay_the_shortfall_down(haircut: Desk) -> None:
    # 600 of profit: haircut ceil(600 * 0.5) = 300, debited beside the amount
    events = apply_checked(haircut, Withdraw(SHORT, 0, 600 * USDC))
    assert ProfitHaircut(SHORT, 300 * WAD, 200 * WAD) in events
    assert haircut.account(SHORT).balance == 126_000 * WAD - 600 * WAD - 300 * WAD
    assert haircut.account(SHORT).profit_withdrawn == 600 * WAD
    # next 1,000: haircut min(200 left, 500) = 200; the shortfall is gone
    events = apply_checked(haircut, Withdraw(SHORT, 0, 1_000 * USDC))
    assert ProfitHaircut(SHORT, 200 * WAD, 0) in events
    assert haircut.state.uncovered_loss == 0
    assert haircut.account(SHORT).balance == 126_000 * WAD - 1_600 * WAD - 500 * WAD
    # no shortfall: no haircut, the profit part is still counted as withdrawn
    events = apply_checked(haircut, Withdraw(SHORT, 0, 400 * USDC))
    assert not [e for e in events if isinstance(e, ProfitHaircut)]
    assert haircut.account(SHORT).profit_withdrawn == 2_000 * WAD


def test_withdrawals_without_realized_profit_pay_no_haircut(haircut: Desk) -> None:
    for who in (MAKER, BYSTANDER):  # MAKER's profit is unrealized; BYSTANDER never traded
        events = apply_checked(haircut, Withdraw(who, 0, 1_000 * USDC))
        assert not [e for e in events if isinstance(e, ProfitHaircut)]
    assert haircut.state.uncovered_loss == 500 * WAD


def test_profit_haircut_counts_profit_once_and_refuses_what_the_balance_cannot_pay(haircut: Desk) -> None:
    # the whole balance cannot leave: 126,000 + its haircut 500 exceed the balance
    with pytest.raises(ProtocolRevert, match=r"^vault: insufficient balance$"):
        haircut.apply(Withdraw(SHORT, 0, 126_000 * USDC))
    apply_checked(haircut, Withdraw(SHORT, 0, 125_000 * USDC))  # profit part 26,000: haircut min(500, 13,000)
    assert haircut.account(SHORT).balance == 500 * WAD
    assert haircut.account(SHORT).profit_withdrawn == 26_000 * WAD


# ----------------------------------------------------------------------------- partial ADL


def test_partial_adl_closes_the_fraction_rounded_up(make_desk: DeskFactory) -> None:
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.ADL, adl_close_fraction_wad=WAD // 2),
        short_size=4 * WAD // 10,
        short_deposit=2_400,
    )
    # q = ceil(1 * 0.5) = 0.5 of the 1.4 offered; MM = 2,350 -> MM' = 1,175;
    # room = -500 - floor(-500 * 1,175 / 2,350) = -250: value ceil(0.5 * 47,000) + 250 = 23,750;
    # SHORT takes 0.4 for floor(23,750 * 0.4 / 0.5) = 19,000, MAKER 0.1 for the rest 4,750.
    # Through the ADL queue: proposed, executed after the window (the queue passes the limit)
    events = deleverage(desk, (SHORT, MAKER))
    assert [e for e in events if isinstance(e, Deleveraged)] == [
        Deleveraged(TRADER, SHORT, BTC_PERP, 4 * WAD // 10, 19_000 * WAD),
        Deleveraged(TRADER, MAKER, BTC_PERP, WAD // 10, 4_750 * WAD),
    ]
    assert desk.health(TRADER) == Health(-250 * WAD, 2_350 * WAD, 1_175 * WAD)  # E / MM unchanged
    assert desk.state.adl_proposals == {}  # the execution removed the proposal
    # the rest is gated again: a new proposal, a new window; it closes ceil(0.5 * 0.5) = 0.25
    events = deleverage(desk, (MAKER,))
    assert [e.size_wad for e in events if isinstance(e, Deleveraged)] == [WAD // 4]


# ----------------------------------------------------------------------------- collateral


def test_close_factor_limits_one_sale(make_desk: DeskFactory) -> None:
    desk = below_requirement(negative_balance(make_desk(collateral_close_factor_wad=WAD // 2), 3 * WAD))
    # target ceil(800 * 0.5) = 400: fewest wei with 285 n - ceil(2.85 n) >= 400e18 at ETH 300
    # (282.15 n >= 400e18: n = floor(400e18 / 282.15) + 1)
    n = 1_417_685_628_211_944_002
    assert n == 400 * WAD * 100 // 28_215 + 1
    assert sale(n)[0] - sale(n)[1] == 400 * WAD + 164
    assert sale(n - 1)[0] - sale(n - 1)[1] < 400 * WAD
    assert collateral_to_sell(desk.house, COLL, WETH, ETH_LOW * WAD) == n
    with pytest.raises(ProtocolRevert, match=r"^liquidation: sells more than needed$"):
        desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, n + 1))
    apply_checked(desk, LiquidateCollateral(LIQUIDATOR, COLL, WETH, n))
    assert desk.account(COLL).balance == -800 * WAD + 400 * WAD + 164
    assert desk.house.collateral_sale_target(COLL) == 200 * WAD - 82  # the next one: ceil(half) again


def _below_requirement_with_position(desk: Desk) -> Desk:
    """``negative_balance`` (B = -800, 3 WETH at 3,000: V = floor(3 x 3,000 x 0.8) = 7,200), then 1
    BTC bought at 42,000 (IM 4,200 <= E 6,400) and BTC at 37,000: E = -800 - 5,000 + 7,200 = 1,400
    < MM = 5 % x 37,000 = 1,850 (F-05: for sale), debt ratio 800 / 7,200 = 1/9."""
    desk.fill(COLL, MAKER, WAD, 42_000 * WAD)
    for btc in (40_000, 38_000, 37_000):
        desk.push(BTC_FEED, btc * WAD)
    health = desk.house.liquidation_health(COLL)
    assert (desk.account(COLL).balance, health.equity, health.maintenance) == (-800 * WAD, 1_400 * WAD, 1_850 * WAD)
    return desk


def test_debt_ratio_trigger(make_desk: DeskFactory) -> None:
    # -B * WAD >= trigger * V: 800e18 * 1e18 >= floor(1e18 / 9) * 7,200e18 (reached, floor)
    at = _below_requirement_with_position(
        negative_balance(make_desk(collateral_debt_ratio_trigger_wad=WAD // 9), 3 * WAD)
    )
    assert at.house.collateral_sale_target(COLL) == 800 * WAD
    # (floor(1e18 / 9) + 1) * 7,200 = 800e18 + 6,400 > 800e18: not reached
    above = _below_requirement_with_position(
        negative_balance(make_desk(collateral_debt_ratio_trigger_wad=WAD // 9 + 1), 3 * WAD)
    )
    assert above.house.collateral_sale_target(COLL) == 0
    before = above.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^liquidation: debt ratio below trigger$"):
        above.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, WAD))
    assert above.house.snapshot() == before


# ----------------------------------------------------------------------------- gains (Vega)


def test_gains_charges_the_shortfall_pro_rata_to_unrealized_gains(make_desk: DeskFactory) -> None:
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.GAINS), short_size=4 * WAD // 10, short_deposit=2_400
    )
    # winners' gains at 47,000: MAKER 13,000 (1 BTC from 60,000), SHORT 5,200 (0.4); G = 18,200.
    # The whole long closes (MM' = 0): the bankruptcy price would give it -room = 500 beyond the
    # oracle; MAKER pays ceil(500 * 13,000 / 18,200), SHORT ceil(500 * 5,200 / 18,200): one wei
    # over 500, which goes to the insurance fund. The list is ranked by gain, largest first.
    maker_share, short_share = 357_142_857_142_857_142_858, 142_857_142_857_142_857_143
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: ranking violated$"):
        desk.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT, MAKER)))
    events = deleverage(desk, (MAKER, SHORT))
    charges = {e.counterparty: e.amount_wad for e in events if isinstance(e, GainsCharged)}
    assert charges == {MAKER: maker_share, SHORT: short_share}
    assert maker_share + short_share == 500 * WAD + 1
    assert desk.state.insurance_fund == 1
    # the position closes at the oracle price: ceil(1 * 47,000), all of it against MAKER's 1 BTC
    closes = [(e.counterparty, e.size_wad, e.notional_wad) for e in events if isinstance(e, Deleveraged)]
    assert closes == [(MAKER, WAD, 47_000 * WAD)]
    assert desk.account(TRADER).balance == 0  # 12,500 + 500 + 47,000 - 60,000: no bad debt
    assert not desk.account(TRADER).positions


def test_gains_list_skipping_the_largest_winner_is_challenged(make_desk: DeskFactory) -> None:
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.GAINS), short_size=4 * WAD // 10, short_deposit=2_400
    )
    # SHORT (gain 5,200) proposes itself alone; MAKER's list (13,000, 5,200) dominates it
    apply_checked(desk, AutoDeleverage(SHORT, TRADER, BTC_PERP, (SHORT,)))
    with pytest.raises(ProtocolRevert, match=r"^socialized_loss: challenge not higher$"):
        desk.apply(AutoDeleverage(KEEPER, TRADER, BTC_PERP, (SHORT,)))
    apply_checked(desk, AutoDeleverage(MAKER, TRADER, BTC_PERP, (MAKER, SHORT)))
    assert desk.state.adl_proposals[(TRADER, BTC_PERP)].counterparties == (MAKER, SHORT)


def test_gains_never_charges_more_than_a_gain(make_desk: DeskFactory) -> None:
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.GAINS), short_size=4 * WAD // 10, short_deposit=2_400
    )
    desk.fill(BYSTANDER, BUYER, -WAD // 10, 47_100 * WAD)  # a short in profit by 10 only
    desk.push(BTC_FEED, 47_000 * WAD)
    # alone it covers 0.1 of the 1 BTC: room = -500 - floor(-500 * MM(0.9) / MM(1)) = -50; its
    # gain 10 caps the charge, the rest (40) stays with the account
    events = deleverage(desk, (BYSTANDER,))
    assert [e for e in events if isinstance(e, GainsCharged)] == [GainsCharged(BYSTANDER, TRADER, BTC_PERP, 10 * WAD)]
    assert desk.health(TRADER).equity == -500 * WAD + 10 * WAD
