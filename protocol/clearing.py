"""Novation of matched fills into positions against the protocol, netting and fees.

A fill between a maker and a taker becomes two trades with the protocol at the same notional
(``|size| * price / WAD``, rounded DOWN), so quote flows are exactly zero-sum. Each account
holds one net position per market with a signed cost basis; reducing realizes
``proceeds - closed cost``, the closed cost being ``open_notional * closed / |size|`` rounded
CEIL (the realized PnL is rounded against the trader).
"""

from __future__ import annotations

from protocol import insurance_fund
from protocol.actions import Fill
from protocol.constants import MAX_FEE_RATE, WAD
from protocol.context import Context, require
from protocol.events import FillSettled, PositionChanged
from protocol.funding import accrue_market, settle_account
from protocol.margin import account_health, side_loss_index
from protocol.oracle_adapter import is_trusted, require_account_prices
from protocol.params import MarketKind
from protocol.state import Position
from protocol.units import Rounding, mul_div, smul_div

__all__ = ["apply_trade", "close_value", "fill", "reduces_risk", "require_initial"]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def reduces_risk(size: int, delta: int) -> bool:
    """True if adding ``delta`` to a position of ``size`` shrinks it without flipping sides."""
    return size != 0 and _sign(delta) == -_sign(size) and abs(delta) <= abs(size)


def apply_trade(ctx: Context, address: str, market_id: int, delta: int, notional_wad: int) -> int:
    """Trade ``delta`` base units (positive = buy) for ``notional_wad`` USD with the protocol.

    The account must have been settled (no pending funding or loss). The market is accrued to
    now first, so a new position snapshots the current funding index. Returns the realized PnL
    credited to the balance. Updates open interest and emits ``PositionChanged``.
    """
    accrue_market(ctx, market_id)
    acct = ctx.state.account(address)
    ms = ctx.state.markets[market_id]
    pos = acct.positions.get(market_id) or Position()
    old = pos.size
    flow = notional_wad if delta < 0 else -notional_wad  # quote received by the account
    realized = 0
    if ctx.params.market(market_id).is_option:  # the premium is paid at the fill
        realized = flow
        pos.size += delta
    elif old == 0 or _sign(delta) == _sign(old):
        pos.size += delta
        pos.open_notional -= flow
    else:
        closed = min(abs(delta), abs(old))
        flow_closed = flow if closed == abs(delta) else smul_div(flow, closed, abs(delta), Rounding.FLOOR)
        closed_cost = smul_div(pos.open_notional, closed, abs(old), Rounding.CEIL)
        realized = flow_closed - closed_cost
        pos.open_notional -= closed_cost
        pos.size += delta
        if abs(delta) > closed:  # flipped: the rest opens a position on the other side
            pos.open_notional -= flow - flow_closed
    acct.balance += realized
    acct.realized_pnl += realized
    ms.oi_long += max(pos.size, 0) - max(old, 0)
    ms.oi_short += max(-pos.size, 0) - max(-old, 0)
    if pos.size == 0:
        acct.positions.pop(market_id, None)
        acct.last_closed = (market_id, _sign(old))
    else:
        pos.funding_snapshot = ms.funding_index
        pos.loss_snapshot = side_loss_index(ms, pos.size)
        acct.positions[market_id] = pos
    ctx.emit(PositionChanged(address, market_id, pos.size, pos.open_notional, realized))
    return realized


def close_value(q: int, price_wad: int, account_sells: bool, consumed: int) -> int:
    """Quote value of closing ``q`` at the oracle price, rounded toward the account, moved
    against the account by ``consumed`` USD (negative: in its favour).

    A selling account receives ``ceil(q * price) - consumed``; a buying account pays
    ``floor(q * price) + consumed``; never below zero.
    """
    if account_sells:
        return max(mul_div(q, price_wad, WAD, Rounding.UP) - consumed, 0)
    return max(mul_div(q, price_wad, WAD, Rounding.DOWN) + consumed, 0)


