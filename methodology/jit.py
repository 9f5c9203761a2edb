"""The methodology's numba decorator, typed for mypy: compiled once, cached on disk, no fastmath
(the fast path must equal the plain pandas one within 1e-12, so no reassociation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit

__all__ = ["jit"]

F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F) -> F:
    """``numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")``."""
    return cast(F, njit(cache=True, fastmath=False, nogil=True, error_model="numpy")(fn))
