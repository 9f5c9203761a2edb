"""Novation of matched fills into positions against the protocol, netting and fees.

A fill between a maker and a taker becomes two trades with the protocol at the same notional
(``|size| * price / WAD``, rounded DOWN), so quote flows are exactly zero-sum. Each account
holds one net position per market with a signed cost basis; reducing realizes
``proceeds - closed cost``, the closed cost being ``open_notional * closed / |size|`` rounded
CEIL (the realized PnL is rounded against the trader).

Consent (F-07): each side of a fill is one of its account's signed orders
(:mod:`protocol.orders`); the fill must respect the order's side, limit price, largest fee rate,
expiry and remaining size, and counts against it.

Solvency (F-01): a side that adds risk must meet initial margin afterwards. A side that only
reduces must meet initial margin afterwards or else leave its margin ratio no worse (dYdX v4's
rule for undercollateralized accounts), at the last accepted prices, fees included:
``MM' <= MM`` and ``E' * MM >= E * MM'`` (``E' >= E`` when the fill closes everything). An
account can then never be filled beyond its bankruptcy price, nor hand its loss to the
insurance fund through a fill.
"""

from __future__ import annotations

from protocol import insurance_fund
from protocol.actions import CancelOrder, Fill, SignedOrder
from protocol.constants import MAX_FEE_RATE, UINT256_MAX, WAD
from protocol.context import Context, require
from protocol.events import FillSettled, OrderCancelled, OrderFilled, PositionChanged
from protocol.funding import accrue_market, settle_account
from protocol.margin import Health, account_feeds, account_health, side_loss_index
from protocol.oracle_adapter import is_trusted, require_account_prices
from protocol.orders import order_digest, order_signer, signed_digest
from protocol.params import MarketKind
from protocol.state import Account, MarketState, Position
from protocol.units import Rounding, mul_div, smul_div

__all__ = [
    "CANCELLED",
    "apply_trade",
    "cancel_order",
    "close_value",
    "fill",
    "record_trade",
    "reduces_risk",
    "reference_health",
    "require_initial",
    "take_order",
    "traded_position",
]

#: Filled size recorded for a cancelled order: nothing more of it can fill.
CANCELLED = UINT256_MAX
_ZERO_ADDRESS = "0x" + "00" * 20


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def reduces_risk(size: int, delta: int) -> bool:
    """True if adding ``delta`` to a position of ``size`` shrinks it without flipping sides."""
    return size != 0 and _sign(delta) == -_sign(size) and abs(delta) <= abs(size)


def traded_position(size: int, open_notional: int, delta: int, notional_wad: int) -> tuple[int, int, int]:
    """A perpetual position of ``size`` (base units, WAD) with cost basis ``open_notional`` (USD
    WAD) after trading ``delta`` for ``notional_wad``: ``(size, open_notional, realized PnL)``.

    Adding keeps the whole flow as cost; reducing realizes the closed part's proceeds (FLOOR)
    minus its cost (CEIL), against the account; a flip opens the rest at its share of the flow.
    """
    flow = notional_wad if delta < 0 else -notional_wad  # quote received by the account
    if size == 0 or _sign(delta) == _sign(size):
        return size + delta, open_notional - flow, 0
    closed = min(abs(delta), abs(size))
    flow_closed = flow if closed == abs(delta) else smul_div(flow, closed, abs(delta), Rounding.FLOOR)
    closed_cost = smul_div(open_notional, closed, abs(size), Rounding.CEIL)
    open_notional -= closed_cost
    if abs(delta) > closed:  # flipped: the rest opens a position on the other side
        open_notional -= flow - flow_closed
    return size + delta, open_notional, flow_closed - closed_cost


def apply_trade(ctx: Context, address: str, market_id: int, delta: int, notional_wad: int) -> int:
    """Trade ``delta`` base units (positive = buy) for ``notional_wad`` USD with the protocol.

    The account must have been settled (no pending funding or loss). The market is accrued to
    now first, so a new position snapshots the current funding index. Returns the realized PnL
    credited to the balance. Updates open interest and emits ``PositionChanged``.
    """
    accrue_market(ctx, market_id)
    acct = ctx.state.account(address)
    pos = acct.positions.get(market_id) or Position()
    if ctx.params.market(market_id).is_option:  # the premium is paid at the fill
        size, open_notional = pos.size + delta, pos.open_notional
        realized = notional_wad if delta < 0 else -notional_wad
    else:
        size, open_notional, realized = traded_position(pos.size, pos.open_notional, delta, notional_wad)
    record_trade(acct, ctx.state.markets[market_id], market_id, pos.size, size, open_notional, realized)
    ctx.emit(PositionChanged(address, market_id, size, open_notional, realized))
    return realized


