# pragma version ~=0.4.3
"""
@title vault
@notice Deposits and withdrawals of the settlement token and collateral, fee withdrawals, and
        the token custody of the protocol (mirrors protocol/vault.py).
@dev Token units are converted to WAD once (exact). ERC20 calls go through `_safe_call`, which
     accepts tokens that return nothing and rejects a `false` return or a call to an address
     without code. State is updated before tokens move (checks-effects-interactions); the core
     contract's entry points are also `@nonreentrant`. Incoming transfers are measured: the
     vault's balance must grow by exactly the amount credited (a fee-on-transfer token is
     refused) and cover its books afterwards (a token rebased below them is refused).
"""

from ethereum.ercs import IERC20

from . import constants as c
from . import units
from . import events
from . import state
from . import funding
from . import clearing
from . import loss_allocation

uses: state
uses: funding
uses: clearing
uses: loss_allocation


@internal
@view
def asset_decimals(asset_id: uint256) -> uint256:
    """
    @notice Token decimals of a listed asset, or revert "vault: unknown asset".
    @param asset_id 0 for the settlement token, else a collateral asset id.
    @return Decimals.
    """
    if asset_id == c.SETTLEMENT_ASSET_ID:
        return state.protocol_params.settlement_decimals
    assert state.collateral_params[asset_id].listed, "vault: unknown asset"
    return state.collateral_params[asset_id].decimals


@internal
@view
def asset_token(asset_id: uint256) -> address:
    """
    @notice ERC20 address of a listed asset.
    @param asset_id Asset id (0 = settlement token).
    @return The token address.
    """
    if asset_id == c.SETTLEMENT_ASSET_ID:
        return state.settlement_token
    return state.collateral_params[asset_id].token


@internal
def _safe_call(token: address, data: Bytes[100]):
    """
    @notice Call an ERC20 transfer function; accept no return data or `true`.
    @param token Token address.
    @param data ABI-encoded call.
    """
    assert token.is_contract, "vault: token has no code"
    ok: bool = False
    ret: Bytes[32] = b""
    ok, ret = raw_call(token, data, max_outsize=32, revert_on_failure=False)
    assert ok, "vault: transfer failed"
    if len(ret) != 0:
        assert convert(ret, bool), "vault: transfer failed"


@internal
def pull_tokens(asset_id: uint256, payer: address, amount: uint256):
    """
    @notice Move `amount` token units of an asset from `payer` into the vault, already booked
            in `vault_tokens`: exactly `amount` must arrive and the holdings must cover the books.
    @param asset_id Asset id.
    @param payer Token owner (must have approved the vault).
    @param amount Token units.
    """
    token: address = self.asset_token(asset_id)
    assert token.is_contract, "vault: token has no code"
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    self._safe_call(token, abi_encode(payer, self, amount, method_id=method_id("transferFrom(address,address,uint256)")))
    after: uint256 = staticcall IERC20(token).balanceOf(self)
    assert after == before + amount, "vault: received amount differs"
    assert after >= state.vault_tokens[asset_id], "vault: holdings below books"


@internal
def push_tokens(asset_id: uint256, to: address, amount: uint256):
    """
    @notice Pay `amount` token units of an asset out of the vault to `to`.
    @param asset_id Asset id.
    @param to Recipient.
    @param amount Token units.
    """
    self._safe_call(self.asset_token(asset_id), abi_encode(to, amount, method_id=method_id("transfer(address,uint256)")))


@internal
def deposit(account: address, asset_id: uint256, amount: uint256):
    """
    @notice Credit `amount` token units of an asset to `account` (collateral within the global
            and the per-account cap); exactly `amount` must arrive.
    @param account Depositor (the caller; pays the tokens).
    @param asset_id Asset id.
    @param amount Token units (> 0).
    """
    assert not state.paused, "vault: paused"
    decimals: uint256 = self.asset_decimals(asset_id)
    assert amount != 0, "vault: zero amount"
    held: uint256 = state.vault_tokens[asset_id]
    amount_wad: uint256 = units.to_wad(amount, decimals)
    if asset_id != c.SETTLEMENT_ASSET_ID:
        assert held + amount <= state.collateral_params[asset_id].deposit_cap, "vault: deposit cap"
        holding: uint256 = state.collateral[account][asset_id] + amount_wad
        cap_wad: uint256 = units.to_wad(state.collateral_params[asset_id].account_deposit_cap, decimals)
        assert holding <= cap_wad, "vault: account deposit cap"
    state.vault_tokens[asset_id] = held + amount
    if asset_id == c.SETTLEMENT_ASSET_ID:
        state.balances[account] += units.to_int(amount_wad)
    else:
        state.collateral[account][asset_id] += amount_wad
    log events.Deposited(account=account, asset_id=asset_id, amount=amount, amount_wad=amount_wad)
    self.pull_tokens(asset_id, account, amount)


@internal
def withdraw(account: address, asset_id: uint256, amount: uint256):
    """
    @notice Pay `amount` token units out; the balance cannot go below zero and an account with
            positions or a negative balance must meet initial margin afterwards; with the
            profit_haircut method a haircut on realized profit is debited beside it.
    @param account Owner (the caller; receives the tokens).
    @param asset_id Asset id.
    @param amount Token units (> 0).
    """
    assert not state.paused, "vault: paused"
    decimals: uint256 = self.asset_decimals(asset_id)
    assert amount != 0, "vault: zero amount"
    funding.settle_account(account)
    amount_wad: uint256 = units.to_wad(amount, decimals)
    if asset_id == c.SETTLEMENT_ASSET_ID:
        # profit_haircut: a haircut on realized profit is debited beside the amount
        debit: int256 = units.to_int(amount_wad + loss_allocation.profit_haircut(account, amount_wad))
        assert state.balances[account] >= debit, "vault: insufficient balance"
        state.balances[account] -= debit
    else:
        held: uint256 = state.collateral[account][asset_id]
        assert held >= amount_wad, "vault: insufficient balance"
        state.collateral[account][asset_id] = held - amount_wad
    assert state.vault_tokens[asset_id] >= amount, "vault: insufficient tokens"
    state.vault_tokens[asset_id] -= amount
    if state.position_mask[account] != 0 or state.balances[account] < 0:
        clearing.require_initial(account, "vault: price not trusted")
    log events.Withdrawn(account=account, asset_id=asset_id, amount=amount, amount_wad=amount_wad)
    self.push_tokens(asset_id, account, amount)


@internal
def withdraw_fees(sender: address, to: address, amount: uint256):
    """
    @notice Governance pays `amount` settlement-token units out of the fee pool to `to` (not
            while paused).
    @param sender Caller (must be governance).
    @param to Recipient.
    @param amount Token units.
    """
    assert sender == state.governance, "vault: caller is not governance"
    assert not state.paused, "vault: paused"
    amount_wad: uint256 = units.to_wad(amount, state.protocol_params.settlement_decimals)
    assert state.fee_pool >= amount_wad, "vault: insufficient fees"
    state.fee_pool -= amount_wad
    assert state.vault_tokens[c.SETTLEMENT_ASSET_ID] >= amount, "vault: insufficient tokens"
    state.vault_tokens[c.SETTLEMENT_ASSET_ID] -= amount
    log events.FeesWithdrawn(to=to, amount=amount, amount_wad=amount_wad)
    self.push_tokens(c.SETTLEMENT_ASSET_ID, to, amount)
