"""Bad debt: insurance-fund cover first, then socialized loss by one of two methods.

A bankrupt close (a liquidation of an account with equity ``E <= 0``) settles the share of
``-E`` its market created at once (F-15, :func:`settle_shortfall`): the account is credited that
share, the insurance fund pays what it can and the rest is

* ``PRO_RATA``: charged to the opposite side of *that* market, per unit of size through that
  side's loss index (rounded UP, so the charges cover the loss); with no open interest there it
  is recorded as ``uncovered_loss``;
* ``ADL``: before that point, a keeper closes the bankrupt position (equity < 0, shortfall
  larger than the fund) against opposite positions in profit, ranked by
  ``profit fraction x leverage`` (non-increasing), at the ratio-preserving bankruptcy price.
  Each counterparty gives up at most its profit: its share is never closed beyond its own
  entry (cost basis). Whatever is left afterwards falls back to the pro-rata rule.

Bad debt left once an account holds no position and no collateral (fees, funding or a collateral
discount no close created) is paid by the insurance fund; what it cannot pay is
``uncovered_loss``: no market's traders created it. Accounts without a position never absorb a
loss: only position holders carry loss indexes.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import insurance_fund
from protocol.actions import AutoDeleverage
from protocol.clearing import apply_trade, close_value
from protocol.constants import UINT256_MAX, WAD
from protocol.context import Context, require
from protocol.errors import ProtocolRevert
from protocol.events import BadDebtSettled, Deleveraged, LossSocialized, ShortfallSettled
from protocol.funding import settle_account
from protocol.margin import Health, account_health, notional, unrealized_pnl
from protocol.oracle_adapter import liquidation_prices
from protocol.params import SocializedLossMethod
from protocol.state import Position
from protocol.units import Rounding, mul_div, smul_div

__all__ = [
    "BankruptPosition",
    "adl_score",
    "bankrupt_position",
    "counterparty_score",
    "deleverage",
    "ranked_scores",
    "settle_bad_debt",
    "settle_shortfall",
    "socialize_pro_rata",
]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


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


def settle_shortfall(ctx: Context, address: str, market_id: int, side: int, amount_wad: int) -> None:
    """Settle ``amount_wad`` of ``address``'s negative equity at the bankrupt close of its
    ``side`` (+1 long, -1 short) position in ``market_id`` (F-15): credited to the account, paid
    by the insurance fund, the rest charged to the other side of that market (``uncovered_loss``
    if it is empty). Nothing happens for 0."""
    if amount_wad == 0:
        return
    ctx.state.account(address).balance += amount_wad
    paid = insurance_fund.cover(ctx, amount_wad, "shortfall")
    rest = amount_wad - paid
    if rest and not socialize_pro_rata(ctx, market_id, -side, rest):
        ctx.state.uncovered_loss += rest
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


@dataclass(frozen=True)
class BankruptPosition:
    """A position ADL may close: its account's equity is below zero by more than the insurance
    fund holds (``health`` and ``price`` at liquidation prices)."""

    health: Health
    prices: dict[int, int]
    size: int
    price: int


def bankrupt_position(ctx: Context, action: AutoDeleverage) -> BankruptPosition:
    """Check that ``action`` names a position ADL may close (method, pause, market, the list's
    addresses, equity below ``-fund``) and return it; the account's funding is settled."""
    require(
        ctx.params.protocol.socialized_loss_method is SocializedLossMethod.ADL,
        "socialized_loss: method is pro-rata",
    )
    ctx.require_not_paused("socialized_loss")
    mp, _ = ctx.market(action.market_id, "socialized_loss")
    require(not mp.is_option, "socialized_loss: not a perpetual")
    cps = action.counterparties
    require(action.account not in cps, "socialized_loss: account is its own counterparty")
    require(len(set(cps)) == len(cps), "socialized_loss: repeated counterparty")
    settle_account(ctx, action.account)
    acct = ctx.state.account(action.account)
    require(action.market_id in acct.positions, "socialized_loss: no position")
    prices = dict(liquidation_prices(ctx, acct, "socialized_loss"))
    health = account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)
    require(health.equity < 0, "socialized_loss: account not bankrupt")
    require(-health.equity > ctx.state.insurance_fund, "socialized_loss: insurance fund covers shortfall")
    return BankruptPosition(health, prices, acct.positions[action.market_id].size, prices[mp.feed_id])


