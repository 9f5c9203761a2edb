"""The margin models: definitions shared by the fast engine and the plain reference.

Conventions (``docs/METHODOLOGY.md`` has the derivations):

* A calibration at bar ``t`` sees the closes ``p[0..t]``. The **margin period of risk** is ``h``
  bars; an MPOR outcome is the simple return ``X = p[j] / p[j-h] - 1``. A long position of
  notional 1 loses ``-X``, a short one ``X``. One margin fraction covers both sides: the
  larger of the two sides' risk measures.
* The **lookback** is ``L`` bars of returns: the overlapping outcomes ``X_j`` for ``j`` in
  ``[t-L+h, t]`` (``L-h+1`` of them) or the non-overlapping ones ``j = t, t-h, ...`` (``L // h``).
* **VaR** at confidence ``alpha`` of ``n`` sampled losses is the ``k``-th smallest,
  ``k = ceil(n alpha)`` (nearest rank: always a sampled loss); **ES** is Acerbi and Tasche's
  (2002) estimator ``(sum of the n-k largest + (k - n alpha) * VaR) / (n (1 - alpha))``.
* **FHS**: log returns ``r_i`` are divided by their conditional volatility (EWMA, RiskMetrics
  ``lambda = 0.94``; or GARCH(1,1) fitted with ``arch``); the window's ``h``-bar sums of these
  residuals, times today's volatility forecast, are the log-return scenarios (``X = expm1``).
* **Parametric** models use the mean, standard deviation, skewness and excess kurtosis (the
  bias-adjusted G1 and G2 of pandas) of the window's overlapping outcomes: normal, Student-t
  with ``nu = 4 + 6 / G2`` and Cornish-Fisher; each in closed form, ES included.
* **Monte Carlo**: the simulator's Merton jump-diffusion (:mod:`simulator.paths`), with common
  random numbers: a diffusion pool from :func:`simulator.paths.correlated_gbm` and a jump pool
  from :func:`simulator.paths.merton_jump_diffusion`; jumps are estimated at each refit, the
  diffusion volatility every bar.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from methodology.jit import jit
from protocol.black_scholes import SECONDS_PER_YEAR
from protocol.errors import InvalidParameter
from simulator import paths

__all__ = [
    "EWMA_LAMBDA",
    "MODELS",
    "PARAMETRIC",
    "SAMPLE_MODELS",
    "SIDES",
    "GarchParams",
    "JumpParams",
    "McPools",
    "check_alpha",
    "diffusion_pool",
    "estimate_jumps",
    "fit_garch",
    "mc_pools",
    "parametric_tails",
    "sample_tails",
    "tail_rank",
]

#: RiskMetrics (J.P. Morgan / Reuters, 1996) decay of the daily EWMA variance.
EWMA_LAMBDA: Final = 0.94
#: Every margin model, in report order.
MODELS: Final = (
    "hs",
    "hs-nonoverlap",
    "fhs-ewma",
    "fhs-garch",
    "normal",
    "student-t",
    "cornish-fisher",
    "monte-carlo",
)
#: Models that draw a sample of outcomes; the others are closed forms of the window's moments.
SAMPLE_MODELS: Final = ("hs", "hs-nonoverlap", "fhs-ewma", "fhs-garch", "monte-carlo")
PARAMETRIC: Final = ("normal", "student-t", "cornish-fisher")
#: Columns of a model's output per bar: each side's VaR and ES (fractions of notional).
SIDES: Final = ("var_long", "var_short", "es_long", "es_short")
#: A return farther than this many robust standard deviations from the median is a jump.
JUMP_THRESHOLD: Final = 4.0
#: arch fits percent returns: the numbers stay near 1 and the optimiser converges.
_ARCH_SCALE: Final = 100.0


def check_alpha(alpha: object) -> float:
    """A confidence level strictly between 0 and 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise InvalidParameter(f"alpha = {alpha!r} must be a confidence level strictly between 0 and 1, e.g. 0.99")
    return float(alpha)


@jit
def tail_rank(n: int, alpha: float) -> tuple[int, float]:
    """``k = ceil(n alpha)`` (the VaR's rank among ``n`` ascending losses) and the weight
    ``k - n alpha`` of that loss in the ES; ``n alpha`` within 1e-9 of an integer counts as it."""
    na = n * alpha
    k = min(max(math.ceil(na - 1e-9), 1), n)
    return k, max(k - na, 0.0)


