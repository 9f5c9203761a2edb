# pragma version ~=0.4.3
"""
@title oracle_adapter
@notice Accepts guarded price readings and says which prices are trusted
        (mirrors protocol/oracle_adapter.py and the guards of protocol/oracle/guards.py).
@dev A reading fails, and makes its feed untrusted, if p <= 0, t > now, now - t > heartbeat,
     t <= last t, or it moves beyond the bound of its reference (the last price accepted before
     this second, accepted e seconds ago): |p - p_ref| * WAD * window > max_move * min(e, window)
     * p_ref, unless e > heartbeat. The bound holds while untrusted too. A feed is trusted iff its
     last reading was accepted and now - t_last <= heartbeat. Liquidation and deleveraging need
     trusted prices for positions only; collateral on an untrusted feed counts zero there.
"""

from . import constants as c
from . import units
from . import events
from . import state

uses: state


@internal
@view
def is_trusted(feed_id: uint256) -> bool:
    """
    @notice True if the feed holds a price that passed the guards and is within its heartbeat.
    @param feed_id Feed id.
    @return Whether the stored price may be used.
    """
    feed: state.FeedState = state.feeds[feed_id]
    return feed.valid and feed.price_wad > 0 and block.timestamp <= feed.updated_at_s + state.feed_params[feed_id].heartbeat_s


@internal
@view
def trusted_price(feed_id: uint256, reason: String[40]) -> uint256:
    """
    @notice The trusted price of a feed, or revert with `reason` ("<module>: price not trusted").
    @param feed_id Feed id.
    @param reason The module-prefixed revert reason.
    @return Price (WAD).
    """
    assert self.is_trusted(feed_id), reason
    return state.feeds[feed_id].price_wad


@internal
@view
def require_position_prices(account: address, reason: String[40]) -> uint256:
    """
    @notice Revert with `reason` unless the feed of every position of `account` is trusted.
    @param account The account.
    @param reason The module-prefixed revert reason ("<module>: price not trusted").
    @return Bit mask of the account's collateral assets (bit = asset id) whose feed is untrusted:
            liquidation and deleveraging value them at zero (margin.account_health_at).
    """
    mask: uint256 = state.position_mask[account]
    for market_id: uint256 in range(c.MAX_MARKETS):
        if mask & (1 << market_id) != 0:
            assert self.is_trusted(state.market_params[market_id].feed_id), reason
    untrusted: uint256 = 0
    for asset_id: uint256 in state.collateral_list:
        if state.collateral[account][asset_id] != 0 and not self.is_trusted(state.collateral_params[asset_id].feed_id):
            untrusted |= 1 << asset_id
    return untrusted


@internal
@view
def require_account_prices(account: address, reason: String[40]) -> bool:
    """
    @notice Revert with `reason` unless every feed `account` depends on is trusted.
    @param account The account.
    @param reason The module-prefixed revert reason ("<module>: price not trusted").
    @return True.
    """
    assert self.require_position_prices(account, reason) == 0, reason
    return True


@internal
@view
def reading_failure(feed_id: uint256, price_wad: int256, timestamp_s: uint256) -> String[48]:
    """
    @notice The first guard a reading fails, or "" if it passes.
    @param feed_id Feed id.
    @param price_wad Proposed price (WAD, signed: a feed may answer <= 0).
    @param timestamp_s Time the price was observed.
    @return The revert-style reason, or the empty string.
    """
    if price_wad <= 0:
        return "oracle: non-positive answer"
    if timestamp_s > block.timestamp:
        return "oracle: future timestamp"
    fp: state.FeedParams = state.feed_params[feed_id]
    if block.timestamp > timestamp_s + fp.heartbeat_s:
        return "oracle: stale"
    feed: state.FeedState = state.feeds[feed_id]
    if feed.price_wad != 0 and timestamp_s <= feed.updated_at_s:
        return "oracle: out of order"
    # the move reference: the last price accepted before this second
    m: state.FeedMove = state.feed_moves[feed_id]
    ref: uint256 = feed.price_wad
    ref_at: uint256 = m.accepted_at_s
    if ref_at == block.timestamp and m.ref_price_wad != 0:
        ref = m.ref_price_wad
        ref_at = m.ref_accepted_at_s
    elapsed: uint256 = block.timestamp - ref_at
    if ref != 0 and elapsed <= fp.heartbeat_s:
        move: uint256 = units.abs_u(price_wad - convert(ref, int256))
        if move * c.WAD * fp.move_window_s > fp.max_move_wad * min(elapsed, fp.move_window_s) * ref:
            return "oracle: move too large"
    return ""


@internal
def push_price(feed_id: uint256, price_wad: int256, timestamp_s: uint256) -> bool:
    """
    @notice Apply a reading: accept it (True) or mark the feed untrusted (False).
    @dev The caller accrues funding of the feed's markets first (at the old price).
    @param feed_id Feed id.
    @param price_wad Proposed price (WAD).
    @param timestamp_s Observation time.
    @return Whether the reading was accepted.
    """
    reason: String[48] = self.reading_failure(feed_id, price_wad, timestamp_s)
    if len(reason) != 0:
        state.feeds[feed_id].valid = False
        log events.PriceRejected(feed_id=feed_id, price_wad=price_wad, timestamp_s=timestamp_s, reason=reason)
        return False
    m: state.FeedMove = state.feed_moves[feed_id]
    if m.accepted_at_s < block.timestamp:
        state.feed_moves[feed_id] = state.FeedMove(accepted_at_s=block.timestamp, ref_price_wad=state.feeds[feed_id].price_wad, ref_accepted_at_s=m.accepted_at_s)
    state.feeds[feed_id] = state.FeedState(price_wad=convert(price_wad, uint256), updated_at_s=timestamp_s, valid=True)
    log events.PriceAccepted(feed_id=feed_id, price_wad=convert(price_wad, uint256), timestamp_s=timestamp_s)
    return True
