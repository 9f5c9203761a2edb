"""clearing_house: atomic actions (every revert changes nothing), typed errors for non-actions,
constructor validation and read-only queries."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from protocol.actions import (
    AcceptGovernance,
    Action,
    AdvanceTime,
    AutoDeleverage,
    Deposit,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    PushPrice,
    SetFundingRate,
    SetMarketMargin,
    SetPaused,
    SetRole,
    Withdraw,
    WithdrawFees,
)
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import InvalidParameter, NovationError, ProtocolRevert
from protocol.events import TimeAdvanced
from protocol.margin import Health
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_PERP, USDC, WETH, actor_signer, default_params

if TYPE_CHECKING:
    from conftest import Desk

GOV, MATCHER, ORACLE, FUNDING = ACTORS["governance"], ACTORS["matcher"], ACTORS["oracle"], ACTORS["funding_operator"]
TRADER, MAKER, KEEPER, LIQUIDATOR = (
    ACTORS["trader_leveraged"],
    ACTORS["market_maker"],
    ACTORS["keeper"],
    ACTORS["liquidator"],
)
STRANGER = ACTORS["trader_short"]


@pytest.fixture
def busy(desk: Desk) -> Desk:
    """TRADER: 7,000 USDC + 1 WETH (worth 2,400 after the haircut), long 1 BTC at 60,000 (the maker
    paid a 6 USDC fee). BTC at 56,000: E = 9,400 - 4,000 = 5,400, IM = 5,600, MM = 2,800."""
    desk.deposit_usdc(TRADER, 7_000)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(KEEPER, 100_000)
    desk.deposit_weth(TRADER, WAD)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD, maker_fee_wad=WAD // 10_000)
    desk.push(BTC_FEED, 56_000 * WAD)
    return desk


#: Signs the actors' orders for the model's domain (one signer: its nonces keep the orders distinct).
ORDERS = actor_signer()

REVERTING: list[tuple[Action, str]] = [
    (Withdraw(TRADER, 0, 10**12), "vault: insufficient balance"),
    (Withdraw(TRADER, 0, 7_000 * USDC), "margin: below initial"),
    (Deposit(TRADER, 9, 1), "vault: unknown asset"),
    (WithdrawFees(GOV, GOV, 10**9), "vault: insufficient fees"),
    (ORDERS.fill(MATCHER, MAKER, TRADER, BTC_PERP, 10 * WAD, 56_000 * WAD), "margin: below initial"),
    (ORDERS.fill(MATCHER, MAKER, TRADER, BTC_PERP, WAD, 60_000 * WAD), "clearing: price outside band"),
    (ORDERS.fill(STRANGER, MAKER, TRADER, BTC_PERP, WAD, 56_000 * WAD), "clearing: caller is not a matcher"),
    (PushPrice(STRANGER, BTC_FEED, WAD, 0), "oracle: caller is not an oracle"),
    (SetFundingRate(FUNDING, 9, 1), "funding: unknown market"),
    (Liquidate(KEEPER, TRADER, BTC_PERP, WAD), "liquidation: account healthy"),
    (Liquidate(KEEPER, TRADER, ETH_PERP, WAD), "liquidation: no position"),
    (LiquidateCollateral(LIQUIDATOR, TRADER, WETH, 1), "liquidation: balance not negative"),
    (AutoDeleverage(KEEPER, TRADER, BTC_PERP, (MAKER,)), "socialized_loss: method does not deleverage"),
    (SetPaused(STRANGER, True), "roles: caller is not governance"),
    (SetRole(GOV, "governance", GOV, False), "roles: governance cannot be revoked, only transferred"),
    (AcceptGovernance(STRANGER), "roles: caller is not the proposed governance"),
    (SetMarketMargin(GOV, BTC_PERP, 0, WAD // 2), "roles: margin parameters out of bounds"),
]


@pytest.mark.parametrize(("action", "reason"), REVERTING, ids=[r for _, r in REVERTING])
def test_every_revert_leaves_state_and_params_unchanged(busy: Desk, action: Action, reason: str) -> None:
    before, params = busy.house.snapshot(), busy.house.params
    with pytest.raises(ProtocolRevert) as info:
        busy.apply(action)
    assert info.value.reason == reason
    assert info.value.module == reason.split(":")[0]
    assert isinstance(info.value, NovationError)
    assert busy.house.snapshot() == before
    assert busy.house.params == params


def test_a_revert_after_partial_mutation_is_rolled_back(busy: Desk) -> None:
    # the fill novates both sides and charges fees before the margin check refuses it
    before = busy.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^margin: below initial$"):
        busy.fill(TRADER, MAKER, 10 * WAD, 56_000 * WAD, maker_fee_wad=WAD // 100, taker_fee_wad=WAD // 100)
    assert busy.house.snapshot() == before
    assert busy.state.fee_pool == before.fee_pool


class NotAnAction(Deposit):
    """A subclass is not a registered action type."""


@pytest.mark.parametrize(
    "thing",
    [
        "Deposit",
        None,
        42,
        {"kind": "Deposit", "account": TRADER, "asset_id": 0, "amount": 1},
        Action(),
        NotAnAction(TRADER, 0, 1),
    ],
    ids=["str", "None", "int", "dict", "base Action", "subclass"],
)
def test_non_actions_raise_invalid_parameter(desk: Desk, thing: object) -> None:
    before = desk.house.snapshot()
    with pytest.raises(InvalidParameter, match="not an action record"):
        desk.house.apply(thing)  # type: ignore[arg-type]
    assert desk.house.snapshot() == before


def test_constructor_validates_its_inputs() -> None:
    p = default_params()
    with pytest.raises(InvalidParameter, match="params must be a Params, got dict"):
        ClearingHouse({}, GOV)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="start_time_s must be a non-negative integer"):
        ClearingHouse(p, GOV, start_time_s=-1)
    with pytest.raises(InvalidParameter, match="start_time_s must be a non-negative integer"):
        ClearingHouse(p, GOV, start_time_s=True)
    with pytest.raises(InvalidParameter, match="governance must be a 0x-prefixed 20-byte hex address"):
        ClearingHouse(p, "gov")
    with pytest.raises(InvalidParameter, match="matchers must be a 0x-prefixed"):
        ClearingHouse(p, GOV, matchers=["0x1"])


def test_initial_state(desk: Desk) -> None:
    house = ClearingHouse(default_params(), GOV.upper().replace("0X", "0x"), start_time_s=5)
    s = house.state
    assert s.roles.governance == GOV
    assert (s.now_s, s.block, s.paused) == (5, 0, False)
    assert set(s.markets) == {BTC_PERP, ETH_PERP}
    assert all(ms.last_accrual_s == 5 for ms in s.markets.values())
    assert s.vault_tokens == {0: 0, WETH: 0}
    assert (s.insurance_fund, s.fee_pool, s.funding_pool, s.loss_pool, s.uncovered_loss) == (0, 0, 0, 0, 0)


def test_advance_time_moves_clock_and_block(desk: Desk) -> None:
    t, b = desk.now, desk.state.block
    assert desk.apply(AdvanceTime(60, 5)) == [TimeAdvanced(t + 60, b + 5)]


def test_snapshot_is_a_deep_copy(busy: Desk) -> None:
    snap = busy.house.snapshot()
    snap.accounts[TRADER].balance += 1
    snap.markets[BTC_PERP].oi_long += 1
    assert busy.account(TRADER).balance == snap.accounts[TRADER].balance - 1
    assert busy.state != snap


def test_queries_do_not_change_state(busy: Desk) -> None:
    before = busy.house.snapshot()
    # E = 7,000 USDC + 2,400 WETH - 4,000 loss; below IM but above MM
    assert busy.health(TRADER) == Health(7_000 * WAD + 2_400 * WAD - 4_000 * WAD, 5_600 * WAD, 2_800 * WAD)
    assert busy.health(STRANGER) == Health(0, 0, 0)  # unknown address: an empty account
    assert busy.house.max_liquidation_size(TRADER, BTC_PERP) == 0
    assert busy.house.snapshot() == before
    assert STRANGER not in busy.state.accounts


def test_params_may_change_only_through_governance(busy: Desk) -> None:
    params = busy.house.params
    busy.apply(SetMarketMargin(GOV, BTC_PERP, WAD // 5, WAD // 2))
    assert busy.house.params == dataclasses.replace(
        params,
        markets=(
            dataclasses.replace(params.market(BTC_PERP), initial_margin_fraction_wad=WAD // 5),
            params.market(ETH_PERP),
        ),
    )


def test_fund_insurance_is_open_to_anyone(desk: Desk) -> None:
    desk.apply(FundInsurance(STRANGER, 3 * USDC))
    assert desk.state.insurance_fund == 3 * WAD
    assert desk.state.vault_tokens[0] == 3 * USDC