def _opposite_position(ctx: Context, cp: str, market_id: int, side: int) -> Position | None:
    """``cp``'s position in ``market_id`` (its funding settled) if it is opposite to ``side``."""
    settle_account(ctx, cp)
    pos = ctx.state.account(cp).positions.get(market_id)
    return pos if pos is not None and _sign(pos.size) == -side else None


def _score(ctx: Context, cp: str, pos: Position, upnl_wad: int, price_wad: int) -> int:
    cp_acct = ctx.state.account(cp)
    cp_prices = liquidation_prices(ctx, cp_acct, "socialized_loss")
    cp_health = account_health(cp_acct, ctx.params, ctx.state.markets, cp_prices, now_s=ctx.state.now_s)
    return adl_score(upnl_wad, pos.open_notional, notional(pos.size, price_wad), cp_health.equity)


def counterparty_score(ctx: Context, cp: str, market_id: int, side: int, price_wad: int) -> int:
    """ADL score of ``cp`` against a bankrupt ``side`` position at ``price_wad`` (its funding
    settled); 0 when it holds no opposite position in profit (a stored list's place it lost)."""
    pos = _opposite_position(ctx, cp, market_id, side)
    if pos is None:
        return 0
    upnl = unrealized_pnl(pos, price_wad)
    return _score(ctx, cp, pos, upnl, price_wad) if upnl > 0 else 0


def ranked_scores(ctx: Context, market_id: int, bankrupt: BankruptPosition, cps: tuple[str, ...]) -> list[int]:
    """Scores of a counterparty list whose every entry is opposite and in profit, non-increasing
    (else the revert naming the first violation)."""
    scores: list[int] = []
    previous = UINT256_MAX
    for cp in cps:
        pos = _opposite_position(ctx, cp, market_id, _sign(bankrupt.size))
        if pos is None:
            raise ProtocolRevert("socialized_loss: counterparty not opposite")
        upnl = unrealized_pnl(pos, bankrupt.price)
        require(upnl > 0, "socialized_loss: counterparty not in profit")
        score = _score(ctx, cp, pos, upnl, bankrupt.price)
        require(score <= previous, "socialized_loss: ranking violated")
        previous = score
        scores.append(score)
    return scores


def deleverage(
    ctx: Context, account: str, market_id: int, bankrupt: BankruptPosition, cps: tuple[str, ...], size_wad: int
) -> None:
    """Close up to ``size_wad`` (base units WAD, at most the position's magnitude; the queue
    passes all of it) of the bankrupt position against ``cps`` in order at the ratio-preserving
    bankruptcy price; a counterparty no longer opposite or in profit is passed over."""
    size, price, health = bankrupt.size, bankrupt.price, bankrupt.health
    takes: list[int] = []
    for cp in cps:
        pos = _opposite_position(ctx, cp, market_id, _sign(size))
        takes.append(abs(pos.size) if pos is not None and unrealized_pnl(pos, price) > 0 else 0)
    q = min(size_wad, abs(size), sum(takes))
    if q == 0:
        return
    acct = ctx.state.account(account)
    after = size - _sign(size) * q
    mm_after = account_health(
        acct, ctx.params, ctx.state.markets, bankrupt.prices, now_s=ctx.state.now_s, size_override=(market_id, after)
    ).maintenance
    # Equity the close consumes at the bankruptcy price (negative: the account is compensated).
    room = health.equity - smul_div(health.equity, mm_after, health.maintenance, Rounding.FLOOR)
    total_value = close_value(q, price, account_sells=size > 0, consumed=room)
    remaining, value_left = q, total_value
    for cp, available in zip(cps, takes, strict=True):
        take = min(remaining, available)
        if take == 0:
            continue
        remaining -= take
        value = value_left if remaining == 0 else mul_div(total_value, take, q, Rounding.DOWN)
        value_left -= value
        # A counterparty gives up at most its profit: never closed beyond its own entry.
        cp_pos = ctx.state.accounts[cp].positions[market_id]
        entry_cost = abs(smul_div(cp_pos.open_notional, take, abs(cp_pos.size), Rounding.CEIL))
        value = min(value, entry_cost) if size > 0 else max(value, entry_cost)
        apply_trade(ctx, account, market_id, -_sign(size) * take, value)
        apply_trade(ctx, cp, market_id, _sign(size) * take, value)
        ctx.emit(Deleveraged(account, cp, market_id, take, value))
