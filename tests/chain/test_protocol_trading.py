# ruff: noqa: F811  (pytest fixtures imported from the harness)
"""Vault, fills and margin checks on the contracts, compared with the reference model to the wei."""

from __future__ import annotations

from test_protocol_harness import (  # noqa: F401  (fixtures)
    BTC,
    ETH,
    GOV,
    MATCHER,
    ORACLE,
    USDC,
    deployment,
    diff,
    prices,
)

from protocol.actions import AdvanceTime, Deposit, FundInsurance, PushPrice, Withdraw, WithdrawFees
from protocol.constants import WAD
from protocol.scenarios import ACTORS

MAKER, TAKER, TRADER = ACTORS["market_maker"], ACTORS["trader_leveraged"], ACTORS["trader_conservative"]
COLL = ACTORS["trader_collateral"]


def setup_book(diff):
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(TAKER, 0, 10_000 * USDC),
        ]
    )


def test_deposit_and_withdraw_settlement_token(diff):
    diff.apply(Deposit(TRADER, 0, 5_000 * USDC))
    diff.apply(Withdraw(TRADER, 0, 1_234 * USDC))
    assert diff.apply(Withdraw(TRADER, 0, 10_000 * USDC)) == "vault: insufficient balance"
    assert diff.core.balances(TRADER) == 3_766 * WAD


def test_deposit_collateral_and_cap(diff):
    diff.apply(Deposit(COLL, 1, 10 * WAD))
    assert diff.apply(Deposit(COLL, 1, 10**6 * WAD)) == "vault: deposit cap"
    assert diff.apply(Deposit(COLL, 7, 1)) == "vault: unknown asset"
    diff.apply(Withdraw(COLL, 1, 4 * WAD))
    assert diff.core.collateral(COLL, 1) == 6 * WAD


def test_fill_opens_positions_and_charges_fees(diff):
    setup_book(diff)
    events = diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD, 60_000 * WAD, WAD // 10_000, WAD // 2_000))
    assert any(type(e).__name__ == "FillSettled" for e in events)
    assert diff.core.positions(TAKER, BTC)[0] == WAD
    assert diff.core.positions(MAKER, BTC)[0] == -WAD
    assert diff.core.insurance_fund() > 0
    assert diff.core.fee_pool() > 0


def test_fill_reduces_flips_and_realizes(diff):
    setup_book(diff)
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD // 3, 60_000 * WAD, 0, 0))
    diff.apply_all(prices(diff, 60_500, 3_000))
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, -(WAD // 7), 60_501 * WAD + 7, 0, 0))
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, -(WAD // 2), 60_499 * WAD + 3, 0, WAD // 1_000))
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD // 2 - WAD // 3 + WAD // 7, 60_400 * WAD, 0, 0))
    assert diff.core.position_mask(TAKER) == 0


def test_fill_below_initial_margin_reverts(diff):
    setup_book(diff)
    # 10,000 USDC at 10 % initial margin carries at most 100,000 of notional
    assert (
        diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, 2 * WAD, 60_000 * WAD, 0, 0)) == "margin: below initial"
    )
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD, 60_000 * WAD, 0, 0))


def test_fill_rules(diff):
    setup_book(diff)
    assert (
        diff.apply(diff.signer.fill(GOV, MAKER, TAKER, BTC, WAD, 60_000 * WAD, 0, 0))
        == "clearing: caller is not a matcher"
    )
    assert diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, 9, WAD, 60_000 * WAD, 0, 0)) == "clearing: unknown market"
    assert diff.apply(diff.signer.fill(MATCHER, MAKER, MAKER, BTC, WAD, 60_000 * WAD, 0, 0)) == "clearing: self trade"
    assert (
        diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD, 60_000 * WAD, WAD // 50, 0))
        == "clearing: fee too high"
    )
    assert (
        diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD // 10, 70_000 * WAD, 0, 0))
        == "clearing: price outside band"
    )


def test_reduce_only_when_price_untrusted(diff):
    setup_book(diff)
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD // 2, 60_000 * WAD, 0, 0))
    diff.apply(AdvanceTime(3_601, 300))  # the BTC price is now stale
    assert (
        diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD // 10, 60_000 * WAD, 0, 0))
        == "clearing: market reduce-only"
    )
    # reducing both sides is allowed at any price
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, -(WAD // 10), 50_000 * WAD, 0, 0))
    assert diff.apply(Withdraw(TAKER, 0, USDC)) == "vault: price not trusted"


def test_withdraw_keeps_initial_margin(diff):
    setup_book(diff)
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD, 60_000 * WAD, 0, 0))
    assert diff.apply(Withdraw(TAKER, 0, 5_000 * USDC)) == "margin: below initial"
    diff.apply(Withdraw(TAKER, 0, 3_000 * USDC))


def test_collateral_counts_toward_margin(diff):
    diff.apply_all(prices(diff, 60_000, 3_000))
    diff.apply(Deposit(MAKER, 0, 1_000_000 * USDC))
    diff.apply(Deposit(COLL, 1, 10 * WAD))  # 30,000 at 20 % haircut = 24,000
    diff.apply(diff.signer.fill(MATCHER, MAKER, COLL, ETH, 70 * WAD, 3_000 * WAD, 0, 0))
    assert (
        diff.apply(diff.signer.fill(MATCHER, MAKER, COLL, ETH, 20 * WAD, 3_000 * WAD, 0, 0)) == "margin: below initial"
    )


def test_fees_and_insurance_top_up(diff):
    setup_book(diff)
    diff.apply(diff.signer.fill(MATCHER, MAKER, TAKER, BTC, WAD, 60_000 * WAD, WAD // 1_000, WAD // 1_000))
    diff.apply(FundInsurance(ACTORS["keeper"], 777 * USDC))
    assert diff.apply(WithdrawFees(MATCHER, GOV, USDC)) == "vault: caller is not governance"
    assert diff.apply(WithdrawFees(GOV, GOV, 10**9 * USDC)) == "vault: insufficient fees"
    diff.apply(WithdrawFees(GOV, GOV, 60 * USDC))
    assert diff.system.settlement_token.balanceOf(GOV) == 60 * USDC


def test_oracle_guards(diff):
    diff.apply_all(prices(diff, 60_000, 3_000))
    t = diff.now
    assert diff.apply(PushPrice(GOV, 0, WAD, t)) == "oracle: caller is not an oracle"
    assert diff.apply(PushPrice(ORACLE, 5, WAD, t)) == "oracle: unknown feed"
    diff.apply(PushPrice(ORACLE, 0, -5, t))  # rejected: non-positive, feed untrusted
    diff.apply(PushPrice(ORACLE, 0, 60_000 * WAD, t + 1))  # future
    diff.apply(PushPrice(ORACLE, 0, 60_000 * WAD, t))  # accepted again
    diff.apply(PushPrice(ORACLE, 0, 100_000 * WAD, t))  # move too large
    diff.apply(AdvanceTime(10, 1))
    diff.apply(PushPrice(ORACLE, 0, 61_000 * WAD, t - 1))  # out of order
    diff.apply(PushPrice(ORACLE, 0, 61_000 * WAD, diff.now - 3_601))  # stale
    diff.apply(PushPrice(ORACLE, 0, 61_000 * WAD, diff.now))
