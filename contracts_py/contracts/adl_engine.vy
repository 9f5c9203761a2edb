# pragma version ~=0.4.3
"""
@title adl_engine
@notice Auto-deleveraging through the ADL proposal queue (adl_queue.vy), run by the
        clearing_house through DELEGATECALL on its storage (see clearing_house.vy's header).
@dev Initializes `state` first, exactly as clearing_house does, and declares no storage of
     its own: the two storage layouts are identical. Refuses direct calls. After each action the
     bad debt of every account it traded for is settled (protocol/clearing_house.py `_at_risk`).
"""

from . import constants as c
from . import state
from . import margin
from . import oracle_adapter
from . import insurance_fund
from . import funding
from . import clearing
from . import loss_allocation
from . import socialized_loss
from . import adl_queue

initializes: state
initializes: margin[state := state]
initializes: oracle_adapter[state := state]
initializes: insurance_fund[state := state]
initializes: funding[state := state]
initializes: clearing[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund, funding := funding]
initializes: loss_allocation[state := state]
initializes: socialized_loss[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund, funding := funding, clearing := clearing, loss_allocation := loss_allocation]
initializes: adl_queue[state := state, socialized_loss := socialized_loss]

# this contract's own address: code runs only when it differs (i.e. under DELEGATECALL)
_SELF: immutable(address)


@deploy
def __init__():
    """
    @notice Deploy the engine (stateless on its own address).
    """
    _SELF = self


@internal
@view
def _delegated():
    assert self != _SELF, "socialized_loss: delegatecall only"


@external
def auto_deleverage(account: address, market_id: uint256, counterparties: DynArray[address, c.MAX_ADL_COUNTERPARTIES]):
    """
    @notice AutoDeleverage action (delegatecall; msg.sender is the keeper): propose, challenge
            or execute the counterparty list of a bankrupt position.
    @param account The bankrupt account.
    @param market_id Market id.
    @param counterparties Ranked opposite accounts in profit (may be empty).
    """
    self._delegated()
    adl_queue.auto_deleverage(msg.sender, account, market_id, counterparties)
    socialized_loss.settle_bad_debt(account)
    for cp: address in counterparties:
        socialized_loss.settle_bad_debt(cp)
