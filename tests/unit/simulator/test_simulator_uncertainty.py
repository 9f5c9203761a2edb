"""simulator.uncertainty against answers worked by hand: Clopper-Pearson bounds, the paths a
target needs, order-statistic bounds, expected shortfall on a known distribution, the bootstrap."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from protocol.errors import InvalidParameter
from simulator.uncertainty import (
    bootstrap_interval,
    expected_shortfall,
    expected_shortfall_floats,
    is_worst_path,
    paths_for_proportion,
    paths_for_quantile,
    proportion_interval,
    proportion_upper,
    quantile_bounds,
)


def test_clopper_pearson_upper_bound() -> None:
    # no event in n paths: P(no event | p) = (1 - p) ** n = 0.05 -> p = 1 - 0.05 ** (1 / n)
    for n in (1, 16, 100, 2995):
        assert proportion_upper(0, n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)
    assert proportion_upper(0, 16) == pytest.approx(0.17075, abs=1e-5)  # the 16 loss-free paths
    # 1 of 10, one-sided 95 % (textbook table): 0.3942
    assert proportion_upper(1, 10) == pytest.approx(0.3942, abs=1e-4)
    assert proportion_upper(10, 10) == 1.0
    # the 99 % bound is wider than the 95 % one
    assert proportion_upper(3, 50, 0.99) > proportion_upper(3, 50)
    # the Wilson interval: 0 of 16 -> [0 %, 19 %]
    low, high = proportion_interval(0, 16)
    assert low == 0.0
    assert high == pytest.approx(0.1936, abs=1e-4)


def test_paths_a_target_needs() -> None:
    # ceil(ln 0.05 / ln(1 - t)): the rule of three, 3 / t
    assert paths_for_proportion(0.001) == 2995
    assert paths_for_proportion(0.01) == 299
    assert paths_for_proportion(0.05) == 59
    assert proportion_upper(0, 2995) <= 0.001 < proportion_upper(0, 2994)
    assert paths_for_proportion(0.001, 0.99) == 4603  # ln 0.01 / ln 0.999
    assert paths_for_proportion(0.0) is None
    assert paths_for_proportion(1.0) == 1
    # a quantile has an upper order statistic once 1 - q ** n >= 0.95
    assert paths_for_quantile(0.5) == 5  # 1 - 0.5 ** 5 = 0.969, 1 - 0.5 ** 4 = 0.9375
    assert paths_for_quantile(0.95) == 59
    assert paths_for_quantile(0.99) == 299


def test_order_statistic_bounds() -> None:
    # P(Binomial(100, 0.95) <= 98) = 1 - 0.95 ** 100 - 100 * 0.05 * 0.95 ** 99 = 0.9629 >= 0.95, while
    # P(... <= 97) = 0.9629 - 4950 * 0.05 ** 2 * 0.95 ** 98 = 0.8817 < 0.95: the 99th smallest bounds it
    assert quantile_bounds(100, 0.95) == (91, 99)
    assert quantile_bounds(100, 0.99) == (97, None)  # 1 - 0.99 ** 100 = 0.634 < 0.95: no upper bound
    assert quantile_bounds(16, 0.95) == (14, None)
    assert quantile_bounds(5, 0.5) == (1, 5)  # 0.5 ** 5 = 0.031 <= 0.05 on each side: the extremes bound it
    assert quantile_bounds(4, 0.5) == (None, None)  # 0.5 ** 4 = 0.0625 > 0.05
    # the 95th percentile of 16 (rank ceil(15.2) = 16) and of 20 paths (rank 19)
    assert is_worst_path(16, 0.95)
    assert not is_worst_path(20, 0.95)
    assert is_worst_path(99, 0.99)
    assert not is_worst_path(101, 0.99)


def test_expected_shortfall_by_hand() -> None:
    values = [Decimal(i) for i in range(1, 101)]
    # worst 2.5 of 100: (100 + 99 + 0.5 * 98) / 2.5
    assert expected_shortfall(values, 0.975) == Decimal("99.2")
    assert expected_shortfall(values, 0.99) == Decimal(100)  # one path in the tail: the worst
    assert expected_shortfall([Decimal(i) for i in range(1, 201)], 0.975) == Decimal(198)  # (200 + ... + 196) / 5
    assert expected_shortfall([Decimal(i) for i in range(1, 1001)], 0.99) == Decimal("995.5")
    assert expected_shortfall([Decimal(3), Decimal(1)], 0.975) == Decimal(3)
    floats = np.arange(1, 101, dtype=np.float64)
    assert float(expected_shortfall_floats(floats, 0.975)) == pytest.approx(99.2, abs=1e-12)
    with pytest.raises(InvalidParameter, match="at least one value"):
        expected_shortfall([], 0.975)
    with pytest.raises(InvalidParameter, match="percentile level must be in"):
        expected_shortfall(values, 1.0)


def test_expected_shortfall_of_an_exponential() -> None:
    """Exp(1): VaR_a = -ln(1 - a) and ES_a = 1 - ln(1 - a); 10^5 quantile-grid points."""
    n = 100_000
    grid = -np.log1p(-(np.arange(1, n + 1) - 0.5) / n)
    for alpha in (0.975, 0.99):
        es = expected_shortfall([Decimal(repr(float(x))) for x in grid], alpha)
        assert float(es) == pytest.approx(1 - math.log(1 - alpha), rel=2e-3)
        assert float(expected_shortfall_floats(grid, alpha)) == pytest.approx(float(es), rel=1e-12)


def test_bootstrap_is_seeded_and_brackets_the_statistic() -> None:
    values = np.arange(1, 101, dtype=np.float64)
    low, high, upper = bootstrap_interval(values, "mean")
    assert low < 50.5 < upper < high
    assert (low, high, upper) == bootstrap_interval(values, "mean")  # the same seed, the same bounds
    es_low, es_high, es_upper = bootstrap_interval(values, "es", alpha=0.975)
    assert es_low <= 99.2 <= es_high
    assert es_upper <= es_high
    assert bootstrap_interval(np.zeros(7), "mean") == (0.0, 0.0, 0.0)
    with pytest.raises(InvalidParameter, match="statistic must be"):
        bootstrap_interval(values, "median")
    with pytest.raises(InvalidParameter, match="confidence must be a level"):
        bootstrap_interval(values, "mean", 0.4)
