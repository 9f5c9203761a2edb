# pragma version ~=0.4.3
"""
@title units
@notice Exact WAD arithmetic with explicit rounding (mirrors protocol/units.py).
@dev The product a * b is taken exactly (512 bits) and divided once. Results that do not fit
     revert with "units: overflow"; nothing wraps. EVM (and Vyper) signed division truncates
     toward zero; FLOOR and CEIL are built from unsigned division of magnitudes instead, so
     they equal Python's `//` and `-((-n) // d)` exactly.
"""

from . import constants as c

# Rounding directions, named at every call site: units.mul_div(a, b, d, units.UP).
DOWN: constant(bool) = False  # unsigned, toward zero
UP: constant(bool) = True  # unsigned, away from zero
FLOOR: constant(bool) = False  # signed, toward -inf
CEIL: constant(bool) = True  # signed, toward +inf

_INT256_MAX_U: constant(uint256) = 2**255 - 1
_INT256_MIN_ABS: constant(uint256) = 2**255


@internal
@pure
def mul_div(a: uint256, b: uint256, d: uint256, round_up: bool) -> uint256:
    """
    @notice `a * b / d` for unsigned operands with the product taken exactly.
    @param a First factor.
    @param b Second factor.
    @param d Divisor, > 0.
    @param round_up UP (True) rounds away from zero, DOWN (False) toward zero.
    @return The quotient; reverts "units: overflow" if it exceeds uint256.
    """
    assert d != 0, "units: division by zero"
    prod0: uint256 = unsafe_mul(a, b)
    mm: uint256 = uint256_mulmod(a, b, max_value(uint256))
    prod1: uint256 = unsafe_sub(unsafe_sub(mm, prod0), convert(mm < prod0, uint256))
    q: uint256 = 0
    if prod1 == 0:
        q = unsafe_div(prod0, d)
    else:
        # 512-bit by 256-bit division (R. Bloemen's mulDiv), exact when the quotient fits.
        assert d > prod1, "units: overflow"
        remainder: uint256 = uint256_mulmod(a, b, d)
        prod1 = unsafe_sub(prod1, convert(remainder > prod0, uint256))
        prod0 = unsafe_sub(prod0, remainder)
        twos: uint256 = d & unsafe_sub(0, d)
        dd: uint256 = unsafe_div(d, twos)
        prod0 = unsafe_div(prod0, twos)
        twos = unsafe_add(unsafe_div(unsafe_sub(0, twos), twos), 1)
        prod0 = prod0 | unsafe_mul(prod1, twos)
        inverse: uint256 = unsafe_mul(3, dd) ^ 2
        inverse = unsafe_mul(inverse, unsafe_sub(2, unsafe_mul(dd, inverse)))
        inverse = unsafe_mul(inverse, unsafe_sub(2, unsafe_mul(dd, inverse)))
        inverse = unsafe_mul(inverse, unsafe_sub(2, unsafe_mul(dd, inverse)))
        inverse = unsafe_mul(inverse, unsafe_sub(2, unsafe_mul(dd, inverse)))
        inverse = unsafe_mul(inverse, unsafe_sub(2, unsafe_mul(dd, inverse)))
        inverse = unsafe_mul(inverse, unsafe_sub(2, unsafe_mul(dd, inverse)))
        q = unsafe_mul(prod0, inverse)
    if round_up and uint256_mulmod(a, b, d) != 0:
        assert q != max_value(uint256), "units: overflow"
        q = unsafe_add(q, 1)
    return q


@internal
@pure
def abs_u(x: int256) -> uint256:
    """
    @notice |x| as uint256 (defined for min_value(int256)).
    @param x A signed value.
    @return Its magnitude.
    """
    if x >= 0:
        return convert(x, uint256)
    return convert(-(x + 1), uint256) + 1


@internal
@pure
def to_int(x: uint256) -> int256:
    """
    @notice Checked conversion of an unsigned value to int256.
    @param x A value <= 2**255 - 1.
    @return The same value as int256; reverts "units: overflow" otherwise.
    """
    assert x <= _INT256_MAX_U, "units: overflow"
    return convert(x, int256)


@internal
@pure
def neg_int(m: uint256) -> int256:
    """
    @notice -m as int256 (m may be 2**255).
    @param m A magnitude <= 2**255.
    @return -m; reverts "units: overflow" if it does not fit.
    """
    if m == _INT256_MIN_ABS:
        return min_value(int256)
    return -self.to_int(m)


@internal
@pure
def smul_div(a: int256, b: int256, d: uint256, round_ceil: bool) -> int256:
    """
    @notice `a * b / d` for signed operands and d > 0, exact product, FLOOR or CEIL.
    @param a First factor (signed).
    @param b Second factor (signed).
    @param d Divisor, > 0.
    @param round_ceil CEIL (True) rounds toward +inf, FLOOR (False) toward -inf.
    @return The quotient; reverts "units: overflow" if it exceeds int256.
    """
    negative: bool = (a < 0) != (b < 0) and a != 0 and b != 0
    # floor of a negative quotient and ceil of a positive one round the magnitude up
    m: uint256 = self.mul_div(self.abs_u(a), self.abs_u(b), d, negative != round_ceil)
    if negative:
        return self.neg_int(m)
    return self.to_int(m)


@internal
@pure
def to_wad(amount: uint256, decimals: uint256) -> uint256:
    """
    @notice Token or feed units with `decimals` to WAD (exact, scaling up).
    @param amount Amount in token units.
    @param decimals Token decimals, <= 18.
    @return amount * 10**(18 - decimals).
    """
    return amount * pow_mod256(10, c.MAX_DECIMALS - decimals)


@internal
@pure
def sign(x: int256) -> int256:
    """
    @notice Sign of x: -1, 0 or +1.
    @param x A signed value.
    @return The sign.
    """
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0
