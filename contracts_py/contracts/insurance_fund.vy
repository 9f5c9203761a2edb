# pragma version ~=0.4.3
"""
@title insurance_fund
@notice Fed by fee shares, liquidation penalties and top-ups; pays shortfalls; never negative.
        Every change emits InsuranceFundChanged (mirrors protocol/insurance_fund.py).
"""

from . import units
from . import events
from . import state

uses: state


@internal
def credit(amount_wad: uint256, cause: String[32]):
    """
    @notice Add `amount_wad` to the fund.
    @param amount_wad Amount (WAD).
    @param cause Why, for the event.
    """
    if amount_wad != 0:
        state.insurance_fund += amount_wad
        log events.InsuranceFundChanged(delta_wad=units.to_int(amount_wad), balance_wad=state.insurance_fund, cause=cause)


@internal
def cover(shortfall_wad: uint256, cause: String[32]) -> uint256:
    """
    @notice Pay as much of `shortfall_wad` as the fund holds.
    @param shortfall_wad Amount wanted (WAD).
    @param cause Why, for the event.
    @return The amount paid.
    """
    paid: uint256 = min(shortfall_wad, state.insurance_fund)
    if paid != 0:
        state.insurance_fund -= paid
        log events.InsuranceFundChanged(delta_wad=-units.to_int(paid), balance_wad=state.insurance_fund, cause=cause)
    return paid


@internal
def fund_insurance(amount: uint256):
    """
    @notice Book a top-up of `amount` settlement-token units (the vault pulls the tokens).
    @param amount Token units.
    """
    state.vault_tokens[0] += amount
    self.credit(units.to_wad(amount, state.protocol_params.settlement_decimals), "top-up")
