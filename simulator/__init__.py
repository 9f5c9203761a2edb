"""Stress simulation for protocol designers.

* :mod:`~simulator.config` — a study (TOML): price model, traders, keepers, liquidity,
  oracle, funding, protocol overrides; dotted overrides for sweeps; per-path seeds;
* :mod:`~simulator.paths` and :mod:`~simulator.agents` — price models and the
  actors around the protocol;
* :mod:`~simulator.engine` — the book set-up and one path: every state change is a
  reference-model action, the margin core decides whom to liquidate (exactly as the model);
* :mod:`~simulator.results`, :mod:`~simulator.store`,
  :mod:`~simulator.runner`, :mod:`~simulator.summary`,
  :mod:`~simulator.sweep` — exact metrics, Parquet results with resume, local pool or
  Dask (a larger path count extends a study), aggregate risk measures, grids and a threshold
  search that decides on upper confidence bounds;
* :mod:`~simulator.uncertainty` — confidence bounds, expected shortfall and the paths a target
  needs (scipy.stats); :mod:`~simulator.compare` — two studies side by side;
* :mod:`~simulator.report` and :mod:`~simulator.plots` — report.md, summary.json and PNGs;
* :mod:`~simulator.on_chain` — one path's exact action log sent to the contracts on a local
  chain, with the model as twin.

Layer: applications. Imports :mod:`contracts_py`, :mod:`oracles` and :mod:`protocol`, never
:mod:`novation`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["EXAMPLES_DIR"]

#: Example studies shipped with the package: ``stress.toml`` (Monte Carlo) and ``crash_2020.toml``.
EXAMPLES_DIR: Final = Path(__file__).resolve().parent / "examples"
