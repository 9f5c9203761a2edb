# pragma version ~=0.4.3
"""
@title funding
@notice Perpetual funding and lazy per-position settlement of funding and socialized-loss
        charges (mirrors protocol/funding.py).
@dev F += floor(rate * elapsed * p / WAD) when touched, elapsed counting only the seconds the
     last accepted price was within its heartbeat. Settling moves
     pending funding and loss into the balance through the funding and loss pools.
"""

from . import constants as c
from . import units
from . import events
from . import state
from . import margin

uses: state


@internal
def accrue_market(market_id: uint256):
    """
    @notice Bring a market's funding index up to now at its last accepted price, counting only
            the seconds during which that price was within its heartbeat.
    @param market_id Market id.
    """
    start: uint256 = state.markets[market_id].last_accrual_s
    if block.timestamp <= start:
        return
    state.markets[market_id].last_accrual_s = block.timestamp
    rate: int256 = state.markets[market_id].funding_rate_per_s_wad
    feed_id: uint256 = state.market_params[market_id].feed_id
    feed: state.FeedState = state.feeds[feed_id]
    if rate == 0 or not feed.valid or feed.price_wad == 0:
        return
    end: uint256 = min(block.timestamp, feed.updated_at_s + state.feed_params[feed_id].heartbeat_s)
    if end <= start:
        return
    elapsed: uint256 = end - start
    delta: int256 = units.smul_div(rate * units.to_int(elapsed), units.to_int(feed.price_wad), c.WAD, units.FLOOR)
    if delta != 0:
        index: int256 = state.markets[market_id].funding_index + delta
        state.markets[market_id].funding_index = index
        log events.FundingAccrued(market_id=market_id, funding_index=index, elapsed_s=elapsed)


@internal
def settle_position(account: address, market_id: uint256):
    """
    @notice Move a position's pending funding and loss into its account balance.
    @param account The account.
    @param market_id Market id of an open position.
    """
    self.accrue_market(market_id)
    pos: state.Position = state.positions[account][market_id]
    ms: state.MarketState = state.markets[market_id]
    credit: int256 = margin.pending_funding(pos, ms)
    state.positions[account][market_id].funding_snapshot = ms.funding_index
    if credit != 0:
        state.balances[account] += credit
        state.funding_pool -= credit
        log events.FundingSettled(account=account, market_id=market_id, amount_wad=credit)
    loss: int256 = margin.pending_loss(pos, ms)
    state.positions[account][market_id].loss_snapshot = margin.side_loss_index(ms, pos.size)
    if loss != 0:
        state.balances[account] += loss
        state.loss_pool -= loss
        log events.LossCharged(account=account, market_id=market_id, amount_wad=-loss)


@internal
def settle_account(account: address):
    """
    @notice Settle every position of `account`, in market-id order.
    @param account The account.
    """
    mask: uint256 = state.position_mask[account]
    for market_id: uint256 in range(c.MAX_MARKETS):
        if mask & (1 << market_id) != 0:
            self.settle_position(account, market_id)


@internal
def set_funding_rate(sender: address, market_id: uint256, rate_per_s_wad: int256):
    """
    @notice Accrue at the old rate, then set the new rate clamped to +-max_funding_rate_per_s
            and to the rate-of-change limit: it moves at most
            floor(max * (now - last update) / funding_rate_ramp_s) from the current rate.
    @param sender Caller (must be a funding operator).
    @param market_id Market id.
    @param rate_per_s_wad Requested signed rate (WAD fraction of the price per second).
    """
    assert state.funding_operators[sender], "funding: caller is not a funding operator"
    assert state.market_params[market_id].listed, "funding: unknown market"
    self.accrue_market(market_id)
    max_rate: uint256 = state.protocol_params.max_funding_rate_per_s_wad
    elapsed: uint256 = block.timestamp - state.markets[market_id].funding_rate_set_s
    cap: int256 = units.to_int(max_rate)
    step: int256 = units.to_int(units.mul_div(max_rate, elapsed, state.protocol_params.funding_rate_ramp_s, units.DOWN))
    old: int256 = state.markets[market_id].funding_rate_per_s_wad
    applied: int256 = max(old - step, min(old + step, max(-cap, min(cap, rate_per_s_wad))))
    state.markets[market_id].funding_rate_per_s_wad = applied
    state.markets[market_id].funding_rate_set_s = block.timestamp
    log events.FundingRateSet(market_id=market_id, requested_per_s_wad=rate_per_s_wad, applied_per_s_wad=applied)
