"""oracle_adapter: every guard, the untrusted state a rejection leaves, the staleness boundary,
strictly increasing timestamps and the move bound per unit of time (docs/SPEC.md §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from protocol.actions import Deposit, PushPrice, SetPaused
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import Event, PriceAccepted, PriceRejected
from protocol.oracle_adapter import (
    earliest_acceptance,
    is_trusted,
    is_within_move_bound,
    move_reference,
    reading_failure,
    trusted_prices,
)
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, ETH_FEED, WETH, default_params
from protocol.state import FeedState

if TYPE_CHECKING:
    from conftest import Desk, DeskFactory

TRADER, MAKER, GOV, ORACLE = ACTORS["trader_leveraged"], ACTORS["market_maker"], ACTORS["governance"], ACTORS["oracle"]
HEARTBEAT = 3_600
WINDOW = 60  # default_params: max_move 50 % reached after 60 s
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
    desk.advance(WINDOW)  # the whole max_move is allowed
    ts = desk.now + ts_offset
    events = desk.push(BTC_FEED, price, ts)
    assert events == [PriceRejected(BTC_FEED, price, ts, reason)]
    feed = desk.state.feeds[BTC_FEED]
    assert (feed.price_wad, feed.updated_at_s, feed.valid) == (P0, desk.now - WINDOW, False)  # last good price kept
    assert BTC_FEED not in trusted_prices(desk.state, desk.house.params)
    assert ETH_FEED in trusted_prices(desk.state, desk.house.params)  # other feeds unaffected


def test_timestamps_must_strictly_increase(desk: Desk) -> None:
    desk.advance(100)
    desk.push(BTC_FEED, P0, desk.now)
    assert rejected(desk.push(BTC_FEED, P0, desk.now - 1), "oracle: out of order")
    assert desk.state.feeds[BTC_FEED].valid is False
    # the same timestamp again is out of order too, even with the same price (F-03)
    assert rejected(desk.push(BTC_FEED, P0, desk.now), "oracle: out of order")
    desk.advance(1)
    assert desk.push(BTC_FEED, P0, desk.now) == [PriceAccepted(BTC_FEED, P0, desk.now)]


@pytest.mark.parametrize("price", [90_000 * WAD, 30_000 * WAD])
def test_a_move_of_exactly_max_move_is_accepted(desk: Desk, price: int) -> None:
    assert desk.push(BTC_FEED, price) == [PriceAccepted(BTC_FEED, price, desk.now)]
    assert desk.state.feeds[BTC_FEED].price_wad == price


def test_guard_order_is_documented_order() -> None:
    fp = default_params().feed(BTC_FEED)
    feed = FeedState(price_wad=P0, updated_at_s=1_000, valid=True, accepted_at_s=1_000)
    # a reading failing everything reports the first guard
    assert reading_failure(feed, fp, 0, 10**9, 5_000) == "oracle: non-positive answer"
    assert reading_failure(feed, fp, P0, 5_001, 5_000) == "oracle: future timestamp"
    assert reading_failure(feed, fp, 10 * P0, 999, 5_000) == "oracle: stale"  # stale before out of order
    assert reading_failure(feed, fp, 10 * P0, 1_999, 2_000) == "oracle: move too large"
    assert reading_failure(feed, fp, 10 * P0, 1_000, 2_000) == "oracle: out of order"
    assert reading_failure(feed, fp, P0, 1_001, 2_000) == ""


@pytest.mark.parametrize("elapsed", [1, 7, WINDOW - 1, WINDOW, HEARTBEAT])
def test_the_allowed_move_grows_linearly_over_the_window_exactly(desk: Desk, elapsed: int) -> None:
    """max_move * min(elapsed, window) / window of the reference, inclusive; one wei more fails."""
    desk.advance(elapsed)
    allowed = P0 // 2 * min(elapsed, WINDOW) // WINDOW  # exact here: 30,000e18 * k / 60
    assert allowed * WINDOW == P0 // 2 * min(elapsed, WINDOW)
    t = desk.now
    assert rejected(desk.push(BTC_FEED, P0 + allowed + 1, t), "oracle: move too large")
    assert rejected(desk.push(BTC_FEED, P0 - allowed - 1, t), "oracle: move too large")
    assert desk.push(BTC_FEED, P0 - allowed, t) == [PriceAccepted(BTC_FEED, P0 - allowed, t)]


def test_a_reference_older_than_the_heartbeat_bounds_nothing(desk: Desk) -> None:
    """After an outage longer than the heartbeat a real move above max_move is accepted (no trap)."""
    desk.advance(HEARTBEAT)
    assert rejected(desk.push(BTC_FEED, 3 * P0, desk.now), "oracle: move too large")
    desk.advance(1)
    assert desk.push(BTC_FEED, 3 * P0, desk.now) == [PriceAccepted(BTC_FEED, 3 * P0, desk.now)]


def test_readings_of_one_second_share_the_reference_before_it(desk: Desk) -> None:
    """The pushes of one second are measured against the price accepted before that second, so
    they cannot ratchet: +50 % is the most any sequence of them reaches (F-03)."""
    desk.advance(WINDOW)
    t = desk.now
    up = P0 * 3 // 2
    assert desk.push(BTC_FEED, up, t - 2) == [PriceAccepted(BTC_FEED, up, t - 2)]
    assert move_reference(desk.state.feeds[BTC_FEED], t) == (P0, t - WINDOW)
    assert rejected(desk.push(BTC_FEED, up * 3 // 2, t - 1), "oracle: move too large")
    assert desk.push(BTC_FEED, P0 + 1, t) == [PriceAccepted(BTC_FEED, P0 + 1, t)]  # still vs 60,000
    desk.advance(1)
    assert move_reference(desk.state.feeds[BTC_FEED], desk.now) == (P0 + 1, t)


def test_the_first_price_of_a_second_is_its_own_reference(make_desk: DeskFactory) -> None:
    desk = make_desk(prices=False)
    t = desk.now
    assert desk.push(BTC_FEED, P0, t - 1) == [PriceAccepted(BTC_FEED, P0, t - 1)]
    assert rejected(desk.push(BTC_FEED, P0 + 1, t), "oracle: move too large")  # no time has passed
    assert desk.push(BTC_FEED, P0, t) == [PriceAccepted(BTC_FEED, P0, t)]


def test_move_bound_without_reference_or_elapsed_time() -> None:
    fp = default_params().feed(BTC_FEED)
    assert is_within_move_bound(10**40, 0, 0, fp)  # no reference yet
    assert is_within_move_bound(P0, P0, 0, fp)
    assert not is_within_move_bound(P0 + 1, P0, 0, fp)
    assert is_within_move_bound(10 * P0, P0, HEARTBEAT + 1, fp)


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
    desk.advance(HEARTBEAT + 1)
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


def test_move_guard_is_kept_after_a_rejected_reading(desk: Desk) -> None:
    """One invalid reading does not switch the move guard off (F-03): the reference stays the last
    accepted price until a reading within its bound is accepted."""
    desk.advance(WINDOW)
    big = 90_000 * WAD + 1
    assert rejected(desk.push(BTC_FEED, 0, desk.now), "oracle: non-positive answer")
    assert rejected(desk.push(BTC_FEED, big, desk.now), "oracle: move too large")
    desk.advance(1)
    assert rejected(desk.push(BTC_FEED, big, desk.now), "oracle: move too large")
    assert desk.push(BTC_FEED, 90_000 * WAD, desk.now) == [PriceAccepted(BTC_FEED, 90_000 * WAD, desk.now)]


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


def test_earliest_acceptance_waits_for_order_and_move_bound(desk: Desk) -> None:
    fp = desk.house.params.feed(BTC_FEED)
    feed = desk.state.feeds[BTC_FEED]  # 60,000 accepted and stamped at T0 = now
    now = desk.now
    assert earliest_acceptance(feed, fp, P0, now) == now + 1  # the next second: newer timestamp
    assert earliest_acceptance(feed, fp, P0 + P0 // 120, now) == now + 1  # 50 % / 60 per second
    assert earliest_acceptance(feed, fp, P0 + P0 // 120 + 1, now) == now + 2
    assert earliest_acceptance(feed, fp, P0 * 3 // 2, now) == now + WINDOW
    assert earliest_acceptance(feed, fp, P0 * 3 // 2 + 1, now) is None  # beyond max_move
    desk.advance(30)
    assert earliest_acceptance(feed, fp, P0 // 2, desk.now) == desk.now + WINDOW - 30


def test_liquidation_values_untrusted_collateral_at_zero(desk: Desk) -> None:
    """F-09: positions need their trusted price, collateral on an untrusted feed counts zero."""
    desk.deposit_usdc(TRADER, 10_000)
    desk.deposit_usdc(MAKER, 100_000)
    desk.apply(Deposit(TRADER, WETH, 2 * WAD))
    desk.fill(TRADER, MAKER, WAD // 10, P0)
    assert desk.house.liquidation_health(TRADER) == desk.health(TRADER)  # everything trusted
    desk.push(ETH_FEED, 0)  # ETH untrusted
    with pytest.raises(ProtocolRevert, match=r"^margin: price not trusted$"):
        desk.health(TRADER)
    h = desk.house.liquidation_health(TRADER)
    assert h.equity == 10_000 * WAD  # the 2 WETH count nothing
    assert h.maintenance == 300 * WAD
    desk.push(BTC_FEED, 0)
    with pytest.raises(ProtocolRevert, match=r"^liquidation: price not trusted$"):
        desk.house.liquidation_health(TRADER)
