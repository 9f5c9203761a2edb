"""Perpetual funding and lazy per-position settlement of funding and socialized-loss charges.

The funding index of a market grows by ``rate * elapsed * price / WAD`` (FLOOR) whenever the
market is touched, counting only the seconds during which its price was trusted (a reading is
accrued up to the moment a newer one replaces or invalidates it, or its heartbeat runs out). Positions
settle the difference to their snapshot when their account is touched: the payer's charge is
rounded CEIL, so the funding pool never pays out more than it took in.
"""

from __future__ import annotations

import copy
import dataclasses

from protocol import options
from protocol.actions import SetFundingRate
from protocol.constants import WAD
from protocol.context import Context, require
from protocol.events import FundingAccrued, FundingRateSet, FundingSettled, LossCharged
from protocol.margin import pending_funding, pending_loss, side_loss_index
from protocol.params import Params
from protocol.state import MarketState, ProtocolState
from protocol.units import Rounding, mul_div, smul_div

__all__ = ["accrue_market", "accrued_markets", "accrued_state", "set_funding_rate", "settle_account", "settle_position"]


def accrue_market(ctx: Context, market_id: int) -> None:
    """Bring the market's funding index up to ``now`` at its last accepted price, over the part
    of the interval while that price was within its heartbeat."""
    ms = ctx.state.markets[market_id]
    start, now = ms.last_accrual_s, ctx.state.now_s
    if now <= start:
        return
    ms.last_accrual_s = now
    mp = ctx.params.market(market_id)
    feed = ctx.state.feeds[mp.feed_id]
    if ms.funding_rate_per_s_wad == 0 or not feed.valid or feed.price_wad == 0:
        return
    # Only the part of the interval during which the price was still within its heartbeat.
    elapsed = min(now, feed.updated_at_s + ctx.params.feed(mp.feed_id).heartbeat_s) - start
    if elapsed <= 0:
        return
    delta = smul_div(ms.funding_rate_per_s_wad * elapsed, feed.price_wad, WAD, Rounding.FLOOR)
    if delta:
        ms.funding_index += delta
        ctx.emit(FundingAccrued(market_id, ms.funding_index, elapsed))


def accrued_state(state: ProtocolState, params: Params, now_s: int | None = None) -> ProtocolState:
    """A copy of ``state`` with every market's funding accrued to ``now_s`` (default: its clock).

    What the protocol would see if it touched every market now: off-chain evaluators (the margin
    core, keepers, invariant checks) start from this so their pending funding matches.
    """
    ctx = Context(copy.deepcopy(state), params)
    if now_s is not None:
        ctx.state.now_s = now_s
    for market_id in ctx.state.markets:
        accrue_market(ctx, market_id)
    return ctx.state


def accrued_markets(state: ProtocolState, params: Params) -> dict[int, MarketState]:
    """Copies of every market's state with funding accrued to ``state.now_s`` (accounts untouched).

    What :func:`accrued_state` gives for the markets, at the cost of the markets alone: a
    simulation screening its book every step takes its indices from here.
    """
    ctx = Context(
        dataclasses.replace(
            state, accounts={}, markets={m: dataclasses.replace(ms) for m, ms in state.markets.items()}
        ),
        params,
    )
    for market_id in ctx.state.markets:
        accrue_market(ctx, market_id)
    return ctx.state.markets


def settle_position(ctx: Context, address: str, market_id: int) -> None:
    """Move a position's pending funding and loss charges into its account balance."""
    accrue_market(ctx, market_id)
    acct = ctx.state.accounts[address]
    pos = acct.positions[market_id]
    ms = ctx.state.markets[market_id]
    credit = pending_funding(pos, ms)
    pos.funding_snapshot = ms.funding_index
    if credit:
        acct.balance += credit
        ctx.state.funding_pool -= credit
        ctx.emit(FundingSettled(address, market_id, credit))
    loss = pending_loss(pos, ms)
    pos.loss_snapshot = side_loss_index(ms, pos.size)
    if loss:
        acct.balance += loss
        ctx.state.loss_pool -= loss
        ctx.emit(LossCharged(address, market_id, -loss))


def settle_account(ctx: Context, address: str) -> None:
    """Settle every position of ``address`` and pay out its settled options (a no-op for an
    account without positions)."""
    acct = ctx.state.account(address)
    for market_id in sorted(acct.positions):
        settle_position(ctx, address, market_id)
        options.settle_expired(ctx, address, market_id)


def set_funding_rate(ctx: Context, action: SetFundingRate) -> None:
    """Accrue at the old rate, then set the new rate clamped to ``max_funding_rate_per_s_wad``
    and to the rate-of-change limit: the rate moves at most
    ``floor(max * (now - last update) / funding_rate_ramp_s)`` from the current one (F-13)."""
    require(action.sender in ctx.state.roles.funding_operators, "funding: caller is not a funding operator")
    mp, ms = ctx.market(action.market_id, "funding")
    require(not mp.is_option, "funding: not a perpetual")
    accrue_market(ctx, action.market_id)
    pp = ctx.params.protocol
    cap = pp.max_funding_rate_per_s_wad
    step = mul_div(cap, ctx.state.now_s - ms.funding_rate_set_s, pp.funding_rate_ramp_s, Rounding.DOWN)
    old = ms.funding_rate_per_s_wad
    applied = max(old - step, min(old + step, max(-cap, min(cap, action.rate_per_s_wad))))
    ms.funding_rate_per_s_wad = applied
    ms.funding_rate_set_s = ctx.state.now_s
    ctx.emit(FundingRateSet(action.market_id, action.rate_per_s_wad, applied))
