"""Margin fractions above 100 % of notional on the contracts (titanoboa), compared with the model
to the wei: BTC-PERP at IMF 150 % (maintenance share 50 %), ETH-PERP at 120 % with
open-interest caps (a base above 100 % is not scaled: margin.vy ``initial_fraction``).

A short of 1 BTC at 60,000 on exactly 90,000 USDC; its liquidation price is
``p* = floor((B - O) W / (W + mmf)) + 1`` = 85,714.285714285714285715 (SPEC §4; the model test
``tests/unit/protocol/test_margin_above_notional.py`` derives it).
"""

from __future__ import annotations

import dataclasses

import pytest
from test_protocol_harness import BTC, ETH, GOV, MATCHER, ORACLE, USDC, Differential

from protocol.actions import AdvanceTime, Deposit, Liquidate, PushPrice, SetMarketMargin
from protocol.constants import MAX_INITIAL_MARGIN_FRACTION, WAD
from protocol.events import Liquidated
from protocol.params import Params
from protocol.scenarios import ACTORS, default_params

MAKER, SHORT, KEEPER = ACTORS["market_maker"], ACTORS["trader_short"], ACTORS["keeper"]
ETH_LONG = ACTORS["trader_conservative"]
P_STAR = 85_714_285_714_285_714_285_715


def high_margin_params() -> Params:
    p = default_params()
    btc = dataclasses.replace(p.market(BTC), initial_margin_fraction_wad=3 * WAD // 2, maintenance_share_wad=WAD // 2)
    eth = dataclasses.replace(
        p.market(ETH),
        initial_margin_fraction_wad=6 * WAD // 5,
        maintenance_share_wad=WAD // 2,
        oi_cap_lower_wad=10**6 * WAD,
        oi_cap_upper_wad=2 * 10**6 * WAD,
    )
    return dataclasses.replace(p, markets=(btc, eth))


@pytest.fixture(scope="module")
def deployment() -> Differential:
    """One deployment of the high-margin parameters per module (titanoboa's anchors isolate tests)."""
    d = Differential(high_margin_params())
    d.reset()
    return d


@pytest.fixture
def diff(deployment: Differential) -> Differential:
    deployment.reset()
    return deployment


def push_btc(diff: Differential, price_wad: int) -> None:
    diff.apply(AdvanceTime(60, 5))
    diff.apply(PushPrice(ORACLE, 0, price_wad, diff.now))
    diff.apply(PushPrice(ORACLE, 1, 3_000 * WAD, diff.now))


def test_a_150_percent_short_opens_on_its_notional_and_a_half_and_is_liquidated_from_its_price(
    diff: Differential,
) -> None:
    diff.apply(PushPrice(ORACLE, 0, 60_000 * WAD, diff.now))
    diff.apply(PushPrice(ORACLE, 1, 3_000 * WAD, diff.now))
    diff.apply(Deposit(MAKER, 0, 10_000_000 * USDC))
    diff.apply(Deposit(KEEPER, 0, 1_000_000 * USDC))
    diff.apply(Deposit(SHORT, 0, 90_000 * USDC - 1))
    assert diff.apply(diff.signer.fill(MATCHER, MAKER, SHORT, BTC, -WAD, 60_000 * WAD)) == "margin: below initial"
    diff.apply(Deposit(SHORT, 0, 1))
    diff.apply(diff.signer.fill(MATCHER, MAKER, SHORT, BTC, -WAD, 60_000 * WAD))
    push_btc(diff, P_STAR - 1)
    assert diff.apply(Liquidate(KEEPER, SHORT, BTC, WAD // 10)) == "liquidation: account healthy"
    push_btc(diff, P_STAR)
    q_max = diff.model.max_liquidation_size(SHORT, BTC)
    assert 0 < q_max < WAD
    assert diff.apply(Liquidate(KEEPER, SHORT, BTC, q_max + 1)) == "liquidation: closes more than needed"
    events = diff.apply(Liquidate(KEEPER, SHORT, BTC, q_max))
    assert isinstance(events, list)
    assert [e.size_wad for e in events if isinstance(e, Liquidated)] == [q_max]


def test_open_interest_never_scales_a_fraction_above_100_percent(diff: Differential) -> None:
    """800 ETH of open interest is 2.4M USD, above the 2M upper cap (where a base below 100 %
    would have reached 100 %): the long still needs exactly 120 % of 2.4M."""
    diff.apply(PushPrice(ORACLE, 0, 60_000 * WAD, diff.now))
    diff.apply(PushPrice(ORACLE, 1, 3_000 * WAD, diff.now))
    diff.apply(Deposit(MAKER, 0, 10_000_000 * USDC))
    diff.apply(Deposit(ETH_LONG, 0, 2_880_000 * USDC - 1))
    assert (
        diff.apply(diff.signer.fill(MATCHER, MAKER, ETH_LONG, ETH, 800 * WAD, 3_000 * WAD)) == "margin: below initial"
    )
    diff.apply(Deposit(ETH_LONG, 0, 1))
    diff.apply(diff.signer.fill(MATCHER, MAKER, ETH_LONG, ETH, 800 * WAD, 3_000 * WAD))
    assert diff.model.health(ETH_LONG).initial == 2_880_000 * WAD


def test_governance_may_set_up_to_1000_percent(diff: Differential) -> None:
    diff.apply(SetMarketMargin(GOV, BTC, MAX_INITIAL_MARGIN_FRACTION, WAD // 2))
    too_high = SetMarketMargin(GOV, BTC, MAX_INITIAL_MARGIN_FRACTION + 1, WAD // 2)
    assert diff.apply(too_high) == "roles: margin parameters out of bounds"
