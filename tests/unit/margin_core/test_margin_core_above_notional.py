"""Margin fractions above 100 % of notional in the margin core: the screen's rounding slack and
exact decisions on threshold accounts (docs/SPEC.md §2, protocol.margin_core.screen item 6)."""

from __future__ import annotations

import dataclasses

import pytest
from builders import limb_book
from conftest import market_states, state_of, trader

from protocol.constants import MAX_INITIAL_MARGIN_FRACTION, WAD
from protocol.margin import account_health
from protocol.margin_core import MarginBook, evaluate
from protocol.margin_core.screen import REQUIREMENT_ROUNDING_WEI
from protocol.params import FeedParams, MarketParams, Params, ProtocolParams
from protocol.state import Account, MarketState, Position

#: BTC at 150 % (maintenance share 50 %: 75 %), ETH at 1000 % with open-interest caps (unscaled).
FRACTIONS = {0: (3 * WAD // 2, WAD // 2), 1: (MAX_INITIAL_MARGIN_FRACTION, 9 * WAD // 10)}


def high_margin(params: Params) -> Params:
    markets = tuple(
        dataclasses.replace(
            m, initial_margin_fraction_wad=FRACTIONS[m.market_id][0], maintenance_share_wad=FRACTIONS[m.market_id][1]
        )
        for m in params.markets
    )
    return dataclasses.replace(params, markets=markets)


def test_the_rounding_slack_grows_with_the_largest_fraction() -> None:
    # notional UP (< 1 wei, scaled by f / W <= 10) then requirement UP (< 1 wei)
    assert REQUIREMENT_ROUNDING_WEI == 11


def test_a_one_wei_position_at_1000_percent_is_decided_exactly() -> None:
    """One market at 1000 %, long 1 wei at a price of 1 + 1e-18 USD: notional ceil(1.000...001)
    = 2 wei, so IM = ceil(2 * 10) = 20 wei while the unrounded requirement is 10.00...001 wei:
    the screen's estimate is 10 wei low. With E = 19 wei (balance 18 + PnL 1) the account misses
    initial by one wei; the slack of fractions <= 100 % (5M + 2C + 2 = 7 wei here) would have
    let the screen call it met."""
    params = Params(
        ProtocolParams(),
        feeds=(FeedParams(0, "X/USD", 3_600, WAD // 2),),
        markets=(MarketParams(0, "X-PERP", 0, MAX_INITIAL_MARGIN_FRACTION, WAD // 2),),
    )
    prices, markets = {0: WAD + 1}, {0: MarketState()}
    acct = Account(balance=18, positions={0: Position(size=1)})
    h = account_health(acct, params, markets, prices, now_s=0)
    assert (h.equity, h.initial, h.maintenance) == (19, 20, 10)
    batch = evaluate(MarginBook.from_state(state_of({"0x" + "aa" * 20: acct}, markets), params), prices)
    assert batch.reevaluated.tolist() == [0]
    assert batch.meets_initial.tolist() == [False]
    assert batch.exact[0] == h


@pytest.mark.parametrize("target", ["maintenance", "initial", "zero"])
def test_threshold_accounts_at_150_and_1000_percent_match_the_model(params: Params, target: str) -> None:
    params = high_margin(params)
    prices = {0: 60_000 * WAD + 12_345, 1: 3_000 * WAD - 7}
    shapes = [trader(btc=-3 * WAD // 2), trader(btc=WAD + 1, eth=-(10**17) - 3, weth=2 * WAD), trader(eth=1)]
    accounts = []
    for shape in shapes:
        h = account_health(shape, params, market_states(), prices, now_s=0)
        goal = {"maintenance": h.maintenance, "initial": h.initial, "zero": 0}[target]
        accounts += [dataclasses.replace(shape, balance=goal + offset - h.equity) for offset in (-1, 0, 1)]
    state = state_of({f"0x{k:040x}": a for k, a in enumerate(accounts)})
    for book in (MarginBook.from_state(state, params), limb_book(accounts, params, market_states())):
        batch = evaluate(book, prices)
        for i, acct in enumerate(accounts):
            h = account_health(acct, params, market_states(), prices, now_s=0)
            assert bool(batch.liquidatable[i]) is h.liquidatable
            assert bool(batch.meets_initial[i]) is h.meets_initial
        assert batch.reevaluated.tolist() == list(range(len(accounts)))


def test_the_150_percent_short_turns_liquidatable_at_its_liquidation_price(params: Params) -> None:
    """The account of tests/unit/protocol/test_margin_above_notional.py: short 1 BTC opened at
    60,000 on 90,000 USDC, BTC at 150 % (maintenance 75 %). E = 150,000 - p against
    MM = ceil(0.75 p): healthy at p* - 1 (E == MM), liquidatable from p* =
    floor(150,000 W**2 / (W + 0.75 W)) + 1 wei on (SPEC §4)."""
    params = high_margin(params)
    p_star = 150_000 * WAD * WAD // (7 * WAD // 4) + 1
    short = Account(balance=90_000 * WAD, positions={0: Position(size=-WAD, open_notional=-60_000 * WAD)})
    markets = {0: MarketState(), 1: MarketState()}
    book = MarginBook.from_state(state_of({"0x" + "bb" * 20: short}, markets), params)
    decisions = [evaluate(book, {0: p, 1: 3_000 * WAD}).liquidatable.tolist() for p in (p_star - 1, p_star)]
    assert decisions == [[False], [True]]
    assert evaluate(book, {0: p_star, 1: 3_000 * WAD}).exact[0].equity == 150_000 * WAD - p_star
