"""Portfolio requirement of an account's positions on one underlying when options are involved.

The protocol margins perpetual-only exposure exactly (:mod:`protocol.margin`). An underlying
(a feed) on which the account holds an unsettled option is margined as a portfolio instead:
perpetuals and options on that feed are revalued together over the 16 SPAN scenarios, so
gains offset losses, and different underlyings are summed.

Scenario ``i`` moves the price by ``m_i * scan`` and the volatility by ``v_i * vol_scan``
(relative: ``vol * (1 + v_i * vol_scan)``); scenarios 1-14 count fully, the two extreme moves
(``±3 * scan``, volatility unchanged) count 35 %. :data:`SPAN_SCENARIOS` is the one definition
of this grid: the batch engine's default :func:`protocol.portfolio.span_grid` is built from
:func:`span_scenarios`. In scenario ``i`` a perpetual's P&L is ``(size * price) * move_i``
(USD) and an option's ``size * (BS(moved price, moved vol) - BS(price, vol))`` with
:func:`protocol.black_scholes.price_unchecked` (zero interest, the market's continuous yield
``q = dividend_yield_wad / WAD`` of the underlying, cash-settled, time to expiry
``max(expiry - now, 0)`` seconds on ACT/365, intrinsic value at 0). The requirement of the group:

    maintenance = ceil(max(worst weighted loss, short-option minimum) * WAD)   (USD WAD)
    initial     = ceil(maintenance * WAD / portfolio_maintenance_share)

where the short-option minimum is ``sum(|short option size|) * price * short_option_minimum``.
Losses are computed in float64 from the exact integer state; this is the one place the
protocol's requirement is not exact, and the batch engine in :mod:`protocol.portfolio` agrees
with it within 1e-9 relative (``tests/differential/test_option_margin_vs_model.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from protocol.black_scholes import SECONDS_PER_YEAR, price_unchecked
from protocol.constants import WAD
from protocol.params import MarketKind, MarketParams, ProtocolParams
from protocol.state import MarketState, Position

__all__ = [
    "SPAN_EXTREME_MULTIPLE",
    "SPAN_EXTREME_WEIGHT",
    "SPAN_PRICE_MOVES",
    "SPAN_SCENARIOS",
    "Scenario",
    "group_requirement",
    "needs_portfolio_margin",
    "requirements_wad",
    "span_scenarios",
]

#: Price moves of SPAN scenarios 1-14 in multiples of the scan range, each taken with the
#: volatility up then down one vol scan range (CME risk-array order).
SPAN_PRICE_MOVES: tuple[float, ...] = (0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0)
#: Price move of the two extreme scenarios (15, 16) in multiples of the scan range.
SPAN_EXTREME_MULTIPLE = 3.0
#: Share of the loss counted in the two extreme scenarios.
SPAN_EXTREME_WEIGHT = 0.35


@dataclass(frozen=True)
class Scenario:
    """A price move (multiple of the scan range), a volatility move (multiple of the vol scan
    range) and the weight of the loss counted."""

    price_move: float
    vol_move: float
    weight: float


def span_scenarios(
    extreme_multiple: float = SPAN_EXTREME_MULTIPLE, extreme_weight: float = SPAN_EXTREME_WEIGHT
) -> tuple[Scenario, ...]:
    """The 16 SPAN scenarios in CME risk-array order with an extreme move of
    ``±extreme_multiple`` scan ranges counted at ``extreme_weight``; the defaults give the
    protocol's grid :data:`SPAN_SCENARIOS`."""
    return (
        *(Scenario(m, v, 1.0) for m in SPAN_PRICE_MOVES for v in (1.0, -1.0)),
        Scenario(extreme_multiple, 0.0, extreme_weight),
        Scenario(-extreme_multiple, 0.0, extreme_weight),
    )


#: The protocol's 16 SPAN scenarios.
SPAN_SCENARIOS: tuple[Scenario, ...] = span_scenarios()


def needs_portfolio_margin(mp: MarketParams, ms: MarketState) -> bool:
    """True for an option whose settlement price is not yet fixed."""
    return mp.is_option and ms.settlement_price_wad == 0


def requirements_wad(requirement_usd: float, pp: ProtocolParams) -> tuple[int, int]:
    """``(initial, maintenance)`` in USD WAD of a group whose maintenance requirement is
    ``requirement_usd`` (USD, float): ``maintenance = ceil(requirement_usd * WAD)`` and
    ``initial = ceil(maintenance * WAD / portfolio_maintenance_share)``."""
    maintenance = math.ceil(requirement_usd * WAD)
    initial = -((-maintenance * WAD) // pp.portfolio_maintenance_share_wad)
    return initial, maintenance


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
        move = sc.price_move * scan
        moved = spot * (1.0 + move)
        vol_factor = 1.0 + sc.vol_move * vol_scan
        change = 0.0
        for mp, pos in legs:
            size = pos.size / WAD
            if not mp.is_option:
                change += (size * spot) * move
                continue
            is_call = mp.kind is MarketKind.CALL
            years = max(mp.expiry_s - now_s, 0) / SECONDS_PER_YEAR
            vol = mp.volatility_wad / WAD
            strike = mp.strike_wad / WAD
            carry = mp.dividend_yield_wad / WAD
            before = price_unchecked(is_call, spot, strike, years, vol, 0.0, carry)
            after = price_unchecked(is_call, moved, strike, years, vol * vol_factor, 0.0, carry)
            change += size * (after - before)
        worst = max(worst, -change * sc.weight)
    short_units = sum(-pos.size for mp, pos in legs if mp.is_option and pos.size < 0) / WAD
    floor = short_units * spot * pp.short_option_minimum_wad / WAD
    return requirements_wad(max(worst, floor), pp)
