"""Black-Scholes prices and Greeks: textbook values, expiry, batch kernels, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from protocol.black_scholes import norm_cdf
from protocol.errors import InvalidParameter
from protocol.portfolio import DAYS_PER_YEAR, GreeksArrays, bs_greeks, bs_greeks_batch, bs_price, bs_price_batch


def test_hull_price_example() -> None:
    # Hull, Options, Futures and Other Derivatives, Black-Scholes-Merton example:
    # S = 42, K = 40, r = 10 %, sigma = 20 %, T = 0.5 -> c = 4.76, p = 0.81.
    assert round(bs_price(42.0, 40.0, 0.5, 0.2, call=True, rate=0.1), 2) == 4.76
    assert round(bs_price(42.0, 40.0, 0.5, 0.2, call=False, rate=0.1), 2) == 0.81


def test_hull_greeks_example() -> None:
    # Hull's Greek letters chapter: S = 49, K = 50, r = 5 %, sigma = 20 %, T = 20 weeks = 0.3846:
    # call delta 0.522, gamma 0.066, vega 12.1 (per 1.00 vol), theta -4.31 per year
    # (-0.0118 per calendar day); put theta -1.85 per year.
    call = bs_greeks(49.0, 50.0, 0.3846, 0.2, call=True, rate=0.05)
    assert round(call.delta, 3) == 0.522
    assert round(call.gamma, 3) == 0.066
    assert round(call.vega, 1) == 12.1
    assert round(call.theta, 2) == -4.31
    assert round(call.theta_per_day, 4) == -0.0118
    assert call.theta_per_day == call.theta / DAYS_PER_YEAR
    put = bs_greeks(49.0, 50.0, 0.3846, 0.2, call=False, rate=0.05)
    assert round(put.theta, 2) == -1.85
    assert round(put.delta, 3) == round(call.delta - 1.0, 3)
    assert put.gamma == call.gamma
    assert put.vega == call.vega


def test_hull_option_price_of_greeks_example() -> None:
    # Hull's delta-hedging example prices the same call at about 240,000 for 100,000 options.
    assert round(bs_price(49.0, 50.0, 0.3846, 0.2, call=True, rate=0.05) * 100_000, -3) == 240_000


@pytest.mark.parametrize(
    ("spot", "call", "price", "delta"),
    [
        (110.0, True, 10.0, 1.0),
        (90.0, True, 0.0, 0.0),
        (100.0, True, 0.0, 0.5),
        (90.0, False, 10.0, -1.0),
        (110.0, False, 0.0, 0.0),
        (100.0, False, 0.0, -0.5),
    ],
)
def test_expiry_is_intrinsic(spot: float, call: bool, price: float, delta: float) -> None:
    g = bs_greeks(spot, 100.0, 0.0, 0.5, call=call, rate=0.05)
    assert (g.price, g.delta, g.gamma, g.vega, g.theta) == (price, delta, 0.0, 0.0, 0.0)


def test_norm_cdf_matches_scipy_in_the_tails() -> None:
    xs = np.linspace(-37.0, 8.0, 1001)
    ours = np.array([norm_cdf(float(x)) for x in xs])
    ref = norm.cdf(xs)
    # Relative, not absolute: erfc keeps precision down to 1e-300. The rounding of x / sqrt(2)
    # is amplified by about x**2 in the tail, hence 1e-12 rather than machine epsilon.
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0.0)


def test_batch_matches_scalar_and_scipy() -> None:
    rng = np.random.default_rng(np.random.SeedSequence(20240501))
    n = 2_000
    spot = rng.uniform(10.0, 1e5, n)
    strike = spot * rng.uniform(0.5, 1.5, n)
    t = rng.uniform(0.0, 2.0, n)
    t[:20] = 0.0
    vol = rng.uniform(0.05, 2.0, n)
    calls = rng.random(n) < 0.5
    got = bs_greeks_batch(spot, strike, t, vol, calls, rate=0.03)
    for i in range(n):
        ref = bs_greeks(float(spot[i]), float(strike[i]), float(t[i]), float(vol[i]), call=bool(calls[i]), rate=0.03)
        scale = float(spot[i])
        assert math.isclose(got.price[i], ref.price, rel_tol=1e-12, abs_tol=1e-12 * scale)
        assert math.isclose(got.delta[i], ref.delta, rel_tol=1e-12, abs_tol=1e-13)
        assert math.isclose(got.gamma[i], ref.gamma, rel_tol=1e-12, abs_tol=1e-13 / scale)
        assert math.isclose(got.vega[i], ref.vega, rel_tol=1e-12, abs_tol=1e-12 * scale)
        assert math.isclose(got.theta[i], ref.theta, rel_tol=1e-12, abs_tol=1e-12 * scale)
    live = t > 0
    sq = vol[live] * np.sqrt(t[live])
    d1 = (np.log(spot[live] / strike[live]) + (0.03 + 0.5 * vol[live] ** 2) * t[live]) / sq
    kd = strike[live] * np.exp(-0.03 * t[live])
    c = spot[live] * norm.cdf(d1) - kd * norm.cdf(d1 - sq)
    p = kd * norm.cdf(sq - d1) - spot[live] * norm.cdf(-d1)
    scipy_price = np.where(calls[live], c, p)
    np.testing.assert_allclose(got.price[live], scipy_price, rtol=1e-10, atol=1e-10 * spot[live].max())


def test_batch_writes_into_out_and_keeps_shape() -> None:
    shape = (3, 2)
    spot = np.full(shape, 42.0)
    out = np.empty(shape)
    res = bs_price_batch(
        spot, np.full(shape, 40.0), np.full(shape, 0.5), np.full(shape, 0.2), np.ones(shape, bool), rate=0.1, out=out
    )
    assert res is out
    assert np.all(np.round(out, 2) == 4.76)
    greeks_out = GreeksArrays.empty(shape)
    assert (
        bs_greeks_batch(spot, spot, np.ones(shape), np.full(shape, 0.2), np.zeros(shape, bool), out=greeks_out)
        is greeks_out
    )
    assert np.all(greeks_out.delta < 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("spot", float("nan"), "spot = nan must be finite"),
        ("spot", 0.0, "spot = 0.0 must be > 0"),
        ("strike", -1.0, "strike = -1.0 must be > 0"),
        ("t_years", -0.1, "t_years = -0.1 must be >= 0"),
        ("vol", 0.0, "vol = 0.0 must be > 0"),
        ("vol", float("inf"), "vol = inf must be finite"),
        ("rate", float("nan"), "rate = nan must be finite"),
    ],
)
def test_scalar_validation(field: str, value: float, message: str) -> None:
    args = {"spot": 100.0, "strike": 100.0, "t_years": 1.0, "vol": 0.2, "rate": 0.0}
    args[field] = value
    with pytest.raises(InvalidParameter, match=message):
        bs_price(args["spot"], args["strike"], args["t_years"], args["vol"], call=True, rate=args["rate"])


def test_scalar_rejects_non_bool_call() -> None:
    with pytest.raises(InvalidParameter, match="call must be True"):
        bs_price(100.0, 100.0, 1.0, 0.2, call=1)  # type: ignore[arg-type]


def test_batch_validation_names_field_and_index() -> None:
    ones = np.ones(4)
    calls = np.ones(4, bool)
    bad_vol = np.array([0.2, 0.2, -0.1, 0.2])
    with pytest.raises(InvalidParameter, match=r"vol\[2\] = -0.1 must be > 0"):
        bs_price_batch(ones, ones, ones, bad_vol, calls)
    with pytest.raises(InvalidParameter, match=r"t_years\[1\] = nan must be finite"):
        bs_price_batch(ones, ones, np.array([1.0, np.nan, 1.0, 1.0]), ones, calls)
    with pytest.raises(InvalidParameter, match="strike has shape"):
        bs_price_batch(ones, np.ones(3), ones, ones, calls)
    with pytest.raises(InvalidParameter, match="is_call must be a boolean array"):
        bs_price_batch(ones, ones, ones, ones, np.ones(4))
    with pytest.raises(InvalidParameter, match="spot must be a real number"):
        bs_price_batch(np.array(["a"] * 4), ones, ones, ones, calls)
    with pytest.raises(InvalidParameter, match=r"out has shape \(3,\)"):
        bs_price_batch(ones, ones, ones, ones, calls, out=np.empty(3))
    with pytest.raises(InvalidParameter, match="out must be a numpy array of dtype float64"):
        bs_price_batch(ones, ones, ones, ones, calls, out=np.empty(4, dtype=np.float32))
    with pytest.raises(InvalidParameter, match="C-contiguous"):
        bs_price_batch(ones, ones, ones, ones, calls, out=np.empty(8)[::2])
