"""Scenario portfolio margin with European options (float64 risk maths, numba kernels).

* :mod:`~protocol.portfolio.black_scholes`: batch prices and Greeks (numba compilations of the
  pure-Python :mod:`protocol.black_scholes`, whose scalar API is re-exported here);
* :mod:`~protocol.portfolio.scenarios`: the SPAN grid (the reference model's, by default) and
  Deribit-style grids;
* :mod:`~protocol.portfolio.book` and :mod:`~protocol.portfolio.market`: the inputs;
* :mod:`~protocol.portfolio.engine`: scenario losses and portfolio margin of many accounts
  (risk arrays per listed series);
* :mod:`~protocol.portfolio.greeks`: position and account Greeks;
* :mod:`~protocol.portfolio.adapter`: the inputs built from reference-model state.

Floats are used here because this is risk maths off the protocol's state; converting WAD
integers to these inputs is one division by ``WAD`` per field (done by the adapter).
"""

from protocol.portfolio.adapter import ModelPortfolios
from protocol.portfolio.black_scholes import (
    DAYS_PER_YEAR,
    Greeks,
    GreeksArrays,
    bs_greeks,
    bs_greeks_batch,
    bs_price,
    bs_price_batch,
)
from protocol.portfolio.book import Instrument, Position, PositionBook, SeriesTable
from protocol.portfolio.engine import MarginResult, portfolio_margin, scenario_losses
from protocol.portfolio.greeks import PortfolioGreeks, Sensitivities, portfolio_greeks
from protocol.portfolio.market import Underlyings
from protocol.portfolio.scenarios import ScenarioGrid, VolShift, deribit_grid, span_grid

__all__ = [
    "DAYS_PER_YEAR",
    "Greeks",
    "GreeksArrays",
    "Instrument",
    "MarginResult",
    "ModelPortfolios",
    "PortfolioGreeks",
    "Position",
    "PositionBook",
    "ScenarioGrid",
    "Sensitivities",
    "SeriesTable",
    "Underlyings",
    "VolShift",
    "bs_greeks",
    "bs_greeks_batch",
    "bs_price",
    "bs_price_batch",
    "deribit_grid",
    "portfolio_greeks",
    "portfolio_margin",
    "scenario_losses",
    "span_grid",
]
