"""Permissionless liquidation of positions and of non-settlement collateral.

Positions (trigger: equity < maintenance, strict). A keeper takes over ``q`` of the position:

* ``room(q) = E - ceil(E * MM_after(q) / MM)`` is the equity the liquidation may consume while
  keeping the margin ratio ``E / MM`` from falling (``E > 0``); closing at the dYdX-style
  bankruptcy price would consume exactly ``room``.
* the close price sits ``liquidation_spread`` of the way from the oracle price toward the
  bankruptcy price: the account gives up ``slip = floor(room * spread)``;
* penalty ``= min(ceil(notional * penalty_rate), room - slip)``, split keeper / insurance fund;
* a partial liquidation closes at most what restores initial margin: ``q`` is valid only if
  ``q - 1`` would not (``E - slip - penalty >= IM_after`` at ``q - 1`` fails); a remainder worth
  less than ``dust_notional`` is closed too;
* an account with ``E <= 0`` is closed whole at the oracle price with no penalty, and the share
  of ``-E`` that position created is settled in its market at once (F-15,
  :func:`close_shortfall`); with the ADL method and a shortfall larger than the insurance fund it
  must be deleveraged instead;
* at most ``max_liquidation_notional_per_block`` of solvent accounts is liquidated per block
  (a bankrupt account is closed whole even beyond it, and uses up the block's room).

Collateral: while the settlement balance is negative and the account is below its maintenance
requirement (F-05: ``E < MM`` at liquidation prices; with no position, ``E < 0``) anyone may buy
the account's collateral at ``oracle * (1 - discount)``, no more than needed to bring the balance
back to zero; a fee share of the proceeds goes to the insurance fund. A healthy account's
negative balance is left to its owner (it counts against its equity like any debt).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from protocol import insurance_fund
from protocol.actions import Liquidate, LiquidateCollateral
from protocol.adl_queue import bankrupt_close_due
from protocol.clearing import apply_trade, close_value, reduces_risk, require_initial
from protocol.constants import WAD
from protocol.context import Context, require
from protocol.events import CollateralLiquidated, Liquidated
from protocol.funding import settle_account
from protocol.margin import (
    Health,
    account_health,
    initial_fraction,
    maintenance_fraction,
    margined_alone,
    notional,
    unrealized_pnl,
)
from protocol.oracle_adapter import liquidation_prices, trusted_price
from protocol.params import ProtocolParams, SocializedLossMethod
from protocol.socialized_loss import settle_shortfall
from protocol.state import Account
from protocol.units import Rounding, mul_div, to_wad

__all__ = [
    "LiquidationTerms",
    "close_shortfall",
    "collateral_sale",
    "liquidate",
    "liquidate_collateral",
    "liquidation_terms",
    "max_liquidation_size",
]


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


@dataclass(frozen=True)
class LiquidationTerms:
    """What closing ``q`` of a solvent account's position costs it (USD WAD)."""

    #: Equity the close may consume without lowering E / MM (negative: the close raises MM).
    room: int
    slip: int
    penalty: int
    #: Equity after the close meets the initial requirement after it.
    restores_initial: bool


def liquidation_terms(
    ctx: Context, acct: Account, prices: Mapping[int, int], health: Health, market_id: int, q: int
) -> LiquidationTerms:
    """Terms of closing ``q`` of ``acct``'s position in ``market_id`` (``health.equity > 0``).

    Requirements after the close are evaluated by :func:`protocol.margin.account_health` with
    the reduced size, so portfolio-margined underlyings are priced exactly like the protocol
    prices them.
    """
    mp = ctx.params.market(market_id)
    size = acct.positions[market_id].size
    after = account_health(
        acct,
        ctx.params,
        ctx.state.markets,
        prices,
        now_s=ctx.state.now_s,
        size_override=(market_id, size - _sign(size) * q),
    )
    room = health.equity - mul_div(health.equity, after.maintenance, health.maintenance, Rounding.UP)
    slip = mul_div(max(room, 0), ctx.params.protocol.liquidation_spread_wad, WAD, Rounding.DOWN)
    penalty_full = mul_div(
        notional(q, prices[mp.feed_id]), ctx.params.protocol.liquidation_penalty_wad, WAD, Rounding.UP
    )
    penalty = max(min(penalty_full, room - slip), 0)
    return LiquidationTerms(room, slip, penalty, health.equity - slip - penalty >= after.initial)


def collateral_sale(amount_wad: int, price_wad: int, discount_wad: int, pp: ProtocolParams) -> tuple[int, int]:
    """``(proceeds, fee)`` of selling ``amount_wad`` collateral at ``price * (1 - discount)``.

    Proceeds are rounded DOWN (paid by the liquidator), the insurance-fund fee UP; the account
    is credited ``proceeds - fee``.
    """
    gross = mul_div(amount_wad, price_wad, WAD, Rounding.DOWN)
    proceeds = mul_div(gross, WAD - discount_wad, WAD, Rounding.DOWN)
    return proceeds, mul_div(proceeds, pp.collateral_liquidation_fee_wad, WAD, Rounding.UP)


