"""Cross-margin: equity, initial and maintenance requirements (all USD WAD).

Definitions (docs/SPEC.md §margin has the rounding table):

* notional          = |size| * price / WAD                                 rounded UP
* unrealized PnL    = size * price / WAD (FLOOR) - open_notional
* pending funding   = -(size * (funding_index - snapshot) / WAD)            charge rounded CEIL
* pending loss      = -(|size| * (loss_index_side - snapshot) / WAD)        charge rounded UP
* collateral value  = min(amount * price / WAD * (1 - haircut), value_cap)  rounded DOWN
* equity            = balance + collateral values + unrealized + pending funding + pending loss
* initial fraction  = base, grown linearly to 100 % between the open-interest caps (UP)
* maintenance frac. = initial fraction * maintenance share                   rounded UP
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
    "notional",
    "pending_funding",
    "pending_loss",
    "position_requirement",
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
    """Effective initial margin fraction, grown with open-interest notional (dYdX v4 style)."""
    base = mp.initial_margin_fraction_wad
    lo, hi = mp.oi_cap_lower_wad, mp.oi_cap_upper_wad
    if hi == 0:
        return base
    oi = mul_div(ms.oi_long, price_wad, WAD, Rounding.UP)
    if oi <= lo:
        return base
    if oi >= hi:
        return WAD
    return base + mul_div(WAD - base, oi - lo, hi - lo, Rounding.UP)


def maintenance_fraction(mp: MarketParams, ms: MarketState, price_wad: int) -> int:
    """Effective maintenance fraction: a fixed share of the effective initial fraction (UP)."""
    return mul_div(initial_fraction(mp, ms, price_wad), mp.maintenance_share_wad, WAD, Rounding.UP)


def position_requirement(mp: MarketParams, ms: MarketState, size: int, price_wad: int, *, maintenance: bool) -> int:
    """Initial (or maintenance) requirement of a position of ``size`` at ``price_wad`` (UP)."""
    frac = maintenance_fraction(mp, ms, price_wad) if maintenance else initial_fraction(mp, ms, price_wad)
    return mul_div(notional(size, price_wad), frac, WAD, Rounding.UP)


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
    groups: dict[int, list[tuple[MarketParams, Position]]] = {}
    portfolio_feeds: set[int] = set()
    for market_id, pos in acct.positions.items():
        mp = params.market(market_id)
        ms = markets[market_id]
        price = prices[mp.feed_id]
        equity += unrealized_pnl(pos, mark_price(mp, ms, price)) + pending_funding(pos, ms) + pending_loss(pos, ms)
        size = pos.size
        if size_override is not None and size_override[0] == market_id:
            size = size_override[1]
        if mp.is_option and ms.settlement_price_wad:
            continue  # the payout is fixed: no risk left
        groups.setdefault(mp.feed_id, []).append((mp, Position(size=size)))
        if needs_portfolio_margin(mp, ms):
            portfolio_feeds.add(mp.feed_id)
    for feed_id, legs in sorted(groups.items()):
        if feed_id in portfolio_feeds:
            im, mm = group_requirement(legs, prices[feed_id], now_s, params.protocol)
            initial += im
            maintenance += mm
            continue
        for mp, leg in legs:
            ms = markets[mp.market_id]
            initial += position_requirement(mp, ms, leg.size, prices[feed_id], maintenance=False)
            maintenance += position_requirement(mp, ms, leg.size, prices[feed_id], maintenance=True)
    return Health(equity=equity, initial=initial, maintenance=maintenance)


def account_feeds(acct: Account, params: Params) -> set[int]:
    """Feeds whose prices the health of ``acct`` depends on."""
    feeds = {params.market(m).feed_id for m in acct.positions}
    feeds |= {params.collateral(a).feed_id for a, v in acct.collateral.items() if v}
    return feeds
