"""liquidation: maximal size, dust, penalty and spread arithmetic, block cap, bankrupt accounts,
the keeper's margin and the margin ratio of the survivor.

Common set-up (``liquidatable``): TRADER deposits 12,500 USDC and buys 1 BTC at 60,000 from the
market maker with no fees. At a BTC price P the equity is ``E = 12,500 + P - 60,000``, the
initial requirement ``IM = P / 10`` and the maintenance requirement ``MM = P / 20``.
At P = 49,000: E = 1,500, MM = 2,450, IM = 4,900. Closing q (wei of BTC) then gives, exactly:

* notional(q) = 49,000 q, MM'(q) = 2,450 (1e18 - q), IM'(q) = 4,900 (1e18 - q)
* room(q) = E - ceil(E * MM'/MM) = 1500e18 - 1,500 (1e18 - q) = 1,500 q
* penalty(q) = min(ceil(49,000 q * 2.5 %), room - slip) = 1,225 q   (spread 0)
* restored(q) <=> 1500e18 - 1,225 q >= 4,900 (1e18 - q) <=> q >= 3400e18 / 3675
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from protocol import liquidation
from protocol.actions import FundInsurance, Liquidate, SetPaused
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import Event, InsuranceFundChanged, Liquidated, LossSocialized, ShortfallSettled
from protocol.invariants import check_state, check_transition
from protocol.liquidation import LiquidationTerms
from protocol.margin import Health
from protocol.params import SocializedLossMethod
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_FEED, ETH_PERP, USDC

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

TRADER, MAKER, KEEPER, GOV = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["keeper"], ACTORS["governance"]
BROKE = ACTORS["liquidator"]  # an account that never deposits

#: smallest q that restores initial margin at 49,000 = ceil(3400e18 / 3675)
Q_MAX = 925_170_068_027_210_885
assert Q_MAX == -(-3_400 * WAD // 3_675)


def liquidatable(desk: Desk, price_usd: int = 49_000) -> Desk:
    desk.deposit_usdc(TRADER, 12_500)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(KEEPER, 100_000)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    desk.push(BTC_FEED, price_usd * WAD)
    return desk


def checked(desk: Desk, action: Liquidate) -> list[Event]:
    """Apply and require every state and transition invariant to hold."""
    before = desk.house.snapshot()
    events = desk.apply(action)
    params = desk.house.params
    assert check_state(desk.state, params) == {}
    assert check_transition(before, desk.state, events, params) == {}
    return events


def test_max_liquidation_size_is_the_smallest_size_that_restores_initial_margin(desk: Desk) -> None:
    liquidatable(desk)
    assert desk.health(TRADER) == Health(1_500 * WAD, 4_900 * WAD, 2_450 * WAD)
    assert desk.house.max_liquidation_size(TRADER, BTC_PERP) == Q_MAX

    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^liquidation: closes more than needed$"):
        desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, Q_MAX + 1))
    assert desk.house.snapshot() == before

    events = checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, Q_MAX))
    value = 49_000 * Q_MAX  # ceil(q * 49,000e18 / 1e18), exact
    penalty = 1_225 * Q_MAX  # = 1133333333333333334125
    reward = penalty // 2  # floor(penalty * 50 %) = 566666666666666667062
    assert (penalty, reward) == (1_133_333_333_333_333_334_125, 566_666_666_666_666_667_062)
    assert Liquidated(TRADER, KEEPER, BTC_PERP, Q_MAX, value, penalty, reward) in events
    assert InsuranceFundChanged(penalty - reward, penalty - reward, "liquidation penalty") in events
    assert desk.state.insurance_fund == 566_666_666_666_666_667_063  # the odd wei goes to the fund

    rest = WAD - Q_MAX
    # E' = 12,500 + (49,000 - 60,000) q - penalty + (49,000 - 60,000) rest = 1500e18 - 1,225 q
    after = desk.health(TRADER)
    assert after == Health(1_500 * WAD - 1_225 * Q_MAX, 4_900 * rest, 2_450 * rest)
    assert after.meets_initial
    # the margin ratio E/MM did not fall: E' * MM >= E * MM'
    assert after.equity * 2_450 * WAD >= 1_500 * WAD * after.maintenance
    assert desk.health(KEEPER).equity == 100_000 * WAD + reward
    assert desk.account(KEEPER).positions[BTC_PERP].size == Q_MAX


def test_max_liquidation_size_is_confirmed_by_two_exact_evaluations(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The closed-form guess is checked at q - 1 (does not restore) and q (restores): two
    evaluations of the rule instead of a bisection's ~60."""
    liquidatable(desk)
    evaluated: list[int] = []
    terms = liquidation.liquidation_terms

    def counted(*args: Any) -> LiquidationTerms:
        evaluated.append(args[-1])
        return terms(*args)

    monkeypatch.setattr(liquidation, "liquidation_terms", counted)
    assert desk.house.max_liquidation_size(TRADER, BTC_PERP) == Q_MAX
    assert evaluated == [Q_MAX - 1, Q_MAX]


