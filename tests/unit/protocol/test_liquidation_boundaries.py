"""Boundaries of the liquidation engine that a mutation run found unpinned (issue 14, item 6):
minimality of a collateral sale at exact equality, the bisection that sizes a liquidation when
the closed form is not proven, and the cap on what auto-deleveraging takes from a counterparty.
Each test fails with the corresponding mutant of protocol/liquidation.py or
protocol/socialized_loss.py applied (``make mutation``)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pytest
from test_collateral_liquidation import COLL, LIQUIDATOR, below_requirement, negative_balance
from test_liquidation import KEEPER, Q_MAX, TRADER, liquidatable
from test_socialized_loss import BYSTANDER, bankrupt_long, deleverage

from protocol import liquidation
from protocol.actions import Deposit, LiquidateCollateral
from protocol.constants import WAD
from protocol.context import Context
from protocol.errors import ProtocolRevert
from protocol.events import Deleveraged
from protocol.margin import account_health
from protocol.oracle_adapter import liquidation_prices
from protocol.params import SocializedLossMethod
from protocol.scenarios import BTC_PERP, WETH

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

#: 20e12 * 128,000 wei of WETH sell at ETH 300 for exactly 722.304 USD net of the fee:
#: proceeds 285 n = 729,600e15 (exact), fee ceil(proceeds / 100) = 7,296e15 (exact)
N_EXACT = 20 * 10**12 * 128_000
NET_EXACT = 722_304 * 10**15


def test_a_sale_one_unit_larger_than_an_exact_cover_is_refused(desk: Desk) -> None:
    below_requirement(negative_balance(desk, 3 * WAD))
    # 77.696 USDC brings the debt to exactly what N_EXACT covers (equity stays below zero)
    desk.apply(Deposit(COLL, 0, 77_696_000))
    assert desk.account(COLL).balance == -NET_EXACT
    assert desk.house.liquidation_health(COLL).equity < 0
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^liquidation: sells more than needed$"):
        desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, N_EXACT + 1))
    assert desk.house.snapshot() == before
    desk.apply(LiquidateCollateral(LIQUIDATOR, COLL, WETH, N_EXACT))
    assert desk.account(COLL).balance == 0


@pytest.mark.parametrize("price_usd", [49_000, 48_500, 47_700, 49_900])
def test_bisection_finds_the_size_of_the_closed_form(desk: Desk, price_usd: int) -> None:
    liquidatable(desk, price_usd)
    expected = desk.house.max_liquidation_size(TRADER, BTC_PERP)
    if price_usd == 49_000:
        assert expected == Q_MAX
    ctx = Context(params=desk.house.params, state=copy.deepcopy(desk.state))
    acct = ctx.state.account(TRADER)
    prices = liquidation_prices(ctx, acct, "liquidation")
    health = account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)
    assert liquidation._bisect_size(ctx, acct, prices, health, BTC_PERP) == expected
    # and the definition: expected - 1 does not restore initial margin, expected does
    terms = [liquidation.liquidation_terms(ctx, acct, prices, health, BTC_PERP, q) for q in (expected - 1, expected)]
    assert [t.restores_initial for t in terms] == [False, expected < WAD or terms[1].restores_initial]


def test_deleveraging_takes_no_more_than_the_counterpartys_entry(make_desk: DeskFactory) -> None:
    desk = bankrupt_long(
        make_desk(socialized_loss_method=SocializedLossMethod.ADL), short_size=4 * WAD // 10, short_deposit=2_400
    )
    # BYSTANDER shorts 0.5 at 47,200: in profit at 47,000, but below the bankruptcy price 47,500
    desk.fill(KEEPER, BYSTANDER, WAD // 2, 47_200 * WAD)
    events = deleverage(desk, (BYSTANDER,))
    # q = 0.5: room = -500 - floor(-500 * 1,175 / 2,350) = -250, value 23,500 + 250 = 23,750,
    # capped at BYSTANDER's entry 0.5 * 47,200 = 23,600: it never loses on the close
    assert Deleveraged(TRADER, BYSTANDER, BTC_PERP, WAD // 2, 23_600 * WAD) in events
    assert BTC_PERP not in desk.account(BYSTANDER).positions
    assert desk.account(BYSTANDER).balance == 5_000 * WAD
