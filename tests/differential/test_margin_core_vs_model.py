"""Differential: the margin core against the reference model on a state built by protocol activity.

Forty traders deposit USDC and WETH and trade BTC and ETH perpetuals with a market maker and with
each other; the oracle moves prices; funding accrues; a keeper liquidates whatever
:func:`protocol.keeper.keeper_actions` finds. The resulting state is evaluated at its trusted
prices and at shocked price vectors; every account's flags, signs and (for re-evaluated accounts)
exact integers must equal :func:`protocol.margin.account_health`, and every screened float must
lie within the screen's documented error bound of the model's integer.
"""

from __future__ import annotations

import contextlib
import random

import pytest

from protocol.actions import Action, AdvanceTime, Deposit, PushPrice, SetFundingRate, Withdraw
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.keeper import keeper_actions
from protocol.margin import account_health
from protocol.margin_core import MarginBatch, MarginBook, WadLimbs, evaluate, liquidation_candidates
from protocol.margin_core.screen import Tolerances
from protocol.oracle_adapter import trusted_prices
from protocol.scenarios import ACTORS, actor, actor_signer, default_params

USDC = 10**6
GOV, MATCHER, ORACLE, FUNDING = (ACTORS[r] for r in ("governance", "matcher", "oracle", "funding_operator"))
KEEPER, LIQUIDATOR, MARKET_MAKER = ACTORS["keeper"], ACTORS["liquidator"], ACTORS["market_maker"]
TRADERS = [actor(f"trader_{k}") for k in range(40)]
ORDERS = actor_signer(roles=[f"trader_{k}" for k in range(40)])


def try_apply(house: ClearingHouse, action: Action) -> None:
    with contextlib.suppress(ProtocolRevert):  # a refused action changes nothing
        house.apply(action)


