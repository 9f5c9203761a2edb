"""Margin models: closed forms against known values, the sample estimator, the parameter mapping."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from scipy import integrate, stats

from methodology.calibration import fraction_to_wad, params_toml
from methodology.models import check_alpha, estimate_jumps, parametric_tails, sample_tails, tail_rank
from methodology.procyclicality import apply_apc, largest_increase, peak_to_trough
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.params import load_params
from protocol.scenarios import default_params


def _one(model: str, mean: float = 0.0, sd: float = 1.0, skew: float = 0.0, kurt: float = 0.0, alpha: float = 0.99):
    return parametric_tails(model, np.array([mean]), np.array([sd]), np.array([skew]), np.array([kurt]), alpha)[0]


def test_normal_var_and_es_known_values() -> None:
    # Standard normal: VaR 99 % = 2.326348, ES 99 % = phi(2.326348) / 0.01 = 2.665214 (McNeil, Frey
    # and Embrechts, "Quantitative Risk Management", 2015, Example 2.14); ES 97.5 % = 2.337803,
    # close to VaR 99 % (BCBS, "Minimum capital requirements for market risk", January 2019, MAR33).
    var_long, var_short, es_long, es_short = _one("normal")
    assert var_long == var_short == pytest.approx(2.3263478740, abs=1e-9)
    assert es_long == es_short == pytest.approx(2.6652142203, abs=1e-9)
    assert _one("normal", alpha=0.975)[2] == pytest.approx(2.3378027922, abs=1e-9)


def test_mean_shifts_the_sides_apart() -> None:
    z = float(stats.norm.ppf(0.99))
    var_long, var_short, _, _ = _one("normal", mean=0.01, sd=0.05)
    assert var_long == pytest.approx(-0.01 + 0.05 * z, abs=1e-15)
    assert var_short == pytest.approx(0.01 + 0.05 * z, abs=1e-15)


def test_student_t_equals_the_integral_of_its_quantile() -> None:
    kurt = 3.0  # nu = 4 + 6 / 3 = 6
    nu = 6.0
    unit = np.sqrt((nu - 2) / nu)
    var, _, es, _ = _one("student-t", kurt=kurt)
    assert var == pytest.approx(stats.t.ppf(0.99, nu) * unit, rel=1e-12)
    tail, _ = integrate.quad(lambda p: stats.t.ppf(p, nu) * unit, 0.99, 1.0, limit=200)
    assert es == pytest.approx(tail / 0.01, rel=1e-6)


def test_student_t_without_excess_kurtosis_is_normal() -> None:
    assert np.allclose(_one("student-t", kurt=-0.5), _one("normal"), rtol=0, atol=1e-15)


def test_cornish_fisher_reduces_to_normal_and_integrates_its_quantile() -> None:
    assert np.allclose(_one("cornish-fisher"), _one("normal"), rtol=0, atol=1e-12)
    skew, kurt = -0.8, 5.0

    def quantile(p: float, s: float) -> float:
        z = stats.norm.ppf(p)
        return z + (z * z - 1) * s / 6 + (z**3 - 3 * z) * kurt / 24 - (2 * z**3 - 5 * z) * s * s / 36

    var_long, var_short, es_long, es_short = _one("cornish-fisher", skew=skew, kurt=kurt)
    assert var_long == pytest.approx(quantile(0.99, -skew), rel=1e-12)
    assert var_short == pytest.approx(quantile(0.99, skew), rel=1e-12)
    assert es_long == pytest.approx(integrate.quad(quantile, 0.99, 1.0, args=(-skew,), limit=200)[0] / 0.01, rel=1e-6)
    assert es_short == pytest.approx(integrate.quad(quantile, 0.99, 1.0, args=(skew,), limit=200)[0] / 0.01, rel=1e-6)


def test_sample_tails_acerbi_tasche() -> None:
    # Outcomes -10 % .. -1 % and +1 % .. +10 %: each side's losses sorted are -0.10 .. 0.10.
    # alpha 0.85: n alpha = 17 -> VaR = the 17th smallest loss = 7 %, ES = mean of the 3 largest.
    x = np.concatenate([-np.arange(1, 11), np.arange(1, 11)]) / 100.0
    var_long, var_short, es_long, es_short = sample_tails(x, 0.85)
    assert (var_long, var_short) == (pytest.approx(0.07), pytest.approx(0.07))
    assert (es_long, es_short) == (pytest.approx(0.09), pytest.approx(0.09))
    # alpha 0.86: n alpha = 17.2 -> k = 18 and the VaR's loss (8 %) weighs k - n alpha = 0.8
    assert tail_rank(20, 0.86) == (18, pytest.approx(0.8))
    var, _, es, _ = sample_tails(x, 0.86)
    assert var == pytest.approx(0.08)
    assert es == pytest.approx((0.09 + 0.10 + 0.8 * 0.08) / 2.8)


def test_tail_rank_is_exact_at_integers() -> None:
    assert tail_rank(300, 0.99) == (297, 0.0)
    assert tail_rank(100, 0.99) == (99, 0.0)
    assert tail_rank(365, 0.99)[0] == 362


def test_alpha_outside_the_open_interval_is_refused() -> None:
    for bad in (0, 1, 1.5, -0.1, True, "0.99"):
        with pytest.raises(InvalidParameter, match="strictly between 0 and 1"):
            check_alpha(bad)


def test_jump_estimator_finds_planted_jumps() -> None:
    rng = np.random.default_rng(np.random.SeedSequence(7))
    r = rng.normal(0, 0.01, 1000)
    r[[100, 400, 700]] = [-0.2, -0.25, 0.15]
    jumps = estimate_jumps(r)
    assert jumps.per_bar == pytest.approx(3 / 1000)
    assert jumps.mean == pytest.approx(-0.1, abs=1e-12)


def test_fraction_to_wad_rounds_up_in_the_protocols_favour() -> None:
    assert fraction_to_wad(0.12341, 4) == 1235 * WAD // 10_000
    assert fraction_to_wad(0.1234, 4) == 1234 * WAD // 10_000
    assert fraction_to_wad(0.1, 18) == WAD // 10
    assert fraction_to_wad(1e-19, 18) == 1
    with pytest.raises(InvalidParameter):
        fraction_to_wad(float("nan"))


def test_params_toml_round_trips(tmp_path) -> None:
    params = default_params()
    path = tmp_path / "p.toml"
    path.write_text(params_toml(params, "a comment"))
    assert load_params(path) == params
    assert Decimal("0.1") * WAD == params.markets[0].initial_margin_fraction_wad


def test_apc_buffer_is_a_hysteresis_band() -> None:
    m = np.array([1.0, 1.0, 1.2, 1.3, 1.6, 1.6, 1.2, 1.0])
    out = apply_apc("buffer", m)
    assert out.tolist() == pytest.approx([1.25, 1.25, 1.25, 1.3, 1.6, 1.6, 1.5, 1.25])
    assert np.all(out >= m)
    assert np.all(out <= 1.25 * m + 1e-15)


def test_apc_stressed_and_floor() -> None:
    m = np.array([1.0, 2.0, 1.0])
    assert apply_apc("stressed", m).tolist() == pytest.approx([1.0, 2.0, 1.25])
    assert apply_apc("floor", m, floor=np.array([1.5, 1.5, 1.5])).tolist() == [1.5, 2.0, 1.5]
    with pytest.raises(InvalidParameter, match="not one of"):
        apply_apc("cap", m)


def test_apc_measures() -> None:
    m = np.array([1.0, 1.1, 2.2, 2.0, 1.0])
    assert peak_to_trough(m) == pytest.approx(2.2)
    assert largest_increase(m, 1) == pytest.approx(1.0)
    assert largest_increase(m, 2) == pytest.approx(1.2)
    assert largest_increase(m[::-1], 10) == 0.0
