"""The protocol's oracle adapter: accepts guarded readings and says which prices are trusted.

A reading is accepted when it is positive, not from the future, not older than the feed's
heartbeat, and (while the feed is trusted) within ``max_move_wad`` of the last good price. A
reading that fails a guard is rejected *and* makes the feed untrusted until the next accepted
reading, so markets on that feed become reduce-only and nothing is liquidated at that price.
A trusted price also goes untrusted by itself once it is older than the heartbeat.
"""

from __future__ import annotations

from protocol.actions import PushPrice
from protocol.context import Context, require
from protocol.events import PriceAccepted, PriceRejected
from protocol.margin import account_feeds
from protocol.oracle import guards
from protocol.params import FeedParams, Params
from protocol.state import Account, FeedState, ProtocolState

__all__ = [
    "is_trusted",
    "push_price",
    "reading_failure",
    "require_account_prices",
    "trusted_price",
    "trusted_prices",
]


def is_trusted(feed: FeedState, fp: FeedParams, now_s: int) -> bool:
    """True if the feed holds a price that passed the guards and is within its heartbeat."""
    return feed.valid and feed.price_wad > 0 and now_s - feed.updated_at_s <= fp.heartbeat_s


def trusted_prices(state: ProtocolState, params: Params) -> dict[int, int]:
    """Every currently trusted price, feed_id -> price_wad."""
    return {
        f.feed_id: state.feeds[f.feed_id].price_wad
        for f in params.feeds
        if is_trusted(state.feeds[f.feed_id], f, state.now_s)
    }


def trusted_price(ctx: Context, feed_id: int, module: str) -> int:
    """The trusted price of ``feed_id`` or revert ``"<module>: price not trusted"``."""
    fp = ctx.params.feed(feed_id)
    feed = ctx.state.feeds[feed_id]
    require(is_trusted(feed, fp, ctx.state.now_s), f"{module}: price not trusted")
    return feed.price_wad


def require_account_prices(ctx: Context, acct: Account, module: str) -> dict[int, int]:
    """Trusted prices of every feed ``acct`` depends on, or revert ``"<module>: price not trusted"``."""
    return {f: trusted_price(ctx, f, module) for f in sorted(account_feeds(acct, ctx.params))}


def reading_failure(feed: FeedState, fp: FeedParams, price_wad: int, timestamp_s: int, now_s: int) -> str:
    """The first guard a reading fails, as a revert-style reason, or ``""`` if it passes.

    The guards are those of :mod:`protocol.oracle.guards`, shared with the feed adapters.
    """
    if not guards.is_answer_positive(price_wad):
        return guards.REASON_NON_POSITIVE
    if not guards.is_not_future(timestamp_s, now_s):
        return guards.REASON_FUTURE
    if not guards.is_fresh(timestamp_s, now_s, fp.heartbeat_s):
        return guards.REASON_STALE
    if timestamp_s < feed.updated_at_s:
        return "oracle: out of order"
    if is_trusted(feed, fp, now_s) and not guards.is_within_relative(price_wad, feed.price_wad, fp.max_move_wad):
        return guards.REASON_MOVE
    return ""


def push_price(ctx: Context, action: PushPrice) -> bool:
    """Apply an oracle reading: accept it (True) or mark the feed untrusted (False).

    The caller (the clearing house) accrues funding of the feed's markets first, so the elapsed
    interval is charged at the old price.
    """
    fp = ctx.params.feed(action.feed_id)
    feed = ctx.state.feeds[action.feed_id]
    reason = reading_failure(feed, fp, action.price_wad, action.timestamp_s, ctx.state.now_s)
    if reason:
        feed.valid = False
        ctx.emit(PriceRejected(action.feed_id, action.price_wad, action.timestamp_s, reason))
        return False
    feed.price_wad = action.price_wad
    feed.updated_at_s = action.timestamp_s
    feed.valid = True
    ctx.emit(PriceAccepted(action.feed_id, action.price_wad, action.timestamp_s))
    return True
