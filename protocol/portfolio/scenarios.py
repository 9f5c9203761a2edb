"""Scenario grids for portfolio margin, as validated frozen data.

A grid is a list of scenarios; scenario ``s`` of underlying ``u`` moves

* the price to ``spot_u * (1 + move)`` with ``move = price_scan_range_u * price_units[s]``;
* each option's implied volatility ``vol``, when ``vol_units[s] != 0``, with ``range_u`` the
  underlying's up range if ``vol_units[s] > 0`` and its down range otherwise, to

  - :attr:`VolShift.ABSOLUTE`: ``max(vol + vol_units[s] * range_u, min_vol)`` (ranges in
    volatility points: 0.05 = five points);
  - :attr:`VolShift.RELATIVE`: ``max(vol * (1 + vol_units[s] * range_u * f), min_vol)`` with
    ``f = (30 / max(days_to_expiry, dte_floor_days)) ** power`` (ranges as a fraction of the
    option's own volatility, scaled up for short expiries with ``power = vega_power_short``
    below 30 days and ``vega_power_long`` from 30 days on; ``f == 1`` when both are 0);

and counts ``weights[s]`` of the resulting loss. The scan ranges belong to the underlying
(:class:`protocol.portfolio.market.Underlyings`); the grid only fixes the shape.

The two standard shapes:

* :func:`span_grid`: the 16 SPAN risk scenarios in CME risk-array order, built from the
  reference model's definition (:func:`protocol.option_margin.span_scenarios`, the single
  source): price unchanged, ±1/3, ±2/3 and ±3/3 of the price scan range, each with volatility
  up and down one scan range (scenarios 1-14, counted in full), then two extreme moves with
  volatility unchanged counted at 35 % (scenarios 15-16). The defaults are the protocol's:
  extreme move 3 scan ranges (the original CME description; some published tables, e.g.
  NSE's SPAN documentation, use twice the scan range: pass ``extreme_multiple=2.0``),
  relative volatility moves, no volatility floor.
* :func:`deribit_grid`: Deribit's portfolio-margin risk matrix: price moves evenly spaced
  over ``±price_range`` (Deribit publishes ``price_range = 0.16`` for BTC) crossed with three
  volatility scenarios (down, unchanged, up; Deribit's ``vol_scenarios_count = 3``,
  ``volatility_range_down = 0.25``, ``volatility_range_up = 0.5``, ``short_term_vega_power =
  0.3``, ``long_term_vega_power = 0.13`` in the ``model_params`` of ``private/pme/simulate``),
  all counted in full. The number of price points is ours (Deribit does not publish it
  there); Deribit's extended table, delta shock and dampeners are not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Final

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from protocol.option_margin import SPAN_EXTREME_MULTIPLE, SPAN_EXTREME_WEIGHT, span_scenarios

__all__ = [
    "DEFAULT_MIN_VOL",
    "ScenarioGrid",
    "VolShift",
    "deribit_grid",
    "span_grid",
]

#: Default lowest volatility a shock may produce (annualised decimal) outside the SPAN grid.
DEFAULT_MIN_VOL: Final = 1e-3
#: Days to expiry at which the relative volatility shock is unscaled (Deribit: 30).
VEGA_REFERENCE_DAYS: Final = 30.0


class VolShift(Enum):
    """How a scenario's volatility move is applied to an option's implied volatility."""

    #: Add ``units * range`` volatility points (SPAN).
    ABSOLUTE = "absolute"
    #: Multiply by ``1 + units * range * (30 / days) ** power`` (Deribit, and the protocol's SPAN).
    RELATIVE = "relative"


def _finite_tuple(name: str, values: tuple[float, ...]) -> None:
    for i, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            raise InvalidParameter(f"grid.{name}[{i}] = {x!r} must be a finite real number")


@dataclass(frozen=True)
class ScenarioGrid:
    """Price and volatility moves (in multiples of the underlying's scan ranges) and weights."""

    name: str
    #: Price move of each scenario in multiples of the price scan range.
    price_units: tuple[float, ...]
    #: Volatility move of each scenario in multiples of the volatility scan range (up if > 0).
    vol_units: tuple[float, ...]
    #: Fraction of the scenario's loss counted, in (0, 1].
    weights: tuple[float, ...]
    vol_shift: VolShift = VolShift.ABSOLUTE
    #: RELATIVE only: exponent of ``30 / days`` for expiries under 30 days and from 30 days on.
    vega_power_short: float = 0.0
    vega_power_long: float = 0.0
    #: RELATIVE only: days to expiry below which the scaling stops growing.
    dte_floor_days: float = 1.0
    #: Lowest volatility a shock may produce (annualised decimal); 0 = no floor (a shocked
    #: volatility of 0 prices the option at ``max(S - K exp(-r t), 0)``, the zero-vol limit).
    min_vol: float = DEFAULT_MIN_VOL

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameter(f"grid.name must be a non-empty string, got {self.name!r}")
        for field in ("price_units", "vol_units", "weights"):
            value = getattr(self, field)
            if not isinstance(value, tuple):
                raise InvalidParameter(f"grid.{field} must be a tuple of numbers, got {type(value).__name__}")
            _finite_tuple(field, value)
        n = len(self.price_units)
        if n == 0 or len(self.vol_units) != n or len(self.weights) != n:
            raise InvalidParameter(
                f"grid {self.name!r}: price_units, vol_units and weights must have the same non-zero length, "
                f"got {n}, {len(self.vol_units)}, {len(self.weights)}"
            )
        for i, w in enumerate(self.weights):
            if not 0.0 < w <= 1.0:
                raise InvalidParameter(f"grid.weights[{i}] = {w!r} must be in (0, 1]")
        if not isinstance(self.vol_shift, VolShift):
            raise InvalidParameter(f"grid.vol_shift must be a VolShift, got {self.vol_shift!r}")
        _finite_tuple("vega_powers", (self.vega_power_short, self.vega_power_long, self.dte_floor_days, self.min_vol))
        if self.vol_shift is VolShift.ABSOLUTE and (self.vega_power_short, self.vega_power_long) != (0.0, 0.0):
            raise InvalidParameter("grid.vega_power_short/long apply to RELATIVE volatility shifts only; set them to 0")
        if not (0.0 <= self.vega_power_short <= 2.0 and 0.0 <= self.vega_power_long <= 2.0):
            raise InvalidParameter("grid.vega_power_short and vega_power_long must be in [0, 2]")
        if not self.dte_floor_days > 0.0:
            raise InvalidParameter(f"grid.dte_floor_days = {self.dte_floor_days!r} must be > 0")
        if not 0.0 <= self.min_vol < 1.0:
            raise InvalidParameter(f"grid.min_vol = {self.min_vol!r} must be in [0, 1)")

    @property
    def size(self) -> int:
        """Number of scenarios."""
        return len(self.weights)

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """``(price_units, vol_units, weights)`` as new float64 arrays."""
        return (
            np.array(self.price_units, dtype=np.float64),
            np.array(self.vol_units, dtype=np.float64),
            np.array(self.weights, dtype=np.float64),
        )


def span_grid(
    *,
    extreme_multiple: float = SPAN_EXTREME_MULTIPLE,
    extreme_weight: float = SPAN_EXTREME_WEIGHT,
    vol_shift: VolShift = VolShift.RELATIVE,
    min_vol: float = 0.0,
) -> ScenarioGrid:
    """The 16 SPAN scenarios of :func:`protocol.option_margin.span_scenarios` (CME risk-array
    order); with the defaults exactly the protocol's grid :data:`protocol.option_margin.SPAN_SCENARIOS`.

    Scenario ``2 i + 1`` / ``2 i + 2`` (1-based) for ``i = 0..6`` move the price by
    ``0, +1/3, -1/3, +2/3, -2/3, +1, -1`` scan ranges with volatility up / down one scan range;
    scenarios 15 and 16 move it by ``±extreme_multiple`` scan ranges, volatility unchanged,
    counting ``extreme_weight`` of the loss. ``min_vol`` floors shocked volatilities (the
    protocol has none; an ABSOLUTE grid usually wants e.g. :data:`DEFAULT_MIN_VOL`).
    """
    for name, value, lo, hi in (
        ("extreme_multiple", extreme_multiple, 1.0, 10.0),
        ("extreme_weight", extreme_weight, 0.0, 1.0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value <= hi:
            raise InvalidParameter(f"span_grid: {name} = {value!r} must be in ({lo}, {hi}]")
    scenarios = span_scenarios(float(extreme_multiple), float(extreme_weight))
    return ScenarioGrid(
        name="span16",
        price_units=tuple(sc.price_move for sc in scenarios),
        vol_units=tuple(sc.vol_move for sc in scenarios),
        weights=tuple(sc.weight for sc in scenarios),
        vol_shift=vol_shift,
        min_vol=min_vol,
    )


def deribit_grid(
    *,
    price_points: int = 21,
    vega_power_short: float = 0.3,
    vega_power_long: float = 0.13,
    dte_floor_days: float = 1.0,
) -> ScenarioGrid:
    """Deribit-style grid: ``price_points`` moves evenly over ±1 price range (odd, so 0 is one
    of them) crossed with volatility (down, unchanged, up), relative shifts, all weights 1."""
    if isinstance(price_points, bool) or not isinstance(price_points, int) or price_points < 3 or price_points % 2 == 0:
        raise InvalidParameter(f"deribit_grid: price_points = {price_points!r} must be an odd integer >= 3")
    half = price_points // 2
    moves = tuple(i / half for i in range(-half, half + 1))
    return ScenarioGrid(
        name=f"deribit{price_points}x3",
        price_units=tuple(m for m in moves for _ in range(3)),
        vol_units=tuple(v for _ in moves for v in (-1.0, 0.0, 1.0)),
        weights=tuple(1.0 for _ in range(3 * price_points)),
        vol_shift=VolShift.RELATIVE,
        vega_power_short=vega_power_short,
        vega_power_long=vega_power_long,
        dte_floor_days=dte_floor_days,
    )
