"""Price paths for stress tests: every generator is vectorised over paths and seeded.

Each function takes a :class:`numpy.random.SeedSequence` and returns a :class:`PathSet` of
float64 prices (USD per base unit) with shape ``(paths, steps + 1, assets)``; the seed's entropy
is stored with the result so a run can be reproduced. Prices are floats here because they are
simulation inputs; :meth:`PathSet.to_wad` converts them once, rounding down, at the oracle
boundary (from the float's shortest decimal form). Time is in seconds; annualised parameters use a 365-day year.

* :func:`correlated_gbm` — geometric Brownian motion with a correlation matrix;
* :func:`merton_jump_diffusion` — GBM plus compound-Poisson log-normal jumps (compensated drift);
* :func:`garch11` — returns with GARCH(1,1) conditional variance;
* :func:`ornstein_uhlenbeck` — mean-reverting level (stablecoins around 1.0);
* :func:`brownian_bridge` — log-price pinned to a target shock at the last step;
* :func:`historical` — a recorded close series, and :func:`scale_returns` for another asset
  scaled by a volatility ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from protocol.black_scholes import SECONDS_PER_YEAR
from protocol.constants import WAD
from protocol.errors import InvalidParameter

__all__ = [
    "PathSet",
    "brownian_bridge",
    "correlated_follower",
    "correlated_gbm",
    "garch11",
    "historical",
    "merton_jump_diffusion",
    "ornstein_uhlenbeck",
    "price_to_wad",
    "scale_returns",
]


@dataclass(frozen=True, eq=False)
class PathSet:
    """Simulated prices ``(paths, steps + 1, assets)`` on a regular grid of ``dt_s`` seconds."""

    prices: NDArray[np.float64]
    dt_s: int
    model: str
    #: Entropy of the SeedSequence that generated the paths (None for recorded history).
    seed_entropy: int | None

    @property
    def times_s(self) -> NDArray[np.int64]:
        """Offsets of the grid points from the start (s)."""
        return np.arange(self.prices.shape[1], dtype=np.int64) * self.dt_s

    def to_wad(self) -> list[list[list[int]]]:
        """WAD integers of every price: the float's shortest decimal form, rounded down.

        (The float's binary expansion would add noise below its 16 significant digits.)
        """
        return [[[price_to_wad(p) for p in step] for step in path] for path in self.prices.tolist()]


def price_to_wad(price: float) -> int:
    """WAD integer of a float price: its shortest decimal form, rounded down."""
    return int((Decimal(repr(price)) * WAD).to_integral_value(rounding=ROUND_FLOOR))


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidParameter(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _vector(name: str, value: ArrayLike, n: int | None = None, *, positive: bool = False) -> NDArray[np.float64]:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise InvalidParameter(f"{name} must be a vector of length {n}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidParameter(f"{name} must be finite, got {arr.tolist()}")
    if positive and np.any(arr <= 0):
        raise InvalidParameter(f"{name} must be positive, got {arr.tolist()}")
    return arr


def _seed(seed: np.random.SeedSequence) -> np.random.Generator:
    if not isinstance(seed, np.random.SeedSequence):
        raise InvalidParameter(f"seed must be a numpy.random.SeedSequence, got {type(seed).__name__}")
    return np.random.default_rng(seed)


def _entropy(seed: np.random.SeedSequence) -> int:
    entropy = seed.entropy
    return int(entropy) if isinstance(entropy, int | np.integer) else int(np.asarray(entropy).sum())


def _grid(n_paths: int, n_steps: int, dt_s: int) -> tuple[int, int, float]:
    return (
        _positive_int("n_paths", n_paths),
        _positive_int("n_steps", n_steps),
        _positive_int("dt_s", dt_s) / SECONDS_PER_YEAR,
    )


def _from_log_returns(spot: NDArray[np.float64], log_returns: NDArray[np.float64]) -> NDArray[np.float64]:
    paths, steps, assets = log_returns.shape
    out = np.empty((paths, steps + 1, assets))
    out[:, 0, :] = spot
    out[:, 1:, :] = spot * np.exp(np.cumsum(log_returns, axis=1))
    return out


def correlated_gbm(
    seed: np.random.SeedSequence,
    *,
    n_paths: int,
    n_steps: int,
    dt_s: int,
    spot: ArrayLike,
    sigma: ArrayLike,
    mu: ArrayLike = 0.0,
    corr: ArrayLike | None = None,
) -> PathSet:
    """GBM for ``A`` assets: annualised drift ``mu``, volatility ``sigma``, correlation ``corr``."""
    paths, steps, dt = _grid(n_paths, n_steps, dt_s)
    s0 = _vector("spot", spot, positive=True)
    a = s0.shape[0]
    vol = _vector("sigma", np.broadcast_to(sigma, (a,)), a)
    drift = _vector("mu", np.broadcast_to(mu, (a,)), a)
    if np.any(vol < 0):
        raise InvalidParameter(f"sigma must be non-negative, got {vol.tolist()}")
    c = np.eye(a) if corr is None else np.asarray(corr, dtype=np.float64)
    if c.shape != (a, a) or not np.allclose(c, c.T) or not np.allclose(np.diag(c), 1.0):
        raise InvalidParameter(f"corr must be a symmetric {a}x{a} matrix with a unit diagonal")
    try:
        chol = np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise InvalidParameter("corr must be positive definite") from None
    z = _seed(seed).standard_normal((paths, steps, a)) @ chol.T
    log_returns = (drift - 0.5 * vol**2) * dt + vol * np.sqrt(dt) * z
    return PathSet(_from_log_returns(s0, log_returns), int(dt_s), "gbm", _entropy(seed))


def merton_jump_diffusion(
    seed: np.random.SeedSequence,
    *,
    n_paths: int,
    n_steps: int,
    dt_s: int,
    spot: float,
    sigma: float,
    jumps_per_year: float,
    jump_mean: float,
    jump_std: float,
    mu: float = 0.0,
) -> PathSet:
    """One asset: GBM plus Poisson(``jumps_per_year``) jumps with log-size N(jump_mean, jump_std²);
    the drift is compensated so the expected price grows at ``mu``."""
    paths, steps, dt = _grid(n_paths, n_steps, dt_s)
    s0 = _vector("spot", spot, 1, positive=True)
    if sigma < 0 or jumps_per_year < 0 or jump_std < 0:
        raise InvalidParameter("sigma, jumps_per_year and jump_std must be non-negative")
    rng = _seed(seed)
    kappa = np.exp(jump_mean + 0.5 * jump_std**2) - 1.0
    z = rng.standard_normal((paths, steps, 1))
    counts = rng.poisson(jumps_per_year * dt, (paths, steps, 1))
    jumps = counts * jump_mean + np.sqrt(counts) * jump_std * rng.standard_normal((paths, steps, 1))
    log_returns = (mu - jumps_per_year * kappa - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * z + jumps
    return PathSet(_from_log_returns(s0, log_returns), int(dt_s), "merton", _entropy(seed))


def garch11(
    seed: np.random.SeedSequence,
    *,
    n_paths: int,
    n_steps: int,
    dt_s: int,
    spot: float,
    omega: float,
    alpha: float,
    beta: float,
) -> PathSet:
    """One asset whose per-step log return is ``sqrt(h_t) z_t`` with
    ``h_t = omega + alpha r_{t-1}^2 + beta h_{t-1}`` (per-step units), started at the
    unconditional variance ``omega / (1 - alpha - beta)``."""
    paths, steps, _ = _grid(n_paths, n_steps, dt_s)
    s0 = _vector("spot", spot, 1, positive=True)
    if omega <= 0 or alpha < 0 or beta < 0 or alpha + beta >= 1:
        raise InvalidParameter(
            f"GARCH(1,1) needs omega > 0, alpha, beta >= 0 and alpha + beta < 1; got {omega}, {alpha}, {beta}"
        )
    z = _seed(seed).standard_normal((paths, steps))
    h = np.full(paths, omega / (1.0 - alpha - beta))
    returns = np.empty((paths, steps, 1))
    for t in range(steps):
        r = np.sqrt(h) * z[:, t]
        returns[:, t, 0] = r
        h = omega + alpha * r * r + beta * h
    return PathSet(_from_log_returns(s0, returns), int(dt_s), "garch11", _entropy(seed))


def ornstein_uhlenbeck(
    seed: np.random.SeedSequence,
    *,
    n_paths: int,
    n_steps: int,
    dt_s: int,
    start: float,
    mean: float,
    speed_per_year: float,
    sigma: float,
) -> PathSet:
    """Mean-reverting level (exact discretisation), e.g. a stablecoin around 1.0; floored at 0."""
    paths, steps, dt = _grid(n_paths, n_steps, dt_s)
    if speed_per_year <= 0 or sigma < 0:
        raise InvalidParameter(f"speed_per_year must be > 0 and sigma >= 0, got {speed_per_year}, {sigma}")
    decay = np.exp(-speed_per_year * dt)
    step_sd = sigma * np.sqrt((1.0 - decay**2) / (2.0 * speed_per_year))
    z = _seed(seed).standard_normal((paths, steps))
    out = np.empty((paths, steps + 1, 1))
    x = np.full(paths, float(start))
    out[:, 0, 0] = x
    for t in range(steps):
        x = mean + (x - mean) * decay + step_sd * z[:, t]
        out[:, t + 1, 0] = np.maximum(x, 0.0)
    return PathSet(out, int(dt_s), "ornstein_uhlenbeck", _entropy(seed))


def brownian_bridge(
    seed: np.random.SeedSequence,
    *,
    n_paths: int,
    n_steps: int,
    dt_s: int,
    spot: float,
    sigma: float,
    shock: float,
) -> PathSet:
    """Log-price Brownian bridge from ``spot`` to exactly ``spot * (1 + shock)`` at the last step."""
    paths, steps, dt = _grid(n_paths, n_steps, dt_s)
    s0 = _vector("spot", spot, 1, positive=True)
    if shock <= -1 or sigma < 0:
        raise InvalidParameter(f"shock must be > -1 and sigma >= 0, got {shock}, {sigma}")
    walk = np.concatenate(
        [np.zeros((paths, 1)), np.cumsum(_seed(seed).standard_normal((paths, steps)), axis=1)], axis=1
    )
    frac = np.arange(steps + 1) / steps
    bridge = sigma * np.sqrt(dt) * (walk - frac * walk[:, -1:])  # pinned to 0 at both ends
    log_path = bridge + frac * np.log1p(shock)
    prices = (s0[0] * np.exp(log_path))[:, :, None]
    prices[:, -1, 0] = s0[0] * (1.0 + shock)
    return PathSet(prices, int(dt_s), "brownian_bridge", _entropy(seed))


def historical(closes: Sequence[int], *, dt_s: int) -> PathSet:
    """One recorded path from WAD close prices (e.g. ``[k.close_wad for k in load_klines(...)]``)."""
    if len(closes) < 2 or any(not isinstance(c, int) or c <= 0 for c in closes):
        raise InvalidParameter("historical needs at least two positive WAD integer closes")
    prices = (np.asarray([c / WAD for c in closes], dtype=np.float64))[None, :, None]
    return PathSet(prices, _positive_int("dt_s", dt_s), "historical", None)


def correlated_follower(
    seed: np.random.SeedSequence, lead: PathSet, *, spot: float, sigma: float, corr: float
) -> PathSet:
    """Another asset driven by ``lead``: annualised volatility ``sigma``, correlation ``corr``.

    Per step, with ``r`` the lead's log return and ``s`` its realised per-step volatility on the
    path, the follower's log return is ``corr * (sigma_step / s) * r + sqrt(1 - corr**2) *
    sigma_step * z - (1 - corr**2) * sigma_step**2 / 2`` (``z`` standard normal, ``sigma_step =
    sigma * sqrt(dt)``): the lead's moves, jumps and crashes scaled by the volatility ratio, plus an
    independent Brownian part. ``corr = 1`` is :func:`scale_returns` with the realised ratio.
    A flat lead (``s = 0``) leaves only the independent part.
    """
    if not isinstance(lead, PathSet):
        raise InvalidParameter(f"lead must be a PathSet, got {type(lead).__name__}")
    numbers = (sigma, spot, corr)
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in numbers):
        raise InvalidParameter(f"sigma, spot and corr must be finite numbers, got {sigma!r}, {spot!r}, {corr!r}")
    if sigma < 0 or spot <= 0 or not -1.0 <= corr <= 1.0:
        raise InvalidParameter(f"need sigma >= 0, spot > 0 and corr in [-1, 1]; got {sigma}, {spot}, {corr}")
    r = np.diff(np.log(lead.prices[:, :, :1]), axis=1)
    step_vol = sigma * np.sqrt(lead.dt_s / SECONDS_PER_YEAR)
    realised = r.std(axis=1, keepdims=True) if r.shape[1] > 1 else np.abs(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(realised > 0.0, step_vol / realised, 0.0)
    z = _seed(seed).standard_normal(r.shape)
    own = np.sqrt(1.0 - corr * corr)
    log_returns = corr * ratio * r + own * (step_vol * z - 0.5 * own * step_vol**2)
    return PathSet(
        _from_log_returns(np.array([spot]), log_returns), lead.dt_s, f"{lead.model}-follower", _entropy(seed)
    )


def scale_returns(path: PathSet, *, vol_ratio: float, spot: float) -> PathSet:
    """Another asset from ``path``: the same log returns times ``vol_ratio``, starting at ``spot``."""
    if vol_ratio < 0 or spot <= 0:
        raise InvalidParameter(f"vol_ratio must be >= 0 and spot > 0, got {vol_ratio}, {spot}")
    log_returns = np.diff(np.log(path.prices), axis=1) * vol_ratio
    return PathSet(
        _from_log_returns(np.array([spot]), log_returns), path.dt_s, f"{path.model}-scaled", path.seed_entropy
    )