def close_shortfall(ctx: Context, acct: Account, prices: Mapping[int, int], equity_wad: int, market_id: int) -> int:
    """The share of a bankrupt account's negative equity (``equity_wad <= 0``) its position in
    ``market_id`` created (F-15): ``floor(-E * loss_m / L)``, ``loss_m`` the position's unrealized
    loss at ``prices`` and ``L`` the sum of the losses of its perpetual positions; 0 for a
    position in profit or when none is at a loss. The shares do not depend on the order the
    positions close in, and the last losing close takes what is left (``loss_m = L``). An account
    still holding collateral settles nothing here: its equity counts the collateral at its
    haircut (or at zero on an untrusted feed), so its collateral is sold first and what it leaves
    is bad debt (:func:`protocol.socialized_loss.settle_bad_debt`)."""
    losses = {
        m: max(-unrealized_pnl(pos, prices[ctx.params.market(m).feed_id]), 0)
        for m, pos in acct.positions.items()
        if not ctx.params.market(m).is_option
    }
    total = sum(losses.values())
    if equity_wad >= 0 or losses[market_id] == 0 or acct.has_collateral():
        return 0
    return mul_div(-equity_wad, losses[market_id], total, Rounding.DOWN)


def max_liquidation_size(ctx: Context, address: str, market_id: int) -> int:
    """Largest size a keeper may liquidate now (0 if the account is not liquidatable).

    The minimality rule makes the valid sizes an interval ``[1, q_max]`` whenever "``q`` restores
    initial margin" is monotone in ``q``; ``q_max`` is the result of bisecting over the same
    :func:`liquidation_terms` the protocol checks (:func:`_bisect_size`). Where the monotonicity
    is proven (:func:`_monotone`), a closed-form guess that two exact evaluations confirm gives
    that same result (:func:`_guessed_size`); otherwise, or when the guess is off, the bisection
    runs. ``ctx`` must be a throw-away copy: the account is settled in it.
    """
    ctx.market(market_id, "liquidation")
    settle_account(ctx, address)
    acct = ctx.state.account(address)
    if market_id not in acct.positions:
        return 0
    prices = liquidation_prices(ctx, acct, "liquidation")
    health = account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)
    if not health.liquidatable:
        return 0
    size = abs(acct.positions[market_id].size)
    if health.equity <= 0:
        return size
    if size > 1 and _monotone(ctx, acct, prices, market_id):
        q = _guessed_size(ctx, acct, prices, health, market_id)
        if q is not None:
            return q
    return _bisect_size(ctx, acct, prices, health, market_id)


def _restores(ctx: Context, acct: Account, prices: Mapping[int, int], health: Health, market_id: int, r: int) -> bool:
    return liquidation_terms(ctx, acct, prices, health, market_id, r).restores_initial


def _bisect_size(ctx: Context, acct: Account, prices: Mapping[int, int], health: Health, market_id: int) -> int:
    """The largest ``q`` in ``[1, |size|]`` whose ``q - 1`` does not restore initial margin, by
    bisection (``0 < E < MM``): the definition of :func:`max_liquidation_size`'s result."""
    lo, hi = 1, abs(acct.positions[market_id].size)  # invariant: lo is valid
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _restores(ctx, acct, prices, health, market_id, mid - 1):
            hi = mid - 1
        else:
            lo = mid
    return lo


def _step_bounds(ctx: Context, market_id: int, price_wad: int) -> tuple[int, int, int]:
    """Per-wei-of-size bounds (USD wei) of the terms of closing one more wei in ``market_id``:
    ``(a, m, f)`` with the initial requirement falling by at least ``a``, the maintenance
    requirement by at most ``m`` and the full penalty growing by at most ``f``.

    One wei of size moves the notional ``ceil(x p / W)`` by ``floor(p / W)`` to ``ceil(p / W)``;
    ``ceil(x) - ceil(y)`` lies in ``[floor(x - y), ceil(x - y)]``.
    """
    mp, ms = ctx.params.market(market_id), ctx.state.markets[market_id]
    lo, hi = price_wad // WAD, -(-price_wad // WAD)
    a = lo * initial_fraction(mp, ms, price_wad) // WAD
    m = mul_div(hi, maintenance_fraction(mp), WAD, Rounding.UP)
    f = mul_div(hi, ctx.params.protocol.liquidation_penalty_wad, WAD, Rounding.UP)
    return a, m, f