def test_dust_remainder_closes_the_whole_position(make_desk: DeskFactory) -> None:
    desk = liquidatable(make_desk(dust_notional_wad=5_000 * WAD))
    # the remainder after Q_MAX is worth 49,000 * (1e18 - Q_MAX) ~ 3,666.67 USD < 5,000: close all of it
    events = checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, Q_MAX))
    # full close: room = E = 1,500; penalty = min(49,000 * 2.5 % = 1,225, 1,500) = 1,225
    assert Liquidated(TRADER, KEEPER, BTC_PERP, WAD, 49_000 * WAD, 1_225 * WAD, 612_500_000_000_000_000_000) in events
    assert BTC_PERP not in desk.account(TRADER).positions
    assert desk.account(TRADER).balance == 12_500 * WAD - 11_000 * WAD - 1_225 * WAD  # 275
    assert desk.state.insurance_fund == 612_500_000_000_000_000_000


def test_penalty_is_capped_by_the_room(make_desk: DeskFactory) -> None:
    desk = liquidatable(make_desk(liquidation_penalty_wad=WAD // 10))
    events = checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, WAD // 2))
    # 10 % of 24,500 = 2,450 > room(0.5) = 1,500 * 0.5 = 750: penalty = 750
    assert Liquidated(TRADER, KEEPER, BTC_PERP, WAD // 2, 24_500 * WAD, 750 * WAD, 375 * WAD) in events
    h = desk.health(TRADER)
    assert h == Health(750 * WAD, 2_450 * WAD, 1_225 * WAD)
    assert h.equity * 2_450 * WAD == 1_500 * WAD * h.maintenance  # ratio exactly preserved


def test_spread_moves_the_close_value_toward_bankruptcy(make_desk: DeskFactory) -> None:
    desk = liquidatable(make_desk(liquidation_spread_wad=WAD // 2))
    # slip = floor(1,500 q * 50 %) = 750 q; penalty = min(1,225 q, 750 q) = 750 q; restored only at q = 1
    assert desk.house.max_liquidation_size(TRADER, BTC_PERP) == WAD
    events = checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, WAD // 2))
    # value = ceil(0.5 * 49,000) - slip = 24,500 - 375; penalty 375, keeper 187.5
    reward = 187_500_000_000_000_000_000
    assert Liquidated(TRADER, KEEPER, BTC_PERP, WAD // 2, 24_125 * WAD, 375 * WAD, reward) in events
    h = desk.health(TRADER)
    assert h == Health(750 * WAD, 2_450 * WAD, 1_225 * WAD)  # 1,500 - 375 - 375
    assert h.equity * 2_450 * WAD >= 1_500 * WAD * h.maintenance
    # the keeper bought 0.5 BTC worth 24,500 for 24,125
    keeper = desk.account(KEEPER)
    assert keeper.positions[BTC_PERP].open_notional == 24_125 * WAD
    assert desk.health(KEEPER).equity == 100_000 * WAD + 375 * WAD + 187_500_000_000_000_000_000


def test_block_cap(make_desk: DeskFactory) -> None:
    desk = liquidatable(make_desk(max_liquidation_notional_per_block_wad=30_000 * WAD))
    desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, WAD // 2))  # 24,500 of 30,000
    assert (desk.state.block_liquidated_wad, desk.state.block_liquidated_at) == (24_500 * WAD, desk.state.block)
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^liquidation: block cap reached$"):
        desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, WAD // 5))  # + 9,800 = 34,300 > 30,000
    assert desk.house.snapshot() == before
    desk.advance(0, blocks=1)
    desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, WAD // 5))
    assert (desk.state.block_liquidated_wad, desk.state.block_liquidated_at) == (9_800 * WAD, desk.state.block)


def test_block_cap_is_inclusive(make_desk: DeskFactory) -> None:
    desk = liquidatable(make_desk(max_liquidation_notional_per_block_wad=24_500 * WAD))
    desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, WAD // 2))  # exactly the cap
    with pytest.raises(ProtocolRevert, match=r"^liquidation: block cap reached$"):
        desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, 1))


def test_bankrupt_account_closes_beyond_the_block_cap_and_uses_its_room(make_desk: DeskFactory) -> None:
    desk = liquidatable(make_desk(max_liquidation_notional_per_block_wad=10_000 * WAD), 47_000)  # E = -500
    desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, 1))  # closes the whole 1 BTC = 47,000 > 10,000
    assert TRADER not in {a for a, acct in desk.state.accounts.items() if acct.positions}
    assert desk.state.block_liquidated_wad == 47_000 * WAD


def test_bankrupt_account_closes_whole_at_the_oracle_without_penalty(desk: Desk) -> None:
    liquidatable(desk, 47_000)  # E = 12,500 + 47,000 - 60,000 = -500
    assert desk.health(TRADER).equity == -500 * WAD
    assert desk.house.max_liquidation_size(TRADER, BTC_PERP) == WAD
    events = checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, 1))  # any size closes everything
    assert Liquidated(TRADER, KEEPER, BTC_PERP, WAD, 47_000 * WAD, 0, 0) in events
    # equity -500 settled in BTC-PERP at the bankrupt close (F-15); the empty fund pays 0; shorts absorb 500
    assert ShortfallSettled(TRADER, BTC_PERP, 500 * WAD, 0, 500 * WAD) in events
    assert LossSocialized(BTC_PERP, -1, 500 * WAD, 500 * WAD) in events
    assert desk.account(TRADER).balance == 0
    assert not desk.account(TRADER).positions


