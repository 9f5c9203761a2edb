# pragma version ~=0.4.3
"""
@title Fee-on-transfer ERC20 test token
@notice Test-only: every transfer burns `FEE_BPS` basis points of the amount, so the receiver
        gets less than was sent (like tokens with a transfer tax, or USDT with its fee switch
        on). The vault must credit what arrives or refuse the token (F-06). Not for production.
@dev Built on snekmate's ERC-20; only `transfer` and `transferFrom` differ. The deployer mints.
"""

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

exports: (
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.approve,
    erc20.mint,
)

# fee taken from every transfer, basis points of the amount (rounded down)
FEE_BPS: public(immutable(uint256))


@deploy
def __init__(decimals_: uint8, fee_bps: uint256):
    """
    @notice Create the token with no supply; the deployer may mint.
    @param decimals_ Decimals of one whole token.
    @param fee_bps Fee per transfer in basis points (< 10,000).
    """
    assert fee_bps < 10_000, "erc20: fee of 100 % or more"
    ownable.__init__()
    erc20.__init__("Fee-on-transfer (test)", "FOT", decimals_, "Fee-on-transfer (test)", "1")
    FEE_BPS = fee_bps


@internal
def _move(owner: address, to: address, amount: uint256):
    """
    @notice Burn the fee from `owner`, then move the rest of `amount` to `to`.
    @param owner Debited holder.
    @param to Receiver.
    @param amount Amount sent in token units (the receiver gets amount - fee).
    """
    fee: uint256 = amount * FEE_BPS // 10_000
    erc20._burn(owner, fee)
    erc20._transfer(owner, to, amount - fee)


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Send `amount` from the caller; `to` receives it less the fee.
    @param to Receiver.
    @param amount Amount in token units.
    @return Always True (failures revert).
    """
    self._move(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Send `amount` from `owner` on the caller's allowance; `to` receives it less the fee.
    @param owner Debited holder.
    @param to Receiver.
    @param amount Amount in token units.
    @return Always True (failures revert).
    """
    erc20._spend_allowance(owner, msg.sender, amount)
    self._move(owner, to, amount)
    return True