def _monotone(ctx: Context, acct: Account, prices: Mapping[int, int], market_id: int) -> bool:
    """True if ``D(r) = E - slip(r) - penalty(r) - IM_after(r)`` never decreases in ``r`` for a
    solvent account below maintenance (``0 < E < MM``), so "``r`` restores initial" is monotone.

    Proof, for a position margined alone (:func:`protocol.margin.margined_alone`: only its term of
    the requirements changes with ``r``), per wei of ``r`` with ``(a, m, f)`` of
    :func:`_step_bounds`: ``IM_after`` falls by at least ``a``; ``MM_after`` by at most ``m``, so
    ``room = E - ceil(E MM_after / MM)`` grows by ``0 .. m`` (``E < MM``); ``slip`` by at most
    ``ceil(m spread / W)`` and never more than ``room``; the penalty
    ``max(min(full, room - slip), 0)`` by at most ``max(growth of full, growth of room - slip)``.
    So ``slip + penalty`` grows by at most ``max(ceil(m spread / W) + f, m)``; at most ``a`` makes
    ``D`` non-decreasing.
    """
    mp = ctx.params.market(market_id)
    if not margined_alone(acct, ctx.params, ctx.state.markets, market_id):
        return False
    a, m, f = _step_bounds(ctx, market_id, prices[mp.feed_id])
    spread = ctx.params.protocol.liquidation_spread_wad
    return a >= max(mul_div(m, spread, WAD, Rounding.UP) + f, m)


def _guessed_size(ctx: Context, acct: Account, prices: Mapping[int, int], health: Health, market_id: int) -> int | None:
    """``q_max`` from the linear model of the terms, if two exact evaluations confirm it (``q``
    valid, ``q + 1`` invalid or ``q = |size|``); None when the guess is off.

    With ``k = p / W**2``, closing ``r`` frees ``r k imf`` of initial requirement and consumes
    ``min(room spread / W + r k penalty, room)`` with ``room = r k E mmf / MM``, so the smallest
    restoring ``r`` is ``(IM - E) / (k (imf - min(E mmf spread / (W MM) + penalty,
    E mmf / MM)))``, up to a few wei of integer rounding in the numerator. Only valid when the
    predicate is monotone (:func:`_monotone`): then a confirmed ``q`` is the bisection's.
    """
    mp, ms = ctx.params.market(market_id), ctx.state.markets[market_id]
    pp = ctx.params.protocol
    price = prices[mp.feed_id]
    size = abs(acct.positions[market_id].size)
    e, mm, im = health.equity, health.maintenance, health.initial
    imf, mmf = initial_fraction(mp, ms, price), maintenance_fraction(mp)
    # Slope of D per wei of r, times W**3 * MM / p (an integer); <= 0: closing never restores.
    consumed = min(e * mmf * pp.liquidation_spread_wad + pp.liquidation_penalty_wad * WAD * mm, e * mmf * WAD)
    slope = imf * WAD * mm - consumed
    q = size if slope <= 0 else min(max(mul_div(im - e, WAD**3 * mm, price * slope, Rounding.UP), 1), size)
    if _restores(ctx, acct, prices, health, market_id, q - 1):
        return None
    if q < size and not _restores(ctx, acct, prices, health, market_id, q):
        return None
    return q


def _consume_block_cap(ctx: Context, notional_wad: int, *, enforce: bool) -> None:
    """Count ``notional_wad`` against this block's cap; refuse it only when ``enforce``.

    Bankrupt accounts are closed whole and are never refused: one larger than the cap could
    otherwise never be liquidated while its debt grows. They still use up the block's room.
    """
    state = ctx.state
    if state.block_liquidated_at != state.block:
        state.block_liquidated_at = state.block
        state.block_liquidated_wad = 0
    cap = ctx.params.protocol.max_liquidation_notional_per_block_wad
    require(not enforce or state.block_liquidated_wad + notional_wad <= cap, "liquidation: block cap reached")
    state.block_liquidated_wad += notional_wad


