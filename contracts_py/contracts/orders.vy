# pragma version ~=0.4.3
"""
@title orders
@notice Signed orders: every side of a fill carries its account's consent, an EIP-712 signed
        order (mirrors protocol/orders.py and protocol/clearing.py `take_order`).
@dev The order hash is the EIP-712 digest of the order in this deployment's domain
     (name "Novation", version "1", chain id, the clearing house's address): snekmate's
     eip712_domain_separator builds it (under DELEGATECALL `self` is the clearing house, so the
     domain names it) and snekmate's ecdsa recovers the signer (EIP-2 low `s` enforced). Filled
     sizes are kept per order hash, so an order fills partially up to its size; its account
     cancels the rest by setting the hash to CANCELLED.
"""

from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator as eip712

from . import constants as c
from . import events
from . import state
from . import units

uses: state
uses: eip712


struct Order:
    # the account that signs (and trades)
    account: address
    market_id: uint256
    # signed total it may fill: > 0 buys, < 0 sells (base units, WAD)
    size_wad: int256
    # worst price: a buy fills at or below it, a sell at or above it (WAD)
    limit_price_wad: uint256
    # largest fee rate it pays (WAD fraction of notional)
    max_fee_wad: uint256
    # last second it may fill
    expiry_s: uint256
    # tells otherwise equal orders apart
    nonce: uint256


ORDER_TYPEHASH: constant(bytes32) = keccak256(c.ORDER_TYPE)
# filled size recorded for a cancelled order
CANCELLED: constant(uint256) = max_value(uint256)


@internal
@view
def order_hash(order: Order) -> bytes32:
    """
    @notice The EIP-712 digest of `order` in this deployment's domain (what its account signs).
    @param order The order.
    @return The digest.
    """
    return eip712._hash_typed_data_v4(
        keccak256(
            abi_encode(
                ORDER_TYPEHASH,
                order.account,
                order.market_id,
                order.size_wad,
                order.limit_price_wad,
                order.max_fee_wad,
                order.expiry_s,
                order.nonce,
            )
        )
    )


@internal
def take_order(order: Order, signature: Bytes[65], delta: int256, price_wad: uint256, fee_wad: uint256):
    """
    @notice Check that `order` (signed by its account) consents to trading `delta` at
            `price_wad` with fee rate `fee_wad`, and count |delta| against it.
    @param order The signed order.
    @param signature Its signature r || s || v.
    @param delta Signed size this side trades (> 0 buys).
    @param price_wad Fill price (WAD).
    @param fee_wad Fee rate charged to this side (WAD).
    """
    digest: bytes32 = self.order_hash(order)
    assert ecdsa._recover_sig(digest, signature) == order.account, "clearing: order not signed by its account"
    assert block.timestamp <= order.expiry_s, "clearing: order expired"
    filled: uint256 = state.order_filled[digest]
    assert filled != CANCELLED, "clearing: order cancelled"
    assert (order.size_wad > 0) == (delta > 0), "clearing: order side"
    if delta > 0:
        assert price_wad <= order.limit_price_wad, "clearing: price beyond order limit"
    else:
        assert price_wad >= order.limit_price_wad, "clearing: price beyond order limit"
    assert fee_wad <= order.max_fee_wad, "clearing: fee above order maximum"
    filled += units.abs_u(delta)
    assert filled <= units.abs_u(order.size_wad), "clearing: order overfilled"
    state.order_filled[digest] = filled
    log events.OrderFilled(order_hash=digest, account=order.account, filled_wad=filled)


@internal
def cancel_order(sender: address, order: Order):
    """
    @notice The order's account cancels the rest of it.
    @param sender The caller (must be the order's account).
    @param order The order.
    """
    assert sender == order.account, "clearing: caller is not the order's account"
    digest: bytes32 = self.order_hash(order)
    state.order_filled[digest] = CANCELLED
    log events.OrderCancelled(order_hash=digest, account=order.account)
