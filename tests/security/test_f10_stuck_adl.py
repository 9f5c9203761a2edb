# ruff: noqa: F811  (fixtures imported from the harness)
"""F-10 (medium): in ADL mode a bankrupt account could be stuck.

With the ADL method, ``liquidate`` refuses an account whose negative equity exceeds the insurance
fund (ADL must close it), and ``auto_deleverage`` needs at least one opposite position in profit.
When every opposite position is at a loss (they opened after the fall), neither can close the
account: its loss keeps growing with the price and funding. The fix (``docs/SPEC.md`` §8, the ADL
proposal queue): an **empty** list may be proposed (nobody is in profit); if nobody challenges it
with a list of counterparties in profit before the deadline, ``liquidate`` closes the account
whole in the execution window and F-15's per-market settlement charges the shortfall (insurance
fund, then pro rata on the other side of the market). Model and contracts (titanoboa) side by
side.
"""

from __future__ import annotations

from security_harness import (  # noqa: F401  (fixtures)
    COLLUDER,
    KEEPER,
    MAKER,
    MATCHER,
    USDC,
    Differential,
    deployment_adl,
    diff_adl,
    prices,
)

from protocol import events as ev
from protocol.actions import AdvanceTime, AutoDeleverage, Deposit, Liquidate
from protocol.constants import WAD
from protocol.keeper import adl_action, adl_counterparties
from protocol.scenarios import ACTORS, BTC_PERP, default_params

WINDOW = default_params().protocol.adl_window_s
#: The bankrupt account; the only other short (it sold after the fall, at a loss now).
BANKRUPT, LATE_SHORT = ACTORS["trader_collateral"], COLLUDER


def stuck_long(diff: Differential) -> None:
    """BANKRUPT buys 1 BTC at 60,000 on 6,500 USDC from the maker; BTC falls to 45,000 and the
    maker closes its short by buying 1 BTC from LATE_SHORT at 45,000; BTC recovers to 50,000.
    BANKRUPT's equity is -3,500 (empty insurance fund) and the only short, LATE_SHORT, is 5,000 at
    a loss: before the fix neither ``liquidate`` nor ``auto_deleverage`` could close it."""
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(KEEPER, 0, 200_000 * USDC),
            Deposit(BANKRUPT, 0, 6_500 * USDC),
            Deposit(LATE_SHORT, 0, 50_000 * USDC),
            diff.signer.fill(MATCHER, MAKER, BANKRUPT, BTC_PERP, WAD, 60_000 * WAD),
        ]
    )
    diff.apply_all(prices(diff, 45_000, 3_000))
    diff.apply(diff.signer.fill(MATCHER, LATE_SHORT, MAKER, BTC_PERP, WAD, 45_000 * WAD))
    diff.apply_all(prices(diff, 50_000, 3_000))
    state = diff.model.state
    assert diff.model.liquidation_health(BANKRUPT).equity == -3_500 * WAD
    assert state.insurance_fund == 0
    assert BTC_PERP not in state.accounts[MAKER].positions
    assert adl_counterparties(diff.model, BANKRUPT, BTC_PERP) == ()
    # the stuck state of the finding: no liquidation, no deleveraging
    assert diff.apply(Liquidate(KEEPER, BANKRUPT, BTC_PERP, WAD)) == "liquidation: shortfall exceeds insurance fund"
    assert (
        diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, (LATE_SHORT,)))
        == "socialized_loss: counterparty not in profit"
    )


