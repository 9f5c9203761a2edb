# pragma version ~=0.4.3
"""
@title liquidation_engine
@notice Liquidation of positions and collateral, run by the
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
from . import liquidation
from . import loss_allocation
from . import socialized_loss

initializes: state
initializes: margin[state := state]
initializes: oracle_adapter[state := state]
initializes: insurance_fund[state := state]
initializes: funding[state := state]
initializes: clearing[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund, funding := funding]
initializes: liquidation[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund, funding := funding, clearing := clearing]
initializes: loss_allocation[state := state]
initializes: socialized_loss[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund, funding := funding, clearing := clearing, loss_allocation := loss_allocation]

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
    assert self != _SELF, "liquidation: delegatecall only"


@external
def liquidate(account: address, market_id: uint256, size_wad: uint256):
    """
    @notice Liquidate action (delegatecall from clearing_house; msg.sender is the keeper).
    @param account The account below maintenance.
    @param market_id Market id.
    @param size_wad Size (magnitude).
    """
    self._delegated()
    shortfall: uint256 = 0
    side: int256 = 0
    shortfall, side = liquidation.liquidate(msg.sender, account, market_id, size_wad)
    socialized_loss.settle_shortfall(account, market_id, side, shortfall)
    socialized_loss.settle_bad_debt(account)
    socialized_loss.settle_bad_debt(msg.sender)


@external
def liquidate_collateral(account: address, asset_id: uint256, amount: uint256):
    """
    @notice LiquidateCollateral action (delegatecall; msg.sender is the liquidator).
    @param account The account with a negative balance.
    @param asset_id Collateral asset id.
    @param amount Token units.
    """
    self._delegated()
    liquidation.liquidate_collateral(msg.sender, account, asset_id, amount)
    socialized_loss.settle_bad_debt(account)
    socialized_loss.settle_bad_debt(msg.sender)
