"""A book set up in place (:class:`protocol.book_setup.BookSetup`, the trusted set-up entry)
equals the reference model applying the same actions one by one, recovering every signature.

The set-up log of :func:`simulator.engine.build_book` (deposits, the market maker's standing
orders, every trader's opening) is replayed on two fresh houses: one action at a time through
:meth:`ClearingHouse.apply` with records whose signatures were never recovered, and through
:meth:`ClearingHouse.book_setup` with ``signatures_verified=True``. Refused attempts are mixed
in (an opening far beyond the trader's margin, a price beyond the order's limit, an order filled
twice, a fee the order does not allow, deposits of an asset never listed and above the caps) so
both the lean path's and the journal's undo run. Every outcome (events or revert reason), the
state a refusal leaves and the final state must be equal.
"""

from __future__ import annotations

import dataclasses
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st
from state_views import account_view, outcome, state_view

from protocol.actions import Action, Deposit, Fill, SetMarketMargin, SetPaused, SignedOrder
from protocol.book_setup import BookSetup, _perpetual_free_collateral, _Tables
from protocol.clearing_house import ClearingHouse
from protocol.margin import account_health
from protocol.orders import OrderSigner
from protocol.params import Params
from protocol.scenarios import actor_key
from protocol.state import Account, Position
from simulator.config import StudyConfig
from simulator.engine import FUNDING_OPERATOR, GOVERNANCE, MARKET_MAKER, MATCHER, ORACLE, build_book


def unverified(action: Action) -> Action:
    """``action`` with its signed orders rebuilt from their bytes: nothing recovered yet."""
    if not isinstance(action, Fill):
        return action
    return dataclasses.replace(
        action,
        maker_order=SignedOrder(action.maker_order.order, action.maker_order.signature),
        taker_order=SignedOrder(action.taker_order.order, action.taker_order.signature),
    )


def with_refusals(log: list[Action], params: Params) -> list[Action]:
    """The set-up log with refused attempts before every third opening and deposit (most
    deposits are a trader's first action: the refused one creates the account)."""
    out: list[Action] = []
    for k, action in enumerate(log):
        if isinstance(action, Deposit) and k % 3 == 2:
            out.append(dataclasses.replace(action, asset_id=99))  # never listed
            for c in params.collaterals:  # above the caps: refused after the account was created
                out.append(dataclasses.replace(action, asset_id=c.asset_id, amount=c.deposit_cap + 1))
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


def compare_step(model: ClearingHouse, lean: ClearingHouse, setup: BookSetup, action: Action) -> bool:
    """Apply ``action`` to the model and through ``setup`` (on ``lean``): the same outcome, and
    after a refusal nothing written or created on either; True if it was refused."""
    expected = outcome(partial(model.apply, unverified(action)))
    got = outcome(partial(setup.apply, unverified(action)))
    assert got == expected, action
    if not (isinstance(expected, tuple) and expected[0] == "revert"):
        return False
    assert lean.state.accounts.keys() == model.state.accounts.keys(), action
    assert lean.state.order_filled == model.state.order_filled, action
    assert state_view(lean.state)["markets"] == state_view(model.state)["markets"], action
    traded = (action.maker, action.taker) if isinstance(action, Fill) else ()
    for address in (action.account,) if isinstance(action, Deposit) else traded:
        assert account_or_none(lean, address) == account_or_none(model, address), action
    return True


def account_or_none(house: ClearingHouse, address: str) -> tuple[object, ...] | None:
    """The account at ``address`` as plain values, None where there is none."""
    acct = house.state.accounts.get(address)
    return None if acct is None else account_view(acct)


def replay_both_ways(config: StudyConfig) -> int:
    """Build ``config``'s book, replay its set-up with refusals both ways; refusals seen."""
    log: list[Action] = []
    book = build_book(config, log=log)
    model, lean = fresh_house(book.params), fresh_house(book.params)
    setup = lean.book_setup(signatures_verified=True)
    refused = sum(compare_step(model, lean, setup, action) for action in with_refusals(log, book.params))
    assert state_view(lean.state) == state_view(model.state)
    assert state_view(lean.state) == state_view(book.setup_state)
    return refused


def test_governance_between_set_up_actions_equals_model() -> None:
    """Governance acts through the set-up between its deposits and openings: a pause (the next
    deposit and opening refused by either path), then a tighter initial margin for the rest
    (the lean path must judge the later openings by the new parameters: many are refused)."""
    log: list[Action] = []
    book = build_book(StudyConfig().override({"run.accounts": 120}), log=log)
    market = book.params.markets[0]
    third = len(log) // 3
    after = [next(a for a in log[third:] if isinstance(a, kind)) for kind in (Deposit, Fill)]
    attempts = [
        *log[:third],
        SetPaused(GOVERNANCE, True),
        *after,
        SetPaused(GOVERNANCE, False),
        SetMarketMargin(
            GOVERNANCE, market.market_id, market.initial_margin_fraction_wad * 5, market.maintenance_share_wad
        ),
        *log[third:],
    ]
    model, lean = fresh_house(book.params), fresh_house(book.params)
    setup = lean.book_setup(signatures_verified=True)
    refused = [compare_step(model, lean, setup, action) for action in attempts]
    assert refused[third : third + 4] == [False, True, True, False]
    assert not refused[third + 4]  # the new margin parameters are taken
    assert sum(refused[third + 5 :]) > 0
    assert state_view(lean.state) == state_view(model.state)


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
def test_perpetual_free_collateral_is_account_healths(
    balance: int, sizes: list[int], costs: list[int], collateral: int, price_moves: list[int]
) -> None:
    """The lean path's free collateral equals :func:`protocol.margin.account_health`'s exactly for
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
    expected = account_health(acct, params, markets, prices, now_s=0).free_collateral
    assert _perpetual_free_collateral(acct, _Tables(params), markets, prices) == expected


def test_a_refused_opening_against_a_reducing_maker_puts_back_what_it_wrote() -> None:
    """A fresh trader sells to the market maker what reduces the maker's position, 2 % off the
    set-up price (the maker realizes a gain or a loss), with too little margin: both paths refuse
    with the same reason and leave the same state (the lean path's undo of the maker's balance,
    realized PnL and position, the open interest and both orders)."""
    book = build_book(StudyConfig().override({"run.accounts": 40}))
    model, lean = (ClearingHouse.from_state(book.params, book.state()) for _ in range(2))
    market = book.params.markets[0]
    maker_size = model.state.accounts[MARKET_MAKER].positions[market.market_id].size
    price = model.state.feeds[market.feed_id].price_wad * 102 // 100
    signer = OrderSigner(model.state.order_domain, [actor_key("market_maker")])
    trader = signer.add_key(actor_key("late-trader"))
    size = maker_size // 2  # the taker's side is the maker's: the maker trades -size, reducing
    actions = [
        Deposit(trader, 0, 10**6),  # one settlement-token unit (decimals 6): far below the margin
        Fill(
            MATCHER,
            signer.order(MARKET_MAKER, market.market_id, -size, price),
            signer.order(trader, market.market_id, size, price),
            size,
            price,
            0,
            0,
        ),
    ]
    setup = lean.book_setup(signatures_verified=True)
    outcomes = [
        (outcome(partial(model.apply, unverified(a))), outcome(partial(setup.apply, unverified(a)))) for a in actions
    ]
    assert outcomes[1][0] == outcomes[1][1] == ("revert", "margin: below initial")
    assert outcomes[0][0] == outcomes[0][1]
    assert state_view(lean.state) == state_view(model.state)
