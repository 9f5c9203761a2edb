"""Scenario grids: the SPAN table, the Deribit-style grid, validation."""

from __future__ import annotations

import dataclasses

import pytest

from protocol.errors import InvalidParameter
from protocol.option_margin import SPAN_SCENARIOS
from protocol.portfolio import ScenarioGrid, VolShift, deribit_grid, span_grid

# CME SPAN risk-array order: (price move in scan ranges, volatility move in scan ranges, weight).
SPAN_TABLE = [
    (0.0, 1.0, 1.0), (0.0, -1.0, 1.0),
    (1 / 3, 1.0, 1.0), (1 / 3, -1.0, 1.0), (-1 / 3, 1.0, 1.0), (-1 / 3, -1.0, 1.0),
    (2 / 3, 1.0, 1.0), (2 / 3, -1.0, 1.0), (-2 / 3, 1.0, 1.0), (-2 / 3, -1.0, 1.0),
    (1.0, 1.0, 1.0), (1.0, -1.0, 1.0), (-1.0, 1.0, 1.0), (-1.0, -1.0, 1.0),
    (3.0, 0.0, 0.35), (-3.0, 0.0, 0.35),
]  # fmt: skip


def test_span_grid_is_the_standard_table() -> None:
    grid = span_grid()
    assert grid.size == 16
    assert list(zip(grid.price_units, grid.vol_units, grid.weights, strict=True)) == SPAN_TABLE
    assert (grid.vol_shift, grid.vega_power_short, grid.vega_power_long, grid.min_vol) == (VolShift.RELATIVE, 0, 0, 0)


def test_span_grid_defaults_are_the_models_scenarios() -> None:
    grid = span_grid()
    model = [(sc.price_move, sc.vol_move, sc.weight) for sc in SPAN_SCENARIOS]
    assert list(zip(grid.price_units, grid.vol_units, grid.weights, strict=True)) == model


def test_span_grid_extreme_multiple_is_a_parameter() -> None:
    grid = span_grid(extreme_multiple=2.0, extreme_weight=0.3, vol_shift=VolShift.ABSOLUTE, min_vol=1e-3)
    assert grid.price_units[14:] == (2.0, -2.0)
    assert grid.weights[14:] == (0.3, 0.3)
    assert (grid.vol_shift, grid.min_vol) == (VolShift.ABSOLUTE, 1e-3)


def test_deribit_grid_shape() -> None:
    grid = deribit_grid(price_points=5)
    assert grid.size == 15
    assert grid.price_units == (-1.0, -1.0, -1.0, -0.5, -0.5, -0.5, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0)
    assert grid.vol_units == (-1.0, 0.0, 1.0) * 5
    assert set(grid.weights) == {1.0}
    assert (grid.vol_shift, grid.vega_power_short, grid.vega_power_long) == (VolShift.RELATIVE, 0.3, 0.13)


def test_grid_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        span_grid().name = "x"  # type: ignore[misc]


def test_arrays_are_copies() -> None:
    grid = span_grid()
    price, vol, weight = grid.arrays()
    price[0] = 99.0
    assert grid.price_units[0] == 0.0
    assert vol.shape == weight.shape == (16,)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": " "}, "grid.name must be a non-empty string"),
        ({"price_units": [0.0]}, "grid.price_units must be a tuple"),
        ({"price_units": (float("nan"),)}, r"grid.price_units\[0\] = nan must be a finite"),
        ({"vol_units": (0.0, 1.0)}, "must have the same non-zero length"),
        ({"price_units": (), "vol_units": (), "weights": ()}, "must have the same non-zero length"),
        ({"weights": (0.0,)}, r"grid.weights\[0\] = 0.0 must be in \(0, 1\]"),
        ({"weights": (1.5,)}, r"grid.weights\[0\] = 1.5 must be in \(0, 1\]"),
        ({"vol_shift": "absolute"}, "grid.vol_shift must be a VolShift"),
        ({"vega_power_short": 0.3}, "apply to RELATIVE volatility shifts only"),
        ({"vol_shift": VolShift.RELATIVE, "vega_power_long": 3.0}, r"must be in \[0, 2\]"),
        ({"dte_floor_days": 0.0}, "grid.dte_floor_days = 0.0 must be > 0"),
        ({"min_vol": -0.1}, r"grid.min_vol = -0.1 must be in \[0, 1\)"),
        ({"min_vol": 1.0}, r"grid.min_vol = 1.0 must be in \[0, 1\)"),
    ],
)
def test_grid_validation(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"name": "g", "price_units": (0.0,), "vol_units": (0.0,), "weights": (1.0,)}
    fields.update(changes)
    with pytest.raises(InvalidParameter, match=message):
        ScenarioGrid(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: span_grid(extreme_multiple=1.0), r"extreme_multiple = 1.0 must be in \(1.0, 10.0\]"),
        (lambda: span_grid(extreme_weight=0.0), r"extreme_weight = 0.0 must be in \(0.0, 1.0\]"),
        (lambda: deribit_grid(price_points=4), "price_points = 4 must be an odd integer >= 3"),
        (lambda: deribit_grid(price_points=1), "price_points = 1 must be an odd integer >= 3"),
    ],
)
def test_constructor_validation(call: object, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        call()  # type: ignore[operator]
