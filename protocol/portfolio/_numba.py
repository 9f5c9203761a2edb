"""Typed wrappers around numba's decorators.

numba ships no type information, so ``@numba.njit`` would make every kernel ``Any`` under
``mypy --strict``. These wrappers keep the decorated function's signature and fix the options
every kernel of this package uses: ``cache=True`` (compiled once per machine), ``fastmath=False``
(IEEE semantics: no reassociation, NaN and inf respected) and ``error_model="numpy"`` (division
follows IEEE instead of raising, so the kernels have no hidden exception paths; inputs are
validated before they get here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["chunk_count", "kernel", "parallel_kernel", "prange"]

F = TypeVar("F", bound=Callable[..., Any])

prange = numba.prange


def kernel(func: F) -> F:
    """Compile ``func`` in nopython mode (serial)."""
    return cast(F, numba.njit(cache=True, fastmath=False, error_model="numpy")(func))


def parallel_kernel(func: F) -> F:
    """Compile ``func`` in nopython mode with ``prange`` loops run on numba's thread pool."""
    return cast(F, numba.njit(cache=True, fastmath=False, error_model="numpy", parallel=True)(func))


def chunk_count(n_items: int) -> int:
    """How many contiguous chunks a parallel kernel splits ``n_items`` into (a few per thread,
    so that uneven chunks balance; each chunk allocates its scratch once)."""
    return min(n_items, 4 * int(numba.get_num_threads()))
