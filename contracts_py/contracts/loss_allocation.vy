# pragma version ~=0.4.3
"""
@title loss_allocation
@notice Where a socialized loss goes, by `socialized_loss_method` (mirrors
        protocol/loss_allocation.py; docs/SPEC.md §8).
@dev The rest of a shortfall settled at a bankrupt close (F-15) in that close's market.
     pro_rata and adl: L_-side += ceil(rest * WAD / OI_-side) on the side opposite the bankrupt
     position. open_interest (Drift): both sides per unit of size; OI is zero-sum, so the
     opposite side takes ceil(rest / 2), the bankrupt's own side floor(rest / 2). profit_haircut:
     the rest is `uncovered_loss`, paid down by withdrawals of realized profit, haircut
     min(uncovered, ceil(profit part * profit_haircut)). With no open interest where the method
     puts the loss it is `uncovered_loss` too.
"""

from . import constants as c
from . import units
from . import events
from . import state

uses: state


@internal
def socialize_pro_rata(market_id: uint256, side: int256, amount_wad: uint256) -> bool:
    """
    @notice Charge `amount_wad` to one side (+1 longs, -1 shorts) of a market.
    @param market_id Market id.
    @param side +1 or -1.
    @param amount_wad Loss (WAD).
    @return False if that side has no open interest.
    """
    ms: state.MarketState = state.markets[market_id]
    oi: uint256 = ms.oi_short
    if side > 0:
        oi = ms.oi_long
    if oi == 0:
        return False
    step: uint256 = units.mul_div(amount_wad, c.WAD, oi, units.UP)
    index: uint256 = 0
    if side > 0:
        index = ms.loss_index_long + step
        state.markets[market_id].loss_index_long = index
    else:
        index = ms.loss_index_short + step
        state.markets[market_id].loss_index_short = index
    state.loss_pool -= units.to_int(amount_wad)
    log events.LossSocialized(market_id=market_id, side=side, amount_wad=amount_wad, loss_index=index)
    return True


@internal
def allocate(market_id: uint256, side: int256, rest_wad: uint256):
    """
    @notice Allocate the rest of a shortfall the fund did not pay, settled at the bankrupt close
            of a `side` position in `market_id` (F-15), by the protocol's method.
    @param market_id Market of the bankrupt close.
    @param side Side of the closed position: +1 long, -1 short.
    @param rest_wad Loss the insurance fund did not pay (WAD, > 0).
    """
    method: uint256 = state.protocol_params.socialized_loss_method
    placed: bool = False
    if method == c.LOSS_METHOD_OPEN_INTEREST:
        own: uint256 = rest_wad // 2
        # open interest is zero-sum: both sides are empty or neither is
        placed = self.socialize_pro_rata(market_id, -side, rest_wad - own)
        if placed and own != 0:
            self.socialize_pro_rata(market_id, side, own)
    elif method != c.LOSS_METHOD_PROFIT_HAIRCUT:
        placed = self.socialize_pro_rata(market_id, -side, rest_wad)
    if not placed:
        state.uncovered_loss += rest_wad


@internal
def profit_haircut(account: address, amount_wad: uint256) -> uint256:
    """
    @notice The haircut a settlement withdrawal of `amount_wad` pays (profit_haircut method),
            and its books: the profit part min(amount, max(realized - withdrawn, 0)) joins
            `profit_withdrawn`; the haircut min(uncovered, ceil(part * profit_haircut)) pays
            `uncovered_loss` down.
    @param account The withdrawing account.
    @param amount_wad Amount withdrawn (WAD).
    @return Haircut (WAD) debited beside the amount.
    """
    if state.protocol_params.socialized_loss_method != c.LOSS_METHOD_PROFIT_HAIRCUT:
        return 0
    left: int256 = state.realized_pnl[account] - units.to_int(state.profit_withdrawn[account])
    profit: uint256 = 0
    if left > 0:
        profit = min(amount_wad, convert(left, uint256))
    state.profit_withdrawn[account] += profit
    haircut: uint256 = min(state.uncovered_loss, units.mul_div(profit, state.protocol_params.profit_haircut_wad, c.WAD, units.UP))
    if haircut != 0:
        state.uncovered_loss -= haircut
        log events.ProfitHaircut(account=account, haircut_wad=haircut, shortfall_wad=state.uncovered_loss)
    return haircut
