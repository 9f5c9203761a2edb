"""The batch portfolio engine against the reference model on model states with options.

States are built through the :class:`~protocol.clearing_house.ClearingHouse` (option markets of
:func:`protocol.scenarios.option_params`): fills of calls, puts and perpetuals at random sizes
and premiums, prices moved, time advanced (past expiry in some examples, with and without a
settlement price), with the options' yields ``q`` (``MarketParams.dividend_yield_wad``) zero or
not. For every account:

* the group composition of :class:`~protocol.portfolio.ModelPortfolios` equals the model's rule
  (SPEC §9: every unsettled position on a feed with an unsettled option, perpetuals included),
  and that rule reproduces ``house.health(addr).maintenance`` to the wei with the model's own
  functions, so it is the model's composition;
* the engine's maintenance (each group converted like the model, ``ceil(x * 1e18)``, plus the
  exact requirement of the positions outside portfolio groups) equals
  ``house.health(addr).maintenance`` within 1e-9 relative, and likewise the initial requirement.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.actions import AdvanceTime, Deposit, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.margin import position_requirement
from protocol.option_margin import group_requirement, needs_portfolio_margin
from protocol.oracle_adapter import earliest_acceptance
from protocol.params import Params
from protocol.portfolio import ModelPortfolios, portfolio_margin
from protocol.scenarios import (
    ACTORS,
    BTC_CALL,
    BTC_FEED,
    BTC_PERP,
    BTC_PUT,
    ETH_FEED,
    ETH_PERP,
    USDC,
    actor,
    actor_signer,
    option_params,
)
from protocol.state import Position

T0 = 1_700_000_000
EXPIRY = T0 + 10 * 86_400
HEARTBEAT_S = 3_600
TRADERS = tuple(actor(f"option trader {i}") for i in range(5))
ORDERS = actor_signer(roles=[f"option trader {i}" for i in range(5)])
START_PRICES = {BTC_FEED: 60_000 * WAD, ETH_FEED: 3_000 * WAD}
REL_TOL = 1e-9


#: Yields of the call and the put (WAD): none; a staking-like yield on both; a negative carry on one.
YIELDS = ((0, 0), (35 * WAD // 1_000, 35 * WAD // 1_000), (WAD // 20, -(WAD // 50)))


def params_with_yields(call_yield_wad: int, put_yield_wad: int) -> Params:
    """:func:`option_params` with the call's and the put's ``dividend_yield_wad``."""
    params = option_params(EXPIRY)
    yields = {BTC_CALL: call_yield_wad, BTC_PUT: put_yield_wad}
    markets = tuple(
        dataclasses.replace(m, dividend_yield_wad=yields[m.market_id]) if m.market_id in yields else m
        for m in params.markets
    )
    return dataclasses.replace(params, markets=markets)


def new_house(yields: tuple[int, int] = (0, 0)) -> ClearingHouse:
    house = ClearingHouse(
        params_with_yields(*yields),
        governance=ACTORS["governance"],
        matchers=[ACTORS["matcher"]],
        oracles=[ACTORS["oracle"]],
        start_time_s=T0,
    )
    for feed, price in START_PRICES.items():
        house.apply(PushPrice(ACTORS["oracle"], feed, price, T0))
    for i, trader in enumerate(TRADERS):
        house.apply(Deposit(trader, 0, (20_000 + 150_000 * i) * USDC))
    return house


@dataclass(frozen=True)
class FillStep:
    market_id: int
    taker: int
    maker: int
    size_wad: int
    premium_fraction: float


@dataclass(frozen=True)
class PriceStep:
    feed_id: int
    move: float


@dataclass(frozen=True)
class TimeStep:
    seconds: int


Step = FillStep | PriceStep | TimeStep

steps = st.one_of(
    st.builds(
        FillStep,
        st.sampled_from((BTC_CALL, BTC_PUT, BTC_CALL, BTC_PUT, BTC_PERP, ETH_PERP)),
        st.integers(0, len(TRADERS) - 1),
        st.integers(0, len(TRADERS) - 1),
        st.integers(1, 8 * WAD).flatmap(lambda n: st.sampled_from((n, -n))),
        st.floats(0.001, 0.2),
    ),
    st.builds(PriceStep, st.sampled_from((BTC_FEED, ETH_FEED)), st.floats(-0.25, 0.25)),
    st.builds(TimeStep, st.one_of(st.integers(1, HEARTBEAT_S - 1), st.integers(HEARTBEAT_S, 4 * 86_400))),
)


def push(house: ClearingHouse, feed_id: int, price_wad: int) -> None:
    """The oracle pushes ``price_wad`` stamped at the earliest second the core accepts it (a move
    beyond max_move is pushed one second after the last reading and rejected)."""
    feed = house.state.feeds[feed_id]
    at = earliest_acceptance(feed, house.params.feed(feed_id), price_wad, house.state.now_s)
    at = max(house.state.now_s, feed.updated_at_s + 1) if at is None else at
    house.apply(AdvanceTime(at - house.state.now_s, 0))
    house.apply(PushPrice(ACTORS["oracle"], feed_id, price_wad, at))


def apply_step(house: ClearingHouse, step: Step) -> None:
    """Apply one step; a step the protocol refuses (margin, expiry, bands) is skipped."""
    state = house.state
    try:
        if isinstance(step, FillStep):
            mp = house.params.market(step.market_id)
            spot = state.feeds[mp.feed_id].price_wad
            price = max(1, int(spot * step.premium_fraction)) if mp.is_option else spot
            maker, taker = TRADERS[step.maker], TRADERS[step.taker]
            house.apply(ORDERS.fill(ACTORS["matcher"], maker, taker, mp.market_id, step.size_wad, price, 0, 0))
        elif isinstance(step, PriceStep):
            push(house, step.feed_id, int(state.feeds[step.feed_id].price_wad * (1.0 + step.move)))
        else:
            house.apply(AdvanceTime(step.seconds, 0))
            for feed_id, feed in house.state.feeds.items():  # keep prices trusted
                if house.state.now_s - feed.updated_at_s >= HEARTBEAT_S:
                    push(house, feed_id, feed.price_wad)
    except ProtocolRevert:
        pass


def model_composition(house: ClearingHouse, address: str) -> dict[int, tuple[int, ...]]:
    """SPEC §9: feed -> unsettled positions (market ids, position order) of every feed on which
    ``address`` holds an unsettled option."""
    params, markets = house.params, house.state.markets
    legs: dict[int, list[int]] = {}
    portfolio: set[int] = set()
    for market_id in house.state.accounts[address].positions:
        mp = params.market(market_id)
        if mp.is_option and markets[market_id].settlement_price_wad:
            continue
        legs.setdefault(mp.feed_id, []).append(market_id)
        if needs_portfolio_margin(mp, markets[market_id]):
            portfolio.add(mp.feed_id)
    return {feed: tuple(ids) for feed, ids in legs.items() if feed in portfolio}


def exact_requirements(house: ClearingHouse, address: str, params: Params) -> tuple[int, int, int, int]:
    """``(portfolio initial, portfolio maintenance, other initial, other maintenance)`` by the
    model's functions: group_requirement per portfolio group, position_requirement elsewhere."""
    state = house.state
    positions = state.accounts[address].positions
    groups = model_composition(house, address)
    port_im = port_mm = other_im = other_mm = 0
    for feed, ids in groups.items():
        legs = [(params.market(m), Position(size=positions[m].size)) for m in ids]
        im, mm = group_requirement(legs, state.feeds[feed].price_wad, state.now_s, params.protocol)
        port_im, port_mm = port_im + im, port_mm + mm
    for market_id, pos in positions.items():
        mp = params.market(market_id)
        if mp.feed_id in groups or mp.is_option:
            continue
        price, ms = state.feeds[mp.feed_id].price_wad, state.markets[market_id]
        other_im += position_requirement(mp, ms, pos.size, price, maintenance=False)
        other_mm += position_requirement(mp, ms, pos.size, price, maintenance=True)
    return port_im, port_mm, other_im, other_mm


