"""The ADL proposal queue (F-04, F-10): who is deleveraged is proposed, open to challenge, then executed.

Nothing on chain can rank every account, so a keeper proposes the counterparties of a bankrupt
position; the protocol cannot tell whether a higher-ranked account was left out. Instead of
trusting the first caller, ``AutoDeleverage`` runs in three phases per (account, market):

* **propose** (no proposal, or the last one expired): the keeper's list is validated (each entry
  opposite and in profit, ranked non-increasing by :func:`~protocol.socialized_loss.adl_score`)
  and stored with ``deadline_s = now + adl_window_s``. The list may be empty: nobody is in profit.
* **challenge** (``now < deadline_s``): anyone may replace the stored list by a valid list whose
  scores at current prices are at least as high position by position and strictly higher at one
  (a stored entry no longer opposite or in profit scores 0; a missing entry scores 0). The
  deadline does not move. A counterparty skipped by the proposer is the one who gains by
  challenging: its own, lower-ranked, position would otherwise be closed.
* **execute** (``deadline_s <= now <= deadline_s + adl_window_s``): the stored list, passed again,
  closes the position (:func:`~protocol.socialized_loss.deleverage`) and the proposal is removed.
  An empty stored list instead lets ``Liquidate`` close the account bankrupt (F-10): its shortfall
  is settled in the market by F-15's rule (insurance fund, then pro rata on the other side).
  After ``deadline_s + adl_window_s`` the proposal has expired and a new one may be made.
"""

from __future__ import annotations

from protocol.actions import AutoDeleverage
from protocol.context import Context, require
from protocol.events import AdlProposed
from protocol.params import Params
from protocol.socialized_loss import bankrupt_position, counterparty_score, deleverage, ranked_scores
from protocol.state import AdlProposal, ProtocolState

__all__ = ["PHASES", "auto_deleverage", "bankrupt_close_due", "dominates", "phase"]

#: The phases of a (bankrupt account, market) pair's proposal, in order.
PHASES = ("propose", "challenge", "execute")


def phase(state: ProtocolState, params: Params, account: str, market_id: int) -> str:
    """The queue's phase for ``account``'s position in ``market_id`` now (one of :data:`PHASES`)."""
    proposal = state.adl_proposals.get((account, market_id))
    if proposal is None or state.now_s > proposal.deadline_s + params.protocol.adl_window_s:
        return "propose"
    return "challenge" if state.now_s < proposal.deadline_s else "execute"


def bankrupt_close_due(ctx: Context, account: str, market_id: int) -> bool:
    """True when an empty proposal for ``account``'s position in ``market_id`` went unchallenged
    and is in its execution window: ``Liquidate`` may then close it bankrupt (F-10)."""
    proposal = ctx.state.adl_proposals.get((account, market_id))
    return (
        proposal is not None
        and not proposal.counterparties
        and phase(ctx.state, ctx.params, account, market_id) == "execute"
    )


def dominates(new: list[int], old: list[int]) -> bool:
    """``new`` at least ``old`` position by position and strictly above it somewhere (missing
    entries score 0)."""
    n = max(len(new), len(old))
    a, b = new + [0] * (n - len(new)), old + [0] * (n - len(old))
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def auto_deleverage(ctx: Context, action: AutoDeleverage) -> None:
    """Propose, challenge or execute the counterparty list of a bankrupt position (see the module)."""
    bankrupt = bankrupt_position(ctx, action)
    key = (action.account, action.market_id)
    cps = action.counterparties
    current = phase(ctx.state, ctx.params, action.account, action.market_id)
    if current == "execute":
        proposal = ctx.state.adl_proposals[key]
        require(cps == proposal.counterparties, "socialized_loss: not the proposed list")
        require(len(cps) != 0, "socialized_loss: no counterparties")
        del ctx.state.adl_proposals[key]
        deleverage(ctx, action.account, action.market_id, bankrupt, cps, abs(bankrupt.size))
        return
    scores = ranked_scores(ctx, action.market_id, bankrupt, cps)
    deadline = ctx.state.now_s + ctx.params.protocol.adl_window_s
    if current == "challenge":
        proposal = ctx.state.adl_proposals[key]
        side = 1 if bankrupt.size > 0 else -1
        stored = [counterparty_score(ctx, cp, action.market_id, side, bankrupt.price) for cp in proposal.counterparties]
        require(dominates(scores, stored), "socialized_loss: challenge not higher")
        deadline = proposal.deadline_s
    ctx.state.adl_proposals[key] = AdlProposal(cps, deadline)
    ctx.emit(AdlProposed(action.account, action.market_id, action.keeper, cps, deadline))
