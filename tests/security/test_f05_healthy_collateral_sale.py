# ruff: noqa: F811  (fixtures imported from the harness)
"""F-05 (medium): the collateral of a healthy account could be sold at a discount.

``liquidate_collateral`` checked only that the settlement balance was negative. A WETH-margined
account with 230,000 of equity and no position owes 10,000 USDC after a losing trade; any
liquidator could then buy its WETH 5 % below the oracle (and the insurance fund take 1 % of the
proceeds): the account lost about 5.95 % of every WETH sold although it was never at risk. The fix
(``docs/SPEC.md`` §7): only an account below its maintenance requirement, valued as liquidation
values it (with no position: negative equity), may have collateral sold; a healthy account's debt
is left to its owner. Model and contracts (titanoboa) side by side.
"""

from __future__ import annotations

from security_harness import (  # noqa: F401  (fixtures)
    MAKER,
    MATCHER,
    USDC,
    VICTIM,
    Differential,
    deployment,
    diff,
    prices,
)

from protocol.actions import Deposit, LiquidateCollateral
from protocol.constants import WAD
from protocol.keeper import collateral_to_sell
from protocol.liquidation import collateral_sale
from protocol.scenarios import ACTORS, BTC_PERP, WETH

LIQUIDATOR = ACTORS["liquidator"]


def test_a_healthy_accounts_collateral_is_not_sold_at_a_discount(diff: Differential) -> None:
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(LIQUIDATOR, 0, 100_000 * USDC),
            Deposit(VICTIM, WETH, 100 * WAD),  # 300,000 at a 20 % haircut: 240,000
            diff.signer.fill(MATCHER, MAKER, VICTIM, BTC_PERP, WAD, 60_000 * WAD),
        ]
    )
    diff.apply_all(prices(diff, 50_000, 3_000))
    diff.apply(diff.signer.fill(MATCHER, MAKER, VICTIM, BTC_PERP, -WAD, 50_000 * WAD))  # realizes -10,000
    health = diff.model.liquidation_health(VICTIM)
    assert (diff.model.state.accounts[VICTIM].balance, health.equity, health.maintenance) == (
        -10_000 * WAD,
        230_000 * WAD,
        0,
    )
    # what the attack took before the fix: the fewest WETH covering the debt, 5 % + 1 % below value
    n = collateral_to_sell(diff.model, VICTIM, WETH, 3_000 * WAD)
    proceeds, fee = collateral_sale(n, 3_000 * WAD, 5 * WAD // 100, diff.model.params.protocol)
    value = n * 3_000
    assert (n, value - (proceeds - fee)) == (3_544_214_070_529_860_004, 632_642_211_589_580_010_714)
    assert (value - (proceeds - fee)) * 10_000 // value == 595  # 5.95 % of what is sold: 632.64 USD

    assert diff.apply(LiquidateCollateral(LIQUIDATOR, VICTIM, WETH, n)) == "liquidation: account healthy"
    assert diff.model.state.accounts[VICTIM].collateral[WETH] == 100 * WAD
    # the owner settles its own debt without a discount
    diff.apply(Deposit(VICTIM, 0, 10_000 * USDC))
    assert diff.model.state.accounts[VICTIM].balance == 0


def test_an_account_below_its_requirement_still_sells(diff: Differential) -> None:
    """The same account after ETH falls to 100: 100 WETH x 100 x 0.8 = 8,000 < 10,000 of debt."""
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(LIQUIDATOR, 0, 100_000 * USDC),
            Deposit(VICTIM, WETH, 100 * WAD),
            diff.signer.fill(MATCHER, MAKER, VICTIM, BTC_PERP, WAD, 60_000 * WAD),
        ]
    )
    diff.apply_all(prices(diff, 50_000, 3_000))
    diff.apply(diff.signer.fill(MATCHER, MAKER, VICTIM, BTC_PERP, -WAD, 50_000 * WAD))  # realizes -10,000
    for eth in (1_500, 750, 375, 190, 100):
        diff.apply_all(prices(diff, 50_000, eth))
    assert diff.model.liquidation_health(VICTIM).equity == -2_000 * WAD
    diff.apply(LiquidateCollateral(LIQUIDATOR, VICTIM, WETH, 100 * WAD))  # all of it: still short
    assert diff.model.state.accounts[VICTIM].collateral.get(WETH, 0) == 0
