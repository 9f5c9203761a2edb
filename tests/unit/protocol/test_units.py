"""units: explicit rounding of mul_div / smul_div, EVM division and token-decimal conversion."""

from __future__ import annotations

import pytest

from protocol.constants import INT256_MAX, INT256_MIN, UINT256_MAX, WAD
from protocol.errors import InvalidParameter
from protocol.units import Rounding, from_wad, mul_div, smul_div, to_wad, wad_mul

DOWN, UP, FLOOR, CEIL = Rounding.DOWN, Rounding.UP, Rounding.FLOOR, Rounding.CEIL


# ----------------------------------------------------------------------------- mul_div


@pytest.mark.parametrize(
    ("a", "b", "d", "down", "up"),
    [
        (7, 1, 2, 3, 4),  # 3.5
        (6, 1, 2, 3, 3),  # exact: UP adds nothing
        (1, 1, 3, 0, 1),  # 0.333...
        (2, 1, 3, 0, 1),  # 0.666...: DOWN still truncates
        (0, 5, 7, 0, 0),
        (10**18 + 1, 3 * 10**18, 10**18, 3 * 10**18 + 3, 3 * 10**18 + 3),  # exact product
        (WAD - 1, WAD - 1, WAD, WAD - 2, WAD - 1),  # (1e36 - 2e18 + 1) / 1e18 = 1e18 - 2 + 1e-18
    ],
)
def test_mul_div_rounds_down_and_up(a: int, b: int, d: int, down: int, up: int) -> None:
    assert mul_div(a, b, d, DOWN) == down
    assert mul_div(a, b, d, UP) == up


def test_mul_div_takes_the_product_exactly_beyond_uint256() -> None:
    # a * b = 2**256 overflows a uint256 but the quotient fits: no intermediate overflow.
    assert mul_div(2**255, 2, 4, DOWN) == 2**254


@pytest.mark.parametrize(("a", "b", "d"), [(-1, 1, 1), (1, -1, 1), (1, 1, 0), (1, 1, -3)])
def test_mul_div_rejects_negative_operands_and_non_positive_divisor(a: int, b: int, d: int) -> None:
    with pytest.raises(ValueError, match="units: mul_div takes"):
        mul_div(a, b, d, DOWN)


@pytest.mark.parametrize("rounding", [FLOOR, CEIL])
def test_mul_div_refuses_signed_rounding(rounding: Rounding) -> None:
    with pytest.raises(ValueError, match="mul_div rounds DOWN or UP"):
        mul_div(1, 1, 1, rounding)


def test_mul_div_overflow_is_an_error() -> None:
    assert mul_div(UINT256_MAX, 1, 1, DOWN) == UINT256_MAX
    with pytest.raises(OverflowError, match="exceeds uint256"):
        mul_div(UINT256_MAX, 2, 1, DOWN)
    # UP can push an exact-boundary quotient over: (2**257 - 1) / 2 = 2**256 - 0.5 -> 2**256.
    assert mul_div(2**257 - 1, 1, 2, DOWN) == UINT256_MAX
    with pytest.raises(OverflowError):
        mul_div(2**257 - 1, 1, 2, UP)


# ----------------------------------------------------------------------------- smul_div


@pytest.mark.parametrize(
    ("a", "b", "d", "floor", "ceil"),
    [
        (7, 1, 2, 3, 4),  # +3.5
        (-7, 1, 2, -4, -3),  # -3.5: FLOOR goes to -inf, CEIL toward +inf
        (7, -1, 2, -4, -3),
        (-7, -1, 2, 3, 4),  # negative times negative is positive
        (-6, 1, 2, -3, -3),  # exact
        (-1, 1, 3, -1, 0),  # -0.333...
        (0, -5, 7, 0, 0),
        (-(WAD + 1), 3 * WAD, WAD, -3 * WAD - 3, -3 * WAD - 3),
    ],
)
def test_smul_div_rounds_floor_and_ceil(a: int, b: int, d: int, floor: int, ceil: int) -> None:
    assert smul_div(a, b, d, FLOOR) == floor
    assert smul_div(a, b, d, CEIL) == ceil


@pytest.mark.parametrize("d", [0, -1])
def test_smul_div_needs_a_positive_divisor(d: int) -> None:
    with pytest.raises(ValueError, match="units: smul_div takes d > 0"):
        smul_div(1, 1, d, FLOOR)


@pytest.mark.parametrize("rounding", [DOWN, UP])
def test_smul_div_refuses_unsigned_rounding(rounding: Rounding) -> None:
    with pytest.raises(ValueError, match="smul_div rounds FLOOR or CEIL"):
        smul_div(1, 1, 1, rounding)


def test_smul_div_overflow_is_an_error_at_both_ends() -> None:
    assert smul_div(INT256_MAX, 1, 1, FLOOR) == INT256_MAX
    assert smul_div(INT256_MIN, 1, 1, CEIL) == INT256_MIN
    with pytest.raises(OverflowError, match="exceeds int256"):
        smul_div(INT256_MAX, 2, 1, FLOOR)
    with pytest.raises(OverflowError, match="exceeds int256"):
        smul_div(INT256_MIN, -1, 1, FLOOR)  # -(-2**255) = 2**255 > INT256_MAX
    with pytest.raises(OverflowError):
        smul_div(INT256_MIN, 2, 1, CEIL)


# ----------------------------------------------------------------------------- wad_mul


def test_wad_mul_dispatches_on_rounding() -> None:
    # 1.5 * (1e-18 * 3) = 4.5e-18: DOWN/FLOOR 4, UP/CEIL 5; signed -4.5e-18: FLOOR -5, CEIL -4.
    a = 3 * WAD // 2
    assert wad_mul(a, 3, DOWN) == 4
    assert wad_mul(a, 3, UP) == 5
    assert wad_mul(a, -3, FLOOR) == -5
    assert wad_mul(a, -3, CEIL) == -4
    with pytest.raises(ValueError, match="mul_div takes"):
        wad_mul(a, -3, DOWN)


# ----------------------------------------------------------------------------- token decimals


def test_to_wad_scales_up_exactly() -> None:
    assert to_wad(1_500_000, 6) == 1_500_000 * 10**12 == 3 * WAD // 2  # 1.5 USDC
    assert to_wad(1, 6) == 10**12
    assert to_wad(123, 18) == 123
    assert to_wad(5, 0) == 5 * WAD
    assert to_wad(-2, 6) == -2 * 10**12  # signed amounts scale too


def test_from_wad_rounds_as_asked() -> None:
    amount = 3 * WAD // 2 + 1  # 1.5 USDC and one wei
    assert from_wad(amount, 6, DOWN) == 1_500_000
    assert from_wad(amount, 6, UP) == 1_500_001
    assert from_wad(3 * WAD // 2, 6, UP) == 1_500_000  # exact: no extra unit
    assert from_wad(10**12 - 1, 6, DOWN) == 0
    assert from_wad(10**12 - 1, 6, UP) == 1
    assert from_wad(77, 18, DOWN) == 77


def test_from_wad_of_a_negative_amount_is_an_error() -> None:
    with pytest.raises(ValueError, match="units: mul_div takes"):
        from_wad(-1, 6, DOWN)


@pytest.mark.parametrize("decimals", [-1, 19, "6", 6.0, None])
def test_decimals_out_of_range_raise_invalid_parameter(decimals: object) -> None:
    with pytest.raises(InvalidParameter, match=r"decimals must be an integer in \[0, 18\]"):
        to_wad(1, decimals)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="decimals must be an integer"):
        from_wad(1, decimals, DOWN)  # type: ignore[arg-type]
