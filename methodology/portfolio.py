"""Portfolio margins of several markets with their dependence (BTC and ETH).

A portfolio is a signed notional weight per asset (``+1`` long, ``-1`` short); its MPOR outcome
per unit of gross notional is ``Y_j = sum_a w_a X_a,j / sum_a |w_a|`` on the assets' common
bars, so the historical and parametric models see the joint moves (the dependence) directly.
Filtered historical simulation rescales each asset's residuals by its own EWMA volatility and
keeps the residual vectors of one date together. Monte Carlo (one date) correlates the
simulator's GBM pools with the window's correlation and adds each asset's jump pool.

The protocol margins markets additively (``IM = sum of per-market requirements``); the report
sets the portfolio margin beside the additive one: their ratio is the offset the protocol does
not give.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from methodology.jit import jit
from methodology.models import sample_tails
from methodology.rolling import Inputs, compute, diffusion_variance, emit_tails, ewma_variance, order_tails
from protocol.errors import InvalidParameter
from simulator import paths

__all__ = [
    "PORTFOLIOS",
    "PORTFOLIO_MODELS",
    "portfolio_inputs",
    "portfolio_margins",
    "portfolio_monte_carlo",
    "residual_sums",
]

#: The standard test portfolios: equal notional, same side and opposite sides.
PORTFOLIOS: dict[str, tuple[float, ...]] = {"long-long": (1.0, 1.0), "long-short": (1.0, -1.0)}
#: Models evaluated at every bar on a portfolio (Monte Carlo runs at one date).
PORTFOLIO_MODELS = ("hs", "fhs-ewma", "normal", "student-t", "cornish-fisher")


def _check(inputs: tuple[Inputs, ...], weights: tuple[float, ...]) -> NDArray[np.float64]:
    if len(inputs) < 2 or len(weights) != len(inputs):
        raise InvalidParameter(f"a portfolio needs one weight per asset and at least two assets, got {list(weights)}")
    first = inputs[0]
    for inp in inputs[1:]:
        if not np.array_equal(inp.series.times_s, first.series.times_s) or (inp.h, inp.lookback) != (
            first.h,
            first.lookback,
        ):
            raise InvalidParameter("portfolio assets must share bars, MPOR and lookback (align the series first)")
    w = np.asarray(weights, dtype=np.float64)
    if not np.all(np.isfinite(w)) or not np.any(w != 0):
        raise InvalidParameter(f"portfolio weights {list(weights)} must be finite and not all zero")
    out: NDArray[np.float64] = w / np.abs(w).sum()
    return out


def portfolio_inputs(inputs: tuple[Inputs, ...], weights: tuple[float, ...]) -> Inputs:
    """The first asset's inputs with the portfolio's outcomes ``Y`` (for HS and parametric models)."""
    w = _check(inputs, weights)
    outcomes = sum((wa * inp.outcomes for wa, inp in zip(w, inputs, strict=True)), np.zeros(len(inputs[0].outcomes)))
    return dataclasses.replace(inputs[0], outcomes=outcomes)


def residual_sums(inp: Inputs) -> NDArray[np.float64]:
    """``h``-bar sums of EWMA-standardised log returns ending at each bar (NaN before ``h``)."""
    var = ewma_variance(inp)
    z = inp.returns / np.sqrt(var[:-1])
    out = np.full(len(inp.outcomes), np.nan)
    c = np.concatenate([[0.0], np.cumsum(z)])
    out[inp.h :] = c[inp.h :] - c[: -inp.h]
    return out


@jit
def _joint_fhs(
    sums: NDArray[np.float64],
    scales: NDArray[np.float64],
    w: NDArray[np.float64],
    los: NDArray[np.int64],
    his: NDArray[np.int64],
    alpha: float,
    out: NDArray[np.float64],
) -> None:
    """Per bar ``d``: outcomes ``sum_a w_a expm1(scales[a, d] * sums[a, j])`` over its window, tails."""
    for d in range(len(los)):
        n = his[d] - los[d] + 1
        buf = np.zeros(n)
        for a in range(len(w)):
            for i in range(n):
                buf[i] += w[a] * math.expm1(scales[a, d] * sums[a, los[d] + i])
        emit_tails(order_tails(buf, n, alpha), n, alpha, 1.0, False, out[d])


def portfolio_margins(
    inputs: tuple[Inputs, ...], weights: tuple[float, ...], models: tuple[str, ...] = PORTFOLIO_MODELS
) -> dict[str, NDArray[np.float64]]:
    """Each portfolio model's ``(dates, 4)`` VaR / ES of both sides per calibration bar."""
    unknown = [m for m in models if m not in PORTFOLIO_MODELS]
    if unknown:
        raise InvalidParameter(f"portfolio models {unknown} are not among {list(PORTFOLIO_MODELS)}")
    w = _check(inputs, weights)
    joint = portfolio_inputs(inputs, weights)
    out = compute(joint, tuple(m for m in models if m != "fhs-ewma"), None)
    if "fhs-ewma" in models:
        inp = inputs[0]
        sums = np.stack([residual_sums(i) for i in inputs])
        scales = np.stack([np.sqrt(ewma_variance(i)[i.dates]) for i in inputs])
        table = np.empty((len(inp.dates), 4))
        _joint_fhs(sums, scales, w, inp.dates - inp.lookback + inp.h, inp.dates.copy(), inp.alpha, table)
        out["fhs-ewma"] = table
    return {m: out[m] for m in models}


def portfolio_monte_carlo(
    inputs: tuple[Inputs, ...], weights: tuple[float, ...], *, seed: np.random.SeedSequence, n_paths: int = 100_000
) -> Mapping[str, float]:
    """VaR and ES of both sides at the last calibration bar by Monte Carlo: the simulator's
    correlated GBM (the window's log-return correlation, each asset's diffusion volatility) plus
    each asset's jump pool of its last refit (jumps independent across assets)."""
    w = _check(inputs, weights)
    first = inputs[0]
    t = int(first.dates[-1])
    window = np.stack([inp.returns[t - inp.lookback : t] for inp in inputs])
    corr: NDArray[np.float64] = np.atleast_2d(np.corrcoef(window))
    gbm = paths.correlated_gbm(
        seed,
        n_paths=n_paths,
        n_steps=first.h,
        dt_s=first.series.bar_s,
        spot=np.ones(len(inputs)),
        sigma=np.ones(len(inputs)),
        mu=np.full(len(inputs), 0.5),
        corr=corr,
    )
    diffusion = np.log(gbm.prices[:, -1, :])
    jump_seeds = seed.spawn(len(inputs))
    y = np.zeros(n_paths)
    for a, inp in enumerate(inputs):
        jumps = inp.jumps[-1]
        var = diffusion_variance(jumps, np.array([np.var(window[a], ddof=1)]))[0]
        pool = paths.merton_jump_diffusion(
            jump_seeds[a],
            n_paths=n_paths,
            n_steps=inp.h,
            dt_s=inp.series.bar_s,
            spot=1.0,
            sigma=0.0,
            jumps_per_year=jumps.per_bar / inp.pools[-1].sqrt_dt ** 2,
            jump_mean=jumps.mean,
            jump_std=jumps.std,
        )
        log_returns = -var * inp.h / 2.0 + math.sqrt(var) / inp.pools[-1].sqrt_dt * diffusion[:, a]
        y += w[a] * np.expm1(log_returns + np.log(pool.prices[:, -1, 0]))
    tails = sample_tails(y, first.alpha)
    return {
        "var_long": tails[0],
        "var_short": tails[1],
        "es_long": tails[2],
        "es_short": tails[3],
        "correlation": corr[0, 1],
    }
