"""Black-Scholes properties: put-call parity, Greeks against finite differences, kernels
against the scalar reference."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from protocol.portfolio import bs_greeks, bs_greeks_batch, bs_price

spots = st.floats(1.0, 1e6)
moneyness = st.floats(-0.5, 0.5)  # log(strike / spot)
years = st.floats(1 / 365, 3.0)
vols = st.floats(0.05, 2.0)
rates = st.floats(-0.02, 0.15)


@given(spots, moneyness, years, vols, rates)
def test_put_call_parity(spot: float, m: float, t: float, vol: float, rate: float) -> None:
    strike = spot * math.exp(m)
    call = bs_price(spot, strike, t, vol, call=True, rate=rate)
    put = bs_price(spot, strike, t, vol, call=False, rate=rate)
    assert math.isclose(call - put, spot - strike * math.exp(-rate * t), rel_tol=1e-12, abs_tol=1e-12 * spot)


@given(spots, moneyness, years, vols, rates, st.booleans())
def test_greeks_match_finite_differences(spot: float, m: float, t: float, vol: float, rate: float, call: bool) -> None:
    strike = spot * math.exp(m)
    g = bs_greeks(spot, strike, t, vol, call=call, rate=rate)

    def price(s: float = spot, tt: float = t, v: float = vol) -> float:
        return bs_price(s, strike, tt, v, call=call, rate=rate)

    h = 1e-4 * spot * vol * math.sqrt(t)  # steps scaled to the width of the distribution
    delta = (price(s=spot + h) - price(s=spot - h)) / (2 * h)
    gamma = (
        bs_greeks(spot + h, strike, t, vol, call=call, rate=rate).delta
        - bs_greeks(spot - h, strike, t, vol, call=call, rate=rate).delta
    ) / (2 * h)
    dv = 1e-4 * vol
    vega = (price(v=vol + dv) - price(v=vol - dv)) / (2 * dv)
    dt = 1e-6 * t
    theta = -(price(tt=t + dt) - price(tt=t - dt)) / (2 * dt)
    assert math.isclose(delta, g.delta, rel_tol=1e-5, abs_tol=1e-7)
    assert math.isclose(gamma, g.gamma, rel_tol=1e-4, abs_tol=1e-8 / spot)
    assert math.isclose(vega, g.vega, rel_tol=1e-5, abs_tol=1e-7 * spot)
    assert math.isclose(theta, g.theta, rel_tol=1e-4, abs_tol=1e-6 * spot)


@given(spots, moneyness, years, vols, rates)
def test_price_bounds_and_monotonicity(spot: float, m: float, t: float, vol: float, rate: float) -> None:
    strike = spot * math.exp(m)
    g = bs_greeks(spot, strike, t, vol, call=True, rate=rate)
    tol = 1e-12 * spot
    assert max(spot - strike * math.exp(-rate * t), 0.0) - tol <= g.price <= spot + tol
    assert 0.0 <= g.delta <= 1.0
    assert g.gamma >= 0.0
    assert g.vega >= 0.0


@given(st.lists(st.tuples(spots, moneyness, st.floats(0.0, 3.0), vols, st.booleans()), min_size=1, max_size=20), rates)
def test_batch_kernel_matches_scalar_reference(
    rows: list[tuple[float, float, float, float, bool]], rate: float
) -> None:
    spot = np.array([r[0] for r in rows])
    strike = spot * np.exp([r[1] for r in rows])
    t = np.array([r[2] for r in rows])
    vol = np.array([r[3] for r in rows])
    calls = np.array([r[4] for r in rows])
    got = bs_greeks_batch(spot, strike, t, vol, calls, rate=rate)
    for i in range(len(rows)):
        ref = bs_greeks(float(spot[i]), float(strike[i]), float(t[i]), float(vol[i]), call=bool(calls[i]), rate=rate)
        scale = float(spot[i])
        assert math.isclose(got.price[i], ref.price, rel_tol=1e-12, abs_tol=1e-12 * scale)
        assert math.isclose(got.delta[i], ref.delta, rel_tol=1e-12, abs_tol=1e-14)
        assert math.isclose(got.gamma[i], ref.gamma, rel_tol=1e-12, abs_tol=1e-14 / scale)
        assert math.isclose(got.vega[i], ref.vega, rel_tol=1e-12, abs_tol=1e-12 * scale)
        assert math.isclose(got.theta[i], ref.theta, rel_tol=1e-12, abs_tol=1e-12 * scale)
