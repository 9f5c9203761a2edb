"""Eager validation and coercion of the arrays the public functions accept.

Every failure raises :class:`~protocol.errors.InvalidParameter` with one sentence naming the
field, the first offending index and value, and what is allowed.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from protocol.errors import InvalidParameter

T = TypeVar("T", bound=np.generic)

__all__ = [
    "check_finite",
    "check_positive",
    "check_scalar",
    "float_array",
    "int_array",
    "out_array",
    "same_shape",
]


def _first_bad(mask: NDArray[np.bool_]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _where(name: str, index: tuple[int, ...]) -> str:
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def float_array(name: str, value: ArrayLike) -> NDArray[np.float64]:
    """``value`` as a C-contiguous float64 array (a copy only when needed)."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise InvalidParameter(f"{name} must be a real number or an array of real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def int_array(name: str, value: ArrayLike) -> NDArray[np.int64]:
    """``value`` as a C-contiguous int64 array; floats are accepted only when integral."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise InvalidParameter(f"{name} must be an array of integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) > 2.0**62)
        if bad.any():
            index = _first_bad(bad)
            raise InvalidParameter(f"{_where(name, index)} = {float(arr[index])!r} must be an integer")
    elif arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise InvalidParameter(f"{name} has values above {np.iinfo(np.int64).max}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_finite(name: str, arr: NDArray[np.float64], mask: NDArray[np.bool_] | None = None) -> None:
    """Every element (where ``mask``) is finite."""
    bad = ~np.isfinite(arr)
    if mask is not None:
        bad &= mask
    if bad.any():
        index = _first_bad(bad)
        raise InvalidParameter(f"{_where(name, index)} = {float(arr[index])!r} must be finite (not NaN or inf)")


def check_positive(
    name: str,
    arr: NDArray[np.float64],
    *,
    allow_zero: bool = False,
    mask: NDArray[np.bool_] | None = None,
) -> None:
    """Every element (where ``mask``) is finite and > 0 (>= 0 with ``allow_zero``)."""
    check_finite(name, arr, mask)
    bad = arr < 0.0 if allow_zero else arr <= 0.0
    if mask is not None:
        bad &= mask
    if bad.any():
        index = _first_bad(bad)
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidParameter(f"{_where(name, index)} = {float(arr[index])!r} must be {bound}")


def check_scalar(name: str, value: object, *, positive: bool = False, allow_zero: bool = True) -> float:
    """A finite real scalar as float (optionally > 0, or >= 0 when ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidParameter(f"{name} must be a real number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise InvalidParameter(f"{name} = {x!r} must be finite (not NaN or inf)")
    if positive and (x < 0.0 or (x == 0.0 and not allow_zero)):
        raise InvalidParameter(f"{name} = {x!r} must be {'>= 0' if allow_zero else '> 0'}")
    return x


def same_shape(fields: dict[str, NDArray[np.generic]]) -> tuple[int, ...]:
    """The common shape of ``fields``; raises naming the first field that differs."""
    items = list(fields.items())
    first_name, first = items[0]
    for name, arr in items[1:]:
        if arr.shape != first.shape:
            raise InvalidParameter(
                f"{name} has shape {arr.shape} but {first_name} has shape {first.shape}: all must have the same shape"
            )
    return first.shape


def out_array(name: str, out: NDArray[T] | None, shape: tuple[int, ...], dtype: type[T]) -> NDArray[T]:
    """A preallocated output (C-contiguous, writeable, ``dtype``, ``shape``) or a new one."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray) or out.dtype != dtype:
        raise InvalidParameter(f"{name} must be a numpy array of dtype {np.dtype(dtype)}")
    if out.shape != shape:
        raise InvalidParameter(f"{name} has shape {out.shape}, expected {shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise InvalidParameter(f"{name} must be C-contiguous and writeable")
    return out
