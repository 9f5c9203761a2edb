"""A book set up in place (:class:`protocol.book_setup.BookSetup`, the trusted set-up entry)
equals the reference model applying the same actions one by one, recovering every signature.

The set-up log of :func:`simulator.engine.build_book` (deposits, the market maker's standing
orders, every trader's opening) is replayed on two fresh houses: one action at a time through
:meth:`ClearingHouse.apply` with records whose signatures were never recovered, and through
:meth:`ClearingHouse.book_setup` with ``signatures_verified=True``. Refused attempts are mixed
in (an opening far beyond the trader's margin, a price beyond the order's limit, an order filled
twice, a fee the order does not allow) so both the lean path and the journal's undo run. Every
outcome (events or revert reason) and the final state must be equal.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from state_views import outcome, state_view

from protocol.actions import Action, Fill, SignedOrder
from protocol.book_setup import _perpetual_health
from protocol.clearing_house import ClearingHouse
from protocol.margin import account_health
from protocol.params import Params
from protocol.state import Account, Position
from simulator.config import StudyConfig
from simulator.engine import FUNDING_OPERATOR, GOVERNANCE, MATCHER, ORACLE, build_book


def unverified(action: Action) -> Action:
    """``action`` with its signed orders rebuilt from their bytes: nothing recovered yet."""
    if not isinstance(action, Fill):
        return action
    return dataclasses.replace(
        action,
        maker_order=SignedOrder(action.maker_order.order, action.maker_order.signature),
        taker_order=SignedOrder(action.taker_order.order, action.taker_order.signature),
    )


def with_refusals(log: list[Action]) -> list[Action]:
    """The set-up log with refused attempts before every third opening."""
    out: list[Action] = []
    for k, action in enumerate(log):
        if isinstance(action, Fill) and k % 3 == 0:
            out.append(dataclasses.replace(action, size_wad=action.size_wad * 4096))  # margin or overfill
            out.append(dataclasses.replace(action, price_wad=action.price_wad * 3))  # limit or band
            out.append(dataclasses.replace(action, taker_fee_wad=1))  # above the order's largest fee
        out.append(action)
        if isinstance(action, Fill) and k % 3 == 1:
            out.append(action)  # the same opening again: the trader's order is used up
    return out


def fresh_house(params: Params) -> ClearingHouse:
    return ClearingHouse(params, GOVERNANCE, matchers=[MATCHER], oracles=[ORACLE], funding_operators=[FUNDING_OPERATOR])


def replay_both_ways(config: StudyConfig) -> int:
    """Build ``config``'s book, replay its set-up with refusals both ways; refusals seen."""
    log: list[Action] = []
    book = build_book(config, log=log)
    attempts = with_refusals(log)
    model, lean = fresh_house(book.params), fresh_house(book.params)
    setup = lean.book_setup(signatures_verified=True)
    refused = 0
    for action in attempts:
        expected = outcome(lambda a=action: model.apply(unverified(a)))  # type: ignore[misc]
        got = outcome(lambda a=action: setup.apply(unverified(a)))  # type: ignore[misc]
        assert got == expected, action
        refused += isinstance(expected, tuple) and expected[0] == "revert"
    assert state_view(lean.state) == state_view(model.state)
    assert state_view(lean.state) == state_view(book.setup_state)
    return refused


def test_default_book_setup_equals_model() -> None:
    assert replay_both_ways(StudyConfig().override({"run.accounts": 400})) > 0


def test_cross_margined_book_with_collateral_equals_model() -> None:
    config = StudyConfig().override(
        {
            "run.accounts": 300,
            "protocol.markets": [0, 1],
            "price.feeds": {"ETH/USD": {"spot": 3_000.0, "sigma": 1.2}},
            "traders.collateral_asset_share": 0.4,
            "traders.cross_market_probability": 0.6,
            "traders.leverage_median": 9.0,
        }
    )
    assert replay_both_ways(config) > 0


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    leverage=st.floats(1.0, 25.0),
    long_fraction=st.floats(0.05, 0.95),
    collateral_share=st.sampled_from([0.0, 0.5]),
    markets=st.sampled_from([[0], [0, 1]]),
)
def test_random_books_setup_equals_model(
    seed: int, leverage: float, long_fraction: float, collateral_share: float, markets: list[int]
) -> None:
    needs_eth = markets != [0] or collateral_share > 0
    config = StudyConfig().override(
        {
            "run.accounts": 60,
            "run.seed": seed,
            "protocol.markets": markets,
            "price.feeds": {"ETH/USD": {"spot": 3_000.0, "sigma": 1.2}} if needs_eth else {},
            "traders.collateral_asset_share": collateral_share,
            "traders.cross_market_probability": 0.5,
            "traders.leverage_median": leverage,
            "traders.long_fraction": long_fraction,
        }
    )
    replay_both_ways(config)


@settings(max_examples=200, deadline=None)
@given(
    balance=st.integers(-(10**24), 10**24),
    sizes=st.lists(st.integers(-(10**24), 10**24).filter(bool), min_size=1, max_size=2),
    costs=st.lists(st.integers(-(10**28), 10**28), min_size=2, max_size=2),
    collateral=st.integers(0, 10**22),
    price_moves=st.lists(st.integers(1, 3 * 10**18), min_size=2, max_size=2),
)
def test_perpetual_health_is_account_health(
    balance: int, sizes: list[int], costs: list[int], collateral: int, price_moves: list[int]
) -> None:
    """The lean path's margin sum equals :func:`protocol.margin.account_health` exactly for
    settled perpetual positions and collateral, at any price and on every threshold."""
    config = StudyConfig().override(
        {
            "protocol.markets": [0, 1],
            "price.feeds": {"ETH/USD": {"spot": 3_000.0, "sigma": 1.2}},
            "traders.collateral_asset_share": 0.3,
        }
    )
    params = config.book_params()
    house = fresh_house(params)
    acct = Account(balance=balance, collateral={params.collaterals[0].asset_id: collateral})
    for mp, size, cost in zip(params.markets, sizes, costs, strict=False):
        acct.positions[mp.market_id] = Position(size=size, open_notional=cost)
    prices = {fp.feed_id: 30_000 * move for fp, move in zip(params.feeds, price_moves, strict=True)}
    markets = house.state.markets
    assert _perpetual_health(acct, params, markets, prices) == account_health(acct, params, markets, prices, now_s=0)
