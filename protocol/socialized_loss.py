"""Bad debt: insurance-fund cover first, then socialized loss by the protocol's method.

A bankrupt close (a liquidation of an account with equity ``E <= 0``) settles the share of
``-E`` its market created at once (F-15, :func:`settle_shortfall`): the account is credited that
share, the insurance fund pays what it can and the rest is allocated in *that* market by
:func:`protocol.loss_allocation.allocate` according to ``socialized_loss_method`` (the opposite
side's loss index, both sides' by open interest, or a shortfall profit withdrawals pay down).

With ``ADL``, before that point, a keeper closes the bankrupt position (equity < 0, shortfall
larger than the fund) against opposite positions in profit, ranked by ``profit fraction x
leverage`` (non-increasing), at the ratio-preserving bankruptcy price. Each counterparty gives
up at most its profit: its share is never closed beyond its own entry (cost basis). One
deleveraging closes at most ``ceil(|size| * adl_close_fraction / WAD)`` (partial ADL, dYdX);
the rest waits for the next.

With ``GAINS`` (Vega: a shortfall is borne pro rata to the winners' gains), the same action
closes the position at the oracle price against opposite positions in profit listed in any
order, and what the ADL close would give the account beyond the oracle price is charged to them
pro rata to their unrealized gains, each at most its gain (:func:`_charge_gains`).

Bad debt left once an account holds no position and no collateral (fees, funding or a collateral
discount no close created) is paid by the insurance fund; what it cannot pay is
``uncovered_loss``: no market's traders created it. Accounts without a position never absorb a
loss: only position holders carry loss indexes.
"""

from __future__ import annotations

from protocol import insurance_fund, loss_allocation
from protocol.actions import AutoDeleverage
from protocol.clearing import apply_trade, close_value
from protocol.constants import UINT256_MAX, WAD
from protocol.context import Context, require
from protocol.errors import ProtocolRevert
from protocol.events import BadDebtSettled, Deleveraged, GainsCharged, ShortfallSettled
from protocol.funding import settle_account
from protocol.margin import account_health, notional, unrealized_pnl
from protocol.oracle_adapter import liquidation_prices
from protocol.params import SocializedLossMethod
from protocol.units import Rounding, mul_div, smul_div

__all__ = ["adl_close_limit", "adl_score", "auto_deleverage", "settle_bad_debt", "settle_shortfall"]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def settle_shortfall(ctx: Context, address: str, market_id: int, side: int, amount_wad: int) -> None:
    """Settle ``amount_wad`` of ``address``'s negative equity at the bankrupt close of its
    ``side`` (+1 long, -1 short) position in ``market_id`` (F-15): credited to the account, paid
    by the insurance fund, the rest allocated in that market by the protocol's method
    (:func:`protocol.loss_allocation.allocate`). Nothing happens for 0."""
    if amount_wad == 0:
        return
    ctx.state.account(address).balance += amount_wad
    paid = insurance_fund.cover(ctx, amount_wad, "shortfall")
    rest = amount_wad - paid
    if rest:
        loss_allocation.allocate(ctx, market_id, side, rest)
    ctx.emit(ShortfallSettled(address, market_id, amount_wad, paid, rest))


def settle_bad_debt(ctx: Context, address: str) -> None:
    """Resolve the negative balance of an account left with no position and no collateral: the
    insurance fund pays what it can, the rest is ``uncovered_loss`` (no close created it)."""
    acct = ctx.state.account(address)
    if acct.balance >= 0 or acct.has_positions() or acct.has_collateral():
        return
    debt = -acct.balance
    acct.balance = 0
    paid = insurance_fund.cover(ctx, debt, "bad debt")
    rest = debt - paid
    ctx.state.uncovered_loss += rest
    ctx.emit(BadDebtSettled(address, debt, paid, rest))


def adl_score(upnl_wad: int, open_notional_wad: int, notional_wad: int, equity_wad: int) -> int:
    """Deleveraging priority ``(upnl / |cost|) * (notional / equity)`` in WAD, rounded DOWN.

    An account with no cost basis or no positive equity ranks first (``UINT256_MAX``).
    """
    if open_notional_wad == 0 or equity_wad <= 0:
        return UINT256_MAX
    per_cost = mul_div(upnl_wad, notional_wad, abs(open_notional_wad), Rounding.DOWN)
    return mul_div(per_cost, WAD, equity_wad, Rounding.DOWN)


def adl_close_limit(size_wad: int, fraction_wad: int) -> int:
    """Largest size one deleveraging closes of a position of ``|size_wad|``: ``ceil(|s| f / WAD)``
    (UP: partial ADL never leaves more of a bankrupt position open than the fraction says)."""
    return mul_div(abs(size_wad), fraction_wad, WAD, Rounding.UP)