def test_an_unchallenged_empty_proposal_lets_the_bankrupt_account_close(diff_adl: Differential) -> None:
    diff = diff_adl
    stuck_long(diff)
    events = diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, ()))
    deadline = diff.model.state.now_s + WINDOW
    assert events == [ev.AdlProposed(BANKRUPT, BTC_PERP, KEEPER, (), deadline)]
    # within the challenge window the account is still ADL's
    assert diff.apply(Liquidate(KEEPER, BANKRUPT, BTC_PERP, WAD)) == "liquidation: shortfall exceeds insurance fund"
    diff.apply(AdvanceTime(WINDOW, 1))
    # the empty list is not executed by auto_deleverage: the bankrupt close is liquidate's
    assert diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, ())) == "socialized_loss: no counterparties"
    step = adl_action(diff.model, KEEPER, BANKRUPT, BTC_PERP, ())
    assert step == Liquidate(KEEPER, BANKRUPT, BTC_PERP, WAD)  # what the reference keeper sends
    late_before = diff.model.liquidation_health(LATE_SHORT).equity
    events = diff.apply(step)
    assert isinstance(events, list)
    assert ev.Liquidated(BANKRUPT, KEEPER, BTC_PERP, WAD, 50_000 * WAD, 0, 0) in events
    # F-15: the 3,500 is settled in BTC-PERP on its shorts (the fund is empty): LATE_SHORT's loss index
    assert ev.ShortfallSettled(BANKRUPT, BTC_PERP, 3_500 * WAD, 0, 3_500 * WAD) in events
    state = diff.model.state
    assert not state.accounts[BANKRUPT].positions
    assert state.accounts[BANKRUPT].balance == 0
    assert (BANKRUPT, BTC_PERP) not in state.adl_proposals
    assert late_before - diff.model.liquidation_health(LATE_SHORT).equity == 3_500 * WAD
    assert state.uncovered_loss == 0


def test_an_empty_proposal_is_challenged_once_someone_is_in_profit(diff_adl: Differential) -> None:
    """Before the deadline the price falls to 44,000: LATE_SHORT is in profit now and ADL applies
    again: any list naming it outranks the empty one, and the bankrupt close is off."""
    diff = diff_adl
    stuck_long(diff)
    diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, ()))
    deadline = diff.model.state.now_s + WINDOW
    diff.apply_all(prices(diff, 44_000, 3_000))
    assert diff.model.state.now_s < deadline
    assert adl_counterparties(diff.model, BANKRUPT, BTC_PERP) == (LATE_SHORT,)
    events = diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, (LATE_SHORT,)))
    assert events == [ev.AdlProposed(BANKRUPT, BTC_PERP, KEEPER, (LATE_SHORT,), deadline)]
    diff.apply(AdvanceTime(deadline - diff.model.state.now_s, 1))
    assert diff.apply(Liquidate(KEEPER, BANKRUPT, BTC_PERP, WAD)) == "liquidation: shortfall exceeds insurance fund"
    events = diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, (LATE_SHORT,)))
    assert isinstance(events, list)
    assert [e.counterparty for e in events if isinstance(e, ev.Deleveraged)] == [LATE_SHORT]


def test_the_bankrupt_close_is_due_until_the_last_second_of_the_execution_window(diff_adl: Differential) -> None:
    """The execution window is closed at both ends: at exactly deadline + adl_window_s the
    unchallenged empty proposal still lets ``liquidate`` close the account whole."""
    diff = diff_adl
    stuck_long(diff)
    diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, ()))
    deadline = diff.model.state.now_s + WINDOW
    diff.apply(AdvanceTime(deadline + WINDOW - diff.now, 1))
    assert diff.now == deadline + WINDOW
    events = diff.apply(Liquidate(KEEPER, BANKRUPT, BTC_PERP, WAD))
    assert isinstance(events, list)
    assert ev.Liquidated(BANKRUPT, KEEPER, BTC_PERP, WAD, 50_000 * WAD, 0, 0) in events


def test_a_proposed_list_executes_until_the_last_second_of_the_execution_window(diff_adl: Differential) -> None:
    """The queue's execution phase is closed at its end too: at exactly deadline + adl_window_s
    the proposed list (LATE_SHORT, in profit once BTC is at 44,000) is executed, not re-proposed."""
    diff = diff_adl
    stuck_long(diff)
    diff.apply_all(prices(diff, 44_000, 3_000))
    proposed = diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, (LATE_SHORT,)))
    deadline = diff.model.state.now_s + WINDOW
    assert proposed == [ev.AdlProposed(BANKRUPT, BTC_PERP, KEEPER, (LATE_SHORT,), deadline)]
    diff.apply(AdvanceTime(deadline + WINDOW - diff.now, 1))
    assert diff.now == deadline + WINDOW
    events = diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, (LATE_SHORT,)))
    assert isinstance(events, list)
    assert [(e.counterparty, e.size_wad) for e in events if isinstance(e, ev.Deleveraged)] == [(LATE_SHORT, WAD)]
    assert diff.model.state.adl_proposals == {}
