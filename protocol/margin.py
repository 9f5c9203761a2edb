"""Cross-margin: equity, initial and maintenance requirements (all USD WAD).

Definitions (docs/SPEC.md §margin has the rounding table):

* notional          = |size| * price / WAD                                 rounded UP
* unrealized PnL    = size * price / WAD (FLOOR) - open_notional
* pending funding   = -(size * (funding_index - snapshot) / WAD)            charge rounded CEIL
* pending loss      = -(|size| * (loss_index_side - snapshot) / WAD)        charge rounded UP
* collateral value  = min(amount * price / WAD * (1 - haircut), value_cap)  rounded DOWN
* equity            = balance + collateral values + unrealized + pending funding + pending loss
* initial fraction  = base, grown linearly to 100 % between the open-interest caps (UP); a base
                      at or above 100 % is not scaled
* maintenance frac. = base initial fraction * maintenance share              rounded UP
                      (open interest never raises maintenance: dYdX v4's rule, F-08)
* requirement       = notional * fraction                                   rounded UP

Functions take prices as a mapping ``feed_id -> price_wad`` so that the margin core and the
simulator can evaluate the same rules at any price vector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from protocol.constants import WAD
from protocol.option_margin import group_requirement, needs_portfolio_margin
from protocol.options import mark_price
from protocol.params import CollateralParams, MarketParams, Params
from protocol.state import Account, MarketState, Position
from protocol.units import Rounding, mul_div, smul_div

__all__ = [
    "Health",
    "account_health",
    "collateral_value",
    "initial_fraction",
    "maintenance_fraction",
    "margined_alone",
    "notional",
    "pending_funding",
    "pending_loss",
    "position_requirement",
    "position_requirements",
    "unrealized_pnl",
]


@dataclass(frozen=True)
class Health:
    """An account's equity and requirements at one price vector (USD WAD)."""

    equity: int
    initial: int
    maintenance: int

    @property
    def liquidatable(self) -> bool:
        """Strictly below maintenance."""
        return self.equity < self.maintenance

    @property
    def meets_initial(self) -> bool:
        """At or above initial margin."""
        return self.equity >= self.initial

    @property
    def free_collateral(self) -> int:
        """Equity above the initial requirement (negative when below)."""
        return self.equity - self.initial


def notional(size: int, price_wad: int) -> int:
    """|size| * price, rounded UP (requirements are computed on it)."""
    return mul_div(abs(size), price_wad, WAD, Rounding.UP)


def unrealized_pnl(pos: Position, mark_wad: int) -> int:
    """PnL of a position marked at ``mark_wad`` per unit (see :func:`protocol.options.mark_price`):
    value FLOOR minus cost basis."""
    return smul_div(pos.size, mark_wad, WAD, Rounding.FLOOR) - pos.open_notional


def pending_funding(pos: Position, ms: MarketState) -> int:
    """Funding not yet settled into the balance (credit positive); the charge is rounded CEIL."""
    return -smul_div(pos.size, ms.funding_index - pos.funding_snapshot, WAD, Rounding.CEIL)


def side_loss_index(ms: MarketState, size: int) -> int:
    """The socialized-loss index of the side of ``size`` (positive = long)."""
    return ms.loss_index_long if size > 0 else ms.loss_index_short


def pending_loss(pos: Position, ms: MarketState) -> int:
    """Socialized loss not yet settled (a charge, so <= 0); rounded UP in magnitude."""
    return -mul_div(abs(pos.size), side_loss_index(ms, pos.size) - pos.loss_snapshot, WAD, Rounding.UP)


def collateral_value(cp: CollateralParams, amount_wad: int, price_wad: int) -> int:
    """Haircut value of ``amount_wad`` base units at ``price_wad``, capped; rounded DOWN."""
    gross = mul_div(amount_wad, price_wad, WAD, Rounding.DOWN)
    return min(mul_div(gross, WAD - cp.haircut_wad, WAD, Rounding.DOWN), cp.value_cap_wad)


def initial_fraction(mp: MarketParams, ms: MarketState, price_wad: int) -> int:
    """Effective initial margin fraction, grown with open-interest notional (dYdX v4 style) from
    the base toward 100 %; a base at or above 100 % (a market margined beyond its notional) is
    already there and stays as it is.

    Only the initial requirement scales: it is what risk-increasing fills and withdrawals must
    meet, so crowding a market limits new leverage without making open positions liquidatable.
    """
    base = mp.initial_margin_fraction_wad
    lo, hi = mp.oi_cap_lower_wad, mp.oi_cap_upper_wad
    if hi == 0 or base >= WAD:
        return base
    oi = mul_div(ms.oi_long, price_wad, WAD, Rounding.UP)
    if oi <= lo:
        return base
    if oi >= hi:
        return WAD
    return base + mul_div(WAD - base, oi - lo, hi - lo, Rounding.UP)


