"""The plain pandas implementation of :mod:`methodology.rolling`'s maths, bar by bar.

It recomputes every model from scratch at every calibration bar with pandas windows, numpy
sorts and scipy — the way the maths is first written. It is the benchmark's baseline
(``benchmarks/margin_methodology.py``) and the oracle of the differential tests: the fast path
must equal it within 1e-12. It shares with the fast path only :func:`methodology.rolling.prepare`'s
fits and pools and the closed forms of :mod:`methodology.models`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from methodology.models import EWMA_LAMBDA, PARAMETRIC, parametric_tails, sample_tails
from methodology.portfolio import PORTFOLIO_MODELS, portfolio_inputs
from methodology.rolling import Inputs, RollingMargins, check_models, diffusion_variance

__all__ = ["reference_margins", "reference_portfolio"]


def _ewma_variance(inp: Inputs) -> pd.Series:
    r = pd.Series(inp.returns)
    start = pd.Series([float((r.iloc[: inp.lookback] ** 2).mean())])
    return pd.concat([start, r**2], ignore_index=True).ewm(alpha=1.0 - EWMA_LAMBDA, adjust=False).mean()


def _garch_variance(inp: Inputs, k: int) -> pd.Series:
    g = inp.garch[k]
    t = int(inp.dates[inp.segments[k][0]])
    var = [g.variance0(inp.returns[t - inp.lookback : t])]
    for r in inp.returns:
        var.append(g.omega + g.alpha * r * r + g.beta * var[-1])
    return pd.Series(var)


def _residual_sums(inp: Inputs, var: pd.Series) -> pd.Series:
    z = pd.Series(inp.returns) / np.sqrt(var.iloc[:-1].to_numpy())
    sums = z.rolling(inp.h).sum().shift(1)
    return pd.concat([sums, pd.Series([z.iloc[-inp.h :].sum()])], ignore_index=True)


def _span(inp: Inputs, t: int, length: int | None) -> int:
    return min(t, inp.lookback if length is None else length)


def _model(inp: Inputs, model: str, length: int | None) -> NDArray[np.float64]:
    x = pd.Series(inp.outcomes)
    r = pd.Series(inp.returns)
    rows = []
    if model == "fhs-ewma":
        ewma = _ewma_variance(inp)
        sums = _residual_sums(inp, ewma)
    for d, t in enumerate(inp.dates):
        t = int(t)
        span = _span(inp, t, length)
        window = x.iloc[t - span + inp.h : t + 1]
        k = next(i for i, (first, end) in enumerate(inp.segments) if first <= d < end)
        if model == "hs":
            rows.append(sample_tails(window.to_numpy(), inp.alpha))
        elif model == "hs-nonoverlap":
            rows.append(sample_tails(x.iloc[t :: -inp.h].iloc[: span // inp.h].to_numpy(), inp.alpha))
        elif model == "fhs-ewma":
            scenarios = np.expm1(np.sqrt(ewma.iloc[t]) * sums.iloc[t - span + inp.h : t + 1])
            rows.append(sample_tails(scenarios.to_numpy(), inp.alpha))
        elif model == "fhs-garch":
            if d == inp.segments[k][0]:
                garch = _garch_variance(inp, k)
                garch_sums = _residual_sums(inp, garch)
            scenarios = np.expm1(np.sqrt(garch.iloc[t]) * garch_sums.iloc[t - span + inp.h : t + 1])
            rows.append(sample_tails(scenarios.to_numpy(), inp.alpha))
        elif model == "monte-carlo":
            pools = inp.pools[k]
            var = diffusion_variance(inp.jumps[k], np.array([r.iloc[t - span : t].std() ** 2]))[0]
            log_returns = (-var * inp.h / 2.0 + np.sqrt(var) / pools.sqrt_dt * pools.diffusion) + pools.jumps
            rows.append(sample_tails(np.expm1(log_returns), inp.alpha))
        else:
            rows.append(np.array([window.mean(), window.std(), window.skew(), window.kurt()]))
    table = np.array(rows)
    if model in PARAMETRIC:
        return parametric_tails(model, table[:, 0], table[:, 1], table[:, 2], table[:, 3], inp.alpha)
    return table


def reference_margins(inp: Inputs, models: tuple[str, ...], *, floor_models: tuple[str, ...] = ()) -> RollingMargins:
    """The same result as :func:`methodology.rolling.rolling_margins`, computed plainly."""
    main = {m: _model(inp, m, None) for m in check_models(models)}
    floor = {m: _model(inp, m, inp.floor) for m in check_models(floor_models)} if floor_models else {}
    return RollingMargins(inp, main, floor)


def reference_portfolio(
    inputs: tuple[Inputs, ...], weights: tuple[float, ...], models: tuple[str, ...] = PORTFOLIO_MODELS
) -> dict[str, NDArray[np.float64]]:
    """The same result as :func:`methodology.portfolio.portfolio_margins`, computed plainly."""
    joint = portfolio_inputs(inputs, weights)
    w = pd.Series(weights, dtype=np.float64)
    w = w / w.abs().sum()
    out = {m: _model(joint, m, None) for m in models if m != "fhs-ewma"}
    if "fhs-ewma" in models:
        scales = [_ewma_variance(inp) for inp in inputs]
        sums = [_residual_sums(inp, var) for inp, var in zip(inputs, scales, strict=True)]
        first = inputs[0]
        rows = []
        for t in first.dates:
            lo, hi = int(t) - first.lookback + first.h, int(t) + 1
            scenarios = sum(
                w.iloc[a] * np.expm1(np.sqrt(scales[a].iloc[t]) * sums[a].iloc[lo:hi].to_numpy())
                for a in range(len(inputs))
            )
            rows.append(sample_tails(np.asarray(scenarios), first.alpha))
        out["fhs-ewma"] = np.array(rows)
    return {m: out[m] for m in models}