def require_initial(ctx: Context, address: str, module: str) -> None:
    """Revert ``"margin: below initial"`` unless the account's equity meets initial margin.

    Needs trusted prices for every feed the account depends on (else ``"<module>: price not
    trusted"``).
    """
    acct = ctx.state.account(address)
    prices = require_account_prices(ctx, acct, module)
    health = account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)
    require(health.meets_initial, "margin: below initial")


def fill(ctx: Context, action: Fill) -> None:
    """Novate a matched fill: both sides now face the protocol.

    Checks: matcher role, not paused, listed market, distinct sides, fee caps; a side that adds
    risk needs a trusted price, a fill price within ``max_fill_deviation_wad`` of the oracle and
    initial margin afterwards. A fill that only reduces both sides is allowed in reduce-only mode.
    """
    require(action.sender in ctx.state.roles.matchers, "clearing: caller is not a matcher")
    ctx.require_not_paused("clearing")
    mp, _ = ctx.market(action.market_id, "clearing")
    require(action.maker != action.taker, "clearing: self trade")
    require(
        action.maker_fee_wad <= MAX_FEE_RATE and action.taker_fee_wad <= MAX_FEE_RATE,
        "clearing: fee too high",
    )
    settle_account(ctx, action.maker)
    settle_account(ctx, action.taker)
    maker, taker = ctx.state.account(action.maker), ctx.state.account(action.taker)
    taker_old = taker.positions[action.market_id].size if action.market_id in taker.positions else 0
    maker_old = maker.positions[action.market_id].size if action.market_id in maker.positions else 0
    taker_adds = not reduces_risk(taker_old, action.size_wad)
    maker_adds = not reduces_risk(maker_old, -action.size_wad)
    feed, fp = ctx.state.feeds[mp.feed_id], ctx.params.feed(mp.feed_id)
    if mp.is_option:
        require(ctx.state.now_s < mp.expiry_s, "clearing: option expired")
    if taker_adds or maker_adds:
        require(is_trusted(feed, fp, ctx.state.now_s), "clearing: market reduce-only")
    if mp.is_option:
        cap = mp.strike_wad if mp.kind is MarketKind.PUT else feed.price_wad
        require(action.price_wad <= cap or not is_trusted(feed, fp, ctx.state.now_s), "clearing: premium out of bounds")
    else:  # banded by the last accepted price: the trusted one, or the last before reduce-only
        require(feed.price_wad > 0, "clearing: no price")
        band = ctx.params.protocol.max_fill_deviation_wad
        require(abs(action.price_wad - feed.price_wad) * WAD <= band * feed.price_wad, "clearing: price outside band")

    notional = mul_div(abs(action.size_wad), action.price_wad, WAD, Rounding.DOWN)
    apply_trade(ctx, action.taker, action.market_id, action.size_wad, notional)
    apply_trade(ctx, action.maker, action.market_id, -action.size_wad, notional)

    maker_fee = mul_div(notional, action.maker_fee_wad, WAD, Rounding.UP)
    taker_fee = mul_div(notional, action.taker_fee_wad, WAD, Rounding.UP)
    maker.balance -= maker_fee
    taker.balance -= taker_fee
    total = maker_fee + taker_fee
    to_fund = mul_div(total, ctx.params.protocol.insurance_fee_share_wad, WAD, Rounding.DOWN)
    ctx.state.fee_pool += total - to_fund
    insurance_fund.credit(ctx, to_fund, "fee")
    ctx.emit(
        FillSettled(
            action.maker,
            action.taker,
            action.market_id,
            action.size_wad,
            action.price_wad,
            notional,
            maker_fee,
            taker_fee,
        )
    )
    if taker_adds:
        require_initial(ctx, action.taker, "clearing")
    if maker_adds:
        require_initial(ctx, action.maker, "clearing")
