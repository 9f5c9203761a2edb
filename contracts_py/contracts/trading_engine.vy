# pragma version ~=0.4.3
"""
@title trading_engine
@notice Fills of signed orders and order cancellation, run by the clearing_house through
        DELEGATECALL on its storage (see clearing_house.vy's header), beside the
        liquidation_engine.
@dev Initializes `state` first, exactly as clearing_house does, and declares no storage of
     its own: the storage layouts are identical. Refuses direct calls. Under DELEGATECALL
     `self` is the clearing house, so orders are signed for the clearing house's EIP-712 domain
     (snekmate's eip712_domain_separator rebuilds the separator for it). After a fill the bad
     debt of both accounts is settled (protocol/clearing_house.py `_at_risk`).
"""

from snekmate.utils import eip712_domain_separator as eip712

from . import constants as c
from . import state
from . import margin
from . import oracle_adapter
from . import insurance_fund
from . import funding
from . import clearing
from . import orders
from . import loss_allocation
from . import socialized_loss

initializes: state
initializes: margin[state := state]
initializes: oracle_adapter[state := state]
initializes: insurance_fund[state := state]
initializes: funding[state := state]
initializes: clearing[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund, funding := funding]
initializes: loss_allocation[state := state]
initializes: socialized_loss[state := state, margin := margin, oracle_adapter := oracle_adapter, insurance_fund := insurance_fund, funding := funding, clearing := clearing, loss_allocation := loss_allocation]
initializes: eip712
initializes: orders[state := state, eip712 := eip712]

# this contract's own address: code runs only when it differs (i.e. under DELEGATECALL)
_SELF: immutable(address)


@deploy
def __init__():
    """
    @notice Deploy the engine (stateless on its own address) with the EIP-712 domain's name
            and version.
    """
    _SELF = self
    eip712.__init__(c.ORDER_DOMAIN_NAME, c.ORDER_DOMAIN_VERSION)


@internal
@view
def _delegated():
    assert self != _SELF, "clearing: delegatecall only"


@external
def fill(
    maker_order: orders.Order,
    maker_signature: Bytes[65],
    taker_order: orders.Order,
    taker_signature: Bytes[65],
    size_wad: int256,
    price_wad: uint256,
    maker_fee_wad: uint256,
    taker_fee_wad: uint256,
):
    """
    @notice Fill action (delegatecall from clearing_house; msg.sender is the matcher).
    @param maker_order The maker's signed order.
    @param maker_signature Its signature.
    @param taker_order The taker's signed order.
    @param taker_signature Its signature.
    @param size_wad Signed size (WAD); the taker buys when positive.
    @param price_wad Fill price (WAD).
    @param maker_fee_wad Maker fee rate (WAD).
    @param taker_fee_wad Taker fee rate (WAD).
    """
    self._delegated()
    maker: address = maker_order.account
    taker: address = taker_order.account
    market_id: uint256 = taker_order.market_id
    clearing.check_fill(msg.sender, maker, taker, market_id, maker_order.market_id, maker_fee_wad, taker_fee_wad, size_wad)
    orders.take_order(maker_order, maker_signature, -size_wad, price_wad, maker_fee_wad)
    orders.take_order(taker_order, taker_signature, size_wad, price_wad, taker_fee_wad)
    clearing.novate(maker, taker, market_id, size_wad, price_wad, maker_fee_wad, taker_fee_wad)
    socialized_loss.settle_bad_debt(maker)
    socialized_loss.settle_bad_debt(taker)


@external
def cancel_order(order: orders.Order):
    """
    @notice CancelOrder action (delegatecall; msg.sender must be the order's account).
    @param order The order to cancel.
    """
    self._delegated()
    orders.cancel_order(msg.sender, order)
