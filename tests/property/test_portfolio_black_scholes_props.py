"""Black-Scholes-Merton properties with a continuous yield ``q``: put-call parity with carry,
Greeks (rho included) against finite differences, no-arbitrage bounds, kernels against the scalar
reference."""

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
yields = st.one_of(st.just(0.0), st.floats(-0.05, 0.3))


@given(spots, moneyness, years, vols, rates, yields)
def test_put_call_parity_with_carry(spot: float, m: float, t: float, vol: float, rate: float, q: float) -> None:
    # c - p = S exp(-q T) - K exp(-r T) (Hull, put-call parity for an asset paying a yield q).
    strike = spot * math.exp(m)
    call = bs_price(spot, strike, t, vol, call=True, rate=rate, dividend_yield=q)
    put = bs_price(spot, strike, t, vol, call=False, rate=rate, dividend_yield=q)
    forward = spot * math.exp(-q * t) - strike * math.exp(-rate * t)
    assert math.isclose(call - put, forward, rel_tol=1e-12, abs_tol=1e-12 * spot)


@given(spots, moneyness, years, vols, rates, yields, st.booleans())
def test_greeks_match_finite_differences(
    spot: float, m: float, t: float, vol: float, rate: float, q: float, call: bool
) -> None:
    strike = spot * math.exp(m)
    g = bs_greeks(spot, strike, t, vol, call=call, rate=rate, dividend_yield=q)

    def price(s: float = spot, tt: float = t, v: float = vol, r: float = rate) -> float:
        return bs_price(s, strike, tt, v, call=call, rate=r, dividend_yield=q)

    h = 1e-4 * spot * vol * math.sqrt(t)  # steps scaled to the width of the distribution
    delta = (price(s=spot + h) - price(s=spot - h)) / (2 * h)
    gamma = (
        bs_greeks(spot + h, strike, t, vol, call=call, rate=rate, dividend_yield=q).delta
        - bs_greeks(spot - h, strike, t, vol, call=call, rate=rate, dividend_yield=q).delta
    ) / (2 * h)
    dv = 1e-4 * vol
    vega = (price(v=vol + dv) - price(v=vol - dv)) / (2 * dv)
    dt = 1e-6 * t
    theta = -(price(tt=t + dt) - price(tt=t - dt)) / (2 * dt)
    dr = 1e-5
    rho = (price(r=rate + dr) - price(r=rate - dr)) / (2 * dr)
    assert math.isclose(delta, g.delta, rel_tol=1e-5, abs_tol=1e-7)
    assert math.isclose(gamma, g.gamma, rel_tol=1e-4, abs_tol=1e-8 / spot)
    assert math.isclose(vega, g.vega, rel_tol=1e-5, abs_tol=1e-7 * spot)
    assert math.isclose(theta, g.theta, rel_tol=1e-4, abs_tol=1e-6 * spot)
    assert math.isclose(rho, g.rho, rel_tol=1e-5, abs_tol=1e-7 * spot * t)


@given(spots, moneyness, years, vols, rates, yields)
def test_price_bounds_and_monotonicity(spot: float, m: float, t: float, vol: float, rate: float, q: float) -> None:
    strike = spot * math.exp(m)
    g = bs_greeks(spot, strike, t, vol, call=True, rate=rate, dividend_yield=q)
    tol = 1e-12 * spot
    s_disc = spot * math.exp(-q * t)
    assert max(s_disc - strike * math.exp(-rate * t), 0.0) - tol <= g.price <= s_disc + tol
    assert 0.0 <= g.delta <= math.exp(-q * t)
    assert g.gamma >= 0.0
    assert g.vega >= 0.0
    assert g.rho >= 0.0


@given(
    st.lists(st.tuples(spots, moneyness, st.floats(0.0, 3.0), vols, yields, st.booleans()), min_size=1, max_size=20),
    rates,
)
def test_batch_kernel_matches_scalar_reference(
    rows: list[tuple[float, float, float, float, float, bool]], rate: float
) -> None:
    spot = np.array([r[0] for r in rows])
    strike = spot * np.exp([r[1] for r in rows])
    t = np.array([r[2] for r in rows])
    vol = np.array([r[3] for r in rows])
    q = np.array([r[4] for r in rows])
    calls = np.array([r[5] for r in rows])
    got = bs_greeks_batch(spot, strike, t, vol, calls, rate=rate, dividend_yield=q)
    for i in range(len(rows)):
        ref = bs_greeks(
            float(spot[i]), float(strike[i]), float(t[i]), float(vol[i]), call=bool(calls[i]), rate=rate,
            dividend_yield=float(q[i]),
        )  # fmt: skip
        scale = float(spot[i])
        assert math.isclose(got.price[i], ref.price, rel_tol=1e-12, abs_tol=1e-12 * scale)
        assert math.isclose(got.delta[i], ref.delta, rel_tol=1e-12, abs_tol=1e-14)
        assert math.isclose(got.gamma[i], ref.gamma, rel_tol=1e-12, abs_tol=1e-14 / scale)
        assert math.isclose(got.vega[i], ref.vega, rel_tol=1e-12, abs_tol=1e-12 * scale)
        assert math.isclose(got.theta[i], ref.theta, rel_tol=1e-12, abs_tol=1e-12 * scale)
        assert math.isclose(got.rho[i], ref.rho, rel_tol=1e-12, abs_tol=1e-12 * scale)
