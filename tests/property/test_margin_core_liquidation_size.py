"""Property: the margin core's liquidation sizes are the model's wherever it gives one.

A 60-trader book of the 2020 crash study (two perpetual markets, USDC and WETH collateral) is
built once; hypothesis draws a time advance (funding accrues, nothing settled) and a price for
every feed from half to 1.1 times its starting price, trusted now. For every position of every
account, :func:`protocol.margin_core.liquidation_sizes` must be None (the model sizes a solvent
account below maintenance) or equal :meth:`ClearingHouse.max_liquidation_size`; and over the
drawn shocks it must decide the bankrupt and healthy accounts itself.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.actions import AdvanceTime
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.funding import accrued_state
from protocol.margin_core import MarginBook, liquidation_sizes
from protocol.params import MarketKind, MarketParams
from protocol.state import FeedState
from simulator import EXAMPLES_DIR
from simulator.config import load_study
from simulator.engine import Book, build_book

STUDY = load_study(EXAMPLES_DIR / "crash_2020.toml", {"price.model": "bridge", "run.accounts": 60, "run.paths": 1})


@pytest.fixture(scope="module")
def book() -> Book:
    return build_book(STUDY)


def shocked_house(book: Book, advance_s: int, per_mille: list[int]) -> ClearingHouse:
    """The book's house ``advance_s`` later with every feed at ``per_mille`` of its spot, trusted."""
    house = ClearingHouse.from_state(book.params, book.state())
    if advance_s:
        house.apply(AdvanceTime(advance_s, 1))
    st_, now = house.state, house.state.now_s
    for fp, k in zip(book.params.feeds, per_mille, strict=True):
        price = book.spot_wad(fp.feed_id) * k // 1_000 + 1
        st_.feeds[fp.feed_id] = FeedState(price_wad=price, updated_at_s=now, valid=True, accepted_at_s=now)
    return house


def sizes_both_ways(house: ClearingHouse) -> list[tuple[int | None, int]]:
    """``(core's size, model's size)`` of every position of every account."""
    state, params = house.state, house.params
    view = MarginBook.from_state(accrued_state(state, params), params)
    assert view.labels is not None
    prices = {fp.feed_id: state.feeds[fp.feed_id].price_wad for fp in params.feeds}
    rows, markets = [], []
    for i, address in enumerate(view.labels):
        for m in sorted(state.accounts[address].positions):
            rows.append(i)
            markets.append(m)
    core = liquidation_sizes(view, prices, np.array(rows, dtype=np.int64), markets)
    model = [house.max_liquidation_size(view.labels[i], m) for i, m in zip(rows, markets, strict=True)]
    return list(zip(core, model, strict=True))


@given(
    advance_s=st.integers(0, 7 * 86_400),
    per_mille=st.lists(st.integers(500, 1_100), min_size=2, max_size=2),
)
def test_core_sizes_are_the_models(book: Book, advance_s: int, per_mille: list[int]) -> None:
    assert len(book.params.feeds) == 2
    for core, model in sizes_both_ways(shocked_house(book, advance_s, per_mille)):
        assert core is None or core == model


def test_the_core_decides_bankrupt_and_healthy_accounts(book: Book) -> None:
    pairs = sizes_both_ways(shocked_house(book, 3_600, [560, 560]))  # the 2020 crash's depth
    decided = [(core, model) for core, model in pairs if core is not None]
    assert all(core == model for core, model in decided)
    assert any(core == 0 for core, _ in decided)  # healthy accounts
    assert any(core for core, _ in decided)  # bankrupt ones, closed whole
    assert len(decided) >= 0.9 * len(pairs)


def test_options_leave_every_size_to_the_model(book: Book) -> None:
    house = shocked_house(book, 0, [560, 560])
    call = MarketParams(
        9, "CALL", 0, WAD // 10, WAD // 2, kind=MarketKind.CALL, strike_wad=10**22, expiry_s=10**9, volatility_wad=WAD
    )
    params = dataclasses.replace(book.params, markets=(*book.params.markets, call))
    view = MarginBook.from_state(house.state, book.params)
    view = dataclasses.replace(view, params=params)
    prices = {fp.feed_id: house.state.feeds[fp.feed_id].price_wad for fp in book.params.feeds}
    market = book.params.markets[0].market_id
    assert liquidation_sizes(view, prices, np.arange(3, dtype=np.int64), [market] * 3) == [None] * 3


def test_bad_input_is_refused(book: Book) -> None:
    house = shocked_house(book, 0, [1_000, 1_000])
    view = MarginBook.from_state(house.state, book.params)
    prices = {fp.feed_id: house.state.feeds[fp.feed_id].price_wad for fp in book.params.feeds}
    with pytest.raises(InvalidParameter, match="entries but rows has"):
        liquidation_sizes(view, prices, np.arange(2, dtype=np.int64), [0])
    with pytest.raises(InvalidParameter, match="not a perpetual column"):
        liquidation_sizes(view, prices, np.arange(1, dtype=np.int64), [77])
