"""Black-Scholes-Merton prices and Greeks of many European options at once (numba kernels).

The formulas are those of the pure-Python module :mod:`protocol.black_scholes` (units, the
continuous yield ``q`` of the underlying, expiry and tail conventions are documented there):
:data:`bs_price_nb` and :data:`bs_greeks_nb` are numba compilations of its
:func:`~protocol.black_scholes.price_unchecked` and
:func:`~protocol.black_scholes.greeks_unchecked`, so the batch kernels, the scenario engine and
the reference model evaluate the same expressions. The scalar API (:func:`bs_price`,
:func:`bs_greeks`, :class:`Greeks`) is re-exported from there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from protocol.black_scholes import DAYS_PER_YEAR, Greeks, bs_greeks, bs_price, greeks_unchecked, price_unchecked
from protocol.errors import InvalidParameter
from protocol.portfolio._numba import kernel
from protocol.portfolio._validate import (
    check_finite,
    check_positive,
    check_scalar,
    float_array,
    out_array,
    same_shape,
)

__all__ = [
    "DAYS_PER_YEAR",
    "Greeks",
    "GreeksArrays",
    "bs_greeks",
    "bs_greeks_batch",
    "bs_greeks_nb",
    "bs_price",
    "bs_price_batch",
    "bs_price_nb",
]

#: :func:`protocol.black_scholes.price_unchecked` compiled (numba-callable, inputs assumed valid).
bs_price_nb = kernel(price_unchecked)
#: :func:`protocol.black_scholes.greeks_unchecked` compiled (numba-callable, inputs assumed valid).
bs_greeks_nb = kernel(greeks_unchecked)


@kernel
def _price_kernel(
    spot: NDArray[np.float64],
    strike: NDArray[np.float64],
    t_years: NDArray[np.float64],
    vol: NDArray[np.float64],
    dividend_yield: NDArray[np.float64],
    is_call: NDArray[np.bool_],
    rate: float,
    out: NDArray[np.float64],
) -> None:
    for i in range(spot.size):
        out[i] = bs_price_nb(is_call[i], spot[i], strike[i], t_years[i], vol[i], rate, dividend_yield[i])


@kernel
def _greeks_kernel(
    spot: NDArray[np.float64],
    strike: NDArray[np.float64],
    t_years: NDArray[np.float64],
    vol: NDArray[np.float64],
    dividend_yield: NDArray[np.float64],
    is_call: NDArray[np.bool_],
    rate: float,
    price: NDArray[np.float64],
    delta: NDArray[np.float64],
    gamma: NDArray[np.float64],
    vega: NDArray[np.float64],
    theta: NDArray[np.float64],
    rho: NDArray[np.float64],
) -> None:
    for i in range(spot.size):
        price[i], delta[i], gamma[i], vega[i], theta[i], rho[i] = bs_greeks_nb(
            is_call[i], spot[i], strike[i], t_years[i], vol[i], rate, dividend_yield[i]
        )


#: The fields of :class:`GreeksArrays`, in the order the kernels write them.
_GREEKS = ("price", "delta", "gamma", "vega", "theta", "rho")


@dataclass(frozen=True, eq=False)
class GreeksArrays:
    """Prices and Greeks of many options, one array per quantity (units: module docstring)."""

    price: NDArray[np.float64]
    delta: NDArray[np.float64]
    gamma: NDArray[np.float64]
    vega: NDArray[np.float64]
    theta: NDArray[np.float64]
    rho: NDArray[np.float64]

    @classmethod
    def empty(cls, shape: tuple[int, ...]) -> GreeksArrays:
        """Uninitialised outputs of ``shape`` to pass as ``out``."""
        return cls(*(np.empty(shape, dtype=np.float64) for _ in _GREEKS))


def _batch_inputs(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    rate: float,
    dividend_yield: ArrayLike,
) -> tuple[tuple[NDArray[np.float64], ...], NDArray[np.bool_], float, tuple[int, ...]]:
    arrays = {
        "spot": float_array("spot", spot),
        "strike": float_array("strike", strike),
        "t_years": float_array("t_years", t_years),
        "vol": float_array("vol", vol),
    }
    calls = np.asarray(is_call)
    if calls.dtype != np.bool_:
        raise InvalidParameter(f"is_call must be a boolean array (True = call, False = put), got dtype {calls.dtype}")
    shape = same_shape({**arrays, "is_call": calls})
    check_positive("spot", arrays["spot"])
    check_positive("strike", arrays["strike"])
    check_positive("t_years", arrays["t_years"], allow_zero=True)
    check_positive("vol", arrays["vol"])
    yields = float_array("dividend_yield", dividend_yield)
    if np.ndim(dividend_yield) == 0:  # one yield for every option
        yields = np.full(shape, yields.item())
    else:
        same_shape({"spot": arrays["spot"], "dividend_yield": yields})
    check_finite("dividend_yield", yields)
    arrays["dividend_yield"] = yields
    r = check_scalar("rate", rate)
    flat = tuple(a.reshape(-1) for a in arrays.values())
    return flat, np.ascontiguousarray(calls).reshape(-1), r, shape


def bs_price_batch(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    *,
    rate: float = 0.0,
    dividend_yield: ArrayLike = 0.0,
    out: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Prices of many European options (arrays of one shape; ``rate`` shared, ``dividend_yield``
    one number for all or an array of the input shape).

    ``out``, when given, is a C-contiguous float64 array of the input shape and is returned.
    Raises :class:`~protocol.errors.InvalidParameter` for mismatched shapes, non-real dtypes,
    NaN or infinite values, ``spot``/``strike``/``vol`` <= 0 or ``t_years`` < 0.
    """
    (s, k, t, v, q), calls, r, shape = _batch_inputs(spot, strike, t_years, vol, is_call, rate, dividend_yield)
    result = out_array("out", out, shape, np.float64)
    _price_kernel(s, k, t, v, q, calls, r, result.reshape(-1))
    return result


def bs_greeks_batch(
    spot: ArrayLike,
    strike: ArrayLike,
    t_years: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    *,
    rate: float = 0.0,
    dividend_yield: ArrayLike = 0.0,
    out: GreeksArrays | None = None,
) -> GreeksArrays:
    """Prices and Greeks of many European options; inputs and validation as :func:`bs_price_batch`."""
    (s, k, t, v, q), calls, r, shape = _batch_inputs(spot, strike, t_years, vol, is_call, rate, dividend_yield)
    if out is None:
        out = GreeksArrays.empty(shape)
    fields = [out_array(f"out.{name}", getattr(out, name), shape, np.float64) for name in _GREEKS]
    _greeks_kernel(s, k, t, v, q, calls, r, *(f.reshape(-1) for f in fields))
    return out
