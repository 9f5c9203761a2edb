"""Where a socialized loss goes, by ``socialized_loss_method`` (docs/SPEC.md §8).

The part of a shortfall the insurance fund could not pay (``rest``, USD WAD) at the bankrupt
close of a position on side ``side`` (+1 long, -1 short) of a market (F-15,
:func:`protocol.socialized_loss.settle_shortfall`) is allocated in that market:

* ``pro_rata`` and ``adl`` (whatever deleveraging left): to the opposite side,
  ``L_-side += ceil(rest * WAD / OI_-side)`` per unit of size;
* ``open_interest`` (Drift): to both sides per unit of size. Open interest is zero-sum
  (``OI_long = OI_short``), so both sides hold the same notional at the oracle price and a split
  by notional, or by Drift's per-unit-of-open-interest charge, is a split in halves: the
  opposite side (the winners of the move) takes ``ceil(rest / 2)``, the bankrupt's own side
  ``floor(rest / 2)``, each through its loss index (rounded UP). The close has already moved the
  bankrupt position to its liquidator, who so shares the own side's part like any holder;
* ``profit_haircut``: to no position; it is recorded as ``uncovered_loss`` (the shortfall) and
  withdrawals of realized profit pay it down (:func:`profit_haircut`), like the bad debt no
  close created (:func:`protocol.socialized_loss.settle_bad_debt`).

With no open interest where the method puts the loss it is ``uncovered_loss`` too. Only
position holders carry loss indexes: accounts without a position never absorb a loss.
"""

from __future__ import annotations

from protocol.constants import WAD
from protocol.context import Context
from protocol.events import LossSocialized, ProfitHaircut
from protocol.params import SocializedLossMethod
from protocol.state import Account
from protocol.units import Rounding, mul_div

__all__ = ["allocate", "profit_haircut", "socialize_pro_rata"]


def socialize_pro_rata(ctx: Context, market_id: int, side: int, amount_wad: int) -> bool:
    """Charge ``amount_wad`` to the ``side`` (+1 longs, -1 shorts) of a market; False if empty."""
    ms = ctx.state.markets[market_id]
    oi = ms.oi_long if side > 0 else ms.oi_short
    if oi == 0:
        return False
    step = mul_div(amount_wad, WAD, oi, Rounding.UP)
    if side > 0:
        ms.loss_index_long += step
        index = ms.loss_index_long
    else:
        ms.loss_index_short += step
        index = ms.loss_index_short
    ctx.state.loss_pool -= amount_wad
    ctx.emit(LossSocialized(market_id, side, amount_wad, index))
    return True


def allocate(ctx: Context, market_id: int, side: int, rest_wad: int) -> None:
    """Allocate ``rest_wad`` (> 0, USD WAD) of a shortfall settled at the bankrupt close of a
    ``side`` (+1 long, -1 short) position in ``market_id`` by the protocol's method."""
    method = ctx.params.protocol.socialized_loss_method
    placed = False
    if method is SocializedLossMethod.OPEN_INTEREST:
        own = rest_wad // 2
        # Open interest is zero-sum: both sides are empty or neither is.
        placed = socialize_pro_rata(ctx, market_id, -side, rest_wad - own)
        if placed and own:
            socialize_pro_rata(ctx, market_id, side, own)
    elif method is not SocializedLossMethod.PROFIT_HAIRCUT:
        placed = socialize_pro_rata(ctx, market_id, -side, rest_wad)
    if not placed:
        ctx.state.uncovered_loss += rest_wad


def profit_haircut(ctx: Context, address: str, acct: Account, amount_wad: int) -> int:
    """The haircut (USD WAD) a withdrawal of ``amount_wad`` settlement value pays, and its books.

    Only with the ``profit_haircut`` method. The withdrawal's profit part is
    ``min(amount, max(realized_pnl - profit_withdrawn, 0))``: realized trading profit not yet
    withdrawn; it is added to ``profit_withdrawn``. While ``uncovered_loss > 0`` the haircut is
    ``min(uncovered_loss, ceil(profit part * profit_haircut / WAD))`` (UP: in the protocol's
    favour); it is debited from the balance beside the amount and pays the shortfall down.
    """
    pp = ctx.params.protocol
    if pp.socialized_loss_method is not SocializedLossMethod.PROFIT_HAIRCUT:
        return 0
    profit = min(amount_wad, max(acct.realized_pnl - acct.profit_withdrawn, 0))
    acct.profit_withdrawn += profit
    haircut = min(ctx.state.uncovered_loss, mul_div(profit, pp.profit_haircut_wad, WAD, Rounding.UP))
    if haircut:
        ctx.state.uncovered_loss -= haircut
        ctx.emit(ProfitHaircut(address, haircut, ctx.state.uncovered_loss))
    return haircut
