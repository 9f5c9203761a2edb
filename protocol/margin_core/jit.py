"""The one numba decorator of the margin core, typed for mypy, and its fused multiply-add.

Kernels are compiled once per machine and cached on disk (``cache=True``), never with
``fastmath``: the error bound of :mod:`protocol.margin_core.screen` assumes IEEE-754 binary64
arithmetic with round-to-nearest and no reassociation. Where the screen wants ``a * b + c``
with one rounding it says so with :func:`fma` (never left to the compiler's contraction), so
every loop, vectorized or not, computes the same bits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from llvmlite import ir
from numba import njit, types
from numba.core.base import BaseContext
from numba.core.typing.context import BaseContext as TypingContext
from numba.core.typing.templates import Signature
from numba.extending import intrinsic

__all__ = ["fma", "kernel"]

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


@intrinsic
def _fma(
    typingctx: TypingContext, a: types.Type, b: types.Type, c: types.Type
) -> tuple[Signature, Callable[[BaseContext, ir.IRBuilder, Signature, list[ir.Value]], ir.Value]] | None:
    if not all(isinstance(t, types.Float) and t.bitwidth == 64 for t in (a, b, c)):
        return None

    def codegen(context: BaseContext, builder: ir.IRBuilder, sig: Signature, args: list[ir.Value]) -> ir.Value:
        return builder.fma(*args)  # llvm.fma.f64: exact product and sum, one rounding (vectorizes)

    return types.float64(types.float64, types.float64, types.float64), codegen


#: The intrinsic as kernels call it (numba resolves the object; the cast only types it for mypy).
_fused = cast(Callable[[float, float, float], float], _fma)


@kernel(parallel=False, inline=True)
def fma(a: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once (IEEE-754 fusedMultiplyAdd), float64 arguments."""
    return _fused(a, b, c)
