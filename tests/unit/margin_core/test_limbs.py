"""Exact WAD integers as two int64 limbs."""

from __future__ import annotations

import numpy as np
import pytest

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.margin_core import WadLimbs

VALUES = [0, 1, -1, WAD - 1, -(WAD - 1), WAD, -WAD, 10**20 + 7, -(10**30) - 3, 2**63 * WAD - 1, -(2**63 - 1) * WAD]


def test_from_ints_round_trips_exactly() -> None:
    limbs = WadLimbs.from_ints(VALUES)
    assert [limbs.value((k,)) for k in range(len(VALUES))] == VALUES


def test_fractional_limb_carries_the_sign() -> None:
    limbs = WadLimbs.from_ints([-1, -(WAD + 5)])
    assert limbs.whole.tolist() == [0, -1]
    assert limbs.frac.tolist() == [-1, -5]


def test_rows_of_a_matrix() -> None:
    limbs = WadLimbs.from_ints([[1, -2 * WAD - 3], [10**25, 0]])
    assert limbs.shape == (2, 2)
    assert limbs.row(0) == [1, -2 * WAD - 3]
    assert limbs.row(1) == [10**25, 0]


def test_from_scaled_matches_from_ints() -> None:
    x = np.array([0, 1, -1, 123_456_789, -987_654_321_000, 2**62], dtype=np.int64)
    scaled = WadLimbs.from_scaled(x, 6)
    exact = WadLimbs.from_ints([int(v) * 10**12 for v in x.tolist()])
    assert scaled.whole.tolist() == exact.whole.tolist()
    assert scaled.frac.tolist() == exact.frac.tolist()


def test_units_are_within_three_roundings() -> None:
    limbs = WadLimbs.from_ints(VALUES)
    for value, approx in zip(VALUES, limbs.units().tolist(), strict=True):
        exact = value / WAD  # correctly rounded
        assert abs(approx - exact) <= 3 * 2.0**-53 * abs(exact)
        assert (approx > 0) == (value > 0)
        assert (approx < 0) == (value < 0)


@pytest.mark.parametrize(
    ("whole", "frac", "message"),
    [
        (np.zeros(2, np.int64), np.zeros(3, np.int64), "shape"),
        (np.zeros(2, np.int32), np.zeros(2, np.int64), "int64"),
        (np.zeros(1, np.int64), np.array([WAD], np.int64), "one whole unit"),
        (np.ones(1, np.int64), np.array([-1], np.int64), "sign"),
    ],
)
def test_malformed_limbs_are_rejected(whole: np.ndarray, frac: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        WadLimbs(whole, frac)


@pytest.mark.parametrize("bad", [[1.5], [True], [2**63 * WAD], ["7"]])
def test_from_ints_rejects_non_integers_and_overflow(bad: list[object]) -> None:
    with pytest.raises(InvalidParameter, match="from_ints"):
        WadLimbs.from_ints(bad)


def test_from_scaled_validates_decimals_and_dtype() -> None:
    with pytest.raises(InvalidParameter, match="decimals"):
        WadLimbs.from_scaled(np.zeros(1, np.int64), 19)
    with pytest.raises(InvalidParameter, match="int64"):
        WadLimbs.from_scaled(np.zeros(1), 6)
    with pytest.raises(InvalidParameter, match="2\\*\\*63"):
        WadLimbs.from_scaled(np.array([-(2**63)], np.int64), 6)
