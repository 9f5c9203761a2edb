# ruff: noqa: F811  (pytest fixtures imported from the harness)
"""Funding, liquidation, collateral liquidation, bad debt, socialized loss and ADL on the
contracts, compared with the reference model to the wei (events, reverts and state)."""

from __future__ import annotations

from test_protocol_harness import (  # noqa: F401  (fixtures)
    BTC,
    ETH,
    FUNDING,
    GOV,
    MATCHER,
    ORACLE,
    USDC,
    deployment,
    deployment_adl,
    diff,
    diff_adl,
    prices,
)

from protocol.actions import (
    AdvanceTime,
    AutoDeleverage,
    Deposit,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    SetFundingRate,
    Withdraw,
)
from protocol.constants import WAD
from protocol.events import AdlProposed, BadDebtSettled, Deleveraged, Liquidated, LossSocialized, ShortfallSettled
from protocol.scenarios import ACTORS, default_params

MAKER, LONG, KEEPER = ACTORS["market_maker"], ACTORS["trader_leveraged"], ACTORS["keeper"]
SHORT, COLL, LIQ = ACTORS["trader_short"], ACTORS["trader_collateral"], ACTORS["liquidator"]


def leveraged_long(diff, btc_size=WAD, margin_usdc=7_000):
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(KEEPER, 0, 200_000 * USDC),
            Deposit(LONG, 0, margin_usdc * USDC),
            diff.signer.fill(MATCHER, MAKER, LONG, BTC, btc_size, 60_000 * WAD, 0, 0),
        ]
    )


def move(diff, btc, eth=3_000, seconds=60, blocks=5):
    diff.apply(AdvanceTime(seconds, blocks))
    diff.apply_all(prices(diff, btc, eth))


