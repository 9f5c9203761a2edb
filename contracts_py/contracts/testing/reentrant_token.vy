# pragma version ~=0.4.3
"""
@title Malicious ERC20 that re-enters a target during transfers
@notice Test-only token for reentrancy tests. When armed, `transfer` and `transferFrom` first
        call a configured target with configured calldata (for example the vault's `withdraw`),
        then move the balances. The attack fires once per arming. Amounts in token units.
@dev If `bubble` is set a failed re-entrant call reverts the whole transfer with the target's
     revert data (so the guard's reason reaches the caller); otherwise the outcome is recorded
     in `last_success` / `last_output` and the transfer goes on. Prefix "reentrant_token:".
"""

from ethereum.ercs import IERC20

implements: IERC20

MAX_CALLDATA: constant(uint256) = 1024
MAX_OUTPUT: constant(uint256) = 1024


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


event ReentryAttempted:
    target: indexed(address)
    success: bool


decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])

target: public(address)
calldata: public(Bytes[MAX_CALLDATA])
armed: public(bool)
bubble: public(bool)
last_success: public(bool)
last_output: public(Bytes[MAX_OUTPUT])


@deploy
def __init__(_decimals: uint8):
    """
    @notice Create the token with no supply, disarmed.
    @param _decimals Token decimals (0..18).
    """
    assert _decimals <= 18, "reentrant_token: decimals above 18"
    self.decimals = _decimals


@external
def arm(_target: address, _calldata: Bytes[MAX_CALLDATA], _bubble: bool):
    """
    @notice Re-enter `_target` with `_calldata` on the next transfer.
    @param _target Contract to call back (usually the protocol vault).
    @param _calldata ABI-encoded call, selector included.
    @param _bubble True: a failed re-entry reverts the transfer with the target's revert data.
    """
    assert _target != empty(address), "reentrant_token: zero target"
    self.target = _target
    self.calldata = _calldata
    self.bubble = _bubble
    self.armed = True


@internal
def _attack():
    """
    @notice Fire the armed re-entrant call once, then disarm.
    """
    if not self.armed:
        return
    self.armed = False
    success: bool = False
    response: Bytes[MAX_OUTPUT] = b""
    success, response = raw_call(self.target, self.calldata, max_outsize=MAX_OUTPUT, revert_on_failure=False)
    self.last_success = success
    self.last_output = response
    log ReentryAttempted(target=self.target, success=success)
    if not success and self.bubble:
        raw_revert(response)


@internal
def _transfer(_from: address, _to: address, _value: uint256):
    """
    @notice Move `_value` token units from `_from` to `_to`.
    @param _from Debited holder.
    @param _to Receiver.
    @param _value Amount in token units.
    """
    balance: uint256 = self.balanceOf[_from]
    assert balance >= _value, "reentrant_token: insufficient balance"
    self.balanceOf[_from] = balance - _value
    self.balanceOf[_to] += _value
    log Transfer(sender=_from, receiver=_to, value=_value)


@external
def transfer(_to: address, _value: uint256) -> bool:
    """
    @notice Re-enter the target if armed, then send `_value` from the caller to `_to`.
    @param _to Receiver.
    @param _value Amount in token units.
    @return Always True (failures revert).
    """
    self._attack()
    self._transfer(msg.sender, _to, _value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    """
    @notice Re-enter the target if armed, then send `_value` from `_from` using the allowance.
    @param _from Debited holder.
    @param _to Receiver.
    @param _value Amount in token units.
    @return Always True (failures revert).
    """
    allowed: uint256 = self.allowance[_from][msg.sender]
    assert allowed >= _value, "reentrant_token: insufficient allowance"
    self.allowance[_from][msg.sender] = allowed - _value
    self._attack()
    self._transfer(_from, _to, _value)
    return True


@external
def approve(_spender: address, _value: uint256) -> bool:
    """
    @notice Let `_spender` move up to `_value` of the caller's token units.
    @param _spender Approved spender.
    @param _value Allowance in token units.
    @return Always True.
    """
    self.allowance[msg.sender][_spender] = _value
    log Approval(owner=msg.sender, spender=_spender, value=_value)
    return True


@external
def mint(_to: address, _value: uint256):
    """
    @notice Create `_value` token units for `_to` (anyone may mint: test token).
    @param _to Receiver.
    @param _value Amount in token units.
    """
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(sender=empty(address), receiver=_to, value=_value)
