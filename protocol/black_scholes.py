"""Black-Scholes-Merton prices and Greeks of European calls and puts with a continuous yield,
pure Python.

The one implementation of the formulas: the reference model (:mod:`protocol.option_margin`)
calls :func:`price_unchecked`, and the batch engine (:mod:`protocol.portfolio`) compiles
:func:`price_unchecked` and :func:`greeks_unchecked` with numba, so model and engine evaluate
the same expressions in the same order. This module imports nothing outside the standard
library and :mod:`protocol.errors` (the model stays free of numpy and numba).

The underlying pays a continuous yield ``q`` (Merton 1973; Hull, *Options, Futures and Other
Derivatives*, "Options on stock indices and currencies"): a dividend yield for an index, the
foreign risk-free rate for a currency, a staking or lending yield for yield-bearing collateral.
With ``S' = S exp(-q t)`` and ``K' = K exp(-r t)``::

    d1 = (ln(S / K) + (r - q + vol**2 / 2) t) / (vol sqrt(t)),   d2 = d1 - vol sqrt(t)
    call = S' N(d1) - K' N(d2),   put = K' N(-d2) - S' N(-d1)

which is Haug's generalized Black-Scholes (*The Complete Guide to Option Pricing Formulas*,
§1.1.6) with cost of carry ``b = r - q``. With ``q = 0`` every expression reduces to the
no-dividend formulas bit for bit (``exp(-0 t) = 1`` exactly, ``x * 1 = x``, ``x - 0 = x``).

Units (float):

* ``spot``, ``strike``: USD per unit of the underlying; ``price``: USD per option on one unit.
* ``t_years``: time to expiry in years (ACT/365: one day is ``1 / DAYS_PER_YEAR``).
* ``vol``: annualised volatility as a decimal (0.20 = 20 %).
* ``rate``: continuously compounded risk-free rate per year as a decimal (may be negative).
* ``dividend_yield``: the underlying's continuous yield ``q`` per year as a decimal (may be
  negative: a cost of holding the underlying).
* ``delta``: dPrice/dSpot (USD per USD, i.e. units of the underlying per option):
  ``exp(-q t) N(d1)`` for a call, ``-exp(-q t) N(-d1)`` for a put.
* ``gamma``: d2Price/dSpot2 (per USD).
* ``vega``: dPrice/dVol per 1.00 of volatility (divide by 100 for a one-point move).
* ``theta``: dPrice/dt as calendar time passes, USD per year (``Greeks.theta_per_day`` per
  calendar day, divided by ``DAYS_PER_YEAR`` as in Hull).
* ``rho``: dPrice/dRate per 1.00 of rate, USD (divide by 100 for one percentage point):
  ``K t exp(-r t) N(d2)`` for a call, ``-K t exp(-r t) N(-d2)`` for a put.

At expiry (``t_years == 0``) the price is the intrinsic value; delta is the limit of the
Black-Scholes delta (1 in the money, 0 out of the money, 1/2 at the money; minus 1 for puts)
and gamma, vega, theta and rho are 0. A negative time to expiry is rejected: an expired option
is settled, not priced. The normal CDF is ``0.5 * erfc(-x / sqrt(2))``: the complementary error
function keeps full relative precision in the lower tail, where ``0.5 * (1 + erf(x /
sqrt(2)))`` cancels.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Final

from protocol.errors import InvalidParameter

__all__ = [
    "DAYS_PER_YEAR",
    "SECONDS_PER_YEAR",
    "Greeks",
    "bs_greeks",
    "bs_price",
    "greeks_unchecked",
    "norm_cdf",
    "price_unchecked",
]

#: Calendar days per year used for theta per day and for day counts (ACT/365).
DAYS_PER_YEAR: Final = 365.0
#: Seconds per year of the ACT/365 day count (time to expiry = seconds / SECONDS_PER_YEAR).
SECONDS_PER_YEAR: Final = int(DAYS_PER_YEAR) * 86_400
_INV_SQRT2: Final = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Greeks:
    """Price and Greeks of one option on one unit of the underlying (units: module docstring)."""

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float
    rho: float

    @property
    def theta_per_day(self) -> float:
        """Theta in USD per calendar day (``theta / DAYS_PER_YEAR``)."""
        return self.theta / DAYS_PER_YEAR


def norm_cdf(x: float) -> float:
    """Standard normal cumulative distribution function."""
    return 0.5 * math.erfc(-x * _INV_SQRT2)


def price_unchecked(
    is_call: bool,
    spot: float,
    strike: float,
    t_years: float,
    vol: float,
    rate: float = 0.0,
    dividend_yield: float = 0.0,
) -> float:
    """Price (USD per unit) without input checks; numba compiles this same function.

    Requires ``spot``, ``strike`` > 0, ``t_years`` >= 0 and ``vol`` >= 0. At ``t_years == 0``
    the price is the intrinsic value; at ``vol == 0`` (reachable only through a scenario's
    volatility floor) it is the limit ``max(S exp(-q t) - K exp(-r t), 0)`` (puts: ``max(K
    exp(-r t) - S exp(-q t), 0)``).
    """
    k_disc = strike * math.exp(-rate * t_years)
    s_disc = spot if dividend_yield == 0.0 else spot * math.exp(-dividend_yield * t_years)  # no exp for q = 0
    if t_years == 0.0 or vol == 0.0:
        return max(s_disc - k_disc, 0.0) if is_call else max(k_disc - s_disc, 0.0)
    sig = vol * math.sqrt(t_years)
    d1 = (math.log(spot / strike) + (rate - dividend_yield + 0.5 * vol * vol) * t_years) / sig
    d2 = d1 - sig
    if is_call:
        return s_disc * (0.5 * math.erfc(-d1 * _INV_SQRT2)) - k_disc * (0.5 * math.erfc(-d2 * _INV_SQRT2))
    return k_disc * (0.5 * math.erfc(d2 * _INV_SQRT2)) - s_disc * (0.5 * math.erfc(d1 * _INV_SQRT2))


def greeks_unchecked(
    is_call: bool, spot: float, strike: float, t_years: float, vol: float, rate: float, dividend_yield: float
) -> tuple[float, float, float, float, float, float]:
    """``(price, delta, gamma, vega, theta, rho)`` without input checks (``vol`` > 0,
    ``t_years`` >= 0); numba compiles this same function."""
    if t_years == 0.0:
        if is_call:
            delta = 1.0 if spot > strike else (0.5 if spot == strike else 0.0)
            return max(spot - strike, 0.0), delta, 0.0, 0.0, 0.0, 0.0
        delta = -1.0 if spot < strike else (-0.5 if spot == strike else 0.0)
        return max(strike - spot, 0.0), delta, 0.0, 0.0, 0.0, 0.0
    sqrt_t = math.sqrt(t_years)
    sig = vol * sqrt_t
    d1 = (math.log(spot / strike) + (rate - dividend_yield + 0.5 * vol * vol) * t_years) / sig
    d2 = d1 - sig
    k_disc = strike * math.exp(-rate * t_years)
    q_disc = 1.0 if dividend_yield == 0.0 else math.exp(-dividend_yield * t_years)  # exp(-0 t) = 1 exactly
    s_disc = spot * q_disc
    pdf = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    gamma = q_disc * pdf / (spot * sig)
    vega = s_disc * pdf * sqrt_t
    decay = -s_disc * pdf * vol / (2.0 * sqrt_t)
    if is_call:
        n_d1 = 0.5 * math.erfc(-d1 * _INV_SQRT2)
        n_d2 = 0.5 * math.erfc(-d2 * _INV_SQRT2)
        theta = decay + dividend_yield * s_disc * n_d1 - rate * k_disc * n_d2
        return s_disc * n_d1 - k_disc * n_d2, q_disc * n_d1, gamma, vega, theta, k_disc * t_years * n_d2
    n_md1 = 0.5 * math.erfc(d1 * _INV_SQRT2)
    n_md2 = 0.5 * math.erfc(d2 * _INV_SQRT2)
    theta = decay - dividend_yield * s_disc * n_md1 + rate * k_disc * n_md2
    return k_disc * n_md2 - s_disc * n_md1, -q_disc * n_md1, gamma, vega, theta, -k_disc * t_years * n_md2


def _real(name: str, value: object, *, lower: float | None = None, allow_lower: bool = False) -> float:
    """``value`` as a finite float, optionally > ``lower`` (>= with ``allow_lower``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameter(f"{name} must be a real number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise InvalidParameter(f"{name} = {x!r} must be finite (not NaN or inf)")
    if lower is not None and (x < lower or (x == lower and not allow_lower)):
        raise InvalidParameter(f"{name} = {x!r} must be {'>=' if allow_lower else '>'} {lower:g}")
    return x


def _checked(
    spot: float, strike: float, t_years: float, vol: float, rate: float, dividend_yield: float, call: bool
) -> tuple[bool, float, float, float, float, float, float]:
    if not isinstance(call, bool):
        raise InvalidParameter(f"call must be True (call) or False (put), got {call!r}")
    return (
        call,
        _real("spot", spot, lower=0.0),
        _real("strike", strike, lower=0.0),
        _real("t_years", t_years, lower=0.0, allow_lower=True),
        _real("vol", vol, lower=0.0),
        _real("rate", rate),
        _real("dividend_yield", dividend_yield),
    )


def bs_greeks(
    spot: float,
    strike: float,
    t_years: float,
    vol: float,
    *,
    call: bool,
    rate: float = 0.0,
    dividend_yield: float = 0.0,
) -> Greeks:
    """Price, delta, gamma, vega (per 1.00 vol), theta (per year) and rho (per 1.00 rate) of one
    European option on an underlying paying the continuous yield ``dividend_yield``.

    Raises :class:`~protocol.errors.InvalidParameter` unless ``spot``, ``strike`` and ``vol``
    are finite and > 0, ``t_years`` finite and >= 0, ``rate`` and ``dividend_yield`` finite and
    ``call`` a bool.
    """
    return Greeks(*greeks_unchecked(*_checked(spot, strike, t_years, vol, rate, dividend_yield, call)))


def bs_price(
    spot: float,
    strike: float,
    t_years: float,
    vol: float,
    *,
    call: bool,
    rate: float = 0.0,
    dividend_yield: float = 0.0,
) -> float:
    """Price (USD per unit of the underlying) of one European option; checks as :func:`bs_greeks`."""
    return price_unchecked(*_checked(spot, strike, t_years, vol, rate, dividend_yield, call))