def active_house(seed: int) -> ClearingHouse:
    """A clearing house after a few hundred random actions and keeper rounds."""
    rng = random.Random(seed)
    house = ClearingHouse(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], funding_operators=[FUNDING])
    prices = {0: 60_000 * WAD, 1: 3_000 * WAD}

    def push() -> None:
        for feed, price in prices.items():
            try_apply(house, PushPrice(ORACLE, feed, price, house.state.now_s))

    house.apply(AdvanceTime(1_000, 1))
    push()
    for who in (KEEPER, LIQUIDATOR, MARKET_MAKER):
        house.apply(Deposit(who, 0, 50_000_000 * USDC))
    for trader in TRADERS:
        house.apply(Deposit(trader, 0, rng.randint(500, 50_000) * USDC))
        if rng.random() < 0.3:
            house.apply(Deposit(trader, 1, rng.randint(1, 20_000) * 10**15))
    for step in range(400):
        roll = rng.random()
        if roll < 0.6:
            taker = rng.choice(TRADERS)
            maker = rng.choice([MARKET_MAKER, *TRADERS])
            market = rng.choice([0, 1])
            unit = 10**15 if market == 0 else 10**16
            size = rng.choice([-1, 1]) * rng.randint(1, 2_000) * unit + rng.randint(0, 999)
            price = prices[market] * rng.randint(990, 1_010) // 1_000 + rng.randint(0, WAD)
            if maker != taker:
                try_apply(house, ORDERS.fill(MATCHER, maker, taker, market, size, price, WAD // 10_000, WAD // 2_000))
        elif roll < 0.75:
            for feed in prices:
                prices[feed] = prices[feed] * rng.randint(930, 1_060) // 1_000 + rng.randint(0, 10**6)
            try_apply(house, AdvanceTime(rng.randint(1, 600), 1))
            push()
        elif roll < 0.82:
            rate = rng.randint(-(10**13), 10**13)
            try_apply(house, SetFundingRate(FUNDING, rng.choice([0, 1]), rate))
        elif roll < 0.9:
            trader = rng.choice(TRADERS)
            held = house.state.accounts[trader].balance // 10**12
            if held > 0:
                try_apply(house, Withdraw(trader, 0, max(1, held * rng.randint(1, 100) // 100)))
        if step % 25 == 24:
            for action in keeper_actions(house, KEEPER, LIQUIDATOR):
                try_apply(house, action)
    return house


@pytest.fixture(scope="module")
def house() -> ClearingHouse:
    return active_house(seed=5)


def shocked(prices: dict[int, int], btc_per_mille: int, eth_per_mille: int) -> dict[int, int]:
    return {0: prices[0] * btc_per_mille // 1_000 + 1, 1: prices[1] * eth_per_mille // 1_000 + 3}


def limb_book(house: ClearingHouse) -> MarginBook:
    """The same accounts as exact arrays (rows in address order)."""
    state, params = house.state, house.params
    addresses = sorted(state.accounts)
    accts = [state.accounts[a] for a in addresses]
    n, markets = len(accts), params.market_ids

    def field(name: str) -> WadLimbs:
        rows = [[getattr(a.positions[m], name) if m in a.positions else 0 for m in markets] for a in accts]
        return WadLimbs.from_ints(rows, shape=(n, len(markets)))

    return MarginBook.from_arrays(
        params,
        state.markets,
        balance=WadLimbs.from_ints([a.balance for a in accts], shape=(n,)),
        size=field("size"),
        open_notional=field("open_notional"),
        funding_snapshot=field("funding_snapshot"),
        loss_snapshot=field("loss_snapshot"),
        collateral=WadLimbs.from_ints([[a.collateral.get(1, 0)] for a in accts], shape=(n, 1)),
        labels=addresses,
        now_s=state.now_s,
    )


def gross_magnitude(house: ClearingHouse, address: str, prices: dict[int, int]) -> float:
    """``A + IM`` of the screen's error bound, from the exact account (USD)."""
    acct, params = house.state.accounts[address], house.params
    total = abs(acct.balance) + sum(amount * prices[1] // WAD for amount in acct.collateral.values())
    for market_id, pos in acct.positions.items():
        ms, price = house.state.markets[market_id], prices[params.market(market_id).feed_id]
        index = ms.loss_index_long if pos.size > 0 else ms.loss_index_short
        s = abs(pos.size)
        total += s * (price + abs(ms.funding_index) + index + abs(pos.funding_snapshot) + abs(pos.loss_snapshot)) // WAD
        total += abs(pos.open_notional) + s * price // WAD
    return total / WAD


def assert_agrees(house: ClearingHouse, book: MarginBook, batch: MarginBatch, prices: dict[int, int]) -> None:
    state, params = house.state, house.params
    assert book.labels is not None
    tol = Tolerances(len(params.markets), len(params.collaterals))
    shortfall, free = batch.shortfall(), batch.free_collateral()
    expected_candidates = []
    for i, address in enumerate(book.labels):
        h = account_health(state.accounts[address], params, state.markets, prices, now_s=state.now_s)
        assert bool(batch.liquidatable[i]) is h.liquidatable, address
        assert bool(batch.meets_initial[i]) is h.meets_initial, address
        assert (batch.equity[i] > 0, batch.equity[i] < 0) == (h.equity > 0, h.equity < 0), address
        assert (shortfall[i] > 0, shortfall[i] < 0) == (h.maintenance > h.equity, h.maintenance < h.equity)
        assert (free[i] > 0, free[i] < 0) == (h.equity > h.initial, h.equity < h.initial)
        if i in batch.exact:
            assert batch.exact[i] == h
        else:  # the screened values obey the documented bound
            bound = tol.rel_tol * gross_magnitude(house, address, prices) + tol.requirement_slack
            assert abs(batch.equity[i] - h.equity / WAD) <= bound
            assert abs(batch.maintenance[i] - h.maintenance / WAD) <= bound
            assert abs(batch.initial[i] - h.initial / WAD) <= bound
        if h.liquidatable:
            expected_candidates.append(i)
    assert sorted(liquidation_candidates(batch).tolist()) == expected_candidates


@pytest.mark.parametrize(("btc", "eth"), [(1_000, 1_000), (900, 950), (750, 700), (1_150, 1_200), (600, 1_300)])
def test_every_account_agrees_with_the_model(house: ClearingHouse, btc: int, eth: int) -> None:
    prices = shocked(trusted_prices(house.state, house.params), btc, eth)
    books = [MarginBook.from_state(house.state, house.params), limb_book(house)]
    batches = [evaluate(book, prices) for book in books]
    for book, batch in zip(books, batches, strict=True):
        assert_agrees(house, book, batch, prices)
    assert batches[0].liquidatable.tolist() == batches[1].liquidatable.tolist()


def test_the_state_is_interesting(house: ClearingHouse) -> None:
    """Guards the test's power: positions on both markets, collateral, funding, liquidations."""
    accounts = house.state.accounts.values()
    assert sum(bool(a.positions) for a in accounts) >= 20
    assert sum(a.has_collateral() for a in accounts) >= 5
    assert all(house.state.markets[m].funding_index != 0 for m in (0, 1))
    prices = shocked(trusted_prices(house.state, house.params), 750, 700)
    assert evaluate(MarginBook.from_state(house.state, house.params), prices).liquidatable.sum() >= 3