def liquidate(ctx: Context, action: Liquidate) -> None:
    """Keeper takes over part or all of an account's position below maintenance."""
    ctx.require_not_paused("liquidation")
    require(action.keeper != action.account, "liquidation: self liquidation")
    mp, _ = ctx.market(action.market_id, "liquidation")
    require(not mp.is_option, "liquidation: not a perpetual")
    settle_account(ctx, action.account)
    settle_account(ctx, action.keeper)
    acct = ctx.state.account(action.account)
    require(action.market_id in acct.positions, "liquidation: no position")
    prices = liquidation_prices(ctx, acct, "liquidation")
    health = account_health(acct, ctx.params, ctx.state.markets, prices, now_s=ctx.state.now_s)
    require(health.liquidatable, "liquidation: account healthy")
    size = acct.positions[action.market_id].size
    price = prices[mp.feed_id]
    require(action.size_wad <= abs(size), "liquidation: size exceeds position")

    q, slip, penalty, shortfall = action.size_wad, 0, 0, 0
    if health.equity <= 0:
        adl = ctx.params.protocol.socialized_loss_method is SocializedLossMethod.ADL
        # F-10: beyond the fund, ADL first, unless an empty proposal went unchallenged
        due = adl and bankrupt_close_due(ctx, action.account, action.market_id)
        require(
            not adl or -health.equity <= ctx.state.insurance_fund or due,
            "liquidation: shortfall exceeds insurance fund",
        )
        if due:
            del ctx.state.adl_proposals[(action.account, action.market_id)]
        q = abs(size)
        shortfall = close_shortfall(ctx, acct, prices, health.equity, action.market_id)
    else:
        before = liquidation_terms(ctx, acct, prices, health, action.market_id, q - 1)
        require(not before.restores_initial, "liquidation: closes more than needed")
        rest = abs(size) - q
        if rest and notional(rest, price) < ctx.params.protocol.dust_notional_wad:
            q = abs(size)
        terms = liquidation_terms(ctx, acct, prices, health, action.market_id, q)
        require(terms.room >= 0, "liquidation: raises the requirement")
        slip, penalty = terms.slip, terms.penalty
    notional_q = notional(q, price)
    _consume_block_cap(ctx, notional_q, enforce=health.equity > 0)

    delta = -_sign(size) * q  # the account's trade
    value = close_value(q, price, account_sells=delta < 0, consumed=slip)
    keeper_pos = ctx.state.account(action.keeper).positions.get(action.market_id)
    keeper_old = keeper_pos.size if keeper_pos else 0
    apply_trade(ctx, action.account, action.market_id, delta, value)
    apply_trade(ctx, action.keeper, action.market_id, -delta, value)

    reward = mul_div(penalty, ctx.params.protocol.keeper_penalty_share_wad, WAD, Rounding.DOWN)
    acct.balance -= penalty
    ctx.state.account(action.keeper).balance += reward
    insurance_fund.credit(ctx, penalty - reward, "liquidation penalty")
    ctx.emit(Liquidated(action.account, action.keeper, action.market_id, q, value, penalty, reward))

    if not reduces_risk(keeper_old, -delta):
        require_initial(ctx, action.keeper, "liquidation")
    settle_shortfall(ctx, action.account, action.market_id, _sign(size), shortfall)


def liquidate_collateral(ctx: Context, action: LiquidateCollateral) -> None:
    """Sell an account's collateral to ``liquidator`` at a discount while its balance is negative
    and it is below its maintenance requirement."""
    ctx.require_not_paused("liquidation")
    require(action.liquidator != action.account, "liquidation: self liquidation")
    require(action.asset_id in {c.asset_id for c in ctx.params.collaterals}, "liquidation: unknown asset")
    cp = ctx.params.collateral(action.asset_id)
    settle_account(ctx, action.account)
    settle_account(ctx, action.liquidator)
    acct = ctx.state.account(action.account)
    require(acct.balance < 0, "liquidation: balance not negative")
    # F-05: only an account below its requirement sells at a discount (a healthy one's debt is
    # left to its owner), valued as liquidation values it.
    health = account_health(
        acct, ctx.params, ctx.state.markets, liquidation_prices(ctx, acct, "liquidation"), now_s=ctx.state.now_s
    )
    require(health.liquidatable, "liquidation: account healthy")
    price = trusted_price(ctx, cp.feed_id, "liquidation")
    amount_wad = to_wad(action.amount, cp.decimals)
    held = acct.collateral.get(action.asset_id, 0)
    require(amount_wad <= held, "liquidation: amount exceeds collateral")

    proceeds, fee = collateral_sale(amount_wad, price, cp.liquidation_discount_wad, ctx.params.protocol)
    smaller = collateral_sale(
        amount_wad - to_wad(1, cp.decimals), price, cp.liquidation_discount_wad, ctx.params.protocol
    )
    require(smaller[0] - smaller[1] < -acct.balance, "liquidation: sells more than needed")
    buyer = ctx.state.account(action.liquidator)
    require(buyer.balance >= proceeds, "liquidation: liquidator balance too low")
    buyer.balance -= proceeds
    buyer.collateral[action.asset_id] = buyer.collateral.get(action.asset_id, 0) + amount_wad
    acct.collateral[action.asset_id] = held - amount_wad
    acct.balance += proceeds - fee
    insurance_fund.credit(ctx, fee, "collateral liquidation fee")
    ctx.emit(CollateralLiquidated(action.account, action.liquidator, action.asset_id, amount_wad, proceeds, fee))
    if buyer.has_positions():
        require_initial(ctx, action.liquidator, "liquidation")
