"""Portfolio requirement of an account's positions on one underlying when options are involved.

The protocol margins perpetual-only exposure exactly (:mod:`protocol.margin`). An underlying
(a feed) on which the account holds an unsettled option is margined as a portfolio instead:
perpetuals and options on that feed are revalued together over the 16 SPAN scenarios, so
gains offset losses, and different underlyings are summed.

Scenario ``i`` moves the price by ``m_i * scan`` and the volatility by ``v_i * vol_scan``
(relative); scenarios 1-14 count fully, the two extreme moves (``±3 * scan``, volatility
unchanged) count 35 %. The requirement of the group:

    maintenance = ceil(max(worst weighted loss, short-option minimum) * WAD)   (USD WAD)
    initial     = ceil(maintenance * WAD / portfolio_maintenance_share)

where the short-option minimum is ``sum(|short option size|) * price * short_option_minimum``.
Losses are computed in float64 (Black-Scholes, zero interest, cash-settled) from the exact
integer state; this is the one place the protocol's requirement is not exact, and the batch
engine in :mod:`protocol.portfolio` agrees with it within 1e-9 relative.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from protocol.constants import WAD
from protocol.params import MarketKind, MarketParams, ProtocolParams
from protocol.state import MarketState, Position

__all__ = [
    "SECONDS_PER_YEAR",
    "SPAN_SCENARIOS",
    "Scenario",
    "black_scholes",
    "group_requirement",
    "needs_portfolio_margin",
]

SECONDS_PER_YEAR = 365 * 86_400


@dataclass(frozen=True)
class Scenario:
    """A price move (multiple of the scan range), a volatility move (multiple of the vol scan
    range) and the weight of the loss counted."""

    price_move: float
    vol_move: float
    weight: float


#: The 16 standard SPAN scenarios (CME risk-array order).
SPAN_SCENARIOS: tuple[Scenario, ...] = (
    *(Scenario(m, v, 1.0) for m in (0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0) for v in (1.0, -1.0)),
    Scenario(3.0, 0.0, 0.35),
    Scenario(-3.0, 0.0, 0.35),
)


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def black_scholes(is_call: bool, spot: float, strike: float, years: float, vol: float) -> float:
    """Black-Scholes value (USD per unit) of a European option, zero interest; intrinsic at expiry."""
    if years <= 0.0 or vol <= 0.0:
        return max(spot - strike, 0.0) if is_call else max(strike - spot, 0.0)
    sq = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * vol * vol * years) / sq
    d2 = d1 - sq
    if is_call:
        return spot * _norm_cdf(d1) - strike * _norm_cdf(d2)
    return strike * _norm_cdf(-d2) - spot * _norm_cdf(-d1)


def needs_portfolio_margin(mp: MarketParams, ms: MarketState) -> bool:
    """True for an option whose settlement price is not yet fixed."""
    return mp.is_option and ms.settlement_price_wad == 0


def group_requirement(
    positions: Iterable[tuple[MarketParams, Position]],
    price_wad: int,
    now_s: int,
    pp: ProtocolParams,
) -> tuple[int, int]:
    """``(initial, maintenance)`` in USD WAD of positions on one underlying at ``price_wad``."""
    spot = price_wad / WAD
    scan = pp.option_price_scan_range_wad / WAD
    vol_scan = pp.option_vol_scan_range_wad / WAD
    legs = list(positions)
    worst = 0.0
    for sc in SPAN_SCENARIOS:
        moved = spot * (1.0 + sc.price_move * scan)
        change = 0.0
        for mp, pos in legs:
            size = pos.size / WAD
            if not mp.is_option:
                change += size * (moved - spot)
                continue
            is_call = mp.kind is MarketKind.CALL
            years = (mp.expiry_s - now_s) / SECONDS_PER_YEAR
            vol = mp.volatility_wad / WAD
            strike = mp.strike_wad / WAD
            before = black_scholes(is_call, spot, strike, years, vol)
            after = black_scholes(is_call, moved, strike, years, vol * (1.0 + sc.vol_move * vol_scan))
            change += size * (after - before)
        worst = max(worst, -change * sc.weight)
    short_units = sum(-pos.size for mp, pos in legs if mp.is_option and pos.size < 0) / WAD
    floor = short_units * spot * pp.short_option_minimum_wad / WAD
    maintenance = math.ceil(max(worst, floor) * WAD)
    initial = -((-maintenance * WAD) // pp.portfolio_maintenance_share_wad)
    return initial, maintenance
