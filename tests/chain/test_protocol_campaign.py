# ruff: noqa: F811  (pytest fixtures imported from the harness)
"""Hypothesis campaign: random action sequences on the model and the contracts, compared after
every step (events, reverts and reasons, and the whole state to the wei)."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_protocol_harness import (  # noqa: F401  (fixtures)
    FUNDING,
    GOV,
    MATCHER,
    ORACLE,
    USDC,
    Differential,
    _reset,
    deployment,
    deployment_adl,
)

from protocol.actions import (
    AdvanceTime,
    AutoDeleverage,
    Deposit,
    Fill,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    PushPrice,
    SetFundingRate,
    SetMarketMargin,
    SetPaused,
    Withdraw,
    WithdrawFees,
)
from protocol.constants import MAX_FEE_RATE, WAD
from protocol.errors import ProtocolRevert
from protocol.scenarios import ACTORS

TRADERS = [
    ACTORS[n] for n in ("market_maker", "trader_leveraged", "trader_conservative", "trader_collateral", "trader_short")
]
KEEPER, LIQ = ACTORS["keeper"], ACTORS["liquidator"]
ACCOUNTS = [*TRADERS, KEEPER, LIQ]
KINDS = [
    "deposit",
    "deposit",
    "deposit_coll",
    "withdraw",
    "fill",
    "fill",
    "fill",
    "fill",
    "price",
    "price",
    "time",
    "funding",
    "liquidate",
    "liquidate",
    "liquidate_coll",
    "adl",
    "insurance",
    "fees",
    "pause",
    "margin",
]


def _price(d: Differential, feed_id: int) -> int:
    p = d.model.state.feeds[feed_id].price_wad
    return p or (60_000 * WAD if feed_id == 0 else 3_000 * WAD)


def draw_action(data: st.DataObject, d: Differential):
    kind = data.draw(st.sampled_from(KINDS))
    acct = data.draw(st.sampled_from(ACCOUNTS))
    market = data.draw(st.sampled_from([0, 1]))
    if kind == "deposit":
        return Deposit(acct, 0, data.draw(st.integers(1, 200_000)) * USDC + data.draw(st.integers(0, USDC)))
    if kind == "deposit_coll":
        return Deposit(acct, 1, data.draw(st.integers(1, 50 * WAD)))
    if kind == "withdraw":
        asset = data.draw(st.sampled_from([0, 1]))
        scale = USDC if asset == 0 else WAD
        return Withdraw(
            acct, asset, data.draw(st.integers(1, 50_000)) * scale // data.draw(st.sampled_from([1, 7, 1000]))
        )
    if kind == "fill":
        maker, taker = data.draw(st.lists(st.sampled_from(TRADERS), min_size=2, max_size=2, unique=True))
        oracle = _price(d, market)
        size = data.draw(st.integers(10**12, 3 * WAD)) * data.draw(st.sampled_from([1, -1]))
        price = oracle * data.draw(st.integers(950_000, 1_050_000)) // 1_000_000 + data.draw(st.integers(0, 999))
        fees = data.draw(st.sampled_from([0, WAD // 10_000, MAX_FEE_RATE]))
        return Fill(MATCHER, maker, taker, market, size, max(price, 1), fees, data.draw(st.sampled_from([0, fees])))
    if kind == "price":
        feed = data.draw(st.sampled_from([0, 1]))
        p = _price(d, feed) * data.draw(st.integers(600_000, 1_400_000)) // 1_000_000
        ts = d.now - data.draw(st.sampled_from([0, 0, 0, 5, 4_000]))
        return PushPrice(ORACLE, feed, p, ts)
    if kind == "time":
        return AdvanceTime(data.draw(st.integers(0, 4_000)), data.draw(st.integers(0, 30)))
    if kind == "funding":
        return SetFundingRate(FUNDING, market, data.draw(st.integers(-(WAD // 86_400 // 50), WAD // 86_400 // 50)))
    if kind == "liquidate":
        target = data.draw(st.sampled_from(TRADERS))
        try:
            q = d.model.max_liquidation_size(target, market)
        except ProtocolRevert:
            q = 0
        q = q or data.draw(st.integers(1, 2 * WAD))
        q = data.draw(st.sampled_from([q, q, max(q // 2, 1), q + 1]))
        return Liquidate(KEEPER, target, market, q)
    if kind == "liquidate_coll":
        return LiquidateCollateral(LIQ, data.draw(st.sampled_from(TRADERS)), 1, data.draw(st.integers(1, 5 * WAD)))
    if kind == "adl":
        target = data.draw(st.sampled_from(TRADERS))
        cps = data.draw(
            st.lists(st.sampled_from([t for t in TRADERS if t != target]), min_size=1, max_size=3, unique=True)
        )
        return AutoDeleverage(KEEPER, target, market, tuple(cps))
    if kind == "insurance":
        return FundInsurance(acct, data.draw(st.integers(1, 5_000)) * USDC)
    if kind == "fees":
        return WithdrawFees(GOV, GOV, data.draw(st.integers(1, 100)) * USDC // 10)
    if kind == "pause":
        return SetPaused(GOV, data.draw(st.booleans()))
    return SetMarketMargin(GOV, market, data.draw(st.sampled_from([WAD // 20, WAD // 10, WAD // 5])), WAD // 2)


def _campaign(d: Differential, data: st.DataObject, steps: int) -> None:
    d = _reset(d)
    d.apply_all([PushPrice(ORACLE, 0, 60_000 * WAD, d.now), PushPrice(ORACLE, 1, 3_000 * WAD, d.now)])
    d.apply_all([Deposit(a, 0, 100_000 * USDC) for a in (TRADERS[0], KEEPER, LIQ)])
    for _ in range(steps):
        d.apply(draw_action(data, d))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
@given(data=st.data())
def test_campaign_pro_rata(deployment, data):
    _campaign(deployment, data, 30)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
@given(data=st.data())
def test_campaign_adl(deployment_adl, data):
    _campaign(deployment_adl, data, 30)
