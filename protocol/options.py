"""European cash-settled options as a market type.

* A fill on an option market trades units of the underlying at a premium per unit (USD WAD);
  the premium is paid at the fill: it moves between the balances at once (rounded DOWN, the
  same amount for both sides), so option positions carry no cost basis.
* An option position counts in equity at its intrinsic value at the oracle price,
  ``floor(size * payoff / WAD)`` (time value is ignored: conservative for longs; the portfolio
  requirement covers the risk of shorts).
* The first oracle price accepted with a timestamp at or after expiry is the settlement price.
  Each position then settles when its account is next touched (or by ``SettleExpired``):
  longs receive ``floor(size * payoff / WAD)``, shorts pay ``ceil(|size| * payoff / WAD)``;
  the dust stays in the settlement pool.
"""

from __future__ import annotations

from protocol.actions import SettleExpired
from protocol.constants import WAD
from protocol.context import Context, require
from protocol.events import OptionSettled, SettlementPriceSet
from protocol.params import MarketKind, MarketParams
from protocol.state import MarketState
from protocol.units import Rounding, smul_div

__all__ = ["mark_price", "payoff", "record_settlement", "settle_expired", "settle_expired_action"]


def payoff(mp: MarketParams, price_wad: int) -> int:
    """Payoff per unit at ``price_wad`` (USD WAD): ``max(S-K, 0)`` or ``max(K-S, 0)``."""
    if mp.kind is MarketKind.CALL:
        return max(price_wad - mp.strike_wad, 0)
    return max(mp.strike_wad - price_wad, 0)


def mark_price(mp: MarketParams, ms: MarketState, price_wad: int) -> int:
    """Per-unit value a position is marked at: the price for a perpetual, the payoff (at the
    settlement price once known) for an option."""
    if not mp.is_option:
        return price_wad
    return payoff(mp, ms.settlement_price_wad or price_wad)


def record_settlement(ctx: Context, feed_id: int, price_wad: int, timestamp_s: int) -> None:
    """Fix the settlement price of every option on ``feed_id`` that expired by ``timestamp_s``."""
    for mp in ctx.params.markets:
        ms = ctx.state.markets[mp.market_id]
        if mp.is_option and mp.feed_id == feed_id and ms.settlement_price_wad == 0 and timestamp_s >= mp.expiry_s:
            ms.settlement_price_wad = price_wad
            ctx.emit(SettlementPriceSet(mp.market_id, price_wad))


def settle_expired(ctx: Context, address: str, market_id: int) -> None:
    """Pay out an option position whose settlement price is known and close it."""
    mp = ctx.params.market(market_id)
    ms = ctx.state.markets[market_id]
    acct = ctx.state.accounts[address]
    pos = acct.positions.get(market_id)
    if not mp.is_option or ms.settlement_price_wad == 0 or pos is None:
        return
    value = smul_div(pos.size, payoff(mp, ms.settlement_price_wad), WAD, Rounding.FLOOR)
    acct.balance += value
    acct.realized_pnl += value
    ctx.state.settlement_pool -= value
    ms.oi_long -= max(pos.size, 0)
    ms.oi_short -= max(-pos.size, 0)
    del acct.positions[market_id]
    ctx.emit(OptionSettled(address, market_id, pos.size, value))


def settle_expired_action(ctx: Context, action: SettleExpired) -> None:
    """Anyone may settle an expired option position of any account."""
    mp, ms = ctx.market(action.market_id, "options")
    require(mp.is_option, "options: not an option market")
    require(ms.settlement_price_wad > 0, "options: not settled yet")
    require(action.market_id in ctx.state.account(action.account).positions, "options: no position")
    settle_expired(ctx, action.account, action.market_id)
