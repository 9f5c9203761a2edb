# ruff: noqa: F811  (fixtures imported from the harness)
"""F-15 (medium): bad debt was socialized by the account's *last closed* position.

``settle_bad_debt`` charged the loss left once an account was empty to the side opposite its last
closed position, which the keeper (or the account) chooses by the order of the closes: a bankrupt
ETH long that also held a small BTC short had its ETH loss charged to unrelated BTC longs when the
keeper closed ETH first and BTC last. The fix (``docs/SPEC.md`` §8): each bankrupt close settles
at once, in its own market, the share of the account's negative equity its position created
(``floor(-E * loss_m / L)``, the losses at the oracle; independent of the order, the last losing
close takes the rest), event ``ShortfallSettled``; ``last_closed`` is gone. Model and contracts
(titanoboa) side by side.
"""

from __future__ import annotations

from security_harness import (  # noqa: F401  (fixtures)
    ATTACKER,
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

from protocol import events as ev
from protocol.actions import Deposit, Liquidate
from protocol.constants import WAD
from protocol.scenarios import BTC_PERP, ETH_PERP


def test_an_eth_loss_is_not_charged_to_btc_longs(diff: Differential) -> None:
    """The attacker is long 30 ETH at 3,000 on 10,000 USDC and short 0.1 BTC to the victim. ETH
    falls to 2,600: equity 10,000 - 12,000 = -2,000. The keeper closes ETH first, BTC last (the
    order that, before the fix, left BTC as the last closed position and charged the 2,000 to the
    victim, the only BTC long)."""
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(KEEPER, 0, 1_000_000 * USDC),
            Deposit(VICTIM, 0, 10_000 * USDC),
            Deposit(ATTACKER, 0, 10_000 * USDC),
            diff.signer.fill(MATCHER, MAKER, ATTACKER, ETH_PERP, 30 * WAD, 3_000 * WAD),
            diff.signer.fill(MATCHER, ATTACKER, VICTIM, BTC_PERP, WAD // 10, 60_000 * WAD),
        ]
    )
    diff.apply_all(prices(diff, 60_000, 2_600))
    assert diff.model.liquidation_health(ATTACKER).equity == -2_000 * WAD
    victim_before = diff.model.liquidation_health(VICTIM)

    events = diff.apply(Liquidate(KEEPER, ATTACKER, ETH_PERP, 30 * WAD))
    assert not isinstance(events, str)
    # the whole 2,000 was created by the ETH position: settled in ETH-PERP, on its shorts (the maker)
    assert ev.ShortfallSettled(ATTACKER, ETH_PERP, 2_000 * WAD, 0, 2_000 * WAD) in events
    assert [e.market_id for e in events if isinstance(e, ev.LossSocialized)] == [ETH_PERP]

    events = diff.apply(Liquidate(KEEPER, ATTACKER, BTC_PERP, WAD // 10))
    assert not isinstance(events, str)
    assert not [e for e in events if isinstance(e, ev.ShortfallSettled | ev.BadDebtSettled | ev.LossSocialized)]
    state = diff.model.state
    assert state.markets[BTC_PERP].loss_index_long == 0  # before the fix: 2,000 / 0.1 BTC = 20,000 per BTC
    assert diff.model.liquidation_health(VICTIM) == victim_before
    assert state.accounts[ATTACKER].balance == 0
    assert not state.accounts[ATTACKER].positions
    assert state.uncovered_loss == 0


def test_the_shares_do_not_depend_on_the_order_of_the_closes(diff: Differential) -> None:
    """Two losing positions: 30 ETH long (loss 12,000 at 2,600) and 0.1 BTC long (loss 1,000 at
    50,000) on 11,000 USDC: equity -2,000, split 12/13 to ETH and 1/13 to BTC whichever closes
    first."""
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(KEEPER, 0, 1_000_000 * USDC),
            Deposit(ATTACKER, 0, 11_000 * USDC),
            diff.signer.fill(MATCHER, MAKER, ATTACKER, ETH_PERP, 30 * WAD, 3_000 * WAD),
            diff.signer.fill(MATCHER, MAKER, ATTACKER, BTC_PERP, WAD // 10, 60_000 * WAD),
        ]
    )
    diff.apply_all(prices(diff, 50_000, 2_600))
    assert diff.model.liquidation_health(ATTACKER).equity == -2_000 * WAD
    btc = diff.apply(Liquidate(KEEPER, ATTACKER, BTC_PERP, WAD // 10))
    eth = diff.apply(Liquidate(KEEPER, ATTACKER, ETH_PERP, 30 * WAD))
    shares = {e.market_id: e.debt_wad for e in [*btc, *eth] if isinstance(e, ev.ShortfallSettled)}
    btc_share = 2_000 * WAD * 1_000 // 13_000
    assert shares == {BTC_PERP: btc_share, ETH_PERP: 2_000 * WAD - btc_share}
