"""LiveBook rows equal a freshly built MarginBook after every refresh; the watch's decisions
equal a full screen's at every step, including accounts it did not re-screen."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.actions import AdvanceTime, Deposit, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.funding import accrued_markets
from protocol.margin_core import LiquidationWatch, LiveBook, MarginBook, evaluate
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_FEED, actor, actor_signer, default_params

MATCHER, ORACLE, MAKER = ACTORS["matcher"], ACTORS["oracle"], ACTORS["market_maker"]
TRADERS = tuple(actor(f"live-{i}") for i in range(40))
ORDERS = actor_signer(roles=[f"live-{i}" for i in range(40)])


def _house() -> ClearingHouse:
    house = ClearingHouse(default_params(), ACTORS["governance"], matchers=[MATCHER], oracles=[ORACLE])
    house.apply(PushPrice(ORACLE, BTC_FEED, 30_000 * WAD, 0))
    house.apply(Deposit(MAKER, 0, 10**8 * 10**6))
    for i, trader in enumerate(TRADERS):
        house.apply(Deposit(trader, 0, (2_200 + 37 * i) * 10**6))
        size = (1 + i % 7) * WAD // 10 * (1 if i % 3 else -1)
        house.apply(ORDERS.fill(MATCHER, MAKER, trader, BTC_PERP, size, 30_000 * WAD, 0, 0))
    return house


def _rows(book: MarginBook, labels: tuple[str, ...]) -> list[tuple[float, ...]]:
    order = [book.labels.index(a) for a in labels] if book.labels is not None else list(range(len(labels)))
    arrays = book.screen.as_tuple()
    return [tuple(float(x) for a in arrays for x in np.atleast_1d(a[i])) for i in order]


def test_refreshed_rows_equal_a_fresh_book() -> None:
    house = _house()
    labels = (*TRADERS, MAKER)
    live = LiveBook(house.state, house.params, labels)
    view = live.book(house.state, house.state.markets, house.state.now_s)
    assert _rows(view, labels) == _rows(MarginBook.from_state(house.state, house.params), labels)
    house.apply(ORDERS.fill(MATCHER, MAKER, TRADERS[3], BTC_PERP, WAD, 30_100 * WAD, WAD // 1000, WAD // 500))
    live.refresh(house.state, (TRADERS[3], MAKER, "0x" + "77" * 20))  # an unknown address is ignored
    assert live.take_changed() == [3, len(TRADERS)]
    assert live.take_changed() == []
    view = live.book(house.state, house.state.markets, house.state.now_s)
    assert _rows(view, labels) == _rows(MarginBook.from_state(house.state, house.params), labels)
    twin = live.copy()
    house.apply(ORDERS.fill(MATCHER, MAKER, TRADERS[5], BTC_PERP, -WAD, 30_000 * WAD, 0, 0))
    live.refresh(house.state, (TRADERS[5],))
    assert (
        _rows(live.book(house.state, house.state.markets, 0), labels)[5]
        != _rows(twin.book(house.state, house.state.markets, 0), labels)[5]
    )


def test_live_book_rejects_unknown_labels() -> None:
    house = _house()
    with pytest.raises(InvalidParameter, match="not accounts of the state"):
        LiveBook(house.state, house.params, ("0x" + "55" * 20,))
    with pytest.raises(InvalidParameter, match="distinct"):
        LiveBook(house.state, house.params, (TRADERS[0], TRADERS[0]))


@pytest.mark.parametrize("skipping", [False, True])
@pytest.mark.parametrize("moves", [(-1, 1, -2, 3, -5, 8, -13), (2, 2, 2, 2, -30, -30, -30)])
def test_watch_decides_like_a_full_screen_every_step(moves: tuple[int, ...], skipping: bool) -> None:
    """Skipping: every other row reported at a step is skipped at the next (accounts waiting for a
    keeper, then released); the watch reports only rows below maintenance, and every one of them
    it was not told to skip."""
    house = _house()
    labels = (*TRADERS, MAKER)
    live = LiveBook(house.state, house.params, labels)
    watch = LiquidationWatch(len(labels), rescreen_fraction=0.5)
    skip = np.zeros(len(labels), dtype=np.bool_)
    price = 30_000 * WAD
    for step, move_bp in enumerate(moves * 3):
        house.apply(AdvanceTime(60, 1))
        price = price * (10_000 + move_bp * 25) // 10_000
        house.apply(PushPrice(ORACLE, BTC_FEED, price, house.state.now_s))
        markets = accrued_markets(house.state, house.params)
        view = live.book(house.state, markets, house.state.now_s)
        prices = {BTC_FEED: price, ETH_FEED: 2_000 * WAD}
        full = evaluate(view, prices).liquidatable
        if not skipping:
            np.testing.assert_array_equal(watch(view, prices, live.take_changed()), np.flatnonzero(full))
            continue
        rows = watch(view, prices, live.take_changed(), skip)
        assert full[rows].all(), f"step {step}"
        np.testing.assert_array_equal(np.setdiff1d(np.flatnonzero(full & ~skip), rows), [], err_msg=f"step {step}")
        skip.fill(False)
        skip[rows[::2]] = True
    assert watch.full_screens < len(moves) * 3
    assert watch.screened < len(labels) * len(moves) * 3


def test_watch_validates_its_arguments() -> None:
    with pytest.raises(InvalidParameter, match="n_accounts"):
        LiquidationWatch(-1)
    with pytest.raises(InvalidParameter, match="rescreen_fraction"):
        LiquidationWatch(10, rescreen_fraction=0.0)
    house = _house()
    live = LiveBook(house.state, house.params, TRADERS)
    with pytest.raises(InvalidParameter, match="built for 3 accounts"):
        LiquidationWatch(3)(live.book(house.state, house.state.markets, 0), {BTC_FEED: 30_000 * WAD})
    view = live.book(house.state, house.state.markets, 0)
    for skip in (np.zeros(len(TRADERS), dtype=np.int64), np.zeros(len(TRADERS) + 1, dtype=np.bool_)):
        with pytest.raises(InvalidParameter, match="skip must be a boolean numpy array"):
            LiquidationWatch(len(TRADERS))(view, {BTC_FEED: 30_000 * WAD}, (), skip)  # type: ignore[arg-type]  # deliberately malformed


def test_accounts_deep_below_maintenance_are_not_screened_again() -> None:
    house = _house()
    labels = (*TRADERS, MAKER)
    live = LiveBook(house.state, house.params, labels)
    watch = LiquidationWatch(len(labels), rescreen_fraction=1.0)
    price = 30_000 * WAD
    for step, move_bp in enumerate((-2_500, 1, -1, 1)):
        house.apply(AdvanceTime(60, 1))
        price = price * (10_000 + move_bp) // 10_000
        house.apply(PushPrice(ORACLE, BTC_FEED, price, house.state.now_s))
        view = live.book(house.state, accrued_markets(house.state, house.params), house.state.now_s)
        prices = {BTC_FEED: price, ETH_FEED: 2_000 * WAD}
        before = watch.screened
        rows = watch(view, prices, live.take_changed())
        np.testing.assert_array_equal(rows, np.flatnonzero(evaluate(view, prices).liquidatable))
        if step == 0:
            assert watch.full_screens == 1
            deep = rows.size
            assert deep > 5  # the crash left several accounts well below maintenance
        else:
            assert watch.screened - before < deep  # those are decided by the baseline, not screened
    assert watch.full_screens == 1


def test_a_changed_account_left_without_a_position_is_decided_once() -> None:
    house = _house()
    labels = (*TRADERS, MAKER)
    live = LiveBook(house.state, house.params, labels)
    watch = LiquidationWatch(len(labels))
    prices = {BTC_FEED: 30_000 * WAD, ETH_FEED: 2_000 * WAD}

    def step() -> int:
        before = watch.screened
        view = live.book(house.state, accrued_markets(house.state, house.params), house.state.now_s)
        rows = watch(view, prices, live.take_changed())
        np.testing.assert_array_equal(rows, np.flatnonzero(evaluate(view, prices).liquidatable))
        return watch.screened - before

    step()  # the baseline
    size = house.state.accounts[TRADERS[4]].positions[BTC_PERP].size
    house.apply(ORDERS.fill(MATCHER, MAKER, TRADERS[4], BTC_PERP, -size, 29_000 * WAD, 0, 0))  # closed at a loss
    live.refresh(house.state, (TRADERS[4], MAKER))
    assert step() == 2  # the two changed rows, screened exactly
    assert step() == 1  # the market maker still holds a position; the trader holds nothing the market moves
    assert watch.full_screens == 1
