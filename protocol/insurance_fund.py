"""The insurance fund: fed by fee shares, liquidation penalties and direct top-ups; pays
shortfalls of bankrupt accounts; never negative. Every change emits ``InsuranceFundChanged``.
"""

from __future__ import annotations

from protocol.actions import FundInsurance
from protocol.context import Context
from protocol.events import InsuranceFundChanged
from protocol.units import to_wad

__all__ = ["cover", "credit", "fund_insurance"]


def credit(ctx: Context, amount_wad: int, cause: str) -> None:
    """Add ``amount_wad`` (>= 0) to the fund."""
    if amount_wad:
        ctx.state.insurance_fund += amount_wad
        ctx.emit(InsuranceFundChanged(amount_wad, ctx.state.insurance_fund, cause))


def cover(ctx: Context, shortfall_wad: int, cause: str) -> int:
    """Pay as much of ``shortfall_wad`` as the fund holds; return the amount paid."""
    paid = min(shortfall_wad, ctx.state.insurance_fund)
    if paid:
        ctx.state.insurance_fund -= paid
        ctx.emit(InsuranceFundChanged(-paid, ctx.state.insurance_fund, cause))
    return paid


def fund_insurance(ctx: Context, action: FundInsurance) -> None:
    """Top up the fund with settlement tokens paid in from outside (anyone may)."""
    ctx.state.vault_tokens[0] = ctx.state.vault_tokens.get(0, 0) + action.amount
    credit(ctx, to_wad(action.amount, ctx.params.protocol.settlement_decimals), "top-up")
