# ruff: noqa: F811  (fixtures imported from the harness)
"""F-08 (medium): open-interest scaling raised the maintenance requirement of existing positions.

The attack: a self-matched pair inflates ETH-PERP's open interest past the lower cap; the
effective initial fraction grows, and with it (before the fix) every position's maintenance
fraction, so an honest trader who was safely above maintenance becomes liquidatable without any
price move, and a keeper takes the penalty. The fix (dYdX v4's rule, ``docs/SPEC.md`` §4): only
the initial requirement scales with open interest (risk-increasing fills and withdrawals must meet
it); maintenance is a fixed share of the base initial fraction. Model and contracts (titanoboa)
side by side.
"""

from __future__ import annotations

from security_harness import (  # noqa: F401  (fixtures)
    ATTACKER,
    COLLUDER,
    KEEPER,
    MAKER,
    MATCHER,
    USDC,
    VICTIM,
    Differential,
    deployment,
    diff,
    prices,
)

from protocol.actions import Deposit, Liquidate
from protocol.constants import WAD
from protocol.margin import Health
from protocol.scenarios import ETH_PERP, default_params

ETH = ETH_PERP


def test_inflated_open_interest_makes_nobody_liquidatable(diff: Differential) -> None:
    """ETH-PERP's initial fraction grows from 10 % at 5M to 100 % at 50M of open interest. The
    victim is long 10 ETH at 3,000 on 3,000 USDC (exactly initial margin, twice maintenance). The
    pair then opens 10,000 ETH between themselves: 30.03M of open interest, an initial fraction of
    0.1 + 0.9 * 25.03 / 45 = 0.6006. Before the fix the victim's maintenance became
    30,000 * 0.3003 = 9,009 against its 3,000 of equity, with no price move."""
    mp = default_params().market(ETH)
    assert (mp.oi_cap_lower_wad, mp.oi_cap_upper_wad) == (5_000_000 * WAD, 50_000_000 * WAD)
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(KEEPER, 0, 1_000_000 * USDC),
            Deposit(VICTIM, 0, 3_000 * USDC),
            diff.signer.fill(MATCHER, MAKER, VICTIM, ETH, 10 * WAD, 3_000 * WAD),
        ]
    )
    assert diff.model.health(VICTIM) == Health(3_000 * WAD, 3_000 * WAD, 1_500 * WAD)
    diff.apply_all(
        [
            Deposit(ATTACKER, 0, 20_000_000 * USDC),
            Deposit(COLLUDER, 0, 20_000_000 * USDC),
            diff.signer.fill(MATCHER, COLLUDER, ATTACKER, ETH, 10_000 * WAD, 3_000 * WAD),
        ]
    )
    # the pair paid the crowded market's initial requirement for its own new risk ...
    assert diff.model.health(ATTACKER).initial == 30_000_000 * WAD * 6_006 // 10_000
    # ... the victim's maintenance did not move, only what it would need to add risk
    assert diff.model.health(VICTIM) == Health(3_000 * WAD, 30_000 * WAD * 6_006 // 10_000, 1_500 * WAD)
    assert diff.apply(Liquidate(KEEPER, VICTIM, ETH, WAD)) == "liquidation: account healthy"
