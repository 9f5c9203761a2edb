# pragma version ~=0.4.3
"""
@title Rebasing ERC20 test token
@notice Test-only: holders own shares and a balance is shares * index / 1e18, so a rebase moves
        every balance at once without a transfer (like stETH or AMPL). A vault's holdings then
        drift from its books; a negative rebase leaves them short (F-06). Not for production.
@dev Built on snekmate's ERC-20, whose balances hold the shares; transfers move the shares
     worth the amount (rounded down). The deployer mints and rebases.
"""

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

exports: (
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.allowance,
    erc20.approve,
)

_ONE: constant(uint256) = 10**18
# token units per share, scaled by 1e18
index: public(uint256)


@deploy
def __init__(decimals_: uint8):
    """
    @notice Create the token with no supply and an index of one.
    @param decimals_ Decimals of one whole token.
    """
    ownable.__init__()
    erc20.__init__("Rebasing (test)", "REB", decimals_, "Rebasing (test)", "1")
    self.index = _ONE


@external
@view
def balanceOf(owner: address) -> uint256:
    """
    @notice Token units of `owner`: its shares at the current index (rounded down).
    @param owner Holder.
    @return Balance in token units.
    """
    return erc20.balanceOf[owner] * self.index // _ONE


@external
@view
def totalSupply() -> uint256:
    """
    @notice Token units in existence at the current index (rounded down).
    @return Supply in token units.
    """
    return erc20.totalSupply * self.index // _ONE


@external
def mint(owner: address, amount: uint256):
    """
    @notice Create the shares worth `amount` for `owner` (the deployer only).
    @param owner Receiver.
    @param amount Amount in token units.
    """
    ownable._check_owner()
    erc20._mint(owner, amount * _ONE // self.index)


@external
def rebase(index: uint256):
    """
    @notice Set the index: every balance scales by index / old index (the deployer only).
    @param index New token units per share, scaled by 1e18 (> 0).
    """
    ownable._check_owner()
    assert index != 0, "erc20: zero index"
    self.index = index


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Send the shares worth `amount` from the caller to `to`.
    @param to Receiver.
    @param amount Amount in token units.
    @return Always True (failures revert).
    """
    erc20._transfer(msg.sender, to, amount * _ONE // self.index)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Send the shares worth `amount` from `owner` on the caller's allowance.
    @param owner Debited holder.
    @param to Receiver.
    @param amount Amount in token units.
    @return Always True (failures revert).
    """
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount * _ONE // self.index)
    return True
