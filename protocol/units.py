"""Exact WAD arithmetic with explicit rounding.

Every division in the protocol goes through :func:`mul_div` (unsigned operands) or
:func:`smul_div` (signed operands) and names its rounding direction. The contracts implement the
same two functions (``contracts/units.vy``), so the Python and Vyper versions can be compared
operation by operation.

Rounding directions:

* ``Rounding.DOWN`` / ``Rounding.UP`` for unsigned quantities (toward zero / away from zero);
* ``Rounding.FLOOR`` / ``Rounding.CEIL`` for signed quantities (toward -inf / toward +inf).

The rule of the protocol: round so that the protocol never pays out more than exact arithmetic
would (credits to users FLOOR/DOWN, debits from users CEIL/UP).
"""

from __future__ import annotations

from enum import Enum

from protocol.constants import INT256_MAX, INT256_MIN, MAX_DECIMALS, UINT256_MAX, WAD
from protocol.errors import InvalidParameter

__all__ = [
    "WAD",
    "Rounding",
    "from_wad",
    "mul_div",
    "smul_div",
    "to_wad",
    "wad_mul",
]


class Rounding(Enum):
    """Direction of an explicit rounding step."""

    DOWN = "down"  # unsigned, toward zero
    UP = "up"  # unsigned, away from zero
    FLOOR = "floor"  # signed, toward -inf
    CEIL = "ceil"  # signed, toward +inf


def mul_div(a: int, b: int, d: int, rounding: Rounding) -> int:
    """``a * b / d`` for non-negative integers with the product taken exactly.

    ``rounding`` must be ``Rounding.DOWN`` or ``Rounding.UP``. The result must fit in uint256.
    """
    if a < 0 or b < 0 or d <= 0:
        raise ValueError(f"units: mul_div takes a, b >= 0 and d > 0, got {a}, {b}, {d}")
    q, r = divmod(a * b, d)
    if rounding is Rounding.UP:
        q += 1 if r else 0
    elif rounding is not Rounding.DOWN:
        raise ValueError(f"units: mul_div rounds DOWN or UP, not {rounding}")
    if q > UINT256_MAX:
        raise OverflowError("units: mul_div result exceeds uint256")
    return q


def smul_div(a: int, b: int, d: int, rounding: Rounding) -> int:
    """``a * b / d`` for signed ``a`` and ``b`` and ``d > 0``, exact product.

    ``rounding`` must be ``Rounding.FLOOR`` or ``Rounding.CEIL``. The result must fit in int256.
    """
    if d <= 0:
        raise ValueError(f"units: smul_div takes d > 0, got {d}")
    num = a * b
    if rounding is Rounding.FLOOR:
        q = num // d
    elif rounding is Rounding.CEIL:
        q = -((-num) // d)
    else:
        raise ValueError(f"units: smul_div rounds FLOOR or CEIL, not {rounding}")
    if not INT256_MIN <= q <= INT256_MAX:
        raise OverflowError("units: smul_div result exceeds int256")
    return q


def wad_mul(a: int, b: int, rounding: Rounding) -> int:
    """``a * b / WAD`` with explicit rounding; signed if ``rounding`` is FLOOR or CEIL."""
    if rounding in (Rounding.FLOOR, Rounding.CEIL):
        return smul_div(a, b, WAD, rounding)
    return mul_div(a, b, WAD, rounding)


def _scale(decimals: int) -> int:
    if not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
        raise InvalidParameter(f"decimals must be an integer in [0, {MAX_DECIMALS}], got {decimals!r}")
    scale: int = 10 ** (MAX_DECIMALS - decimals)
    return scale


def to_wad(amount: int, decimals: int) -> int:
    """Convert a token or feed amount with ``decimals`` into WAD (exact: scaling up)."""
    return amount * _scale(decimals)


def from_wad(amount_wad: int, decimals: int, rounding: Rounding) -> int:
    """Convert a non-negative WAD amount into token units with ``decimals``, rounding explicitly."""
    return mul_div(amount_wad, 1, _scale(decimals), rounding)