def close(engine: int, model: int) -> bool:
    return abs(engine - model) <= REL_TOL * abs(model)


def check_against_model(house: ClearingHouse) -> int:
    """Assert composition and requirements for every account; the number of portfolio accounts."""
    params, state = house.params, house.state
    inputs = ModelPortfolios.from_model(state, params, state.now_s)
    engine = inputs.requirements_wad(portfolio_margin(inputs.book, inputs.underlyings, inputs.grid))
    composition = inputs.groups()
    for address in state.accounts:
        expected = model_composition(house, address)
        assert composition.get(address, {}) == expected, address
        health = house.health(address)
        port_im, port_mm, other_im, other_mm = exact_requirements(house, address, params)
        assert (port_im + other_im, port_mm + other_mm) == (health.initial, health.maintenance)
        if expected:
            im, mm = engine[address]
            assert close(mm + other_mm, health.maintenance), (address, mm, port_mm)
            assert close(im + other_im, health.initial), (address, im, port_im)
        else:
            assert address not in engine
    return len(engine)


yields = st.tuples(*(st.one_of(st.just(0), st.integers(-WAD // 10, WAD // 4)) for _ in range(2)))


@given(st.lists(steps, min_size=1, max_size=25), yields)
def test_engine_matches_model_on_random_states(trace: list[Step], call_and_put_yields: tuple[int, int]) -> None:
    house = new_house(call_and_put_yields)
    for step in trace:
        apply_step(house, step)
    check_against_model(house)


@pytest.mark.parametrize("call_and_put_yields", YIELDS)
def test_engine_matches_model_on_a_scripted_book(call_and_put_yields: tuple[int, int]) -> None:
    """A covered call writer hedged with BTC perps and trading ETH perps, a put buyer, a
    strangle seller, then expiry passes without and with a settlement price."""
    house = new_house(call_and_put_yields)
    buyer, market_maker, hedger, strangle, writer = range(len(TRADERS))  # ascending deposits
    script = [
        FillStep(BTC_CALL, buyer, writer, 3 * WAD + 17, 0.03),
        FillStep(BTC_PERP, writer, hedger, WAD + 1, 0.0),
        FillStep(ETH_PERP, writer, hedger, -5 * WAD, 0.0),
        FillStep(BTC_PUT, buyer, strangle, 2 * WAD, 0.02),
        FillStep(BTC_CALL, market_maker, strangle, WAD // 3, 0.03),
        FillStep(BTC_PERP, strangle, market_maker, -(WAD // 7), 0.0),
    ]
    for step in script:
        house_before = house.snapshot()
        apply_step(house, step)
        assert house.state != house_before, step  # every scripted fill is accepted
    assert check_against_model(house) == 4
    for move in (-0.08, 0.15):
        apply_step(house, PriceStep(BTC_FEED, move))
        apply_step(house, TimeStep(2 * 86_400))
        assert check_against_model(house) == 4
    house.apply(AdvanceTime(EXPIRY - house.state.now_s - 60, 0))
    for feed_id in (BTC_FEED, ETH_FEED):  # fresh prices one minute before expiry
        push(house, feed_id, house.state.feeds[feed_id].price_wad)
    house.apply(AdvanceTime(120, 0))  # expired, no settlement price yet: options valued at intrinsic
    assert check_against_model(house) == 4
    push(house, BTC_FEED, house.state.feeds[BTC_FEED].price_wad)  # fixes the settlement price
    push(house, ETH_FEED, house.state.feeds[ETH_FEED].price_wad)
    assert check_against_model(house) == 0
