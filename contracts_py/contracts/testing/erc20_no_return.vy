# pragma version ~=0.4.3
"""
@title ERC20 test token whose transfers return nothing (USDT-style)
@notice Test-only token like USDT on mainnet: `transfer` and `transferFrom` return no value, so a
        caller that expects a bool must use raw_call with a default return value. Configurable
        decimals, open minting. Amounts are in token units. Not for production.
@dev Revert strings carry the module prefix "erc20_no_return:".
"""


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


name: public(String[32])
symbol: public(String[32])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])


@deploy
def __init__(_name: String[32], _symbol: String[32], _decimals: uint8):
    """
    @notice Create the token with no supply.
    @param _name Token name.
    @param _symbol Token symbol.
    @param _decimals Decimals of one whole token (0..18).
    """
    assert _decimals <= 18, "erc20_no_return: decimals above 18"
    self.name = _name
    self.symbol = _symbol
    self.decimals = _decimals


@internal
def _transfer(_from: address, _to: address, _value: uint256):
    """
    @notice Move `_value` token units from `_from` to `_to`.
    @param _from Debited holder.
    @param _to Credited holder (not the zero address).
    @param _value Amount in token units.
    """
    assert _to != empty(address), "erc20_no_return: transfer to zero address"
    balance: uint256 = self.balanceOf[_from]
    assert balance >= _value, "erc20_no_return: insufficient balance"
    self.balanceOf[_from] = balance - _value
    self.balanceOf[_to] += _value
    log Transfer(sender=_from, receiver=_to, value=_value)


@external
def transfer(_to: address, _value: uint256):
    """
    @notice Send `_value` token units from the caller to `_to`.
    @param _to Receiver.
    @param _value Amount in token units.
    """
    self._transfer(msg.sender, _to, _value)


@external
def transferFrom(_from: address, _to: address, _value: uint256):
    """
    @notice Send `_value` token units from `_from` to `_to` using the caller's allowance.
    @dev An allowance of max(uint256) is never decreased.
    @param _from Debited holder.
    @param _to Receiver.
    @param _value Amount in token units.
    """
    allowed: uint256 = self.allowance[_from][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= _value, "erc20_no_return: insufficient allowance"
        self.allowance[_from][msg.sender] = allowed - _value
    self._transfer(_from, _to, _value)


@external
def approve(_spender: address, _value: uint256) -> bool:
    """
    @notice Let `_spender` move up to `_value` of the caller's token units.
    @param _spender Approved spender.
    @param _value Allowance in token units (replaces the previous one).
    @return Always True.
    """
    self.allowance[msg.sender][_spender] = _value
    log Approval(owner=msg.sender, spender=_spender, value=_value)
    return True


@external
def mint(_to: address, _value: uint256):
    """
    @notice Create `_value` token units for `_to` (anyone may mint: test token).
    @param _to Receiver (not the zero address).
    @param _value Amount in token units.
    """
    assert _to != empty(address), "erc20_no_return: mint to zero address"
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(sender=empty(address), receiver=_to, value=_value)


@external
def burn(_from: address, _value: uint256):
    """
    @notice Destroy `_value` token units of `_from` (anyone may burn: test token).
    @param _from Debited holder.
    @param _value Amount in token units.
    """
    balance: uint256 = self.balanceOf[_from]
    assert balance >= _value, "erc20_no_return: insufficient balance"
    self.balanceOf[_from] = balance - _value
    self.totalSupply -= _value
    log Transfer(sender=_from, receiver=empty(address), value=_value)
