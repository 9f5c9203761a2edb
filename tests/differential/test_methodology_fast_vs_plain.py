"""The fast rolling engine (numba) equals the plain pandas implementation within 1e-12, for every
model, on the lookback and on the floor lookback, and for the portfolios."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from methodology.models import MODELS
from methodology.portfolio import PORTFOLIOS, portfolio_margins
from methodology.reference import reference_margins, reference_portfolio
from methodology.rolling import Inputs, prepare, rolling_margins
from methodology.series import align, daily_csv, load_series


@pytest.fixture(scope="module")
def inputs(market_data: Path) -> tuple[Inputs, Inputs]:
    btc, eth = (load_series(daily_csv(market_data, s), s) for s in ("BTC", "ETH"))
    btc, eth = align((btc, eth))
    # 2019-09 .. 2020-09: Black Thursday inside the window; MPOR of 2 days, 95 %
    cut = slice(600, 1_000)
    out = []
    for i, s in enumerate((btc, eth)):
        part = type(s)(s.name, s.times_s[cut], s.closes[cut], s.volumes[cut], s.bar_s, s.source)
        out.append(
            prepare(
                part,
                alpha=0.95,
                h=2,
                lookback=150,
                floor=300,
                refit=40,
                mc_paths=2_000,
                seed=np.random.SeedSequence(11 + i),
            )
        )
    return out[0], out[1]


def test_every_model_equals_the_plain_implementation(inputs: tuple[Inputs, Inputs]) -> None:
    for inp in inputs:
        fast = rolling_margins(inp, MODELS, floor_models=MODELS)
        plain = reference_margins(inp, MODELS, floor_models=MODELS)
        for m in MODELS:
            assert fast.main[m].shape == (len(inp.dates), 4)
            assert np.max(np.abs(fast.main[m] - plain.main[m])) <= 1e-12, m
            assert np.max(np.abs(fast.floor[m] - plain.floor[m])) <= 1e-12, m
            assert np.all(fast.margin(m, "es") >= fast.margin(m, "var") - 1e-12), m


def test_portfolios_equal_the_plain_implementation(inputs: tuple[Inputs, Inputs]) -> None:
    for weights in PORTFOLIOS.values():
        fast = portfolio_margins(inputs, weights)
        plain = reference_portfolio(inputs, weights)
        for m, table in fast.items():
            assert np.max(np.abs(table - plain[m])) <= 1e-12, m
