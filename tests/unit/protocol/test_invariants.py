"""invariants: each one holds on healthy states and transitions and detects a deliberate corruption
(so none of them is a check that cannot fail)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from protocol.actions import Action, Liquidate, SetFundingRate, Withdraw
from protocol.constants import WAD
from protocol.events import (
    BadDebtSettled,
    Event,
    InsuranceFundChanged,
    Liquidated,
    LossCharged,
    Withdrawn,
)
from protocol.invariants import STATE_INVARIANTS, TRANSITION_INVARIANTS, check_state, check_transition
from protocol.params import Params
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_PERP, WETH
from protocol.state import Account, ProtocolState

if TYPE_CHECKING:
    from conftest import Desk

TRADER, MAKER, KEEPER, FUNDING = (
    ACTORS["trader_leveraged"],
    ACTORS["market_maker"],
    ACTORS["keeper"],
    ACTORS["funding_operator"],
)
COLL, SHORT, BYSTANDER = ACTORS["trader_collateral"], ACTORS["trader_short"], ACTORS["liquidator"]


@dataclass
class Step:
    before: ProtocolState
    after: ProtocolState
    events: list[Event]
    params: Params


def step(desk: Desk, action: Action) -> Step:
    before = desk.house.snapshot()
    events = desk.apply(action)
    return Step(before, desk.house.snapshot(), events, desk.house.params)


@pytest.fixture
def world(desk: Desk) -> Desk:
    """Fills with fees, WETH collateral, funding paid and a partial liquidation."""
    desk.deposit_usdc(TRADER, 12_500)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(KEEPER, 100_000)
    desk.deposit_usdc(COLL, 1_000)
    desk.deposit_weth(COLL, 3 * WAD)
    desk.deposit_usdc(SHORT, 50_000)
    desk.deposit_usdc(BYSTANDER, 10)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD, maker_fee_wad=WAD // 10_000, taker_fee_wad=WAD // 2_000)
    desk.fill(COLL, SHORT, WAD // 10, 60_000 * WAD)
    desk.fill(SHORT, MAKER, -10 * WAD, 3_000 * WAD, market_id=ETH_PERP)
    desk.apply(SetFundingRate(FUNDING, BTC_PERP, 10**9))
    desk.advance(600, 50)
    desk.push(BTC_FEED, 49_000 * WAD)
    return desk


@pytest.fixture
def liquidation(world: Desk) -> Step:
    size = world.house.max_liquidation_size(TRADER, BTC_PERP)
    assert 0 < size < WAD
    return step(world, Liquidate(KEEPER, TRADER, BTC_PERP, size))


def test_healthy_world_passes_every_check(world: Desk, liquidation: Step) -> None:
    assert check_state(liquidation.before, liquidation.params) == {}
    assert check_state(liquidation.after, liquidation.params) == {}
    assert check_transition(liquidation.before, liquidation.after, liquidation.events, liquidation.params) == {}
    w = step(world, Withdraw(SHORT, 0, 1))
    assert check_transition(w.before, w.after, w.events, w.params) == {}
    for name, fn in STATE_INVARIANTS.items():
        assert fn(liquidation.after, liquidation.params) == [], name
    for name, tfn in TRANSITION_INVARIANTS.items():
        assert tfn(liquidation.before, liquidation.after, liquidation.events, liquidation.params) == [], name


# ----------------------------------------------------------------------------- state invariants


def _add_negative_empty_account(s: ProtocolState) -> None:
    s.accounts["0x" + "ab" * 20] = Account(balance=-1)
    s.insurance_fund += 1  # keep the books balanced: only the bad-debt rule is broken


STATE_CORRUPTIONS: dict[str, list[Callable[[ProtocolState], None]]] = {
    "conservation": [
        lambda s: setattr(s.accounts[TRADER], "balance", s.accounts[TRADER].balance + 1),
        lambda s: s.accounts[COLL].collateral.__setitem__(WETH, s.accounts[COLL].collateral[WETH] - 1),
        lambda s: s.vault_tokens.__setitem__(0, s.vault_tokens[0] + 1),
    ],
    "open_interest_zero_sum": [
        lambda s: setattr(s.markets[BTC_PERP], "oi_long", s.markets[BTC_PERP].oi_long + 1),
        lambda s: setattr(s.accounts[SHORT].positions[ETH_PERP], "size", -10 * WAD - 1),
    ],
    "insurance_fund_non_negative": [
        lambda s: setattr(s, "insurance_fund", -1),
        lambda s: setattr(s, "fee_pool", -1),
        lambda s: setattr(s, "uncovered_loss", -1),
    ],
    "rounding_never_creates_value": [
        # the funding pool can no longer pay the shorts' pending credits
        lambda s: setattr(s, "funding_pool", -(10**24)),
        lambda s: setattr(s, "loss_pool", -1),
    ],
    "realized_pnl_zero_sum": [
        lambda s: setattr(s.accounts[MAKER], "realized_pnl", s.accounts[MAKER].realized_pnl + 1),
    ],
    "bad_debt_only_when_empty": [_add_negative_empty_account],
}


def test_every_state_invariant_has_a_corruption() -> None:
    assert set(STATE_CORRUPTIONS) == set(STATE_INVARIANTS)


@pytest.mark.parametrize(
    ("name", "index"),
    [(n, i) for n, fns in STATE_CORRUPTIONS.items() for i in range(len(fns))],
)
def test_state_invariant_detects_corruption(liquidation: Step, name: str, index: int) -> None:
    state = copy.deepcopy(liquidation.after)
    assert STATE_INVARIANTS[name](state, liquidation.params) == []
    STATE_CORRUPTIONS[name][index](state)
    assert STATE_INVARIANTS[name](state, liquidation.params) != []
    assert name in check_state(state, liquidation.params)


# ----------------------------------------------------------------------------- transition invariants


def _liquidated_healthy(st: Step) -> Step:
    # claim the healthy market maker was liquidated
    return Step(st.before, st.after, [*st.events, Liquidated(MAKER, KEEPER, BTC_PERP, 1, 1, 0, 0)], st.params)


def _withdrawal_below_initial(st: Step) -> Step:
    after = copy.deepcopy(st.after)
    after.accounts[TRADER].balance -= 10_000 * WAD
    return Step(st.before, after, [Withdrawn(TRADER, 0, 10**10, 10_000 * WAD)], st.params)


def _ratio_worsened(st: Step) -> Step:
    after = copy.deepcopy(st.after)
    after.accounts[TRADER].balance -= 300 * WAD  # survivor's equity lower than the liquidation allows
    return Step(st.before, after, st.events, st.params)


def _bad_debt_with_position(st: Step) -> Step:
    return Step(st.before, st.after, [BadDebtSettled(TRADER, 1, 0, 1)], st.params)


def _loss_without_position(st: Step) -> Step:
    return Step(st.before, st.after, [LossCharged(BYSTANDER, BTC_PERP, 1)], st.params)


def _untrusted_price(st: Step) -> Step:
    after = copy.deepcopy(st.after)
    after.feeds[BTC_FEED].valid = False
    return Step(st.before, after, st.events, st.params)


def _silent_fund_change(st: Step) -> Step:
    after = copy.deepcopy(st.after)
    after.insurance_fund += 1
    return Step(st.before, after, st.events, st.params)


def _negative_fund_report(st: Step) -> Step:
    return Step(st.before, st.after, [*st.events, InsuranceFundChanged(0, -1, "bad")], st.params)


TRANSITION_CORRUPTIONS: dict[str, list[Callable[[Step], Step]]] = {
    "no_healthy_account_liquidated": [_liquidated_healthy],
    "withdrawal_keeps_initial_margin": [_withdrawal_below_initial],
    "liquidation_never_worsens_ratio": [_ratio_worsened],
    "bad_debt_settled_only_when_empty": [_bad_debt_with_position],
    "no_loss_without_position": [_loss_without_position],
    "no_untrusted_price_used": [_untrusted_price],
    "insurance_fund_deltas": [_silent_fund_change, _negative_fund_report],
}


def test_every_transition_invariant_has_a_corruption() -> None:
    assert set(TRANSITION_CORRUPTIONS) == set(TRANSITION_INVARIANTS)


@pytest.mark.parametrize(
    ("name", "index"),
    [(n, i) for n, fns in TRANSITION_CORRUPTIONS.items() for i in range(len(fns))],
)
def test_transition_invariant_detects_corruption(liquidation: Step, name: str, index: int) -> None:
    check = TRANSITION_INVARIANTS[name]
    st = liquidation
    assert check(st.before, st.after, st.events, st.params) == []
    bad = TRANSITION_CORRUPTIONS[name][index](st)
    assert check(bad.before, bad.after, bad.events, bad.params) != []
    assert name in check_transition(bad.before, bad.after, bad.events, bad.params)


def test_withdrawal_check_ignores_accounts_that_need_no_margin(world: Desk) -> None:
    st = step(world, Withdraw(BYSTANDER, 0, 10**6))
    assert TRANSITION_INVARIANTS["withdrawal_keeps_initial_margin"](st.before, st.after, st.events, st.params) == []


def test_ratio_check_skips_accounts_that_were_insolvent(liquidation: Step) -> None:
    before = copy.deepcopy(liquidation.before)
    before.accounts[TRADER].balance -= 10**6 * WAD  # E <= 0 before: nothing to preserve
    after = copy.deepcopy(liquidation.after)
    after.accounts[TRADER].balance -= 10**6 * WAD
    fn = TRANSITION_INVARIANTS["liquidation_never_worsens_ratio"]
    assert fn(before, after, liquidation.events, liquidation.params) == []
