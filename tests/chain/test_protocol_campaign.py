# ruff: noqa: F811  (pytest fixtures imported from the harness)
"""Hypothesis campaign: random action sequences on the model and the contracts, compared after
every step (events, reverts and reasons, and the whole state to the wei).

titanoboa runs 3/10 of the profile's number of sequences (``max_examples``: dev 30, ci 200,
deep 5,000) pro-rata and 1/5 with ADL, of 25 actions; eth-tester and anvil 1/20 of it, of 10
actions (ci: 60, 40 and 10 sequences; deep: 1,500, 1,000 and 250).
Shrinking is on (a failure is reduced before it is reported). eth-tester and anvil
mine blocks: a block has one timestamp, so drawn time steps advance at least as many seconds as
blocks. On anvil (``apply`` seals a block per transaction) every drawn action
comes after an ``AdvanceTime(1, 1)``; on eth-tester a drawn action starts a new block or joins the
open one, so blocks of several transactions (and the per-block liquidation cap across them) are
compared too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_protocol_harness import (  # noqa: F401  (fixtures)
    USDC,
    Differential,
    _reset,
    deployment,
    deployment_adl,
)

from contracts_py.chains import make_chain
from protocol.actions import (
    Action,
    AdvanceTime,
    AutoDeleverage,
    Deposit,
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
from protocol.keeper import adl_action, adl_counterparties

STEPS = 25
#: Shorter sequences on eth-tester and anvil (each step reads the whole state back over JSON-RPC).
NODE_STEPS = 10
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
    act = d.actors
    TRADERS, KEEPER, LIQ = list(act.traders), act.keeper, act.liquidator
    MATCHER, ORACLE, FUNDING, GOV = act.matcher, act.oracle, act.funding, act.governance
    kind = data.draw(st.sampled_from(KINDS))
    acct = data.draw(st.sampled_from([*TRADERS, KEEPER, LIQ]))
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
        return d.signer.fill(
            MATCHER, maker, taker, market, size, max(price, 1), fees, data.draw(st.sampled_from([0, fees]))
        )
    if kind == "price":
        feed = data.draw(st.sampled_from([0, 1]))
        p = _price(d, feed) * data.draw(st.integers(600_000, 1_400_000)) // 1_000_000
        ts = d.now - data.draw(st.sampled_from([0, 0, 0, 5, 4_000]))
        return PushPrice(ORACLE, feed, p, ts)
    if kind == "time":
        if d.chain_system.chain.name != "boa":
            blocks = data.draw(st.integers(1, 30))
            return AdvanceTime(data.draw(st.integers(blocks, 4_000)), blocks)
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
    if kind == "adl":  # the queue: a random list (propose, challenge or execute, maybe empty) or the keeper's step
        target = data.draw(st.sampled_from(TRADERS))
        if data.draw(st.booleans()):
            try:
                step = adl_action(d.model, KEEPER, target, market, adl_counterparties(d.model, target, market))
            except (KeyError, ProtocolRevert):  # no position, or an untrusted price
                step = None
            if step is not None:
                return step
        cps = data.draw(
            st.lists(st.sampled_from([t for t in TRADERS if t != target]), min_size=0, max_size=3, unique=True)
        )
        return AutoDeleverage(KEEPER, target, market, tuple(cps))
    if kind == "insurance":
        return FundInsurance(acct, data.draw(st.integers(1, 5_000)) * USDC)
    if kind == "fees":
        return WithdrawFees(GOV, GOV, data.draw(st.integers(1, 100)) * USDC // 10)
    if kind == "pause":
        return SetPaused(GOV, data.draw(st.booleans()))
    return SetMarketMargin(GOV, market, data.draw(st.sampled_from([WAD // 20, WAD // 10, WAD // 5])), WAD // 2)


def _campaign(
    d: Differential, data: st.DataObject, steps: int, opening: Callable[[Differential], list[Action]] | None = None
) -> None:
    """``steps`` drawn actions after the opening: prices, deposits of a trader, the keeper and the
    liquidator, then ``opening(d)``'s actions (made once the deposits are in)."""
    d = _reset(d)
    act = d.actors
    chain = d.chain_system.chain.name
    first = True  # model block 0 is the deployment's block: the first transaction starts a new one

    def step(make):
        nonlocal first
        new_block = chain == "anvil" or (chain == "eth-tester" and data.draw(st.booleans(), label="new block"))
        if new_block or (chain != "boa" and first):
            d.apply(AdvanceTime(1, 1), compare=False)
        first = False
        d.apply(make())

    for feed, price in ((0, 60_000 * WAD), (1, 3_000 * WAD)):
        step(lambda feed=feed, price=price: PushPrice(act.oracle, feed, price, d.now))
    for a in (act.traders[0], act.keeper, act.liquidator):
        step(lambda a=a: Deposit(a, 0, 100_000 * USDC))
    for action in opening(d) if opening is not None else ():
        step(lambda action=action: action)
    for _ in range(steps):
        step(lambda: draw_action(data, d))


#: The loaded profile (``HYPOTHESIS_PROFILE``: dev, ci, deep) scales the number of sequences and
#: shrinking stays on: titanoboa pro-rata 3/10 of it, ADL 1/5, eth-tester and anvil (each step
#: reads the state back over JSON-RPC) 1/20 — the ci profile keeps CI's earlier 60 / 40 / 10.
PROFILE_EXAMPLES = settings.default.max_examples
CAMPAIGN = settings(deadline=None, suppress_health_check=list(HealthCheck))


@settings(CAMPAIGN, max_examples=max(1, PROFILE_EXAMPLES * 3 // 10))
@given(data=st.data())
def test_campaign_pro_rata(deployment, data):
    _campaign(deployment, data, STEPS)


@settings(CAMPAIGN, max_examples=max(1, PROFILE_EXAMPLES // 5))
@given(data=st.data())
def test_campaign_adl(deployment_adl, data):
    _campaign(deployment_adl, data, STEPS)


@pytest.fixture(scope="module", params=["eth-tester", "anvil"])
def node_deployment(request: pytest.FixtureRequest) -> Iterator[Differential]:
    """A default-parameter deployment on an automining backend, reverted per sequence."""
    with make_chain(request.param) as chain:
        yield Differential.on_chain(chain)


@settings(CAMPAIGN, max_examples=max(1, PROFILE_EXAMPLES // 20))
@given(data=st.data())
def test_campaign_on_node(node_deployment, data):
    _campaign(node_deployment, data, NODE_STEPS)
