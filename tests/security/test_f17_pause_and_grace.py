# ruff: noqa: F811  (fixtures imported from the harness)
"""F-17 (low): the pause did not cover fee withdrawal, and liquidations resumed the instant the
protocol was unpaused.

The attacks: governance (or whoever took its key) drains the fee pool while users are frozen;
and a price falls while the protocol is paused, so at the unpause every account that could not
add margin meanwhile is liquidated in the same block by a waiting keeper. The fix
(``docs/SPEC.md`` §10): ``withdraw_fees`` reverts while paused; unpausing starts a grace period of
``liquidation_grace_s`` (default 900 s) during which ``liquidate``, ``liquidate_collateral`` and
``auto_deleverage`` revert ``roles: liquidation grace period`` while deposits and fills work.
Model and contracts (titanoboa) side by side.
"""

from __future__ import annotations

from security_harness import GOV, KEEPER, MAKER, MATCHER, USDC, VICTIM, Differential, deployment, diff, prices  # noqa: F401  (fixtures)

from protocol.actions import AdvanceTime, Deposit, Liquidate, LiquidateCollateral, SetPaused, WithdrawFees
from protocol.constants import WAD
from protocol.scenarios import BTC_PERP, WETH, default_params

GRACE = default_params().protocol.liquidation_grace_s


def test_fees_cannot_leave_while_paused(diff: Differential) -> None:
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(VICTIM, 0, 100_000 * USDC),
            diff.signer.fill(MATCHER, MAKER, VICTIM, BTC_PERP, WAD, 60_000 * WAD, WAD // 1_000, WAD // 1_000),
            SetPaused(GOV, True),
        ]
    )
    assert diff.model.state.fee_pool == 60 * WAD
    assert diff.apply(WithdrawFees(GOV, GOV, 60 * USDC)) == "vault: paused"
    diff.apply(SetPaused(GOV, False))
    diff.apply(WithdrawFees(GOV, GOV, 60 * USDC))


def test_liquidations_wait_for_the_grace_period_after_an_unpause(diff: Differential) -> None:
    """BTC falls 10 % while the protocol is paused: the victim cannot add margin. At the unpause
    a keeper is refused for ``liquidation_grace_s``; the victim tops up meanwhile and is healthy
    when the grace period ends."""
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(KEEPER, 0, 1_000_000 * USDC),
            Deposit(VICTIM, 0, 8_000 * USDC),
            diff.signer.fill(MATCHER, MAKER, VICTIM, BTC_PERP, WAD, 60_000 * WAD),
            SetPaused(GOV, True),
            AdvanceTime(600, 50),
        ]
    )
    diff.apply_all(prices(diff, 54_000, 3_000))
    assert diff.apply(Deposit(VICTIM, 0, 5_000 * USDC)) == "vault: paused"
    assert diff.model.health(VICTIM).liquidatable  # 8,000 - 6,000 = 2,000 < 2,700
    diff.apply(SetPaused(GOV, False))
    assert diff.model.state.liquidations_resume_at_s == diff.now + GRACE
    # before the fix: liquidated in the unpause's own block
    assert diff.apply(Liquidate(KEEPER, VICTIM, BTC_PERP, WAD // 10)) == "roles: liquidation grace period"
    assert diff.apply(LiquidateCollateral(KEEPER, VICTIM, WETH, 1)) == "roles: liquidation grace period"
    diff.apply(Deposit(VICTIM, 0, 5_000 * USDC))
    diff.apply(AdvanceTime(GRACE - 1, 1))
    assert diff.apply(Liquidate(KEEPER, VICTIM, BTC_PERP, WAD // 10)) == "roles: liquidation grace period"
    diff.apply(AdvanceTime(1, 1))
    diff.apply_all(prices(diff, 54_000, 3_000))
    assert diff.apply(Liquidate(KEEPER, VICTIM, BTC_PERP, WAD // 10)) == "liquidation: account healthy"