def _charge_gains(ctx: Context, action: AutoDeleverage, gains: list[int], owed_wad: int) -> None:
    """Charge ``owed_wad`` (what the bankruptcy price would give the account beyond the oracle
    price) to the counterparties pro rata to their unrealized gains ``gains``: each pays
    ``min(g, ceil(owed * g / G))`` (UP; never more than its gain), the account receives
    ``min(paid, owed)`` and the rounding excess goes to the insurance fund."""
    total = sum(gains)
    paid = 0
    for cp, gain in zip(action.counterparties, gains, strict=True):
        share = min(gain, mul_div(owed_wad, gain, total, Rounding.UP))
        if share:
            ctx.state.accounts[cp].balance -= share
            paid += share
            ctx.emit(GainsCharged(cp, action.account, action.market_id, share))
    credited = min(paid, owed_wad)
    ctx.state.accounts[action.account].balance += credited
    insurance_fund.credit(ctx, paid - credited, "gains rounding")


def auto_deleverage(ctx: Context, action: AutoDeleverage) -> None:
    """Close a bankrupt position against the counterparties a keeper supplies: ranked, at the
    bankruptcy price (``adl``); or in any order, at the oracle price with the bankruptcy price's
    give-up charged pro rata to their unrealized gains (``gains``)."""
    method = ctx.params.protocol.socialized_loss_method
    require(method.deleverages, "socialized_loss: method does not deleverage")
    ctx.require_not_paused("socialized_loss")
    mp, _ = ctx.market(action.market_id, "socialized_loss")
    require(not mp.is_option, "socialized_loss: not a perpetual")
    cps = action.counterparties
    require(action.account not in cps, "socialized_loss: account is its own counterparty")
    require(len(set(cps)) == len(cps), "socialized_loss: repeated counterparty")
    settle_account(ctx, action.account)
    acct = ctx.state.account(action.account)
    require(action.market_id in acct.positions, "socialized_loss: no position")
    prices = liquidation_prices(ctx, acct, "socialized_loss")
    health = account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)
    require(health.equity < 0, "socialized_loss: account not bankrupt")
    require(-health.equity > ctx.state.insurance_fund, "socialized_loss: insurance fund covers shortfall")
    size = acct.positions[action.market_id].size
    price = prices[mp.feed_id]

    takes: list[int] = []
    gains: list[int] = []
    previous = UINT256_MAX
    for cp in cps:
        settle_account(ctx, cp)
        cp_acct = ctx.state.account(cp)
        pos = cp_acct.positions.get(action.market_id)
        if pos is None or _sign(pos.size) != -_sign(size):
            raise ProtocolRevert("socialized_loss: counterparty not opposite")
        cp_prices = liquidation_prices(ctx, cp_acct, "socialized_loss")
        upnl = unrealized_pnl(pos, price)
        require(upnl > 0, "socialized_loss: counterparty not in profit")
        if method is SocializedLossMethod.ADL:
            cp_health = account_health(cp_acct, ctx.params, ctx.state.markets, cp_prices, now_s=ctx.state.now_s)
            score = adl_score(upnl, pos.open_notional, notional(pos.size, price), cp_health.equity)
            require(score <= previous, "socialized_loss: ranking violated")
            previous = score
        takes.append(abs(pos.size))
        gains.append(upnl)

    q = min(adl_close_limit(size, ctx.params.protocol.adl_close_fraction_wad), sum(takes))
    after = size - _sign(size) * q
    mm_after = account_health(
        acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s, size_override=(action.market_id, after)
    ).maintenance
    # Equity the close consumes at the bankruptcy price (negative: the account is compensated).
    room = health.equity - smul_div(health.equity, mm_after, health.maintenance, Rounding.FLOOR)
    if method is SocializedLossMethod.GAINS:
        _charge_gains(ctx, action, gains, -room)
        room = 0  # the position itself closes at the oracle price
    total_value = close_value(q, price, account_sells=size > 0, consumed=room)
    remaining, value_left = q, total_value
    for cp, available in zip(cps, takes, strict=True):
        take = min(remaining, available)
        if take == 0:
            break
        remaining -= take
        value = value_left if remaining == 0 else mul_div(total_value, take, q, Rounding.DOWN)
        value_left -= value
        # A counterparty gives up at most its profit: never closed beyond its own entry.
        cp_pos = ctx.state.accounts[cp].positions[action.market_id]
        entry_cost = abs(smul_div(cp_pos.open_notional, take, abs(cp_pos.size), Rounding.CEIL))
        value = min(value, entry_cost) if size > 0 else max(value, entry_cost)
        apply_trade(ctx, action.account, action.market_id, -_sign(size) * take, value)
        apply_trade(ctx, cp, action.market_id, _sign(size) * take, value)
        ctx.emit(Deleveraged(action.account, cp, action.market_id, take, value))
