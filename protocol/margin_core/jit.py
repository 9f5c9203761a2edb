"""The one numba decorator of the margin core, typed for mypy.

Kernels are compiled once per machine and cached on disk (``cache=True``), never with
``fastmath``: the error bound of :mod:`protocol.margin_core.screen` assumes IEEE-754 binary64
arithmetic with round-to-nearest and no reassociation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit

__all__ = ["kernel"]

F = TypeVar("F", bound=Callable[..., Any])


def kernel(*, parallel: bool) -> Callable[[F], F]:
    """``numba.njit`` with the margin core's settings (cached, no fastmath, no GIL)."""

    def wrap(fn: F) -> F:
        return cast(F, njit(cache=True, parallel=parallel, fastmath=False, nogil=True, error_model="numpy")(fn))

    return wrap
