"""Every margin model recalibrated at every bar of a series: the fast path (numba).

:func:`prepare` fixes what both paths share: the outcomes, the refit schedule, the GARCH fits
(``arch``) and the Monte Carlo pools (the simulator's samplers), all at refit bars. Then
:func:`rolling_margins` computes, for every bar ``t`` from the first full lookback to the last,
each model's VaR and ES of both sides (:data:`~methodology.models.SIDES`) on the lookback and,
when asked, on the long floor lookback (the EMIR 10-year option). Sample models keep their
window sorted from one bar to the next (one insertion, one deletion), Monte Carlo merges a
sorted no-jump pool with the few jump scenarios, moments are two-pass sums. Floats: the numbers
equal :mod:`methodology.reference` (plain pandas) within 1e-12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from methodology.jit import jit
from methodology.models import (
    EWMA_LAMBDA,
    MODELS,
    GarchParams,
    JumpParams,
    McPools,
    diffusion_pool,
    estimate_jumps,
    fit_garch,
    mc_pools,
    parametric_tails,
    tail_rank,
)
from methodology.series import PriceSeries
from protocol.errors import InvalidParameter

__all__ = [
    "Inputs",
    "RollingMargins",
    "check_models",
    "check_sample",
    "compute",
    "diffusion_variance",
    "emit_tails",
    "ewma_variance",
    "garch_variance",
    "order_tails",
    "prepare",
    "rolling_margins",
]

#: A 10-year floor lookback of daily bars (EMIR RTS 153/2013 Art. 28(1)(c)).
TEN_YEARS_DAYS = 3_650


@dataclass(frozen=True, eq=False)
class Inputs:
    """What the fast and the plain path share for one series."""

    series: PriceSeries
    alpha: float
    #: Margin period of risk, lookback and floor lookback (bars); refit interval (bars).
    h: int
    lookback: int
    floor: int | None
    refit: int
    #: ``X_j = p[j] / p[j-h] - 1`` for every bar (NaN for ``j < h``).
    outcomes: NDArray[np.float64]
    #: Log returns ``r[i] = log(p[i+1] / p[i])``.
    returns: NDArray[np.float64]
    #: Calibration bars ``t = lookback .. n-1`` and, per refit segment, its first and end bar index
    #: into them.
    dates: NDArray[np.int64]
    segments: tuple[tuple[int, int], ...]
    garch: tuple[GarchParams, ...]
    jumps: tuple[JumpParams, ...]
    pools: tuple[McPools, ...]
    mc_paths: int
    seed_entropy: int

    @property
    def realized(self) -> NDArray[np.float64]:
        """The MPOR outcome after each calibration bar, ``p[t+h] / p[t] - 1`` (NaN past the end)."""
        out = np.full(len(self.dates), np.nan)
        ahead = self.dates + self.h
        ok = ahead < len(self.outcomes)
        out[ok] = self.outcomes[ahead[ok]]
        return out


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidParameter(f"{name} must be a positive whole number of bars, got {value!r}")
    return int(value)


def check_sample(n_samples: int, alpha: float, what: str) -> None:
    """At least one sample beyond the VaR: ``n (1 - alpha) >= 1``."""
    needed = math.ceil(1.0 / (1.0 - alpha) - 1e-9)
    if n_samples < needed:
        raise InvalidParameter(
            f"{what} gives {n_samples} observations, fewer than the {needed} needed for one tail observation at "
            f"alpha = {alpha:g}; lengthen the lookback (or the data) or lower alpha"
        )


def prepare(
    series: PriceSeries,
    *,
    alpha: float,
    h: int,
    lookback: int,
    floor: int | None = None,
    refit: int = 30,
    mc_paths: int = 10_000,
    seed: np.random.SeedSequence | None = None,
) -> Inputs:
    """Validate the set-up and compute the shared inputs (fits and pools at each refit bar).

    ``seed`` (default ``SeedSequence(20180101)``): the Monte Carlo diffusion pool comes from
    its first child, refit segment ``k``'s jump pool from child ``k + 1``. Raises
    :class:`InvalidParameter` when the data are too short for the lookback or the lookback too
    short for ``alpha``.
    """
    h, lookback, refit, mc_paths = (
        _positive(n, v) for n, v in (("mpor", h), ("lookback", lookback), ("refit", refit), ("mc_paths", mc_paths))
    )
    if floor is not None:
        floor = _positive("floor lookback", floor)
        if floor < lookback:
            raise InvalidParameter(
                f"the floor lookback ({floor} bars) must not be shorter than the lookback ({lookback})"
            )
    seed = np.random.SeedSequence(20180101) if seed is None else seed
    if not isinstance(seed, np.random.SeedSequence):
        raise InvalidParameter(f"seed must be a numpy.random.SeedSequence, got {type(seed).__name__}")
    n = len(series)
    if lookback - h + 1 < 4:
        raise InvalidParameter(
            f"the lookback ({lookback} bars) must hold at least 4 outcomes of the MPOR ({h} bars); lengthen it"
        )
    if n <= lookback:
        raise InvalidParameter(
            f"{series.source} has {n} bars, not more than the lookback of {lookback} bars; "
            "shorten the lookback or give a longer series"
        )
    check_sample(lookback // h, alpha, f"a lookback of {lookback} bars at an MPOR of {h} bars (non-overlapping)")
    check_sample(mc_paths, alpha, "mc_paths")
    p = series.closes
    outcomes = np.full(n, np.nan)
    outcomes[h:] = p[h:] / p[:-h] - 1.0
    returns = np.diff(np.log(p))
    dates = np.arange(lookback, n, dtype=np.int64)
    starts = list(range(0, len(dates), refit))
    segments = tuple((s, min(s + refit, len(dates))) for s in starts)
    garch: list[GarchParams] = []
    jumps: list[JumpParams] = []
    pools: list[McPools] = []
    diffusion_seed, *children = seed.spawn(len(segments) + 1)
    diffusion = diffusion_pool(diffusion_seed, n_paths=mc_paths, h=h, bar_s=series.bar_s)
    for (first, _), child in zip(segments, children, strict=True):
        t = int(dates[first])
        window = returns[t - lookback : t]
        garch.append(fit_garch(window, garch[-1] if garch else None))
        jumps.append(estimate_jumps(window))
        pools.append(mc_pools(child, jumps[-1], diffusion, h=h, bar_s=series.bar_s))
    entropy = seed.entropy
    return Inputs(
        series,
        alpha,
        h,
        lookback,
        floor,
        refit,
        outcomes,
        returns,
        dates,
        segments,
        tuple(garch),
        tuple(jumps),
        tuple(pools),
        mc_paths,
        int(entropy) if isinstance(entropy, int) else 0,
    )


@dataclass(frozen=True, eq=False)
class RollingMargins:
    """Each model's ``(dates, 4)`` VaR / ES of both sides per calibration bar, on the lookback
    (``main``) and the floor lookback (``floor``, empty unless asked)."""

    inputs: Inputs
    main: dict[str, NDArray[np.float64]]
    floor: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def margin(self, model: str, measure: str = "es", *, floor: bool = False) -> NDArray[np.float64]:
        """The margin fraction per bar: the larger side of ``measure`` (``var`` or ``es``)."""
        table = (self.floor if floor else self.main).get(model)
        if table is None:
            raise InvalidParameter(f"model {model!r} was not computed{' on the floor lookback' if floor else ''}")
        if measure not in ("var", "es"):
            raise InvalidParameter(f"measure {measure!r} must be var or es")
        cols = (0, 1) if measure == "var" else (2, 3)
        out: NDArray[np.float64] = np.maximum(table[:, cols[0]], table[:, cols[1]])
        return out


# --------------------------------------------------------------------------------------------
# kernels


@jit
def emit_tails(
    s: NDArray[np.float64], n: int, alpha: float, scale: float, expm1: bool, out: NDArray[np.float64]
) -> None:
    """VaR and ES of both sides from the ``n`` ascending base values ``s`` (outcomes, or
    residual sums turned into outcomes by ``expm1(scale * v)``)."""
    k, w = tail_rank(n, alpha)
    denom = n - n * alpha
    total = 0.0
    for i in range(k, n):
        total += math.expm1(scale * s[i]) if expm1 else s[i]
    var_short = math.expm1(scale * s[k - 1]) if expm1 else s[k - 1]
    total_long = 0.0
    for i in range(n - k):
        total_long -= math.expm1(scale * s[i]) if expm1 else s[i]
    var_long = -(math.expm1(scale * s[n - k]) if expm1 else s[n - k])
    out[0] = var_long
    out[1] = var_short
    out[2] = (total_long + w * var_long) / denom
    out[3] = (total + w * var_short) / denom


@jit
def order_tails(buf: NDArray[np.float64], n: int, alpha: float) -> NDArray[np.float64]:
    """``buf[:n]`` with both tails that :func:`emit_tails` reads in ascending order (the middle
    unordered): a partial selection, cheaper than a full sort."""
    k, _ = tail_rank(n, alpha)
    x = buf[:n]
    if n - k + 1 >= k - 1:
        x.sort()
        return x
    x = np.partition(x, (n - k, k - 1))
    x[: n - k + 1].sort()
    x[k - 1 :].sort()
    return x


@jit
def _insert(buf: NDArray[np.float64], n: int, v: float) -> None:
    pos = np.searchsorted(buf[:n], v)
    for i in range(n, pos, -1):
        buf[i] = buf[i - 1]
    buf[pos] = v


@jit
def _remove(buf: NDArray[np.float64], n: int, v: float) -> None:
    pos = np.searchsorted(buf[:n], v)
    for i in range(pos, n - 1):
        buf[i] = buf[i + 1]


@jit
def _sorted_windows(
    values: NDArray[np.float64],
    los: NDArray[np.int64],
    his: NDArray[np.int64],
    scales: NDArray[np.float64],
    expm1: bool,
    alpha: float,
    out: NDArray[np.float64],
) -> None:
    """Tails over windows ``values[lo..hi]`` (both ends non-decreasing), kept sorted."""
    buf = np.empty(his[-1] - los[0] + 1)
    n = 0
    lo, hi = los[0], los[0] - 1
    for d in range(len(los)):
        while hi < his[d]:
            hi += 1
            _insert(buf, n, values[hi])
            n += 1
        while lo < los[d]:
            _remove(buf, n, values[lo])
            lo += 1
            n -= 1
        emit_tails(buf, n, alpha, scales[d], expm1, out[d])


@jit
def _moments(
    values: NDArray[np.float64], los: NDArray[np.int64], his: NDArray[np.int64], out: NDArray[np.float64]
) -> None:
    """Mean, standard deviation (ddof 1), skewness G1 and excess kurtosis G2 of each window
    (pandas' bias-adjusted estimators, two-pass)."""
    for d in range(len(los)):
        n = his[d] - los[d] + 1
        total = 0.0
        for i in range(los[d], his[d] + 1):
            total += values[i]
        mean = total / n
        m2 = m3 = m4 = 0.0
        for i in range(los[d], his[d] + 1):
            a = values[i] - mean
            a2 = a * a
            m2 += a2
            m3 += a2 * a
            m4 += a2 * a2
        out[d, 0] = mean
        out[d, 1] = math.sqrt(m2 / (n - 1))
        out[d, 2] = (n * (n - 1) ** 0.5 / (n - 2)) * (m3 / m2**1.5)
        out[d, 3] = (n * (n + 1) * (n - 1) * m4) / ((n - 2) * (n - 3) * m2**2) - 3.0 * (n - 1) ** 2 / (
            (n - 2) * (n - 3)
        )


@jit
def _filter(
    returns: NDArray[np.float64], omega: float, a: float, b: float, h0: float, out: NDArray[np.float64]
) -> None:
    """Conditional variances ``out[i+1] = omega + a r[i]^2 + b out[i]`` from ``out[0] = h0``."""
    out[0] = h0
    for i in range(len(out) - 1):
        out[i + 1] = omega + a * returns[i] * returns[i] + b * out[i]


@jit
def _residual_sums(returns: NDArray[np.float64], var: NDArray[np.float64], h: int, out: NDArray[np.float64]) -> None:
    """``out[j] = sum of r[i] / sqrt(var[i])`` over the ``h`` returns ending at bar ``j`` (NaN for j < h)."""
    out[:h] = np.nan
    for j in range(h, len(out)):
        total = 0.0
        for i in range(j - h, j):
            total += returns[i] / math.sqrt(var[i])
        out[j] = total


@jit
def _mc_tails(
    nojump: NDArray[np.float64],
    no_jump_value: float,
    diff_jump: NDArray[np.float64],
    jumps: NDArray[np.float64],
    drift: NDArray[np.float64],
    scale: NDArray[np.float64],
    alpha: float,
    out: NDArray[np.float64],
) -> None:
    """Monte Carlo tails per bar: outcomes ``expm1((drift + scale * D) + J)``; the no-jump
    scenarios (``nojump``: their ascending diffusion values) are ordered without evaluating
    them, the jump scenarios are evaluated and sorted, and the two tails merged."""
    na, nb = len(nojump), len(diff_jump)
    n = na + nb
    k, w = tail_rank(n, alpha)
    m = n - k + 1
    denom = n - n * alpha
    rb = np.empty(nb)
    for d in range(len(drift)):
        for i in range(nb):
            rb[i] = (drift[d] + scale[d] * diff_jump[i]) + jumps[i]
        if nb > 2 * m:  # only the m smallest and m largest can be in a tail
            rb = np.partition(rb, (m - 1, nb - m))
            rb[:m].sort()
            rb[nb - m :].sort()
        else:
            rb.sort()
        # short side: the m largest outcomes, from the top
        ia, ib = na - 1, nb - 1
        total, last = 0.0, 0.0
        for step in range(m):
            ra = (drift[d] + scale[d] * nojump[ia]) + no_jump_value if ia >= 0 else -np.inf
            rbv = rb[ib] if ib >= 0 else -np.inf
            if ra >= rbv:
                last = math.expm1(ra)
                ia -= 1
            else:
                last = math.expm1(rbv)
                ib -= 1
            if step < m - 1:
                total += last
        out[d, 1] = last
        out[d, 3] = (total + w * last) / denom
        # long side: the m smallest outcomes, from the bottom
        ia, ib = 0, 0
        total, last = 0.0, 0.0
        for step in range(m):
            ra = (drift[d] + scale[d] * nojump[ia]) + no_jump_value if ia < na else np.inf
            rbv = rb[ib] if ib < nb else np.inf
            if ra <= rbv:
                last = -math.expm1(ra)
                ia += 1
            else:
                last = -math.expm1(rbv)
                ib += 1
            if step < m - 1:
                total += last
        out[d, 0] = last
        out[d, 2] = (total + w * last) / denom


# --------------------------------------------------------------------------------------------
# per model


def _windows(inp: Inputs, length: int | None) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Overlapping outcome windows ``[lo, t]`` per calibration bar for a lookback of ``length``
    bars (None: the lookback; a floor is capped by the data available)."""
    t = inp.dates
    span = np.minimum(t, inp.lookback if length is None else length)
    return t - span + inp.h, t.copy()


def _spans(inp: Inputs, length: int | None) -> NDArray[np.int64]:
    return np.minimum(inp.dates, inp.lookback if length is None else length)


def ewma_variance(inp: Inputs) -> NDArray[np.float64]:
    """RiskMetrics variance forecasts ``v[i]`` of ``r[i]`` (``v[0]``: mean square of the first
    lookback), for ``i = 0 .. n-1``."""
    r = inp.returns
    out = np.empty(len(r) + 1)
    _filter(r, 0.0, 1.0 - EWMA_LAMBDA, EWMA_LAMBDA, float(np.mean(r[: inp.lookback] ** 2)), out)
    return out


def garch_variance(inp: Inputs, k: int) -> NDArray[np.float64]:
    """GARCH variance forecasts with segment ``k``'s parameters over the whole series."""
    g = inp.garch[k]
    t = int(inp.dates[inp.segments[k][0]])
    out = np.empty(len(inp.returns) + 1)
    _filter(inp.returns, g.omega, g.alpha, g.beta, g.variance0(inp.returns[t - inp.lookback : t]), out)
    return out


def _sample_model(inp: Inputs, model: str, length: int | None) -> NDArray[np.float64]:
    out = np.empty((len(inp.dates), 4))
    los, his = _windows(inp, length)
    if model == "hs":
        _sorted_windows(inp.outcomes, los, his, np.ones(len(los)), False, inp.alpha, out)
    elif model == "hs-nonoverlap":
        _non_overlapping(inp, _spans(inp, length) // inp.h, out)
    elif model == "fhs-ewma":
        var = ewma_variance(inp)
        sums = np.empty(len(inp.outcomes))
        _residual_sums(inp.returns, var, inp.h, sums)
        _sorted_windows(sums, los, his, np.sqrt(var[inp.dates]), True, inp.alpha, out)
    elif model == "fhs-garch":
        sums = np.empty(len(inp.outcomes))
        for k, (first, end) in enumerate(inp.segments):
            var = garch_variance(inp, k)
            _residual_sums(inp.returns, var, inp.h, sums)
            part = slice(first, end)
            _sorted_windows(sums, los[part], his[part], np.sqrt(var[inp.dates[part]]), True, inp.alpha, out[part])
    else:
        out = _monte_carlo(inp, length)
    return out


def _non_overlapping(inp: Inputs, counts: NDArray[np.int64], out: NDArray[np.float64]) -> None:
    """Non-overlapping outcomes ``X_t, X_{t-h}, ...``: the bars of one phase ``t mod h`` share
    their outcomes' grid, so each phase is a sorted window sliding one outcome at a time."""
    h = inp.h
    for phase in range(h):
        rows = np.flatnonzero(inp.dates % h == phase)
        if not len(rows):
            continue
        grid = inp.outcomes[phase::h]  # grid[q] is the outcome of bar phase + q h
        his = (inp.dates[rows] - phase) // h
        part = np.empty((len(rows), 4))
        _sorted_windows(grid, his - counts[rows] + 1, his, np.ones(len(rows)), False, inp.alpha, part)
        out[rows] = part


def diffusion_variance(jumps: JumpParams, window_variance: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-bar diffusion variance of the Merton model: the window's return variance less the
    jumps' share, at least a quarter of it."""
    out: NDArray[np.float64] = np.maximum(window_variance - jumps.variance_per_bar, window_variance / 4.0)
    return out


def _monte_carlo(inp: Inputs, length: int | None) -> NDArray[np.float64]:
    out = np.empty((len(inp.dates), 4))
    spans = _spans(inp, length)
    rmom = np.empty((len(inp.dates), 4))
    _moments(inp.returns, inp.dates - spans, inp.dates - 1, rmom)
    for k, (first, end) in enumerate(inp.segments):
        pools = inp.pools[k]
        var = diffusion_variance(inp.jumps[k], rmom[first:end, 1] ** 2)
        _mc_tails(
            pools.calm_sorted,
            pools.no_jump_value,
            pools.diffusion[pools.jumped],
            pools.jumps[pools.jumped],
            -var * inp.h / 2.0,
            np.sqrt(var) / pools.sqrt_dt,
            inp.alpha,
            out[first:end],
        )
    return out


def _parametric(inp: Inputs, models: list[str], length: int | None) -> dict[str, NDArray[np.float64]]:
    los, his = _windows(inp, length)
    mom = np.empty((len(los), 4))
    _moments(inp.outcomes, los, his, mom)
    return {m: parametric_tails(m, mom[:, 0], mom[:, 1], mom[:, 2], mom[:, 3], inp.alpha) for m in models}


def compute(inp: Inputs, models: tuple[str, ...], length: int | None) -> dict[str, NDArray[np.float64]]:
    """Every model of ``models`` on windows of ``length`` bars (None: the lookback)."""
    out = _parametric(inp, [m for m in models if m in ("normal", "student-t", "cornish-fisher")], length)
    for m in models:
        if m not in out:
            out[m] = _sample_model(inp, m, length)
    return {m: out[m] for m in models}


def check_models(models: tuple[str, ...]) -> tuple[str, ...]:
    """Known model names, each once."""
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models or len(set(models)) != len(models):
        raise InvalidParameter(f"models {list(models)} must be distinct names from {list(MODELS)}")
    return tuple(models)


def rolling_margins(
    inp: Inputs, models: tuple[str, ...] = MODELS, *, floor_models: tuple[str, ...] = ()
) -> RollingMargins:
    """Every model of ``models`` at every calibration bar; ``floor_models`` also on the floor lookback."""
    models = check_models(models)
    if floor_models:
        check_models(floor_models)
        if inp.floor is None:
            raise InvalidParameter("floor_models need a floor lookback: prepare(..., floor=...)")
    main = compute(inp, models, None)
    floor = compute(inp, floor_models, inp.floor) if floor_models else {}
    return RollingMargins(inp, main, floor)
