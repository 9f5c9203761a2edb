"""The loss-socialization menu on the contracts, compared with the reference model to the wei
(events, reverts and state): open interest, profit haircut, partial ADL, gains, and the
collateral close factor with its debt-ratio trigger (hand-computed in tests/unit/protocol/test_loss_menu.py)."""

from __future__ import annotations

import pytest
from test_protocol_harness import BTC, MATCHER, USDC, Differential, _reset
from test_protocol_risk import COLL, KEEPER, LIQ, LONG, MAKER, SHORT, leveraged_long, move

from protocol.actions import AdvanceTime, AutoDeleverage, Deposit, Liquidate, LiquidateCollateral, Withdraw
from protocol.constants import WAD
from protocol.events import AdlProposed, Deleveraged, Event, GainsCharged, LossSocialized, ProfitHaircut
from protocol.keeper import adl_counterparties, collateral_to_sell
from protocol.params import SocializedLossMethod

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


def _bankrupt_long(diff: Differential) -> None:
    """LONG (6,500 USDC, 1 BTC at 60,000 from MAKER) bankrupt at 50,000; SHORT short 0.5 too."""
    leveraged_long(diff, btc_size=WAD, margin_usdc=6_500)
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
