# pragma version ~=0.4.3
"""
@title ERC20 test token whose refused transfers return false
@notice Test-only token like the early ERC20s that report a failed transfer by returning false
        instead of reverting: while `refusing` is set, `transfer` and `transferFrom` move nothing
        and return false; otherwise they move the balance (no allowance is kept) and return
        true. Open minting. Amounts are in token units. Not for production.
@dev Revert strings carry the module prefix "erc20_false_return:".
"""

decimals: public(uint8)
balanceOf: public(HashMap[address, uint256])
refusing: public(bool)


@deploy
def __init__(_decimals: uint8):
    """
    @notice Create the token with no supply.
    @param _decimals Decimals of one whole token (0..18).
    """
    self.decimals = _decimals


@external
def set_refusing(_refusing: bool):
    """
    @notice Refuse (True) or carry out (False) every transfer from now on.
    @param _refusing The switch.
    """
    self.refusing = _refusing


@external
def mint(_to: address, _value: uint256):
    """
    @notice Create `_value` token units for `_to` (anyone may mint: test token).
    @param _to Receiver.
    @param _value Amount in token units.
    """
    self.balanceOf[_to] += _value


@internal
def _move(_from: address, _to: address, _value: uint256) -> bool:
    """
    @notice Move `_value` token units from `_from` to `_to`, or nothing while refusing.
    @param _from Debited holder.
    @param _to Credited holder.
    @param _value Amount in token units.
    @return False while refusing, else True.
    """
    if self.refusing:
        return False
    assert self.balanceOf[_from] >= _value, "erc20_false_return: insufficient balance"
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    return True


@external
def transfer(_to: address, _value: uint256) -> bool:
    """
    @notice Send `_value` token units from the caller to `_to`.
    @param _to Receiver.
    @param _value Amount in token units.
    @return Whether the tokens moved.
    """
    return self._move(msg.sender, _to, _value)


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    """
    @notice Send `_value` token units from `_from` to `_to` (no allowance is checked).
    @param _from Debited holder.
    @param _to Receiver.
    @param _value Amount in token units.
    @return Whether the tokens moved.
    """
    return self._move(_from, _to, _value)