def test_adl_method_refuses_a_shortfall_larger_than_the_fund(make_desk: DeskFactory) -> None:
    desk = liquidatable(make_desk(socialized_loss_method=SocializedLossMethod.ADL), 47_000)
    desk.apply(FundInsurance(GOV, 500 * USDC - 1))  # one token unit short of the 500 shortfall
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^liquidation: shortfall exceeds insurance fund$"):
        desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, WAD))
    assert desk.house.snapshot() == before
    desk.apply(FundInsurance(GOV, 1))  # fund = 500 = shortfall
    events = checked(desk, Liquidate(KEEPER, TRADER, BTC_PERP, WAD))
    assert ShortfallSettled(TRADER, BTC_PERP, 500 * WAD, 500 * WAD, 0) in events
    assert desk.state.insurance_fund == 0


def test_keeper_needs_initial_margin_for_the_position_it_takes(desk: Desk) -> None:
    liquidatable(desk)
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^margin: below initial$"):
        desk.apply(Liquidate(BROKE, TRADER, BTC_PERP, Q_MAX))
    assert desk.house.snapshot() == before


def test_margin_ratio_never_falls_for_any_valid_size(desk: Desk) -> None:
    liquidatable(desk)
    for q in (1, WAD // 7, WAD // 2, Q_MAX - 1, Q_MAX):
        trial = copy.deepcopy(desk.house)  # each size from the same starting state
        events = trial.apply(Liquidate(KEEPER, TRADER, BTC_PERP, q))
        h = trial.health(TRADER)
        assert h.equity * 2_450 * WAD >= 1_500 * WAD * h.maintenance, q
        assert check_transition(desk.state, trial.state, events, trial.params) == {}


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (Liquidate(TRADER, TRADER, BTC_PERP, 1), "liquidation: self liquidation"),
        (Liquidate(KEEPER, TRADER, ETH_PERP, 1), "liquidation: no position"),
        (Liquidate(KEEPER, TRADER, 9, 1), "liquidation: unknown market"),
        (Liquidate(KEEPER, TRADER, BTC_PERP, WAD + 1), "liquidation: size exceeds position"),
        (Liquidate(KEEPER, MAKER, BTC_PERP, 1), "liquidation: account healthy"),
    ],
)
def test_refusals(desk: Desk, action: Liquidate, reason: str) -> None:
    liquidatable(desk)
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert) as info:
        desk.apply(action)
    assert info.value.reason == reason
    assert desk.house.snapshot() == before


