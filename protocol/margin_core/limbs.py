"""Exact WAD integers stored as two int64 limbs, for books built directly from arrays.

Protocol values are WAD integers that routinely exceed int64 (100 BTC is ``10**20`` wei), so a
value ``x`` is stored as ``whole * WAD + frac`` with ``whole = trunc(x / WAD)`` and
``frac = x - whole * WAD``: the fractional limb carries the sign of ``x`` and ``|frac| < WAD``.
That covers ``|x| < 2**63`` whole units (about ``9.2e18`` USD or base units) exactly, and the
float64 value in whole units is ``whole + frac / 1e18`` with both terms of one sign, so the
conversion is accurate to three roundings (see :mod:`protocol.margin_core.screen`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numba import prange
from numpy.typing import ArrayLike, NDArray

from protocol.constants import MAX_DECIMALS, WAD
from protocol.errors import InvalidParameter
from protocol.margin_core.jit import kernel

__all__ = ["WadLimbs"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


@kernel(parallel=True)
def _limbs_to_units(whole: NDArray[np.int64], frac: NDArray[np.int64], out: NDArray[np.float64]) -> None:
    """``out[k] = whole[k] + frac[k] / 1e18`` (1e18 is exact in binary64; both terms share a sign)."""
    for k in prange(whole.size):
        out[k] = np.float64(whole[k]) + np.float64(frac[k]) / 1e18


def _int64_array(name: str, values: object) -> NDArray[np.int64]:
    if not isinstance(values, np.ndarray) or values.dtype != np.int64:
        raise InvalidParameter(f"{name} must be a numpy int64 array, got {type(values).__name__}")
    return np.ascontiguousarray(values)


@dataclass(frozen=True, eq=False)
class WadLimbs:
    """An array of exact WAD integers ``whole * WAD + frac`` (two int64 arrays of one shape).

    Build one with :meth:`from_ints` (Python integers, exact) or :meth:`from_scaled` (int64
    fixed-point values with a number of decimals, vectorized).
    """

    #: Whole units, ``trunc(x / WAD)``.
    whole: NDArray[np.int64]
    #: Remaining wei, with the sign of ``x``; ``|frac| < WAD``.
    frac: NDArray[np.int64]

    def __post_init__(self) -> None:
        whole = _int64_array("WadLimbs.whole", self.whole)
        frac = _int64_array("WadLimbs.frac", self.frac)
        if whole.shape != frac.shape:
            raise InvalidParameter(f"WadLimbs.whole has shape {whole.shape} but frac has shape {frac.shape}")
        if frac.size and (np.any(frac >= WAD) or np.any(frac <= -WAD)):
            raise InvalidParameter("WadLimbs.frac must satisfy |frac| < 10**18 (one whole unit)")
        if frac.size and np.any(((whole > 0) & (frac < 0)) | ((whole < 0) & (frac > 0))):
            raise InvalidParameter("WadLimbs.frac must carry the sign of the value (split by truncation)")
        object.__setattr__(self, "whole", whole)
        object.__setattr__(self, "frac", frac)

    @classmethod
    def from_ints(cls, values: Iterable[object] | ArrayLike, shape: tuple[int, ...] | None = None) -> WadLimbs:
        """Exact limbs of Python integers (WAD); ``shape`` reshapes a flat input.

        Raises InvalidParameter for a non-integer or for ``|x| >= 2**63 * WAD``.
        """
        array = np.asarray(values, dtype=object)
        flat = array.ravel()
        whole = np.empty(flat.size, dtype=np.int64)
        frac = np.empty(flat.size, dtype=np.int64)
        for k, x in enumerate(flat):
            if isinstance(x, bool) or not isinstance(x, int | np.integer):
                raise InvalidParameter(f"WadLimbs.from_ints: element {k} is {x!r}, not an integer WAD value")
            w = abs(int(x)) // WAD
            w = w if x >= 0 else -w
            if not _INT64_MIN <= w <= _INT64_MAX:
                raise InvalidParameter(f"WadLimbs.from_ints: element {k} = {x} exceeds 2**63 whole units")
            whole[k] = w
            frac[k] = int(x) - w * WAD
        out_shape = array.shape if shape is None else shape
        return cls(whole.reshape(out_shape), frac.reshape(out_shape))

    @classmethod
    def from_scaled(cls, values: ArrayLike, decimals: int) -> WadLimbs:
        """Exact limbs of int64 fixed-point ``values`` with ``decimals`` (value = x * 10**(18 - decimals))."""
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
            raise InvalidParameter(f"decimals must be an integer in [0, {MAX_DECIMALS}], got {decimals!r}")
        x = np.asarray(values)
        if x.dtype != np.int64:
            raise InvalidParameter(f"WadLimbs.from_scaled takes int64 values, got dtype {x.dtype}")
        if x.size and x.min() == _INT64_MIN:
            raise InvalidParameter("WadLimbs.from_scaled: -2**63 has no int64 magnitude; use from_ints")
        scale = np.int64(10**decimals)
        whole = np.abs(x) // scale
        np.negative(whole, out=whole, where=x < 0)
        frac = (x - whole * scale) * np.int64(10 ** (MAX_DECIMALS - decimals))
        return cls(whole, frac)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the value array."""
        return tuple(self.whole.shape)

    @property
    def nbytes(self) -> int:
        """Bytes held by both limbs."""
        return int(self.whole.nbytes + self.frac.nbytes)

    def value(self, index: tuple[int, ...]) -> int:
        """The exact WAD integer at ``index``."""
        return int(self.whole[index]) * WAD + int(self.frac[index])

    def row(self, index: int) -> list[int]:
        """The exact WAD integers of row ``index`` of a 2-D array."""
        return [w * WAD + f for w, f in zip(self.whole[index].tolist(), self.frac[index].tolist(), strict=True)]

    def units(self) -> NDArray[np.float64]:
        """float64 values in whole units (x / WAD), each within three roundings of exact."""
        out = np.empty(self.whole.shape, dtype=np.float64)
        _limbs_to_units(self.whole.ravel(), self.frac.ravel(), out.ravel())
        return out
