"""Backtests: known answers from the regulatory and textbook sources, and the tests' algebra."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from methodology.backtest import backtest, christoffersen, exceptions, kupiec, traffic_light, traffic_light_series
from protocol.errors import InvalidParameter

#: BCBS, "Supervisory framework for the use of 'backtesting' in conjunction with the internal
#: models approach to market risk capital requirements" (January 1996), Table 1: 250
#: observations at 99 % coverage — cumulative probability (%) of at most k exceptions, and zone.
BASEL_TABLE = [
    (0, 8.11, "green"),
    (1, 28.58, "green"),
    (2, 54.32, "green"),
    (3, 75.81, "green"),
    (4, 89.22, "green"),
    (5, 95.88, "yellow"),
    (6, 98.63, "yellow"),
    (7, 99.60, "yellow"),
    (8, 99.89, "yellow"),
    (9, 99.97, "yellow"),
    (10, 99.99, "red"),
]

#: Kupiec (1995), reproduced in P. Jorion, "Value at Risk" (3rd ed., 2007), Table 6-3 "Model
#: backtesting, 95 % nonrejection test confidence regions": (p, T) -> the exceptions N with
#: lo < N < hi are not rejected.
KUPIEC_REGIONS = {
    (0.01, 510): (1, 11),
    (0.01, 1000): (4, 17),
    (0.025, 255): (2, 12),
    (0.025, 510): (6, 21),
    (0.025, 1000): (15, 36),
    (0.05, 255): (6, 21),
    (0.05, 510): (16, 36),
    (0.05, 1000): (37, 65),
    (0.075, 255): (11, 28),
    (0.075, 510): (27, 51),
    (0.075, 1000): (59, 92),
    (0.10, 255): (16, 36),
    (0.10, 510): (38, 65),
    (0.10, 1000): (81, 120),
}


@pytest.mark.parametrize(("k", "cumulative_pct", "zone"), BASEL_TABLE)
def test_basel_traffic_light_table(k: int, cumulative_pct: float, zone: str) -> None:
    assert round(100 * float(stats.binom.cdf(k, 250, 0.01)), 2) == cumulative_pct
    assert traffic_light(k, 250, 0.01) == zone


def test_basel_red_zone_continues() -> None:
    assert [traffic_light(k) for k in (10, 11, 25, 250)] == ["red"] * 4


@pytest.mark.parametrize(("p", "n"), sorted(KUPIEC_REGIONS))
def test_kupiec_nonrejection_regions(p: float, n: int) -> None:
    lo, hi = KUPIEC_REGIONS[(p, n)]
    critical = float(stats.chi2.ppf(0.95, 1))
    accepted = [x for x in range(n + 1) if kupiec(x, n, p)[0] < critical]
    assert (min(accepted), max(accepted)) == (lo + 1, hi - 1)


def test_kupiec_upper_bound_of_the_one_percent_255_day_cell() -> None:
    # Jorion's cell (0.01, 255) reads "N < 7": 6 exceptions are accepted and 7 rejected. (Zero
    # exceptions give LR = -2 * 255 * ln(0.99) = 5.13 > 3.84: the likelihood ratio rejects an
    # exception-free year as too conservative, which the table leaves open.)
    assert kupiec(6, 255, 0.01)[0] < 3.841 < kupiec(7, 255, 0.01)[0]
    assert kupiec(0, 255, 0.01)[0] == pytest.approx(-2 * 255 * math.log(0.99), rel=1e-12)


def test_kupiec_is_zero_at_the_expected_rate() -> None:
    lr, p_value = kupiec(10, 1000, 0.01)
    assert lr == pytest.approx(0.0, abs=1e-12)
    assert p_value == pytest.approx(1.0)


def test_christoffersen_independence_by_hand() -> None:
    # Christoffersen (1998), eq. (9): 10 observations 0 0 1 1 0 0 0 1 0 0 give n00 = 4, n01 = 2,
    # n10 = 2, n11 = 1; pi0 = 1/3, pi1 = 1/3 = pi, so the Markov alternative gains nothing: LR = 0.
    hits = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    lr, _, counts = christoffersen(hits)
    assert counts == {"n00": 4, "n01": 2, "n10": 2, "n11": 1}
    assert lr == pytest.approx(0.0, abs=1e-12)
    # clustered exceptions: 0 0 0 0 1 1 1 0 0 0 -> n00 = 5, n01 = 1, n10 = 1, n11 = 2
    clustered = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 0], dtype=bool)
    lr2, _, c2 = christoffersen(clustered)
    assert c2 == {"n00": 5, "n01": 1, "n10": 1, "n11": 2}
    pi, pi0, pi1 = 3 / 9, 1 / 6, 2 / 3
    by_hand = -2 * (6 * math.log(1 - pi) + 3 * math.log(pi)) + 2 * (
        5 * math.log(1 - pi0) + math.log(pi0) + math.log(1 - pi1) + 2 * math.log(pi1)
    )
    assert lr2 == pytest.approx(by_hand, rel=1e-12)
    assert lr2 > 2.0


def test_exceptions_by_side_and_unknown_outcomes() -> None:
    margins = np.array([0.1, 0.1, 0.1, 0.1])
    outcomes = np.array([-0.2, 0.2, 0.05, np.nan])
    long_hits, short_hits = exceptions(margins, outcomes)
    assert long_hits.tolist() == [True, False, False, False]
    assert short_hits.tolist() == [False, True, False, False]


def test_backtest_uses_non_overlapping_periods() -> None:
    margins = np.full(10, 0.1)
    outcomes = np.array([-0.2, -0.2, 0, 0, 0, 0, 0, 0, 0.3, np.nan])
    long_bt, short_bt = backtest(margins, outcomes, alpha=0.9, h=2)
    assert (long_bt.observations, long_bt.exceptions) == (5, 1)
    assert (long_bt.overlapping_observations, long_bt.overlapping_exceptions) == (9, 2)
    assert (short_bt.observations, short_bt.exceptions) == (5, 1)
    assert long_bt.conditional_coverage_lr == pytest.approx(long_bt.kupiec_lr + long_bt.independence_lr)


def test_traffic_light_series_counts_the_last_window() -> None:
    hits = np.zeros(300, dtype=bool)
    hits[250:260] = True
    zones = traffic_light_series(hits, 0.01)
    assert len(zones) == 51
    assert zones[0] == "green"
    assert zones[-1] == "red"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="0 <= failures <= n"):
        kupiec(5, 3, 0.01)
    with pytest.raises(InvalidParameter, match="one value per bar"):
        exceptions(np.ones(3), np.ones(2))