def record_trade(
    acct: Account, ms: MarketState, market_id: int, old_size: int, size: int, open_notional: int, realized: int
) -> None:
    """Write a trade's outcome to a settled account and its market: the realized PnL (USD WAD) to
    the balance, the position's size and cost basis (a new record, snapshots at the market's
    current indices; none once flat) and the open interest's change from ``old_size``."""
    acct.balance += realized
    acct.realized_pnl += realized
    ms.oi_long += max(size, 0) - max(old_size, 0)
    ms.oi_short += max(-size, 0) - max(-old_size, 0)
    if size == 0:
        acct.positions.pop(market_id, None)
    else:
        acct.positions[market_id] = Position(size, open_notional, ms.funding_index, side_loss_index(ms, size))


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


def reference_health(ctx: Context, address: str) -> Health:
    """Health of ``address`` at the last accepted price of every feed it depends on, trusted or
    not: the prices a fill is banded by, so a fill in reduce-only mode is judged too."""
    acct = ctx.state.account(address)
    prices = {f: ctx.state.feeds[f].price_wad for f in account_feeds(acct, ctx.params)}
    return account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)


def _keeps_solvency(before: Health, after: Health) -> bool:
    """The rule for a side that only reduces: initial margin afterwards, or a margin ratio no
    worse (requirement not raised, ``E' / MM' >= E / MM``; ``E' >= E`` once nothing is left)."""
    if after.meets_initial:
        return True
    if after.maintenance > before.maintenance:
        return False
    if after.maintenance == 0:
        return after.equity >= before.equity
    return after.equity * before.maintenance >= before.equity * after.maintenance


def take_order(ctx: Context, signed: SignedOrder, delta: int, price_wad: int, fee_wad: int) -> None:
    """Check that ``signed`` consents to trading ``delta`` (> 0 buys) at ``price_wad`` with fee
    rate ``fee_wad``, and count ``|delta|`` against it (emits ``OrderFilled``).

    Reverts, in this order: a high-``s`` or unrecoverable signature (snekmate's ``"ecdsa: ..."``
    reasons), a signer other than the order's account, an expired or cancelled order, the wrong
    side, a price beyond the limit, a fee above the order's largest, more than the order's
    remaining size.
    """
    order = signed.order
    signer = order_signer(signed, ctx.state.order_domain)
    require(signer != "", "ecdsa: invalid signature `s` value")
    require(signer != _ZERO_ADDRESS, "ecdsa: invalid signature")
    require(signer == order.account, "clearing: order not signed by its account")
    require(ctx.state.now_s <= order.expiry_s, "clearing: order expired")
    digest = signed_digest(signed, ctx.state.order_domain)
    filled = ctx.state.order_filled.get(digest, 0)
    require(filled != CANCELLED, "clearing: order cancelled")
    require((order.size_wad > 0) == (delta > 0), "clearing: order side")
    within = price_wad <= order.limit_price_wad if delta > 0 else price_wad >= order.limit_price_wad
    require(within, "clearing: price beyond order limit")
    require(fee_wad <= order.max_fee_wad, "clearing: fee above order maximum")
    filled += abs(delta)
    require(filled <= abs(order.size_wad), "clearing: order overfilled")
    ctx.state.order_filled[digest] = filled
    ctx.emit(OrderFilled(digest, order.account, filled))


def cancel_order(ctx: Context, action: CancelOrder) -> None:
    """The order's account cancels the rest of it (works while paused)."""
    require(action.sender == action.order.account, "clearing: caller is not the order's account")
    digest = order_digest(action.order, ctx.state.order_domain)
    ctx.state.order_filled[digest] = CANCELLED
    ctx.emit(OrderCancelled(digest, action.order.account))


def fill(ctx: Context, action: Fill) -> None:
    """Novate a matched fill of two signed orders: both sides now face the protocol.

    Checks: matcher role, not paused, listed market (both orders'), distinct sides, fee caps,
    each side's signed order (:func:`take_order`); a side that adds risk needs a trusted price, a
    fill price within ``max_fill_deviation_wad`` of the last accepted price and initial margin
    afterwards; a side that only reduces keeps solvency (:func:`_keeps_solvency`). A fill that
    only reduces both sides is allowed in reduce-only mode.
    """
    require(action.sender in ctx.state.roles.matchers, "clearing: caller is not a matcher")
    ctx.require_not_paused("clearing")
    mp, _ = ctx.market(action.market_id, "clearing")
    require(action.maker_order.order.market_id == action.market_id, "clearing: orders of different markets")
    require(action.maker != action.taker, "clearing: self trade")
    require(
        action.maker_fee_wad <= MAX_FEE_RATE and action.taker_fee_wad <= MAX_FEE_RATE,
        "clearing: fee too high",
    )
    take_order(ctx, action.maker_order, -action.size_wad, action.price_wad, action.maker_fee_wad)
    take_order(ctx, action.taker_order, action.size_wad, action.price_wad, action.taker_fee_wad)
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

    taker_before = None if taker_adds else reference_health(ctx, action.taker)
    maker_before = None if maker_adds else reference_health(ctx, action.maker)
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
    for address, before in ((action.taker, taker_before), (action.maker, maker_before)):
        if before is None:
            require_initial(ctx, address, "clearing")
        else:
            require(_keeps_solvency(before, reference_health(ctx, address)), "clearing: fill worsens margin ratio")
