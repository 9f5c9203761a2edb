# ruff: noqa: F811  (fixtures imported from the harness)
"""F-04 (medium): ``auto_deleverage`` checked only the order of the caller's list.

Before the fix one call closed a bankrupt position against whatever list its caller passed, as
long as the list itself was ranked: the top-ranked counterparty (the most profitable and most
leveraged opposite position, which ADL must close first) could call it with a list that left
itself out, so a lower-ranked account was closed at the bankruptcy price and paid the shortfall
instead. The fix (``docs/SPEC.md`` §8, the ADL proposal queue): a call only *proposes* the list,
with a deadline ``adl_window_s`` ahead; until then anyone may replace it by a list that scores at
least as high position by position and strictly higher somewhere; only the list standing at the
deadline executes, in the window after it. A skipped counterparty is the one who gains by
challenging. Model and contracts (titanoboa) side by side.
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
    deployment_adl,
    diff_adl,
    prices,
)

from protocol import events as ev
from protocol.actions import AdvanceTime, AutoDeleverage, Deposit, Liquidate
from protocol.adl_queue import phase
from protocol.constants import WAD
from protocol.keeper import adl_counterparties
from protocol.scenarios import ACTORS, BTC_PERP, default_params

WINDOW = default_params().protocol.adl_window_s
#: The bankrupt account.
BANKRUPT = ACTORS["trader_collateral"]
NOT_HIGHER, NOT_PROPOSED = "socialized_loss: challenge not higher", "socialized_loss: not the proposed list"


def bankrupt_long(diff: Differential) -> None:
    """BANKRUPT long 1 BTC at 60,000 on 6,500 USDC, bought from the victim (short 1 on 100,000
    USDC); the attacker is short 1 BTC on 20,000 USDC (sold to the maker). BTC falls to 50,000:
    BANKRUPT's equity is -3,500 with an empty insurance fund, both shorts are 10,000 in profit
    and the attacker, far more leveraged, ranks first."""
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(KEEPER, 0, 200_000 * USDC),
            Deposit(BANKRUPT, 0, 6_500 * USDC),
            Deposit(VICTIM, 0, 100_000 * USDC),
            Deposit(ATTACKER, 0, 20_000 * USDC),
            diff.signer.fill(MATCHER, VICTIM, BANKRUPT, BTC_PERP, WAD, 60_000 * WAD),
            diff.signer.fill(MATCHER, MAKER, ATTACKER, BTC_PERP, -WAD, 60_000 * WAD),
        ]
    )
    diff.apply_all(prices(diff, 50_000, 3_000))
    assert diff.model.liquidation_health(BANKRUPT).equity == -3_500 * WAD
    assert diff.model.state.insurance_fund == 0
    assert adl_counterparties(diff.model, BANKRUPT, BTC_PERP) == (ATTACKER, VICTIM)
    assert diff.apply(Liquidate(KEEPER, BANKRUPT, BTC_PERP, WAD)) == "liquidation: shortfall exceeds insurance fund"


def test_a_list_skipping_the_top_ranked_only_proposes(diff_adl: Differential) -> None:
    """The attacker's call with the victim alone (the pre-fix attack: the victim closed at once)
    stores a proposal and closes nothing; executing it before the deadline is refused."""
    diff = diff_adl
    bankrupt_long(diff)
    victim_before = diff.model.settled_account(VICTIM)
    events = diff.apply(AutoDeleverage(ATTACKER, BANKRUPT, BTC_PERP, (VICTIM,)))
    deadline = diff.model.state.now_s + WINDOW
    assert events == [ev.AdlProposed(BANKRUPT, BTC_PERP, ATTACKER, (VICTIM,), deadline)]
    assert diff.model.settled_account(VICTIM) == victim_before  # before the fix: closed, paying the 3,500
    assert phase(diff.model.state, diff.params, BANKRUPT, BTC_PERP) == "challenge"
    # the same list again is no challenge, and nothing executes before the deadline
    assert diff.apply(AutoDeleverage(ATTACKER, BANKRUPT, BTC_PERP, (VICTIM,))) == NOT_HIGHER


def test_the_skipped_counterparty_challenges_and_the_top_ranked_is_deleveraged(diff_adl: Differential) -> None:
    """The victim replaces the attacker's list by the correct ranking; the attacker cannot push
    its own list back, nor execute another list at the deadline; the execution closes the
    attacker, whose profit pays the shortfall, and leaves the victim's position untouched."""
    diff = diff_adl
    bankrupt_long(diff)
    diff.apply(AutoDeleverage(ATTACKER, BANKRUPT, BTC_PERP, (VICTIM,)))
    deadline = diff.model.state.now_s + WINDOW
    diff.apply(AdvanceTime(WINDOW // 2, 1))
    events = diff.apply(AutoDeleverage(VICTIM, BANKRUPT, BTC_PERP, (ATTACKER,)))
    assert events == [ev.AdlProposed(BANKRUPT, BTC_PERP, VICTIM, (ATTACKER,), deadline)]  # the deadline stays
    # a list that scores lower at one place (the attacker's again) cannot replace it
    assert diff.apply(AutoDeleverage(ATTACKER, BANKRUPT, BTC_PERP, (VICTIM,))) == NOT_HIGHER
    assert (
        diff.apply(AutoDeleverage(ATTACKER, BANKRUPT, BTC_PERP, (VICTIM, ATTACKER)))
        == "socialized_loss: ranking violated"
    )
    diff.apply(AdvanceTime(WINDOW - WINDOW // 2, 1))
    assert phase(diff.model.state, diff.params, BANKRUPT, BTC_PERP) == "execute"
    assert diff.apply(AutoDeleverage(ATTACKER, BANKRUPT, BTC_PERP, (VICTIM,))) == NOT_PROPOSED
    attacker_equity = diff.model.liquidation_health(ATTACKER).equity
    victim_before = diff.model.settled_account(VICTIM)
    events = diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, (ATTACKER,)))
    assert isinstance(events, list)
    closed = [e for e in events if isinstance(e, ev.Deleveraged)]
    assert [(e.counterparty, e.size_wad) for e in closed] == [(ATTACKER, WAD)]
    state = diff.model.state
    assert BTC_PERP not in state.accounts[ATTACKER].positions
    assert BTC_PERP not in state.accounts[BANKRUPT].positions
    assert state.accounts[VICTIM].positions == victim_before.positions
    # the attacker's closed profit covered the shortfall: its equity fell by exactly 3,500
    assert attacker_equity - diff.model.liquidation_health(ATTACKER).equity == 3_500 * WAD
    assert (BANKRUPT, BTC_PERP) not in state.adl_proposals


def test_an_unchallenged_proposal_expires_after_its_execution_window(diff_adl: Differential) -> None:
    """A stale list cannot be executed long after the prices it was ranked at: past
    ``deadline + adl_window_s`` the next call is a fresh proposal."""
    diff = diff_adl
    bankrupt_long(diff)
    diff.apply(AutoDeleverage(ATTACKER, BANKRUPT, BTC_PERP, (VICTIM,)))
    diff.apply(AdvanceTime(2 * WINDOW + 1, 1))
    assert phase(diff.model.state, diff.params, BANKRUPT, BTC_PERP) == "propose"
    events = diff.apply(AutoDeleverage(KEEPER, BANKRUPT, BTC_PERP, (ATTACKER, VICTIM)))
    assert events == [ev.AdlProposed(BANKRUPT, BTC_PERP, KEEPER, (ATTACKER, VICTIM), diff.model.state.now_s + WINDOW)]
