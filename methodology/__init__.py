"""Margin methodology for protocol designers: how a clearing house would choose the margins.

* :mod:`~methodology.series` — price series from the shared market data (daily 2018-2026, the
  hourly crash windows) or any kline CSV, checked for gaps; durations in bars;
* :mod:`~methodology.models` — the margin models at confidence ``alpha`` over a margin period
  of risk: historical VaR / ES (overlapping and non-overlapping windows), filtered historical
  simulation (EWMA and GARCH(1,1) fitted with ``arch``), normal, Student-t, Cornish-Fisher,
  Monte Carlo of the simulator's jump-diffusion;
* :mod:`~methodology.rolling` — every model recalibrated every bar (numba), and
  :mod:`~methodology.reference` — the same maths in plain pandas (the benchmark's baseline and
  the differential tests' oracle);
* :mod:`~methodology.portfolio`, :mod:`~methodology.liquidity` — BTC/ETH portfolios with their
  dependence; the liquidity add-on growing with position size against market depth;
* :mod:`~methodology.backtest` — exceptions, Kupiec, Christoffersen, Basel traffic light,
  coverage per crash window;
* :mod:`~methodology.procyclicality` — the three EMIR anti-procyclicality options and their
  measures;
* :mod:`~methodology.cover` — Cover-1 / Cover-2 of a book under historical and hypothetical
  stress, beside the simulator's insurance-fund VaR;
* :mod:`~methodology.calibration` — a model's margin turned into the protocol's initial and
  maintenance fractions (exact WAD, rounded up) and a parameter file;
* :mod:`~methodology.report` — report.md, JSON and plots, written atomically.

Floats throughout: this is a report, not protocol state. Fractions enter the protocol's
parameters only through :mod:`~methodology.calibration`, converted to WAD once, rounded up.

Layer: between the face (:mod:`novation`) and the applications (:mod:`simulator`); imports
:mod:`simulator`, :mod:`oracles` and :mod:`protocol`, never :mod:`novation`.
"""

from __future__ import annotations