def test_no_liquidation_at_an_untrusted_price(desk: Desk) -> None:
    liquidatable(desk)
    desk.push(BTC_FEED, 10 * WAD)  # a move of more than 50 %: rejected, feed untrusted
    with pytest.raises(ProtocolRevert, match=r"^liquidation: price not trusted$"):
        desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, 1))
    with pytest.raises(ProtocolRevert, match=r"^liquidation: price not trusted$"):
        desk.house.max_liquidation_size(TRADER, BTC_PERP)


def test_no_liquidation_while_paused(desk: Desk) -> None:
    liquidatable(desk)
    desk.apply(SetPaused(GOV, True))
    with pytest.raises(ProtocolRevert, match=r"^liquidation: paused$"):
        desk.apply(Liquidate(KEEPER, TRADER, BTC_PERP, 1))


def test_keeper_that_reduces_its_own_position_needs_no_initial_margin(desk: Desk) -> None:
    trader, keeper = TRADER, KEEPER
    desk.deposit_usdc(trader, 12_000)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(keeper, 7_000)
    desk.fill(trader, MAKER, WAD, 60_000 * WAD)  # trader long 1 BTC
    desk.fill(trader, MAKER, 20 * WAD, 3_000 * WAD, market_id=ETH_PERP)  # and long 20 ETH
    desk.fill(keeper, MAKER, 10 * WAD, 3_000 * WAD, market_id=ETH_PERP)  # keeper long 10 ETH
    desk.fill(keeper, MAKER, -15 * WAD // 100, 60_000 * WAD)  # and short 0.15 BTC
    desk.push(ETH_FEED, 2_500 * WAD)
    # trader: E = 12,000 - 10,000 = 2,000 < MM = 3,000 + 2,500; keeper: E = 7,000 - 5,000 = 2,000 < IM 3,400
    assert desk.health(trader) == Health(2_000 * WAD, 11_000 * WAD, 5_500 * WAD)
    assert desk.health(keeper) == Health(2_000 * WAD, 3_400 * WAD, 1_700 * WAD)
    # taking 0.05 BTC long (keeper short 0.15 -> 0.10) is exempt from the initial-margin check ...
    copy.deepcopy(desk.house).apply(Liquidate(keeper, trader, BTC_PERP, WAD // 20))
    # ... and so must taking 0.10 (0.15 -> 0.05), which reduces the keeper's risk even more
    desk.apply(Liquidate(keeper, trader, BTC_PERP, WAD // 10))
    assert desk.account(keeper).positions[BTC_PERP].size == -5 * WAD // 100
