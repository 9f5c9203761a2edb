# pragma version ~=0.4.3
"""
@title clearing
@notice Novation of matched fills into positions against the protocol, netting and fees
        (mirrors protocol/clearing.py).
@dev A fill is two trades with the protocol at n = floor(|size| p); increasing: s += d, O -= f;
     reducing by c: realized = f_c - ceil(O c / |s|) with f_c = f or floor(f c / |d|).
     The trading engine runs a fill as `check_fill`, orders.take_order for each side, `novate`.
"""

from . import constants as c
from . import units
from . import events
from . import state
from . import margin
from . import oracle_adapter
from . import insurance_fund
from . import funding

uses: state
uses: margin
uses: oracle_adapter
uses: insurance_fund
uses: funding


@internal
@pure
def reduces_risk(size: int256, delta: int256) -> bool:
    """
    @notice True if adding `delta` to a position of `size` shrinks it without flipping sides.
    @param size Current signed size.
    @param delta Signed trade.
    @return Whether the trade only reduces.
    """
    return size != 0 and units.sign(delta) == -units.sign(size) and units.abs_u(delta) <= units.abs_u(size)


@internal
def apply_trade(account: address, market_id: uint256, delta: int256, notional_wad: uint256) -> int256:
    """
    @notice Trade `delta` base units (positive = buy) for `notional_wad` USD with the protocol.
    @dev The account must be settled. Updates open interest and emits PositionChanged.
    @param account The account.
    @param market_id Market id.
    @param delta Signed size traded.
    @param notional_wad Quote amount (WAD).
    @return The realized PnL credited to the balance.
    """
    funding.accrue_market(market_id)  # a new position snapshots the current funding index
    pos: state.Position = state.positions[account][market_id]
    old: int256 = pos.size
    n: int256 = units.to_int(notional_wad)
    flow: int256 = -n  # quote received by the account
    if delta < 0:
        flow = n
    realized: int256 = 0
    if old == 0 or units.sign(delta) == units.sign(old):
        pos.size += delta
        pos.open_notional -= flow
    else:
        abs_delta: uint256 = units.abs_u(delta)
        closed: uint256 = min(abs_delta, units.abs_u(old))
        flow_closed: int256 = flow
        if closed != abs_delta:
            flow_closed = units.smul_div(flow, units.to_int(closed), abs_delta, units.FLOOR)
        closed_cost: int256 = units.smul_div(pos.open_notional, units.to_int(closed), units.abs_u(old), units.CEIL)
        realized = flow_closed - closed_cost
        pos.open_notional -= closed_cost
        pos.size += delta
        if abs_delta > closed:  # flipped: the rest opens on the other side
            pos.open_notional -= flow - flow_closed
    if realized != 0:
        state.balances[account] += realized
        state.realized_pnl[account] += realized
    ms: state.MarketState = state.markets[market_id]
    ms.oi_long = units.abs_u(units.to_int(ms.oi_long) + max(pos.size, 0) - max(old, 0))
    ms.oi_short = units.abs_u(units.to_int(ms.oi_short) + max(-pos.size, 0) - max(-old, 0))
    state.markets[market_id].oi_long = ms.oi_long
    state.markets[market_id].oi_short = ms.oi_short
    bit: uint256 = 1 << market_id
    if pos.size == 0:
        state.positions[account][market_id] = empty(state.Position)
        state.position_mask[account] &= ~bit
    else:
        pos.funding_snapshot = ms.funding_index
        pos.loss_snapshot = margin.side_loss_index(ms, pos.size)
        state.positions[account][market_id] = pos
        state.position_mask[account] |= bit
    log events.PositionChanged(
        account=account,
        market_id=market_id,
        size_wad=pos.size,
        open_notional_wad=pos.open_notional,
        realized_pnl_wad=realized,
    )
    return realized


@internal
@pure
def close_value(q: uint256, price_wad: uint256, account_sells: bool, consumed: int256) -> uint256:
    """
    @notice Quote value of closing `q` at the oracle price, moved against the account by
            `consumed` (negative: in its favour); never below zero.
    @param q Size closed (magnitude).
    @param price_wad Oracle price.
    @param account_sells True if the account sells (receives ceil(q p) - consumed).
    @param consumed Equity consumed (signed WAD).
    @return The value (WAD).
    """
    v: int256 = 0
    if account_sells:
        v = units.to_int(units.mul_div(q, price_wad, c.WAD, units.UP)) - consumed
    else:
        v = units.to_int(units.mul_div(q, price_wad, c.WAD, units.DOWN)) + consumed
    return convert(max(v, 0), uint256)


@internal
def require_initial(account: address, price_reason: String[40]):
    """
    @notice Revert "margin: below initial" unless equity meets initial margin at trusted prices.
    @param account The account.
    @param price_reason Revert reason if a needed price is untrusted.
    """
    oracle_adapter.require_account_prices(account, price_reason)
    health: margin.Health = margin.account_health(account)
    assert health.equity >= units.to_int(health.initial), "margin: below initial"


