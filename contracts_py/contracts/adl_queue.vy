# pragma version ~=0.4.3
"""
@title adl_queue
@notice The ADL proposal queue (F-04, F-10; mirrors protocol/adl_queue.py): a keeper proposes the
        counterparties of a bankrupt position, anyone may challenge with a higher-ranked list
        until the deadline, then the stored list executes.
@dev Phases per (account, market), with w = adl_window_s and d the stored deadline:
     propose (none, or now > d + w): store the validated list (may be empty), d = now + w;
     challenge (now < d): a valid list whose scores at current prices are >= the stored list's
     position by position (a lost or missing entry scores 0) and > somewhere replaces it, d kept;
     execute (d <= now <= d + w): the stored list, passed again, deleverages at most
     ceil(|size| * adl_close_fraction) of the position (partial ADL) and is removed; an
     empty one lets `liquidate` close the account bankrupt (liquidation.bankrupt_close_due).
"""

from . import constants as c
from . import events
from . import state
from . import units
from . import socialized_loss

uses: state
uses: socialized_loss


@internal
@view
def phase(account: address, market_id: uint256) -> uint256:
    """
    @notice The queue's phase for the account's position in `market_id`.
    @param account The bankrupt account.
    @param market_id Market id.
    @return 0 propose, 1 challenge, 2 execute.
    """
    d: uint256 = state.adl_proposals[account][market_id].deadline_s
    if d == 0 or block.timestamp > d + state.protocol_params.adl_window_s:
        return 0
    if block.timestamp < d:
        return 1
    return 2


@internal
@pure
def _dominates(new: DynArray[uint256, c.MAX_ADL_COUNTERPARTIES], old: DynArray[uint256, c.MAX_ADL_COUNTERPARTIES]) -> bool:
    """
    @notice `new` at least `old` position by position and above it somewhere (missing = 0).
    @param new Scores of the challenging list.
    @param old Scores of the stored list at current prices.
    @return Whether `new` dominates.
    """
    higher: bool = False
    for i: uint256 in range(c.MAX_ADL_COUNTERPARTIES):
        if i >= len(new) and i >= len(old):
            break
        x: uint256 = 0
        y: uint256 = 0
        if i < len(new):
            x = new[i]
        if i < len(old):
            y = old[i]
        if x < y:
            return False
        if x > y:
            higher = True
    return higher


@internal
def auto_deleverage(keeper: address, account: address, market_id: uint256, counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES]):
    """
    @notice Propose, challenge or execute the counterparty list of a bankrupt position.
    @param keeper The caller.
    @param account The bankrupt account.
    @param market_id Market id.
    @param counterparties Opposite positions in profit, ranked non-increasing (may be empty).
    """
    b: socialized_loss.Bankrupt = socialized_loss.bankrupt_position(account, market_id, counterparties)
    current: uint256 = self.phase(account, market_id)
    if current == 2:
        stored: DynArray[address, c.MAX_ADL_COUNTERPARTIES] = state.adl_proposals[account][market_id].counterparties
        assert keccak256(abi_encode(counterparties)) == keccak256(abi_encode(stored)), "socialized_loss: not the proposed list"
        assert len(counterparties) != 0, "socialized_loss: no counterparties"
        state.adl_proposals[account][market_id] = empty(state.AdlProposal)
        # partial ADL: at most ceil(|size| * adl_close_fraction) per execution
        limit: uint256 = units.mul_div(units.abs_u(b.size), state.protocol_params.adl_close_fraction_wad, c.WAD, units.UP)
        socialized_loss.deleverage(account, market_id, b, counterparties, limit)
        return
    scores: DynArray[uint256, c.MAX_ADL_COUNTERPARTIES] = socialized_loss.ranked_scores(market_id, b, counterparties)
    deadline: uint256 = block.timestamp + state.protocol_params.adl_window_s
    if current == 1:
        old: DynArray[uint256, c.MAX_ADL_COUNTERPARTIES] = []
        for cp: address in state.adl_proposals[account][market_id].counterparties:
            old.append(socialized_loss.counterparty_score(cp, market_id, units.sign(b.size), b.price))
        assert self._dominates(scores, old), "socialized_loss: challenge not higher"
        deadline = state.adl_proposals[account][market_id].deadline_s
    state.adl_proposals[account][market_id] = state.AdlProposal(counterparties=counterparties, deadline_s=deadline)
    log events.AdlProposed(account=account, market_id=market_id, proposer=keeper, counterparties=counterparties, deadline_s=deadline)