def test_funding_accrues_and_settles(diff):
    leveraged_long(diff)
    assert diff.apply(SetFundingRate(GOV, BTC, 10**9)) == "funding: caller is not a funding operator"
    assert diff.apply(SetFundingRate(FUNDING, 9, 10**9)) == "funding: unknown market"
    diff.apply(SetFundingRate(FUNDING, BTC, WAD))  # clamped to the cap
    diff.apply(SetFundingRate(FUNDING, BTC, 123_456_789))
    move(diff, 60_100, seconds=8 * 3_600 // 10)
    diff.apply(Withdraw(LONG, 0, 10 * USDC))  # settles the long's funding
    diff.apply(SetFundingRate(FUNDING, BTC, -987_654_321))
    move(diff, 59_900, seconds=1_234)
    diff.apply(diff.signer.fill(MATCHER, MAKER, LONG, BTC, -(WAD // 3), 59_900 * WAD, 0, 0))
    assert diff.core.markets(BTC)[1] != 0


def test_partial_liquidation_and_minimality(diff):
    leveraged_long(diff)
    move(diff, 57_000)
    assert diff.apply(Liquidate(KEEPER, LONG, BTC, WAD // 10)) == "liquidation: account healthy"
    move(diff, 54_500)
    assert diff.apply(Liquidate(LONG, LONG, BTC, WAD)) == "liquidation: self liquidation"
    assert diff.apply(Liquidate(KEEPER, LONG, ETH, WAD)) == "liquidation: no position"
    assert diff.apply(Liquidate(KEEPER, LONG, BTC, 2 * WAD)) == "liquidation: size exceeds position"
    q_max = diff.model.max_liquidation_size(LONG, BTC)
    assert 0 < q_max < WAD
    assert diff.apply(Liquidate(KEEPER, LONG, BTC, q_max + 1)) == "liquidation: closes more than needed"
    events = diff.apply(Liquidate(KEEPER, LONG, BTC, q_max))
    assert any(isinstance(e, Liquidated) for e in events)


def test_underwater_liquidation_settles_bad_debt_pro_rata(diff):
    leveraged_long(diff)
    diff.apply(Deposit(SHORT, 0, 50_000 * USDC))
    diff.apply(diff.signer.fill(MATCHER, SHORT, MAKER, BTC, WAD // 2, 60_000 * WAD, 0, 0))  # SHORT is short 0.5
    move(diff, 52_000)  # long equity 7,000 - 8,000 < 0
    events = diff.apply(Liquidate(KEEPER, LONG, BTC, WAD))
    assert any(isinstance(e, ShortfallSettled) for e in events)
    diff.apply(FundInsurance(GOV, 10 * USDC))
    # the loss is charged to the shorts when they are next touched
    diff.apply(Withdraw(SHORT, 0, USDC))


def test_bad_debt_beyond_fund_is_socialized(diff):
    leveraged_long(diff, btc_size=WAD, margin_usdc=6_500)
    move(diff, 50_000)
    events = diff.apply(Liquidate(KEEPER, LONG, BTC, WAD))
    assert any(isinstance(e, LossSocialized) for e in events)
    diff.apply(Withdraw(MAKER, 0, USDC))
    diff.apply(Withdraw(KEEPER, 0, USDC))


def test_block_cap(diff):
    leveraged_long(diff)
    move(diff, 54_500)
    q = diff.model.max_liquidation_size(LONG, BTC)
    diff.apply(Liquidate(KEEPER, LONG, BTC, q // 2))
    diff.apply(Liquidate(KEEPER, LONG, BTC, 1))


def test_collateral_liquidation(diff):
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(LIQ, 0, 100_000 * USDC),
            Deposit(COLL, 1, 5 * WAD),  # 15,000 at 20 % haircut = 12,000
            diff.signer.fill(MATCHER, MAKER, COLL, BTC, WAD // 10, 60_000 * WAD, 0, 0),
        ]
    )
    move(diff, 50_000)
    diff.apply(diff.signer.fill(MATCHER, MAKER, COLL, BTC, -(WAD // 10), 50_000 * WAD, 0, 0))  # realizes -1,000
    assert diff.core.balances(COLL) < 0
    assert diff.apply(LiquidateCollateral(COLL, COLL, 1, WAD)) == "liquidation: self liquidation"
    assert diff.apply(LiquidateCollateral(LIQ, COLL, 3, WAD)) == "liquidation: unknown asset"
    # F-05: equity -1,000 + 12,000 with no position is healthy: its debt is left to its owner
    assert diff.apply(LiquidateCollateral(LIQ, COLL, 1, WAD)) == "liquidation: account healthy"
    for eth in (1_500, 750, 375, 240):  # 5 WETH x 240 x 0.8 = 960 < 1,000: below its requirement
        move(diff, 50_000, eth)
    assert diff.apply(LiquidateCollateral(LIQ, COLL, 1, 6 * WAD)) == "liquidation: amount exceeds collateral"
    assert diff.apply(LiquidateCollateral(LIQ, COLL, 1, 5 * WAD)) == "liquidation: sells more than needed"
    for a in (WAD, 15 * 10**17, 14 * 10**17):
        diff.apply(LiquidateCollateral(LIQ, COLL, 1, a))
    assert diff.apply(LiquidateCollateral(LIQ, MAKER, 1, 1)) == "liquidation: balance not negative"


def test_collateral_liquidation_until_bad_debt(diff):
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(LIQ, 0, 100_000 * USDC),
            Deposit(KEEPER, 0, 100_000 * USDC),
            Deposit(COLL, 1, WAD // 2),
            diff.signer.fill(MATCHER, MAKER, COLL, BTC, WAD // 10, 60_000 * WAD, 0, 0),
        ]
    )
    move(diff, 50_000, eth=2_000)
    assert not isinstance(diff.apply(Liquidate(KEEPER, COLL, BTC, WAD // 10)), str)
    assert diff.core.balances(COLL) < 0
    events = diff.apply(LiquidateCollateral(LIQ, COLL, 1, WAD // 2))
    assert any(isinstance(e, BadDebtSettled) for e in events)


def test_adl_closes_against_ranked_counterparties(diff_adl):
    diff = diff_adl
    leveraged_long(diff, btc_size=WAD, margin_usdc=6_500)
    diff.apply(Deposit(SHORT, 0, 50_000 * USDC))
    diff.apply(diff.signer.fill(MATCHER, MAKER, SHORT, BTC, -(WAD // 2), 60_000 * WAD, 0, 0))  # SHORT short 0.5
    move(diff, 50_000)
    assert diff.apply(Liquidate(KEEPER, LONG, BTC, WAD)) == "liquidation: shortfall exceeds insurance fund"
    assert diff.apply(AutoDeleverage(KEEPER, LONG, BTC, (LONG,))) == "socialized_loss: account is its own counterparty"
    assert diff.apply(AutoDeleverage(KEEPER, LONG, BTC, (SHORT, SHORT))) == "socialized_loss: repeated counterparty"
    assert diff.apply(AutoDeleverage(KEEPER, LONG, BTC, (KEEPER,))) == "socialized_loss: counterparty not opposite"
    ranked = (MAKER, SHORT)
    proposed = diff.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked))
    if isinstance(proposed, str):
        assert proposed == "socialized_loss: ranking violated"
        ranked = (SHORT, MAKER)
        proposed = diff.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked))
    assert any(isinstance(e, AdlProposed) for e in proposed)
    assert diff.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked)) == "socialized_loss: challenge not higher"
    diff.apply(AdvanceTime(default_params().protocol.adl_window_s, 1))
    assert diff.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked[:1])) == "socialized_loss: not the proposed list"
    first = diff.apply(AutoDeleverage(KEEPER, LONG, BTC, ranked))
    assert any(isinstance(e, Deleveraged) for e in first)


def test_adl_rules(diff_adl):
    diff = diff_adl
    leveraged_long(diff)
    assert diff.apply(AutoDeleverage(KEEPER, LONG, BTC, (MAKER,))) == "socialized_loss: account not bankrupt"


def test_adl_refused_under_pro_rata(diff):
    leveraged_long(diff)
    assert diff.apply(AutoDeleverage(KEEPER, LONG, BTC, (MAKER,))) == "socialized_loss: method is pro-rata"


def test_adl_then_pro_rata_leftover(diff_adl):
    diff = diff_adl
    leveraged_long(diff, btc_size=WAD, margin_usdc=6_500)
    move(diff, 45_000)
    diff.apply(AutoDeleverage(KEEPER, LONG, BTC, (MAKER,)))
    diff.apply(AdvanceTime(default_params().protocol.adl_window_s, 1))
    events = diff.apply(AutoDeleverage(KEEPER, LONG, BTC, (MAKER,)))
    assert any(isinstance(e, Deleveraged) for e in events)