@internal
def check_fill(
    sender: address,
    maker: address,
    taker: address,
    market_id: uint256,
    maker_market_id: uint256,
    maker_fee_wad: uint256,
    taker_fee_wad: uint256,
    size_wad: int256,
):
    """
    @notice The checks of a fill that come before its orders (protocol/clearing.py `fill`).
    @param sender Caller (must be a matcher).
    @param maker Maker account (its order's signer).
    @param taker Taker account (its order's signer).
    @param market_id Market of the taker's order.
    @param maker_market_id Market of the maker's order (must be the same).
    @param maker_fee_wad Maker fee rate (WAD fraction of notional).
    @param taker_fee_wad Taker fee rate (WAD fraction of notional).
    @param size_wad Signed size (non-zero; the model's records refuse zero).
    """
    assert state.matchers[sender], "clearing: caller is not a matcher"
    assert not state.paused, "clearing: paused"
    assert state.market_params[market_id].listed, "clearing: unknown market"
    assert maker_market_id == market_id, "clearing: orders of different markets"
    assert maker != taker, "clearing: self trade"
    assert maker_fee_wad <= c.MAX_FEE_RATE and taker_fee_wad <= c.MAX_FEE_RATE, "clearing: fee too high"
    assert size_wad != 0, "clearing: zero size"


@internal
@view
def keeps_solvency(before: margin.Health, after: margin.Health) -> bool:
    """
    @notice The rule for a fill side that only reduces (F-01): initial margin afterwards, or a
            margin ratio no worse: MM' <= MM and E' MM >= E MM' (E' >= E once nothing is left).
    @param before Health before the fill, at the last accepted prices.
    @param after Health after the fill and its fee, at the same prices.
    @return Whether the side may fill.
    """
    if after.equity >= units.to_int(after.initial):
        return True
    if after.maintenance > before.maintenance:
        return False
    if after.maintenance == 0:
        return after.equity >= before.equity
    return after.equity * units.to_int(before.maintenance) >= before.equity * units.to_int(after.maintenance)


@internal
def novate(
    maker: address,
    taker: address,
    market_id: uint256,
    size_wad: int256,
    price_wad: uint256,
    maker_fee_wad: uint256,
    taker_fee_wad: uint256,
):
    """
    @notice Novate a checked fill whose orders consented: both sides now face the protocol.
    @dev A side that adds risk needs a trusted price and initial margin afterwards; a side that
         only reduces keeps solvency (`keeps_solvency`) at the last accepted prices.
    @param maker Maker account.
    @param taker Taker account (buys when size_wad > 0).
    @param market_id Market id.
    @param size_wad Signed size (non-zero).
    @param price_wad Fill price (WAD).
    @param maker_fee_wad Maker fee rate (WAD fraction of notional).
    @param taker_fee_wad Taker fee rate (WAD fraction of notional).
    """
    funding.settle_account(maker)
    funding.settle_account(taker)
    taker_adds: bool = not self.reduces_risk(state.positions[taker][market_id].size, size_wad)
    maker_adds: bool = not self.reduces_risk(state.positions[maker][market_id].size, -size_wad)
    feed_id: uint256 = state.market_params[market_id].feed_id
    if taker_adds or maker_adds:
        assert oracle_adapter.is_trusted(feed_id), "clearing: market reduce-only"
    # banded by the last accepted price: the trusted one, or the last before reduce-only
    oracle: uint256 = state.feeds[feed_id].price_wad
    assert oracle > 0, "clearing: no price"
    dev: uint256 = 0
    if price_wad > oracle:
        dev = price_wad - oracle
    else:
        dev = oracle - price_wad
    assert dev * c.WAD <= state.protocol_params.max_fill_deviation_wad * oracle, "clearing: price outside band"

    # health of a reducing side before the fill, at the last accepted prices (margin reads them)
    taker_before: margin.Health = empty(margin.Health)
    maker_before: margin.Health = empty(margin.Health)
    if not taker_adds:
        taker_before = margin.account_health(taker)
    if not maker_adds:
        maker_before = margin.account_health(maker)
    n: uint256 = units.mul_div(units.abs_u(size_wad), price_wad, c.WAD, units.DOWN)
    self.apply_trade(taker, market_id, size_wad, n)
    self.apply_trade(maker, market_id, -size_wad, n)

    maker_fee: uint256 = units.mul_div(n, maker_fee_wad, c.WAD, units.UP)
    taker_fee: uint256 = units.mul_div(n, taker_fee_wad, c.WAD, units.UP)
    state.balances[maker] -= units.to_int(maker_fee)
    state.balances[taker] -= units.to_int(taker_fee)
    total: uint256 = maker_fee + taker_fee
    to_fund: uint256 = units.mul_div(total, state.protocol_params.insurance_fee_share_wad, c.WAD, units.DOWN)
    state.fee_pool += total - to_fund
    insurance_fund.credit(to_fund, "fee")
    log events.FillSettled(
        maker=maker,
        taker=taker,
        market_id=market_id,
        size_wad=size_wad,
        price_wad=price_wad,
        notional_wad=n,
        maker_fee_wad=maker_fee,
        taker_fee_wad=taker_fee,
    )
    if taker_adds:
        self.require_initial(taker, "clearing: price not trusted")
    else:
        assert self.keeps_solvency(taker_before, margin.account_health(taker)), "clearing: fill worsens margin ratio"
    if maker_adds:
        self.require_initial(maker, "clearing: price not trusted")
    else:
        assert self.keeps_solvency(maker_before, margin.account_health(maker)), "clearing: fill worsens margin ratio"