def sample_tails(outcomes: NDArray[np.float64], alpha: float) -> NDArray[np.float64]:
    """VaR and ES of both sides (:data:`SIDES`) of a sample of MPOR outcomes ``X``."""
    x = np.sort(np.asarray(outcomes, dtype=np.float64))
    n = len(x)
    k, w = tail_rank(n, alpha)
    denom = n - n * alpha
    short = x[k - 1 :]  # the short side's losses from its VaR up
    long_ = -x[: n - k + 1][::-1]  # the long side's losses from its VaR up
    return np.array(
        [
            long_[0],
            short[0],
            (long_[1:].sum() + w * long_[0]) / denom,
            (short[1:].sum() + w * short[0]) / denom,
        ]
    )


def parametric_tails(
    model: str,
    mean: NDArray[np.float64],
    sd: NDArray[np.float64],
    skew: NDArray[np.float64],
    kurt: NDArray[np.float64],
    alpha: float,
) -> NDArray[np.float64]:
    """``(n, 4)`` VaR and ES of both sides from the outcomes' moments (arrays of length n).

    ``normal``: ``z = Phi^-1(alpha)``, ES ``phi(z) / (1 - alpha)``. ``student-t``: unit-variance
    t with ``nu = 4 + 6 / kurt`` (normal when ``kurt <= 0``). ``cornish-fisher``: the quantile
    ``z + (z^2 - 1) S / 6 + (z^3 - 3z) K / 24 - (2z^3 - 5z) S^2 / 36`` of each side's loss (its
    skewness ``S`` is the outcomes' for the short side, minus it for the long side) and its ES,
    the mean of that quantile over the tail, in closed form from the normal's partial moments.
    """
    z = stats.norm.ppf(alpha)
    tail = 1.0 - alpha
    out = np.empty((len(mean), 4))
    if model == "normal":
        q = np.full(len(mean), z)
        es = np.full(len(mean), stats.norm.pdf(z) / tail)
        q_long, q_short, es_long, es_short = q, q, es, es
    elif model == "student-t":
        with np.errstate(divide="ignore"):
            nu = np.where(kurt > 0, 4.0 + 6.0 / np.maximum(kurt, 1e-300), np.inf)
        fat = np.isfinite(nu)
        nu_f = np.where(fat, nu, 5.0)
        t_a = stats.t.ppf(alpha, nu_f)
        unit = np.sqrt((nu_f - 2.0) / nu_f)
        q = np.where(fat, t_a * unit, z)
        es = np.where(
            fat, stats.t.pdf(t_a, nu_f) / tail * (nu_f + t_a**2) / (nu_f - 1.0) * unit, stats.norm.pdf(z) / tail
        )
        q_long, q_short, es_long, es_short = q, q, es, es
    elif model == "cornish-fisher":
        phi = stats.norm.pdf(z)
        m1, m2, m3 = phi, z * phi + tail, (z * z + 2.0) * phi  # E[Z^k; Z > z], k = 1, 2, 3

        def side(s: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            q = z + (z * z - 1.0) * s / 6.0 + (z**3 - 3.0 * z) * kurt / 24.0 - (2.0 * z**3 - 5.0 * z) * s * s / 36.0
            integral = m1 + (m2 - tail) * s / 6.0 + (m3 - 3.0 * m1) * kurt / 24.0 - (2.0 * m3 - 5.0 * m1) * s * s / 36.0
            return q, integral / tail

        q_long, es_long = side(-skew)
        q_short, es_short = side(skew)
    else:
        raise InvalidParameter(f"model {model!r} is not parametric; allowed: {list(PARAMETRIC)}")
    out[:, 0] = -mean + sd * q_long
    out[:, 1] = mean + sd * q_short
    out[:, 2] = -mean + sd * es_long
    out[:, 3] = mean + sd * es_short
    return out


@dataclass(frozen=True)
class GarchParams:
    """GARCH(1,1) of per-bar log returns: ``h_{i+1} = omega + alpha r_i^2 + beta h_i``."""

    omega: float
    alpha: float
    beta: float

    def variance0(self, returns: NDArray[np.float64]) -> float:
        """Starting variance: the unconditional one when stationary, else the sample's."""
        if self.alpha + self.beta < 1.0:
            return self.omega / (1.0 - self.alpha - self.beta)
        return float(np.var(returns))


def fit_garch(returns: NDArray[np.float64], previous: GarchParams | None = None) -> GarchParams:
    """Quasi-maximum-likelihood GARCH(1,1) (zero mean, normal) of log returns with ``arch``.

    A fit that does not converge keeps ``previous`` (or, for the first, falls back to the
    RiskMetrics EWMA as an integrated GARCH: ``omega = 0, alpha = 1 - lambda, beta = lambda``).
    """
    from arch import arch_model

    model = arch_model(returns * _ARCH_SCALE, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(disp="off", show_warning=False)
    if result.convergence_flag != 0:
        return previous or GarchParams(0.0, 1.0 - EWMA_LAMBDA, EWMA_LAMBDA)
    omega, a, b = (float(v) for v in result.params[["omega", "alpha[1]", "beta[1]"]])
    return GarchParams(omega / _ARCH_SCALE**2, a, b)


@dataclass(frozen=True)
class JumpParams:
    """Merton jumps of per-bar log returns: Poisson intensity per bar, log-jump mean and std."""

    per_bar: float
    mean: float
    std: float

    @property
    def variance_per_bar(self) -> float:
        """The jumps' share of a bar's log-return variance, ``lambda (mu_J^2 + sigma_J^2)``."""
        return self.per_bar * (self.mean**2 + self.std**2)


def estimate_jumps(returns: NDArray[np.float64]) -> JumpParams:
    """Threshold estimator: returns farther than :data:`JUMP_THRESHOLD` robust standard
    deviations (1.4826 MAD) from the median are jumps; their rate, mean and standard deviation."""
    med = float(np.median(returns))
    robust = 1.4826 * float(np.median(np.abs(returns - med)))
    jumps = returns[np.abs(returns - med) > JUMP_THRESHOLD * robust] if robust > 0 else returns[:0]
    if len(jumps) == 0:
        return JumpParams(0.0, 0.0, 0.0)
    std = float(np.std(jumps, ddof=1)) if len(jumps) > 1 else 0.0
    return JumpParams(len(jumps) / len(returns), float(np.mean(jumps)), std)


@dataclass(frozen=True, eq=False)
class McPools:
    """Common random numbers of the Monte Carlo model over ``h`` bars.

    ``diffusion``: log returns of the simulator's GBM at unit annual volatility and zero
    log drift (``sqrt(dt) * sum of h normals``); ``jumps``: log returns of its Merton model with
    no diffusion (compensated jumps; equal to ``no_jump_value`` on paths without a jump).
    A scenario at per-bar diffusion volatility ``s`` is ``X = expm1(-s^2 h / 2 + s / sqrt(dt)
    * diffusion + jumps)``.
    """

    diffusion: NDArray[np.float64]
    jumps: NDArray[np.float64]
    sqrt_dt: float
    seed_entropy: int
    spawn_key: tuple[int, ...]
    #: The jump pool's value on paths without a jump (its most frequent value), whether each
    #: path jumped, and the no-jump paths' diffusion values in ascending order.
    no_jump_value: float
    jumped: NDArray[np.bool_]
    calm_sorted: NDArray[np.float64]


def diffusion_pool(seed: np.random.SeedSequence, *, n_paths: int, h: int, bar_s: int) -> NDArray[np.float64]:
    """``h``-bar log returns of the simulator's GBM at unit annual volatility and zero log drift."""
    gbm = paths.correlated_gbm(seed, n_paths=n_paths, n_steps=h, dt_s=bar_s, spot=1.0, sigma=1.0, mu=0.5)
    out: NDArray[np.float64] = np.log(gbm.prices[:, -1, 0])
    return out


def mc_pools(
    seed: np.random.SeedSequence, jumps: JumpParams, diffusion: NDArray[np.float64], *, h: int, bar_s: int
) -> McPools:
    """The jump pool of ``jumps`` drawn with the simulator's Merton sampler (no diffusion), beside
    the shared ``diffusion`` pool (:func:`diffusion_pool`, same paths and MPOR)."""
    per_year = SECONDS_PER_YEAR / bar_s
    merton = paths.merton_jump_diffusion(
        seed,
        n_paths=len(diffusion),
        n_steps=h,
        dt_s=bar_s,
        spot=1.0,
        sigma=0.0,
        jumps_per_year=jumps.per_bar * per_year,
        jump_mean=jumps.mean,
        jump_std=jumps.std,
    )
    entropy = seed.entropy
    jump_pool = np.log(merton.prices[:, -1, 0])
    values, counts = np.unique(jump_pool, return_counts=True)
    calm = float(values[np.argmax(counts)])
    jumped = jump_pool != calm
    return McPools(
        diffusion=diffusion,
        jumps=jump_pool,
        sqrt_dt=math.sqrt(bar_s / SECONDS_PER_YEAR),
        seed_entropy=int(entropy) if isinstance(entropy, int) else 0,
        spawn_key=tuple(int(k) for k in seed.spawn_key),
        no_jump_value=calm,
        jumped=jumped,
        calm_sorted=np.sort(diffusion[~jumped]),
    )
