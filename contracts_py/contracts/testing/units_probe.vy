# pragma version ~=0.4.3
"""
@title Direct calls of the units module
@notice Test-only: exposes units' checked arithmetic, so its 512-bit mul_div path (a product of
        2**256 or more) and its "units: overflow" reason can be checked against the model's
        protocol/units.py with operands no protocol path reaches.
"""

from .. import units


@external
@pure
def mul_div(a: uint256, b: uint256, d: uint256, round_up: bool) -> uint256:
    """
    @notice units.mul_div(a, b, d, round_up).
    @param a First factor.
    @param b Second factor.
    @param d Divisor, > 0.
    @param round_up UP (True) or DOWN (False).
    @return The quotient.
    """
    return units.mul_div(a, b, d, round_up)


@external
@pure
def to_int(x: uint256) -> int256:
    """
    @notice units.to_int(x).
    @param x An unsigned value.
    @return x as int256.
    """
    return units.to_int(x)
