"""oracle_adapter: every guard, the untrusted state a rejection leaves, and the staleness boundary."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocol.actions import PushPrice, SetPaused
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import Event, PriceAccepted, PriceRejected
from protocol.oracle_adapter import is_trusted, reading_failure, trusted_prices
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_FEED, default_params
from protocol.state import FeedState

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

TRADER, MAKER, GOV, ORACLE = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["governance"], ACTORS["oracle"]
HEARTBEAT = 3_600
P0 = 60_000 * WAD


def rejected(events: list[Event], reason: str) -> bool:
    return len(events) == 1 and isinstance(events[0], PriceRejected) and events[0].reason == reason


@pytest.mark.parametrize(
    ("price", "ts_offset", "reason"),
    [
        (0, 0, "oracle: non-positive answer"),
        (-1, 0, "oracle: non-positive answer"),
        (P0, 1, "oracle: future timestamp"),
        (P0, -(HEARTBEAT + 1), "oracle: stale"),
        (90_000 * WAD + 1, 0, "oracle: move too large"),  # +50 % and one wei
        (30_000 * WAD - 1, 0, "oracle: move too large"),  # -50 % and one wei
    ],
)
def test_each_guard_rejects_and_leaves_the_feed_untrusted(desk: Desk, price: int, ts_offset: int, reason: str) -> None:
    ts = desk.now + ts_offset
    events = desk.push(BTC_FEED, price, ts)
    assert events == [PriceRejected(BTC_FEED, price, ts, reason)]
    feed = desk.state.feeds[BTC_FEED]
    assert (feed.price_wad, feed.updated_at_s, feed.valid) == (P0, desk.now, False)  # last good price kept
    assert BTC_FEED not in trusted_prices(desk.state, desk.house.params)
    assert ETH_FEED in trusted_prices(desk.state, desk.house.params)  # other feeds unaffected


def test_out_of_order_reading(desk: Desk) -> None:
    desk.advance(100)
    desk.push(BTC_FEED, P0, desk.now)
    events = desk.push(BTC_FEED, P0, desk.now - 1)
    assert rejected(events, "oracle: out of order")
    assert desk.state.feeds[BTC_FEED].valid is False
    # the same timestamp again is not out of order
    assert desk.push(BTC_FEED, P0 + 1, desk.now) == [PriceAccepted(BTC_FEED, P0 + 1, desk.now)]


@pytest.mark.parametrize("price", [90_000 * WAD, 30_000 * WAD])
def test_a_move_of_exactly_max_move_is_accepted(desk: Desk, price: int) -> None:
    assert desk.push(BTC_FEED, price) == [PriceAccepted(BTC_FEED, price, desk.now)]
    assert desk.state.feeds[BTC_FEED].price_wad == price


def test_guard_order_is_documented_order() -> None:
    fp = default_params().feed(BTC_FEED)
    feed = FeedState(price_wad=P0, updated_at_s=1_000, valid=True)
    # a reading failing everything reports the first guard
    assert reading_failure(feed, fp, 0, 10**9, 5_000) == "oracle: non-positive answer"
    assert reading_failure(feed, fp, P0, 5_001, 5_000) == "oracle: future timestamp"
    assert reading_failure(feed, fp, 10 * P0, 999, 5_000) == "oracle: stale"  # stale before out of order
    assert reading_failure(feed, fp, 10 * P0, 1_999, 2_000) == "oracle: move too large"
    assert reading_failure(feed, fp, 10 * P0, 999, 2_000) == "oracle: out of order"
    assert reading_failure(feed, fp, P0, 1_000, 2_000) == ""


def test_staleness_boundary(desk: Desk) -> None:
    fp = desk.house.params.feed(BTC_FEED)
    desk.advance(HEARTBEAT)  # exactly one heartbeat old: trusted
    assert is_trusted(desk.state.feeds[BTC_FEED], fp, desk.now)
    assert trusted_prices(desk.state, desk.house.params) == {BTC_FEED: P0, ETH_FEED: 3_000 * WAD}
    desk.advance(1)  # one second more: untrusted
    assert not is_trusted(desk.state.feeds[BTC_FEED], fp, desk.now)
    assert trusted_prices(desk.state, desk.house.params) == {}
    assert desk.state.feeds[BTC_FEED].valid is True  # it aged out; nothing was rejected


def test_reading_exactly_one_heartbeat_old_is_accepted(desk: Desk) -> None:
    desk.advance(HEARTBEAT)
    assert desk.push(BTC_FEED, P0, desk.now - HEARTBEAT) == [PriceAccepted(BTC_FEED, P0, desk.now - HEARTBEAT)]
    assert is_trusted(desk.state.feeds[BTC_FEED], desk.house.params.feed(BTC_FEED), desk.now)
    desk.advance(1)
    assert rejected(desk.push(BTC_FEED, P0, desk.now - HEARTBEAT - 1), "oracle: stale")


def test_accepted_reading_keeps_its_own_timestamp(desk: Desk) -> None:
    desk.advance(1_000)
    desk.push(BTC_FEED, P0, desk.now - 900)
    feed = desk.state.feeds[BTC_FEED]
    assert (feed.updated_at_s, feed.valid) == (desk.now - 900, True)
    desk.advance(HEARTBEAT - 900)  # now - updated_at = 3,600
    assert BTC_FEED in trusted_prices(desk.state, desk.house.params)
    desk.advance(1)
    assert BTC_FEED not in trusted_prices(desk.state, desk.house.params)


def test_rejection_makes_markets_reduce_only_and_health_unavailable(desk: Desk) -> None:
    desk.deposit_usdc(TRADER, 100_000)
    desk.deposit_usdc(MAKER, 100_000)
    desk.fill(TRADER, MAKER, WAD, P0)
    desk.push(BTC_FEED, 0)
    with pytest.raises(ProtocolRevert, match=r"^margin: price not trusted$"):
        desk.health(TRADER)
    with pytest.raises(ProtocolRevert, match=r"^clearing: market reduce-only$"):
        desk.fill(TRADER, MAKER, WAD, P0)
    # the next good reading restores trust
    desk.push(BTC_FEED, P0)
    assert desk.health(TRADER).equity == 100_000 * WAD


def test_move_guard_applies_only_while_trusted(desk: Desk) -> None:
    """Documented rule (module docstring): the move guard compares with the last good price only while
    the feed is trusted, so after a rejection any positive fresh reading is accepted."""
    big = 90_000 * WAD + 1
    assert rejected(desk.push(BTC_FEED, big), "oracle: move too large")
    assert desk.push(BTC_FEED, big) == [PriceAccepted(BTC_FEED, big, desk.now)]


def test_only_oracles_push_and_only_to_known_feeds(desk: Desk) -> None:
    with pytest.raises(ProtocolRevert, match=r"^oracle: caller is not an oracle$"):
        desk.apply(PushPrice(TRADER, BTC_FEED, P0, desk.now))
    with pytest.raises(ProtocolRevert, match=r"^oracle: unknown feed$"):
        desk.apply(PushPrice(ORACLE, 7, P0, desk.now))


def test_prices_are_accepted_while_paused(desk: Desk) -> None:
    desk.apply(SetPaused(GOV, True))
    assert desk.push(BTC_FEED, 61_000 * WAD) == [PriceAccepted(BTC_FEED, 61_000 * WAD, desk.now)]


def test_no_feed_is_trusted_before_its_first_reading(make_desk: DeskFactory) -> None:
    desk = make_desk(prices=False)
    assert trusted_prices(desk.state, desk.house.params) == {}
    # the first reading has no last good price to compare with: any positive fresh price is accepted
    assert desk.push(BTC_FEED, 1) == [PriceAccepted(BTC_FEED, 1, desk.now)]
    assert desk.state.markets[BTC_PERP].funding_index == 0
