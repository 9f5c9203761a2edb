"""Collateral vault: deposits and withdrawals of the settlement token and collateral assets.

Token amounts cross the boundary in token units and are converted once: up-scaling to WAD is
exact, so deposits and withdrawals move whole token units and the WAD dust below one unit stays
in the protocol. A withdrawal must leave equity at or above initial margin.

A deposit credits what arrives (F-06): the contracts measure their token balance around the
transfer and refuse a token that delivers anything but the amount (fee-on-transfer) or whose
holdings have fallen below the books (a negative rebase); the model's tokens are ideal, so
there the amount is what arrives. Collateral is capped in total and per account (F-19).
"""

from __future__ import annotations

from protocol.actions import Deposit, Withdraw, WithdrawFees
from protocol.clearing import require_initial
from protocol.constants import SETTLEMENT_ASSET_ID
from protocol.context import Context, require
from protocol.events import Deposited, FeesWithdrawn, Withdrawn
from protocol.funding import settle_account
from protocol.loss_allocation import profit_haircut
from protocol.units import to_wad

__all__ = ["asset_decimals", "deposit", "withdraw", "withdraw_fees"]


def asset_decimals(ctx: Context, asset_id: int) -> int:
    """Token decimals of a listed asset, or revert ``"vault: unknown asset"``."""
    if asset_id == SETTLEMENT_ASSET_ID:
        return ctx.params.protocol.settlement_decimals
    require(asset_id in {c.asset_id for c in ctx.params.collaterals}, "vault: unknown asset")
    return ctx.params.collateral(asset_id).decimals


def deposit(ctx: Context, action: Deposit) -> None:
    """Credit ``amount`` token units of an asset to the account (collateral within the global
    and the per-account cap)."""
    ctx.require_not_paused("vault")
    decimals = asset_decimals(ctx, action.asset_id)
    held = ctx.state.vault_tokens.get(action.asset_id, 0)
    amount_wad = to_wad(action.amount, decimals)
    acct = ctx.state.account(action.account)
    if action.asset_id != SETTLEMENT_ASSET_ID:
        cp = ctx.params.collateral(action.asset_id)
        require(held + action.amount <= cp.deposit_cap, "vault: deposit cap")
        holding = acct.collateral.get(action.asset_id, 0) + amount_wad
        require(holding <= to_wad(cp.account_deposit_cap, decimals), "vault: account deposit cap")
    ctx.state.vault_tokens[action.asset_id] = held + action.amount
    if action.asset_id == SETTLEMENT_ASSET_ID:
        acct.balance += amount_wad
    else:
        acct.collateral[action.asset_id] = acct.collateral.get(action.asset_id, 0) + amount_wad
    ctx.emit(Deposited(action.account, action.asset_id, action.amount, amount_wad))


def withdraw(ctx: Context, action: Withdraw) -> None:
    """Pay ``amount`` token units out; equity after must stay at or above initial margin.

    The settlement balance cannot be withdrawn below zero (no borrowing against collateral).
    An account without positions and with a non-negative balance needs no price. With the
    ``profit_haircut`` method a withdrawal of realized profit while a shortfall is outstanding
    also pays a haircut, debited beside the amount (:func:`protocol.loss_allocation.profit_haircut`).
    """
    ctx.require_not_paused("vault")
    decimals = asset_decimals(ctx, action.asset_id)
    settle_account(ctx, action.account)
    acct = ctx.state.account(action.account)
    amount_wad = to_wad(action.amount, decimals)
    if action.asset_id == SETTLEMENT_ASSET_ID:
        debit = amount_wad + profit_haircut(ctx, action.account, acct, amount_wad)
        require(acct.balance >= debit, "vault: insufficient balance")
        acct.balance -= debit
    else:
        held = acct.collateral.get(action.asset_id, 0)
        require(held >= amount_wad, "vault: insufficient balance")
        acct.collateral[action.asset_id] = held - amount_wad
    # Realized profits can exceed the tokens held while losers' losses are still unrealized.
    require(ctx.state.vault_tokens[action.asset_id] >= action.amount, "vault: insufficient tokens")
    ctx.state.vault_tokens[action.asset_id] -= action.amount
    if acct.has_positions() or acct.balance < 0:
        require_initial(ctx, action.account, "vault")
    ctx.emit(Withdrawn(action.account, action.asset_id, action.amount, amount_wad))


def withdraw_fees(ctx: Context, action: WithdrawFees) -> None:
    """Governance pays ``amount`` settlement-token units out of the fee pool (not while paused)."""
    require(action.sender == ctx.state.roles.governance, "vault: caller is not governance")
    ctx.require_not_paused("vault")
    amount_wad = to_wad(action.amount, ctx.params.protocol.settlement_decimals)
    require(ctx.state.fee_pool >= amount_wad, "vault: insufficient fees")
    require(ctx.state.vault_tokens[SETTLEMENT_ASSET_ID] >= action.amount, "vault: insufficient tokens")
    ctx.state.fee_pool -= amount_wad
    ctx.state.vault_tokens[SETTLEMENT_ASSET_ID] -= action.amount
    ctx.emit(FeesWithdrawn(action.to, action.amount, amount_wad))
