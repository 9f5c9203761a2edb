"""vault: exact token-unit <-> WAD conversion, collateral cap, withdrawal margin check, pause."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocol.actions import Deposit, SetPaused, Withdraw, WithdrawFees
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import Deposited, FeesWithdrawn, Withdrawn
from protocol.scenarios import ACTORS, BTC_FEED, USDC, WETH

if TYPE_CHECKING:
    from conftest import Desk

TRADER, MAKER, GOV = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["governance"]
COLL = ACTORS["trader_collateral"]
UNIT = 10**12  # one USDC token unit (6 decimals) in WAD


def test_deposit_converts_usdc_units_to_wad_exactly(desk: Desk) -> None:
    events = desk.deposit_usdc(TRADER, 1_500, units=500_000)  # 1,500.5 USDC = 1_500_500_000 units
    assert events == [Deposited(TRADER, 0, 1_500_500_000, 1_500_500_000 * UNIT)]
    assert desk.account(TRADER).balance == 1_500_500_000_000_000_000_000  # 1,500.5e18
    assert desk.state.vault_tokens[0] == 1_500_500_000


def test_withdraw_moves_whole_token_units(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 1_000)
    events = desk.apply(Withdraw(TRADER, 0, 1))  # one token unit = 1e12 wei of balance
    assert events == [Withdrawn(TRADER, 0, 1, UNIT)]
    assert desk.account(TRADER).balance == 1_000 * WAD - UNIT
    assert desk.state.vault_tokens[0] == 1_000 * USDC - 1


def test_collateral_deposit_and_withdraw_in_its_own_decimals(desk: Desk) -> None:
    desk.deposit_weth(COLL, 3 * WAD)  # WETH has 18 decimals: units are wei
    assert desk.account(COLL).collateral == {WETH: 3 * WAD}
    assert desk.state.vault_tokens[WETH] == 3 * WAD
    desk.apply(Withdraw(COLL, WETH, WAD // 2))
    assert desk.account(COLL).collateral == {WETH: 5 * WAD // 2}
    assert desk.state.vault_tokens[WETH] == 5 * WAD // 2


def test_collateral_deposit_cap_counts_every_account(desk: Desk) -> None:
    cp = desk.house.params.collateral(WETH)
    cap, per_account = cp.deposit_cap, cp.account_deposit_cap  # 1e6 and 1e5 WETH in token units
    assert (cap, per_account) == (10**6 * WAD, 10**5 * WAD)
    holders = [ACTORS[r] for r in ("trader_collateral", "trader_short", "trader_conservative", "keeper")]
    holders += [ACTORS[r] for r in ("liquidator", "market_maker", "oracle", "matcher", "governance")]
    for who in holders:  # nine accounts at their own cap
        desk.apply(Deposit(who, WETH, per_account))
    desk.apply(Deposit(TRADER, WETH, per_account - 1))
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^vault: deposit cap$"):
        desk.apply(Deposit(ACTORS["funding_operator"], WETH, 2))
    assert desk.house.snapshot() == before
    desk.apply(Deposit(ACTORS["funding_operator"], WETH, 1))  # exactly at the cap
    assert desk.state.vault_tokens[WETH] == cap


def test_one_account_holds_at_most_its_own_cap(desk: Desk) -> None:
    per_account = desk.house.params.collateral(WETH).account_deposit_cap
    desk.apply(Deposit(COLL, WETH, per_account - 1))
    with pytest.raises(ProtocolRevert, match=r"^vault: account deposit cap$"):
        desk.apply(Deposit(COLL, WETH, 2))
    desk.apply(Deposit(COLL, WETH, 1))  # exactly at the cap
    desk.apply(Withdraw(COLL, WETH, 5))
    desk.apply(Deposit(COLL, WETH, 5))  # what was withdrawn may come back
    assert desk.account(COLL).collateral[WETH] == per_account


def test_settlement_deposits_have_no_cap(desk: Desk) -> None:
    desk.apply(Deposit(TRADER, 0, 10**40))
    assert desk.account(TRADER).balance == 10**40 * UNIT


def test_unknown_asset(desk: Desk) -> None:
    with pytest.raises(ProtocolRevert, match=r"^vault: unknown asset$"):
        desk.apply(Deposit(TRADER, 7, 1))
    with pytest.raises(ProtocolRevert, match=r"^vault: unknown asset$"):
        desk.apply(Withdraw(TRADER, 7, 1))


def test_insufficient_balance(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 100)
    desk.deposit_weth(TRADER, WAD)
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^vault: insufficient balance$"):
        desk.apply(Withdraw(TRADER, 0, 100 * USDC + 1))
    with pytest.raises(ProtocolRevert, match=r"^vault: insufficient balance$"):
        desk.apply(Withdraw(TRADER, WETH, WAD + 1))
    assert desk.house.snapshot() == before
    desk.apply(Withdraw(TRADER, 0, 100 * USDC))  # all of it
    assert desk.account(TRADER).balance == 0


def _long_one_btc(desk: Desk, usd: int) -> None:
    """TRADER deposits ``usd`` and buys 1 BTC at 60,000 (no fees): IM = 60,000 * 10 % = 6,000."""
    desk.deposit_usdc(TRADER, usd)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)


def test_withdrawal_down_to_initial_margin_passes(desk: Desk) -> None:
    _long_one_btc(desk, 10_000)
    # equity 10,000 - 4,000 = 6,000 = IM exactly: allowed (equity >= IM)
    desk.apply(Withdraw(TRADER, 0, 4_000 * USDC))
    h = desk.health(TRADER)
    assert (h.equity, h.initial) == (6_000 * WAD, 6_000 * WAD)


def test_withdrawal_below_initial_margin_reverts_and_changes_nothing(desk: Desk) -> None:
    _long_one_btc(desk, 10_000)
    before = desk.house.snapshot()
    # one token unit more: equity 6,000e18 - 1e12 < IM 6,000e18
    with pytest.raises(ProtocolRevert, match=r"^margin: below initial$"):
        desk.apply(Withdraw(TRADER, 0, 4_000 * USDC + 1))
    assert desk.house.snapshot() == before


def test_collateral_withdrawal_is_margin_checked(desk: Desk) -> None:
    # 1 WETH at 3,000 with a 20 % haircut counts 2,400; 1,000 USDC; buy 0.5 BTC at 60,000: IM = 3,000.
    desk.deposit_usdc(TRADER, 1_000)
    desk.deposit_weth(TRADER, WAD)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.fill(TRADER, MAKER, WAD // 2, 60_000 * WAD)
    assert desk.health(TRADER).equity == 3_400 * WAD  # 1,000 + 2,400
    before = desk.house.snapshot()
    # withdrawing 1/6 WETH (value 3,000/6 * 0.8 = 400) leaves exactly IM ...
    with pytest.raises(ProtocolRevert, match=r"^margin: below initial$"):
        desk.apply(Withdraw(TRADER, WETH, WAD // 6 + 1))
    assert desk.house.snapshot() == before
    desk.apply(Withdraw(TRADER, WETH, WAD // 6))
    # value of 1e18 - 166666666666666666 wei: floor(floor(833333333333333334 * 3000) * 0.8) = 2000000000000000001600
    assert desk.health(TRADER).equity == 1_000 * WAD + 2_000_000_000_000_000_001_600


def test_withdrawal_without_positions_needs_no_price(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 50)
    desk.deposit_weth(TRADER, WAD)
    desk.advance(3_601)  # every feed now stale
    desk.apply(Withdraw(TRADER, WETH, WAD))
    desk.apply(Withdraw(TRADER, 0, 50 * USDC))
    assert desk.account(TRADER).balance == 0
    assert desk.account(TRADER).collateral == {WETH: 0}


def test_withdrawal_with_positions_needs_a_trusted_price(desk: Desk) -> None:
    _long_one_btc(desk, 10_000)
    desk.advance(3_601)
    with pytest.raises(ProtocolRevert, match=r"^vault: price not trusted$"):
        desk.apply(Withdraw(TRADER, 0, 1))
    desk.push(BTC_FEED, 60_000 * WAD)
    desk.apply(Withdraw(TRADER, 0, 1))


@pytest.mark.parametrize("action", [Deposit(TRADER, 0, 1), Withdraw(TRADER, 0, 1), Deposit(TRADER, WETH, 1)])
def test_paused_vault_refuses(desk: Desk, action: Deposit | Withdraw) -> None:
    desk.deposit_usdc(TRADER, 10)
    desk.apply(SetPaused(GOV, True))
    before = desk.house.snapshot()
    with pytest.raises(ProtocolRevert, match=r"^vault: paused$"):
        desk.apply(action)
    assert desk.house.snapshot() == before
    desk.apply(SetPaused(GOV, False))
    desk.apply(action)


def test_withdraw_fees_only_governance_and_only_what_is_there(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 100_000)
    # fees: 60,000 * 1 % = 600 each side; total 1,200, half (600) to the fee pool
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD, maker_fee_wad=WAD // 100, taker_fee_wad=WAD // 100)
    assert desk.state.fee_pool == 600 * WAD
    with pytest.raises(ProtocolRevert, match=r"^vault: caller is not governance$"):
        desk.apply(WithdrawFees(TRADER, TRADER, 1))
    with pytest.raises(ProtocolRevert, match=r"^vault: insufficient fees$"):
        desk.apply(WithdrawFees(GOV, GOV, 600 * USDC + 1))
    tokens = desk.state.vault_tokens[0]
    assert desk.apply(WithdrawFees(GOV, GOV, 600 * USDC)) == [FeesWithdrawn(GOV, 600 * USDC, 600 * WAD)]
    assert desk.state.fee_pool == 0
    assert desk.state.vault_tokens[0] == tokens - 600 * USDC
