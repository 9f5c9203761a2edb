"""Seeded price paths: shapes, reproducibility, the statistics each model promises, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from oracles.history import load_klines
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from simulator.paths import (
    brownian_bridge,
    correlated_gbm,
    garch11,
    historical,
    merton_jump_diffusion,
    ornstein_uhlenbeck,
    scale_returns,
)

HOUR = 3_600


def test_gbm_is_reproducible_and_seed_stored() -> None:
    a = correlated_gbm(np.random.SeedSequence(7), n_paths=3, n_steps=5, dt_s=HOUR, spot=[60_000, 3_000], sigma=0.8)
    b = correlated_gbm(np.random.SeedSequence(7), n_paths=3, n_steps=5, dt_s=HOUR, spot=[60_000, 3_000], sigma=0.8)
    c = correlated_gbm(np.random.SeedSequence(8), n_paths=3, n_steps=5, dt_s=HOUR, spot=[60_000, 3_000], sigma=0.8)
    assert a.prices.shape == (3, 6, 2)
    assert np.array_equal(a.prices, b.prices)
    assert not np.array_equal(a.prices, c.prices)
    assert a.seed_entropy == 7
    assert a.prices[:, 0, :].tolist() == [[60_000.0, 3_000.0]] * 3
    assert a.times_s.tolist() == [0, 3_600, 7_200, 10_800, 14_400, 18_000]


def test_gbm_recovers_volatility_and_correlation() -> None:
    paths = correlated_gbm(
        np.random.SeedSequence(1),
        n_paths=4_000,
        n_steps=24,
        dt_s=HOUR,
        spot=[1.0, 1.0],
        sigma=[0.5, 1.0],
        corr=[[1.0, 0.7], [0.7, 1.0]],
    )
    r = np.diff(np.log(paths.prices), axis=1).reshape(-1, 2)
    per_year = np.sqrt(r.var(axis=0) * 365 * 24)
    assert per_year == pytest.approx([0.5, 1.0], rel=0.02)
    assert np.corrcoef(r.T)[0, 1] == pytest.approx(0.7, abs=0.02)


def test_bridge_hits_the_target_shock_exactly() -> None:
    p = brownian_bridge(np.random.SeedSequence(3), n_paths=50, n_steps=60, dt_s=60, spot=4_000.0, sigma=1.5, shock=-0.4)
    assert np.all(p.prices[:, 0, 0] == 4_000.0)
    assert np.all(p.prices[:, -1, 0] == 4_000.0 * 0.6)


def test_ou_reverts_to_its_mean() -> None:
    p = ornstein_uhlenbeck(
        np.random.SeedSequence(4),
        n_paths=2_000,
        n_steps=200,
        dt_s=HOUR,
        start=0.9,
        mean=1.0,
        speed_per_year=2_000.0,
        sigma=0.5,
    )
    assert p.prices[:, -1, 0].mean() == pytest.approx(1.0, abs=0.002)
    assert np.all(p.prices >= 0)


def test_merton_jumps_fatten_the_tails() -> None:
    kw = {"n_paths": 2_000, "n_steps": 48, "dt_s": HOUR, "spot": 100.0, "sigma": 0.5}
    calm = merton_jump_diffusion(np.random.SeedSequence(5), jumps_per_year=0.0, jump_mean=0.0, jump_std=0.0, **kw)
    jumpy = merton_jump_diffusion(np.random.SeedSequence(5), jumps_per_year=300.0, jump_mean=-0.05, jump_std=0.05, **kw)

    def kurtosis(p: np.ndarray) -> float:
        r = np.diff(np.log(p), axis=1).ravel()
        return float(((r - r.mean()) ** 4).mean() / r.var() ** 2)

    assert kurtosis(calm.prices) == pytest.approx(3.0, abs=0.2)
    assert kurtosis(jumpy.prices) > 5.0
    # compensated drift: the mean price stays near the start
    assert jumpy.prices[:, -1, 0].mean() == pytest.approx(100.0, rel=0.02)


def test_garch_variance_clusters_and_stays_positive() -> None:
    p = garch11(
        np.random.SeedSequence(6), n_paths=500, n_steps=500, dt_s=HOUR, spot=100.0, omega=1e-6, alpha=0.1, beta=0.85
    )
    r = np.diff(np.log(p.prices[:, :, 0]), axis=1)
    assert r.var() == pytest.approx(1e-6 / 0.05, rel=0.1)
    sq = r**2
    lag1 = np.corrcoef(sq[:, 1:].ravel(), sq[:, :-1].ravel())[0, 1]
    assert lag1 > 0.05


def test_historical_replay_and_vol_scaling(market_data) -> None:  # type: ignore[no-untyped-def]
    bars = load_klines(market_data / "2020-03-12_black_thursday" / "binance_usdm_perp_BTCUSDT_1m_2020-03-13T02.csv")
    btc = historical([b.close_wad for b in bars], dt_s=60)
    assert btc.prices.shape == (1, 60, 1)
    assert btc.to_wad()[0][0][0] == bars[0].close_wad
    eth = scale_returns(btc, vol_ratio=1.3, spot=130.0)
    r_btc = np.diff(np.log(btc.prices[0, :, 0]))
    r_eth = np.diff(np.log(eth.prices[0, :, 0]))
    assert np.allclose(r_eth, 1.3 * r_btc)
    assert eth.prices[0, 0, 0] == 130.0


def test_to_wad_rounds_down_exactly() -> None:
    p = historical([3 * WAD, 5 * WAD // 2], dt_s=1)
    assert p.to_wad() == [[[3 * WAD], [5 * WAD // 2]]]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: correlated_gbm(s, n_paths=0, n_steps=1, dt_s=1, spot=[1.0], sigma=0.1), "n_paths"),
        (lambda s: correlated_gbm(s, n_paths=1, n_steps=1, dt_s=1, spot=[-1.0], sigma=0.1), "spot"),
        (
            lambda s: correlated_gbm(
                s, n_paths=1, n_steps=1, dt_s=1, spot=[1.0, 1.0], sigma=0.1, corr=[[1.0, 2.0], [2.0, 1.0]]
            ),
            "corr",
        ),
        (lambda s: garch11(s, n_paths=1, n_steps=1, dt_s=1, spot=1.0, omega=1e-6, alpha=0.5, beta=0.6), "GARCH"),
        (lambda s: brownian_bridge(s, n_paths=1, n_steps=1, dt_s=1, spot=1.0, sigma=0.1, shock=-1.0), "shock"),
        (
            lambda s: ornstein_uhlenbeck(
                s, n_paths=1, n_steps=1, dt_s=1, start=1.0, mean=1.0, speed_per_year=0.0, sigma=0.1
            ),
            "speed_per_year",
        ),
        (lambda s: correlated_gbm(42, n_paths=1, n_steps=1, dt_s=1, spot=[1.0], sigma=0.1), "SeedSequence"),
    ],
)
def test_bad_input_names_the_field(call, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameter, match=field):
        call(np.random.SeedSequence(0))
