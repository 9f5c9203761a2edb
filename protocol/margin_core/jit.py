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


def kernel(*, parallel: bool, inline: bool = False) -> Callable[[F], F]:
    """``numba.njit`` with the margin core's settings (cached, no fastmath, no GIL).

    ``inline=True`` marks a per-row helper that several loops share: numba inlines it into each
    caller (``inline="always"``), so the loops run the same operations without a call per row.
    """

    def wrap(fn: F) -> F:
        jit = njit(
            cache=True,
            parallel=parallel,
            fastmath=False,
            nogil=True,
            error_model="numpy",
            inline="always" if inline else "never",
        )
        return cast(F, jit(fn))

    return wrap