def maintenance_fraction(mp: MarketParams) -> int:
    """Maintenance fraction: a fixed share of the *base* initial fraction (UP), independent of
    open interest."""
    return mul_div(mp.initial_margin_fraction_wad, mp.maintenance_share_wad, WAD, Rounding.UP)


def position_requirements(mp: MarketParams, ms: MarketState, size: int, price_wad: int) -> tuple[int, int]:
    """``(initial, maintenance)`` requirements of a position of ``size`` at ``price_wad``: the
    notional (UP) times the effective initial fraction and the maintenance fraction, each rounded
    UP (USD WAD)."""
    if size == 0:
        return 0, 0
    n = notional(size, price_wad)
    return (
        mul_div(n, initial_fraction(mp, ms, price_wad), WAD, Rounding.UP),
        mul_div(n, maintenance_fraction(mp), WAD, Rounding.UP),
    )


def position_requirement(mp: MarketParams, ms: MarketState, size: int, price_wad: int, *, maintenance: bool) -> int:
    """Initial (or maintenance) requirement of a position of ``size`` at ``price_wad`` (UP)."""
    initial, maint = position_requirements(mp, ms, size, price_wad)
    return maint if maintenance else initial


def margined_alone(acct: Account, params: Params, markets: Mapping[int, MarketState], market_id: int) -> bool:
    """True if :func:`account_health` prices ``acct``'s position in perpetual ``market_id`` by
    :func:`position_requirements` on its own: no unsettled option of ``acct`` shares its feed, so
    a ``size_override`` of that market changes that one term and nothing else."""
    mp = params.market(market_id)
    if mp.is_option:
        return False
    for other_id in acct.positions:
        other = params.market(other_id)
        if other.feed_id == mp.feed_id and needs_portfolio_margin(other, markets[other_id]):
            return False
    return True


def account_health(
    acct: Account,
    params: Params,
    markets: Mapping[int, MarketState],
    prices: Mapping[int, int],
    *,
    now_s: int,
    size_override: tuple[int, int] | None = None,
) -> Health:
    """Equity and requirements of ``acct`` at ``prices`` (feed_id -> price_wad).

    ``size_override = (market_id, size)`` evaluates the requirements as if that position had
    ``size`` (used to price a partial liquidation before applying it); equity is unaffected.
    Positions on a feed with an unsettled option are margined together as a portfolio
    (:mod:`protocol.option_margin`); ``now_s`` is needed for them.
    Raises KeyError if a needed feed is missing from ``prices``: callers decide which prices
    are trusted.
    """
    equity = acct.balance
    for asset_id, amount in acct.collateral.items():
        if amount:
            cp = params.collateral(asset_id)
            equity += collateral_value(cp, amount, prices[cp.feed_id])
    initial = maintenance = 0
    legs: list[tuple[MarketParams, MarketState, int]] = []
    portfolio_feeds: set[int] = set()
    for market_id, pos in acct.positions.items():
        mp = params.market(market_id)
        ms = markets[market_id]
        price = prices[mp.feed_id]
        equity += unrealized_pnl(pos, mark_price(mp, ms, price)) + pending_funding(pos, ms) + pending_loss(pos, ms)
        if mp.is_option and ms.settlement_price_wad:
            continue  # the payout is fixed: no risk left
        size = pos.size
        if size_override is not None and size_override[0] == market_id:
            size = size_override[1]
        legs.append((mp, ms, size))
        if needs_portfolio_margin(mp, ms):
            portfolio_feeds.add(mp.feed_id)
    groups: dict[int, list[tuple[MarketParams, Position]]] = {}
    for mp, ms, size in legs:
        if mp.feed_id in portfolio_feeds:
            groups.setdefault(mp.feed_id, []).append((mp, Position(size=size)))
            continue
        im, mm = position_requirements(mp, ms, size, prices[mp.feed_id])
        initial += im
        maintenance += mm
    for feed_id, group in groups.items():
        im, mm = group_requirement(group, prices[feed_id], now_s, params.protocol)
        initial += im
        maintenance += mm
    return Health(equity=equity, initial=initial, maintenance=maintenance)


def account_feeds(acct: Account, params: Params) -> set[int]:
    """Feeds whose prices the health of ``acct`` depends on."""
    feeds = {params.market(m).feed_id for m in acct.positions}
    feeds |= {params.collateral(a).feed_id for a, v in acct.collateral.items() if v}
    return feeds
