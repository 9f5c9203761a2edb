"""The protocol's oracle adapter: accepts guarded readings and says which prices are trusted.

A reading ``(p, t)`` is accepted when it is positive, not from the future, not older than the
feed's heartbeat, strictly newer than the last accepted reading, and within the move bound of
its reference (docs/SPEC.md §3): the last price accepted before the current second, whose
allowed move grows linearly over ``move_window_s`` seconds to ``max_move_wad`` and lapses once
the reference is more than a heartbeat old. The bound holds whether or not the feed is trusted,
so a rejected reading does not switch it off, and readings pushed within one second are all
measured against the same reference, so they cannot ratchet the price.

A reading that fails a guard is rejected *and* makes the feed untrusted until the next accepted
reading, so markets on that feed become reduce-only and nothing is liquidated at that price. A
trusted price also goes untrusted by itself once it is older than the heartbeat.

Liquidation and deleveraging need trusted prices for the account's positions only; collateral
whose feed is untrusted counts zero there (:func:`liquidation_prices`), so a stale collateral
feed cannot shield a bankrupt account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from protocol.actions import PushPrice
from protocol.constants import WAD
from protocol.context import Context, require
from protocol.errors import InvalidParameter
from protocol.events import PriceAccepted, PriceRejected
from protocol.margin import account_feeds
from protocol.oracle import guards
from protocol.params import FeedParams, Params
from protocol.state import Account, FeedState, ProtocolState

__all__ = [
    "REASON_OUT_OF_ORDER",
    "earliest_acceptance",
    "is_trusted",
    "is_within_move_bound",
    "liquidation_prices",
    "move_reference",
    "push_price",
    "reading_failure",
    "require_account_prices",
    "trusted_price",
    "trusted_prices",
    "untrusted_collateral_at_zero",
]

REASON_OUT_OF_ORDER: Final = "oracle: out of order"


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


def untrusted_collateral_at_zero(acct: Account, params: Params, prices: Mapping[int, int]) -> dict[int, int]:
    """``prices`` plus a zero price for every feed of ``acct``'s collateral missing from them: the
    valuation of liquidation and deleveraging, where untrusted collateral counts nothing."""
    zero = {params.collateral(a).feed_id: 0 for a, v in acct.collateral.items() if v}
    return {**zero, **prices}


def liquidation_prices(ctx: Context, acct: Account, module: str) -> dict[int, int]:
    """Prices at which liquidation and deleveraging value ``acct`` (F-09): the trusted price of
    every feed its positions need, or revert ``"<module>: price not trusted"``; collateral on an
    untrusted feed at zero (conservative for the protocol: it can only lower equity)."""
    needed = sorted({ctx.params.market(m).feed_id for m in acct.positions})
    prices = {f: trusted_price(ctx, f, module) for f in needed}
    return untrusted_collateral_at_zero(acct, ctx.params, {**trusted_prices(ctx.state, ctx.params), **prices})


def move_reference(feed: FeedState, now_s: int) -> tuple[int, int]:
    """``(price_wad, accepted_at_s)`` the move guard measures a reading at ``now_s`` against: the
    last price accepted before this second (price 0: no reference yet). While the feed's first
    price is the only one, accepted this very second, it is its own reference with no time
    elapsed, so nothing else is accepted before the next second."""
    if feed.accepted_at_s < now_s or feed.ref_price_wad == 0:
        return feed.price_wad, feed.accepted_at_s
    return feed.ref_price_wad, feed.ref_accepted_at_s


def is_within_move_bound(price_wad: int, ref_price_wad: int, elapsed_s: int, fp: FeedParams) -> bool:
    """The move bound per unit of time, exactly (no rounding):
    ``|p - p_ref| * WAD * move_window_s <= max_move * min(elapsed, move_window_s) * p_ref``.

    ``elapsed_s`` is the time since the reference was accepted; without a reference
    (``ref_price_wad == 0``) or with one older than the heartbeat nothing is bounded.
    """
    if ref_price_wad == 0 or elapsed_s > fp.heartbeat_s:
        return True
    window = fp.move_window_s
    allowed = fp.max_move_wad * min(elapsed_s, window) * ref_price_wad
    return abs(price_wad - ref_price_wad) * WAD * window <= allowed


def earliest_acceptance(feed: FeedState, fp: FeedParams, price_wad: int, now_s: int) -> int | None:
    """The earliest time ``t >= now_s`` at which a positive reading of ``price_wad`` stamped ``t``
    passes the order and move guards (nothing else pushed meanwhile), or None when its move
    exceeds ``max_move_wad`` (only a reference older than the heartbeat would let it in).

    What a pusher (a keeper, the simulator, a test desk) waits before sending a price.
    """
    if price_wad <= 0:
        raise InvalidParameter(f"price_wad must be positive, got {price_wad}")
    if not feed.price_wad:
        return now_s
    start = max(now_s, feed.updated_at_s + 1)
    ref_price, ref_at = move_reference(feed, start)
    if is_within_move_bound(price_wad, ref_price, start - ref_at, fp):
        return start
    # from the next second on, the reference is the last accepted price
    moved = abs(price_wad - feed.price_wad) * WAD * fp.move_window_s
    per_s = fp.max_move_wad * feed.price_wad
    if moved > per_s * fp.move_window_s:
        return None
    return max(start, feed.accepted_at_s + 1, feed.accepted_at_s - (-moved // per_s))


def reading_failure(feed: FeedState, fp: FeedParams, price_wad: int, timestamp_s: int, now_s: int) -> str:
    """The first guard a reading fails, as a revert-style reason, or ``""`` if it passes.

    The guards are those of :mod:`protocol.oracle.guards`, shared with the feed adapters, then
    the order and the move bound against :func:`move_reference` (kept while untrusted).
    """
    if not guards.is_answer_positive(price_wad):
        return guards.REASON_NON_POSITIVE
    if not guards.is_not_future(timestamp_s, now_s):
        return guards.REASON_FUTURE
    if not guards.is_fresh(timestamp_s, now_s, fp.heartbeat_s):
        return guards.REASON_STALE
    if feed.price_wad and timestamp_s <= feed.updated_at_s:
        return REASON_OUT_OF_ORDER
    ref_price, ref_at = move_reference(feed, now_s)
    if not is_within_move_bound(price_wad, ref_price, now_s - ref_at, fp):
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
    now = ctx.state.now_s
    if feed.accepted_at_s < now:
        feed.ref_price_wad, feed.ref_accepted_at_s = feed.price_wad, feed.accepted_at_s
    feed.price_wad = action.price_wad
    feed.updated_at_s = action.timestamp_s
    feed.valid = True
    feed.accepted_at_s = now
    ctx.emit(PriceAccepted(action.feed_id, action.price_wad, action.timestamp_s))
    return True
