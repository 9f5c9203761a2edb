"""The loss-socialization menu on the contracts, compared with the reference model to the wei
(events, reverts and state): open interest, profit haircut, partial ADL, gains, and the
collateral close factor with its debt-ratio trigger (hand-computed in tests/unit/protocol/test_loss_menu.py)."""

from __future__ import annotations

import pytest
from test_protocol_harness import BTC, ETH, MATCHER, USDC, Differential, _reset, prices
from test_protocol_risk import COLL, KEEPER, LIQ, LONG, MAKER, SHORT, leveraged_long, move

from protocol.actions import AdvanceTime, AutoDeleverage, Deposit, Liquidate, LiquidateCollateral, Withdraw
from protocol.constants import WAD
from protocol.events import (
    AdlProposed,
    CollateralLiquidated,
    Deleveraged,
    Event,
    GainsCharged,
    LossSocialized,
    ProfitHaircut,
)
from protocol.keeper import adl_counterparties, collateral_to_sell
from protocol.params import SocializedLossMethod
from protocol.socialized_loss import adl_score
from protocol.units import Rounding, mul_div

MENU = {
    "open_interest": {"socialized_loss_method": SocializedLossMethod.OPEN_INTEREST},
    "profit_haircut": {"socialized_loss_method": SocializedLossMethod.PROFIT_HAIRCUT, "profit_haircut_wad": WAD // 2},
    "adl_partial": {"socialized_loss_method": SocializedLossMethod.ADL, "adl_close_fraction_wad": WAD // 2},
    "gains": {"socialized_loss_method": SocializedLossMethod.GAINS},
    "collateral": {"collateral_close_factor_wad": WAD // 2, "collateral_debt_ratio_trigger_wad": WAD // 10},
}


@pytest.fixture(scope="module")
def deployments() -> dict[str, Differential]:
    """One titanoboa deployment per variant, for the module."""
    return {name: Differential(**overrides) for name, overrides in MENU.items()}


@pytest.fixture
def menu(deployments: dict[str, Differential], request: pytest.FixtureRequest) -> Differential:
    return _reset(deployments[request.param])


def _bankrupt_long(diff: Differential, btc_size: int = WAD) -> None:
    """LONG (6,500 USDC, 1 BTC at 60,000 from MAKER) bankrupt at 50,000; SHORT short 0.5 too."""
    leveraged_long(diff, btc_size=btc_size, margin_usdc=6_500)
    diff.apply(Deposit(SHORT, 0, 50_000 * USDC))
    diff.apply(diff.signer.fill(MATCHER, MAKER, SHORT, BTC, -(WAD // 2), 60_000 * WAD, 0, 0))
    move(diff, 50_000)


def _deleverage(diff: Differential) -> list[Event]:
    """The keeper's ranked list for LONG's BTC position through the ADL queue: proposed (nothing
    traded), executed once the window has passed; the execution's events."""
    ranked = adl_counterparties(diff.model, LONG, BTC)
    proposed = diff.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked))
    assert not isinstance(proposed, str)
    assert [type(e) for e in proposed] == [AdlProposed]
    diff.apply(AdvanceTime(diff.model.params.protocol.adl_window_s, 1))
    events = diff.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked))
    assert not isinstance(events, str)
    return events


@pytest.mark.parametrize("menu", ["open_interest"], indirect=True)
def test_open_interest_charges_both_sides(menu: Differential) -> None:
    _bankrupt_long(menu)
    events = menu.apply(Liquidate(KEEPER, LONG, BTC, WAD))
    assert not isinstance(events, str)
    assert sorted(e.side for e in events if isinstance(e, LossSocialized)) == [-1, 1]
    for who in (MAKER, SHORT, KEEPER, LONG):  # settle every charge on both sides
        menu.apply(Withdraw(who, 0, 1))


@pytest.mark.parametrize("menu", ["profit_haircut"], indirect=True)
def test_profit_haircut_on_withdrawals(menu: Differential) -> None:
    _bankrupt_long(menu)
    events = menu.apply(Liquidate(KEEPER, LONG, BTC, WAD))  # bad debt 6,500 - 10,000: an empty fund
    assert not isinstance(events, str)
    assert not [e for e in events if isinstance(e, LossSocialized)]
    assert menu.model.state.uncovered_loss == 3_500 * WAD
    # MAKER (short 0.5 at 60,000) buys it back from the keeper at 50,000: realized +5,000
    menu.apply(menu.signer.fill(MATCHER, KEEPER, MAKER, BTC, WAD // 2, 50_000 * WAD, 0, 0))
    events = menu.apply(Withdraw(MAKER, 0, 100 * USDC))  # haircut ceil(100 / 2)
    assert ProfitHaircut(MAKER, 50 * WAD, 3_450 * WAD) in events
    events = menu.apply(Withdraw(MAKER, 0, 9_000 * USDC))  # profit left 4,900: haircut 2,450
    assert ProfitHaircut(MAKER, 2_450 * WAD, 1_000 * WAD) in events
    events = menu.apply(Withdraw(MAKER, 0, 1_000 * USDC))  # no realized profit left: no haircut
    assert not [e for e in events if isinstance(e, ProfitHaircut)]
    assert menu.apply(Withdraw(MAKER, 0, 10**12 * USDC)) == "vault: insufficient balance"


@pytest.mark.parametrize("menu", ["adl_partial"], indirect=True)
def test_partial_adl(menu: Differential) -> None:
    _bankrupt_long(menu)
    # each execution of the queue closes ceil(|s| / 2) of what is left; the rest waits for a new
    # proposal and window
    for expected in (WAD // 2, WAD // 4):
        events = _deleverage(menu)
        assert sum(e.size_wad for e in events if isinstance(e, Deleveraged)) == expected
        assert menu.model.state.adl_proposals == {}


@pytest.mark.parametrize("menu", ["gains"], indirect=True)
def test_gains_charges_winners_pro_rata_to_their_gains(menu: Differential) -> None:
    _bankrupt_long(menu)  # winners: MAKER short 0.5 and SHORT short 0.5, both from 60,000
    assert menu.apply(Liquidate(KEEPER, LONG, BTC, WAD)) == "liquidation: shortfall exceeds insurance fund"
    events = _deleverage(menu)  # equal gains (5,000 each): ties ranked by address
    assert {e.counterparty for e in events if isinstance(e, GainsCharged)} == {SHORT, MAKER}
    assert not menu.model.state.accounts[LONG].positions


@pytest.mark.parametrize("menu", ["collateral"], indirect=True)
def test_collateral_close_factor_and_trigger(menu: Differential) -> None:
    leveraged_long(menu)
    menu.apply_all(
        [
            Deposit(LIQ, 0, 100_000 * USDC),
            Deposit(COLL, 1, 5 * WAD),  # 15,000 at 20 % haircut = 12,000
            menu.signer.fill(MATCHER, MAKER, COLL, BTC, WAD // 10, 60_000 * WAD, 0, 0),
        ]
    )
    move(menu, 50_000)
    menu.apply(menu.signer.fill(MATCHER, MAKER, COLL, BTC, -(WAD // 10), 50_000 * WAD, 0, 0))  # realizes -1,000
    # F-05: only below its requirement: 1 BTC at 50,000, then BTC at 40,000 (E = -1,000 + 12,000 -
    # 10,000 = 1,000 < MM 2,000), debt ratio 1,000 / 12,000 < 10 %
    menu.apply(menu.signer.fill(MATCHER, MAKER, COLL, BTC, WAD, 50_000 * WAD, 0, 0))
    move(menu, 40_000)
    assert menu.apply(LiquidateCollateral(LIQ, COLL, 1, WAD // 10)) == "liquidation: debt ratio below trigger"
    move(menu, 40_000, eth=1_500)  # 6,000 of collateral: 1,000 / 6,000 >= 10 %; target ceil(1,000 / 2) = 500
    assert menu.model.collateral_sale_target(COLL) == 500 * WAD
    n = collateral_to_sell(menu.model, COLL, 1, 1_500 * WAD)
    assert menu.apply(LiquidateCollateral(LIQ, COLL, 1, n + 1)) == "liquidation: sells more than needed"
    menu.apply(LiquidateCollateral(LIQ, COLL, 1, n))
    menu.apply(LiquidateCollateral(LIQ, COLL, 1, collateral_to_sell(menu.model, COLL, 1, 1_500 * WAD)))


@pytest.mark.parametrize("menu", ["gains"], indirect=True)
def test_gains_shares_round_up_and_the_excess_goes_to_the_fund(menu: Differential) -> None:
    # LONG bankrupt as above, but the winners' gains are uneven: SHORT sold WAD // 3 at 59,999
    # (gain 3,332.99...96667), MAKER is short the rest from 60,000 (6,666.66...670000). Each share
    # ceil(owed g / G) of the 3,500 owed is inexact and rounded up; the wei of excess over what
    # is owed goes to the fund
    leveraged_long(menu, btc_size=WAD, margin_usdc=6_500)
    menu.apply(Deposit(SHORT, 0, 50_000 * USDC))
    menu.apply(menu.signer.fill(MATCHER, MAKER, SHORT, BTC, -(WAD // 3), 59_999 * WAD, 0, 0))
    move(menu, 50_000)
    events = _deleverage(menu)
    charged = {e.counterparty: e.amount_wad for e in events if isinstance(e, GainsCharged)}
    assert charged == {SHORT: 1_166_588_886_296_209_872_496, MAKER: 2_333_411_113_703_790_127_505}
    assert sum(charged.values()) == 3_500 * WAD + 1
    assert menu.model.state.insurance_fund == 1


@pytest.mark.parametrize("menu", ["collateral"], indirect=True)
def test_a_collateral_sale_target_is_rounded_up(menu: Differential) -> None:
    # COLL (100 WETH) loses 11,286 USD + 1 wei on 1 BTC; at ETH 100 its 100 WETH count 8,000
    # (E < 0, debt ratio above 10 %): the target is ceil(debt / 2) = 5,643 USD + 1 wei. Selling
    # 60 WETH nets exactly 5,643 (6,000 less 5 % less 1 %), one wei short of it: a sale of 60 WETH
    # + 1 wei is the smallest that reaches it and is allowed, one more wei sells more than needed
    menu.apply_all(
        [
            *prices(menu, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(LIQ, 0, 100_000 * USDC),
            Deposit(COLL, 1, 100 * WAD),
            menu.signer.fill(MATCHER, MAKER, COLL, BTC, WAD, 60_000 * WAD, 0, 0),
        ]
    )
    move(menu, 50_000)
    menu.apply(menu.signer.fill(MATCHER, MAKER, COLL, BTC, -WAD, 48_714 * WAD - 1, 0, 0))
    assert menu.model.state.accounts[COLL].balance == -(11_286 * WAD + 1)
    for eth in (1_500, 750, 375, 190, 100):
        move(menu, 50_000, eth=eth)
    assert menu.model.collateral_sale_target(COLL) == 5_643 * WAD + 1
    assert menu.apply(LiquidateCollateral(LIQ, COLL, 1, 60 * WAD + 2)) == "liquidation: sells more than needed"
    events = menu.apply(LiquidateCollateral(LIQ, COLL, 1, 60 * WAD + 1))
    assert CollateralLiquidated(COLL, LIQ, 1, 60 * WAD + 1, 5_700 * WAD + 95, 57 * WAD + 1) in events
    # a second sale at ETH 101: the fewest WETH reaching ceil(rest of the debt / 2) bring
    # 0.95 x 2,999.99...970 = ...971.5 of proceeds, rounded down (the liquidator pays)
    move(menu, 50_000, eth=101)
    n = collateral_to_sell(menu.model, COLL, 1, 101 * WAD)
    assert n == 29_702_970_297_029_702_970
    events = menu.apply(LiquidateCollateral(LIQ, COLL, 1, n))
    assert CollateralLiquidated(COLL, LIQ, 1, n, 2_849_999_999_999_999_999_971, 28_500 * 10**15) in events


@pytest.mark.parametrize("menu", ["adl_partial"], indirect=True)
def test_a_counterparty_in_profit_with_negative_equity_ranks_first(menu: Differential) -> None:
    # SHORT (10,000 USDC) is short 0.5 BTC from 60,000 and long 10 ETH from 3,000; at BTC 50,000
    # and ETH 1,400 its short gains 5,000 but its equity is 15,000 - 16,000 = -1,000: its ADL score
    # is the largest there is (no division by its equity), and a list naming it is proposed
    leveraged_long(menu, btc_size=WAD, margin_usdc=6_500)
    menu.apply(Deposit(SHORT, 0, 10_000 * USDC))
    menu.apply(menu.signer.fill(MATCHER, MAKER, SHORT, BTC, -(WAD // 2), 60_000 * WAD, 0, 0))
    menu.apply(menu.signer.fill(MATCHER, MAKER, SHORT, ETH, 10 * WAD, 3_000 * WAD, 0, 0))
    move(menu, 50_000, eth=2_000)
    move(menu, 50_000, eth=1_400)
    assert menu.model.health(SHORT).equity == -1_000 * WAD
    assert menu.model.health(LONG).equity == -3_500 * WAD
    deadline = menu.now + menu.model.params.protocol.adl_window_s
    proposed = menu.apply(AutoDeleverage(KEEPER, LONG, BTC, (SHORT,)))
    assert proposed == [AdlProposed(LONG, BTC, KEEPER, (SHORT,), deadline)]


@pytest.mark.parametrize("menu", ["adl_partial"], indirect=True)
def test_adl_scores_round_down_so_a_position_and_its_third_tie(menu: Differential) -> None:
    # COLL holds exactly three times SHORT's short (from 60,000) and margin: at 50,000 both have the
    # same score in exact arithmetic. COLL's upnl * notional / cost is exact, SHORT's is a third of
    # a wei off: rounded down (the rule) the two tie, so the list (COLL, SHORT) is ranked; rounded
    # up, SHORT's score would be one higher and the list refused
    b = 10**14 + 1
    leveraged_long(menu, btc_size=WAD, margin_usdc=6_500)
    menu.apply_all([Deposit(SHORT, 0, USDC), Deposit(COLL, 0, 3 * USDC)])
    menu.apply(menu.signer.fill(MATCHER, MAKER, SHORT, BTC, -b, 60_000 * WAD, 0, 0))
    menu.apply(menu.signer.fill(MATCHER, MAKER, COLL, BTC, -3 * b, 60_000 * WAD, 0, 0))
    move(menu, 50_000)
    for who, size, margin in ((SHORT, b, WAD), (COLL, 3 * b, 3 * WAD)):
        upnl = size * 10_000
        assert menu.model.health(who).equity == margin + upnl
        assert adl_score(upnl, -size * 60_000, size * 50_000, margin + upnl) == 416_666_666_666_668_749
    per_cost_up = mul_div(b * 10_000, b * 50_000, b * 60_000, Rounding.UP)
    assert mul_div(per_cost_up, WAD, WAD + b * 10_000, Rounding.DOWN) == 416_666_666_666_668_750
    deadline = menu.now + menu.model.params.protocol.adl_window_s
    proposed = menu.apply(AutoDeleverage(KEEPER, LONG, BTC, (COLL, SHORT)))
    assert proposed == [AdlProposed(LONG, BTC, KEEPER, (COLL, SHORT), deadline)]


@pytest.mark.parametrize("menu", ["adl_partial"], indirect=True)
def test_partial_adl_rounds_the_closed_size_up(menu: Differential) -> None:
    # LONG holds 1 BTC + 1 wei: one execution closes ceil((WAD + 1) / 2) = WAD / 2 + 1
    _bankrupt_long(menu, btc_size=WAD + 1)
    events = _deleverage(menu)
    assert sum(e.size_wad for e in events if isinstance(e, Deleveraged)) == WAD // 2 + 1
    assert menu.model.state.accounts[LONG].positions[BTC].size == WAD // 2


@pytest.mark.parametrize("menu", ["gains"], indirect=True)
def test_a_shorter_challenge_is_not_higher(menu: Differential) -> None:
    # the proposal names both winners; a challenge with only its first does not dominate it (a
    # missing place scores 0)
    _bankrupt_long(menu)
    ranked = adl_counterparties(menu.model, LONG, BTC)
    assert sorted(ranked) == sorted((MAKER, SHORT))
    menu.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked))
    assert menu.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked[:1])) == "socialized_loss: challenge not higher"
