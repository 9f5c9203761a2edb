"""Stress simulation for protocol designers.

* :mod:`~protocol.simulator.config` — a study (TOML): price model, traders, keepers, liquidity,
  oracle, funding, protocol overrides; dotted overrides for sweeps; per-path seeds;
* :mod:`~protocol.simulator.paths` and :mod:`~protocol.simulator.agents` — price models and the
  actors around the protocol;
* :mod:`~protocol.simulator.engine` — the book set-up and one path: every state change is a
  reference-model action, the margin core decides whom to liquidate (exactly as the model);
* :mod:`~protocol.simulator.results`, :mod:`~protocol.simulator.store`,
  :mod:`~protocol.simulator.runner`, :mod:`~protocol.simulator.summary`,
  :mod:`~protocol.simulator.sweep` — exact metrics, Parquet results with resume, local pool or
  Dask, aggregate risk measures, grids and threshold search.
"""
