"""The batched exact paths on a hand-sized desk: ``ClearingHouse.keeper_block`` and
``ClearingHouse.book_setup`` answer, refuse and apply exactly as ``ClearingHouse.apply`` does.

Set-up (``liquidatable``, as in ``test_liquidation.py``): TRADER deposits 12,500 USDC and buys
1 BTC at 60,000 from the market maker; at 49,000 its equity is 1,500 against a maintenance
requirement of 2,450, and the largest liquidation is ``Q_MAX`` (see ``test_liquidation.py``).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING

import pytest

from protocol.actions import AdvanceTime, Deposit, Liquidate, SetFundingRate
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, WETH
from protocol.state import read_account

if TYPE_CHECKING:
    from conftest import Desk

TRADER, MAKER, KEEPER = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["keeper"]
BROKE = ACTORS["liquidator"]  # an account that never deposits
FUNDING = ACTORS["funding_operator"]
Q_MAX = 925_170_068_027_210_885


@pytest.fixture
def desk(desk: Desk) -> Desk:
    """The liquidatable desk, with funding pending on every position (so a question settles)."""
    desk.deposit_usdc(TRADER, 12_500)
    desk.deposit_usdc(MAKER, 1_000_000)
    desk.deposit_usdc(KEEPER, 100_000)
    desk.fill(TRADER, MAKER, WAD, 60_000 * WAD)
    desk.apply(AdvanceTime(600, 1))
    desk.apply(SetFundingRate(FUNDING, BTC_PERP, desk.house.params.protocol.max_funding_rate_per_s_wad))
    desk.push(BTC_FEED, 49_000 * WAD)
    return desk


def twin(desk: Desk) -> ClearingHouse:
    """A second house from a copy of the desk's state."""
    return ClearingHouse.from_state(desk.house.params, copy.deepcopy(desk.state))


def test_question_then_liquidation_equals_model(desk: Desk) -> None:
    model = twin(desk)
    q = model.max_liquidation_size(TRADER, BTC_PERP)
    expected = model.apply(Liquidate(KEEPER, TRADER, BTC_PERP, q))
    with desk.house.keeper_block() as block:
        assert block.max_liquidation_size(TRADER, BTC_PERP) == q
        assert block.liquidation_health(TRADER) == desk.house.liquidation_health(TRADER)
        assert block.apply(Liquidate(KEEPER, TRADER, BTC_PERP, q)) == expected
    assert desk.state == model.state
    assert Q_MAX // 2 < q < WAD  # a partial liquidation (funding moved it from Q_MAX)


def test_refused_action_in_a_block_changes_nothing(desk: Desk) -> None:
    before = copy.deepcopy(desk.state)
    with desk.house.keeper_block() as block:
        block.max_liquidation_size(TRADER, BTC_PERP)  # settles TRADER in place, pending
        with pytest.raises(ProtocolRevert, match="liquidation: size exceeds position"):
            block.apply(Liquidate(KEEPER, TRADER, BTC_PERP, 2 * WAD))
        assert desk.state == before  # the pending settlement went with the refused action
        with pytest.raises(ProtocolRevert, match="liquidation: self liquidation"):
            block.apply(Liquidate(TRADER, TRADER, BTC_PERP, WAD))
    assert desk.state == before


def test_other_actions_and_unknown_accounts_go_to_the_model(desk: Desk) -> None:
    model = twin(desk)
    with desk.house.keeper_block() as block:
        block.liquidation_health(TRADER)  # pending settlement, undone before the next action
        assert block.apply(Deposit(TRADER, 0, 10**6)) == model.apply(Deposit(TRADER, 0, 10**6))
        with pytest.raises(ProtocolRevert, match="liquidation: no position"):
            block.apply(Liquidate(KEEPER, BROKE, BTC_PERP, WAD))
        with pytest.raises(ProtocolRevert, match="liquidation: no position"):
            model.apply(Liquidate(KEEPER, BROKE, BTC_PERP, WAD))
        assert block.max_liquidation_size(BROKE, BTC_PERP) == 0
    assert desk.state == model.state


def test_book_setup_checks_its_argument(desk: Desk) -> None:
    with pytest.raises(InvalidParameter, match="signatures_verified must be a bool"):
        desk.house.book_setup(signatures_verified="yes")  # type: ignore[arg-type]


def test_book_setup_without_the_trusted_entry_recovers_signatures(desk: Desk) -> None:
    """A signature of another key is refused with the model's reason unless the caller vouches
    for the orders (the trusted entry takes each order's account as its signer)."""
    fill = desk.signer.fill(ACTORS["matcher"], MAKER, TRADER, BTC_PERP, -WAD // 10, 49_000 * WAD)  # reduces
    forged = dataclasses.replace(
        fill.taker_order, signature=desk.signer.sign(dataclasses.replace(fill.taker_order.order, nonce=99)).signature
    )
    bad = dataclasses.replace(fill, taker_order=forged)
    before = copy.deepcopy(desk.state)
    with pytest.raises(ProtocolRevert, match="clearing: order not signed by its account"):
        desk.house.book_setup().apply(bad)
    assert desk.state == before
    model = twin(desk)
    assert desk.house.book_setup(signatures_verified=True).apply(fill) == model.apply(fill)
    assert desk.state == model.state


def test_refused_deposit_of_a_new_account_leaves_no_account(desk: Desk) -> None:
    """On a forked state too (a simulated path's): the journal removes the account it created."""
    house = ClearingHouse.from_state(desk.house.params, desk.state.fork())
    cap = house.params.collateral(WETH).account_deposit_cap
    with pytest.raises(ProtocolRevert, match="vault: account deposit cap"):
        house.book_setup().apply(Deposit(BROKE, WETH, cap + 1))
    assert BROKE not in house.state.accounts
    with pytest.raises(TypeError, match="accounts are never deleted"):
        del house.state.accounts[TRADER]


def test_reading_a_forked_state_copies_no_account(desk: Desk) -> None:
    """``read_account`` reads a fork's account as it stands (the base's until a handler copied
    it, then the copy) without copying it, and None for an account that does not exist."""
    fork = desk.state.fork()
    assert read_account(fork.accounts, TRADER) is desk.state.accounts[TRADER]
    assert read_account(fork.accounts, BROKE) is None
    assert len(fork.accounts) == len(desk.state.accounts)
    fork.accounts[TRADER].balance += 1  # a handler's access: a private copy
    copied = read_account(fork.accounts, TRADER)
    assert copied is not None
    assert copied.balance == desk.state.accounts[TRADER].balance + 1
    assert read_account(desk.state.accounts, TRADER) is desk.state.accounts[TRADER]
