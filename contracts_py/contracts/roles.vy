# pragma version ~=0.4.3
"""
@title roles
@notice Governance: roles, the pause switch and market margins within validated bounds
        (mirrors protocol/roles.py).
"""

from . import constants as c
from . import events
from . import state

uses: state


@internal
@view
def require_governance(sender: address):
    """
    @notice Revert "roles: caller is not governance" unless `sender` is governance.
    @param sender The caller.
    """
    assert sender == state.governance, "roles: caller is not governance"


@internal
def set_role(sender: address, role: String[16], account: address, enabled: bool):
    """
    @notice Grant or revoke a role; "governance" is transferred (granting replaces the holder).
    @param sender The caller (governance).
    @param role One of "governance", "matcher", "oracle", "funding".
    @param account The account.
    @param enabled Grant (True) or revoke (False).
    """
    self.require_governance(sender)
    h: bytes32 = keccak256(role)
    if h == keccak256("governance"):
        assert enabled, "roles: governance cannot be revoked, only transferred"
        state.governance = account
    elif h == keccak256("matcher"):
        state.matchers[account] = enabled
    elif h == keccak256("oracle"):
        state.oracles[account] = enabled
    elif h == keccak256("funding"):
        state.funding_operators[account] = enabled
    else:
        raise "roles: unknown role"
    log events.RoleSet(role=role, account=account, enabled=enabled)


@internal
def set_paused(sender: address, paused: bool):
    """
    @notice Pause or unpause every user action (prices, funding and governance keep working).
    @param sender The caller (governance).
    @param paused The new switch position.
    """
    self.require_governance(sender)
    state.paused = paused
    log events.PausedSet(paused=paused)


@internal
@pure
def margin_in_bounds(initial_margin_fraction_wad: uint256, maintenance_share_wad: uint256) -> bool:
    """
    @notice The bounds protocol.params.MarketParams validates.
    @param initial_margin_fraction_wad Initial fraction (WAD).
    @param maintenance_share_wad Maintenance share (WAD).
    @return Whether both are within bounds.
    """
    return (
        initial_margin_fraction_wad >= c.MIN_INITIAL_MARGIN_FRACTION
        and initial_margin_fraction_wad <= c.MAX_INITIAL_MARGIN_FRACTION
        and maintenance_share_wad >= 1
        and maintenance_share_wad <= c.WAD - 1
    )


@internal
def set_market_margin(sender: address, market_id: uint256, initial_margin_fraction_wad: uint256, maintenance_share_wad: uint256):
    """
    @notice Set a market's initial fraction and maintenance share within the parameter bounds.
    @param sender The caller (governance).
    @param market_id Market id.
    @param initial_margin_fraction_wad New initial fraction (WAD).
    @param maintenance_share_wad New maintenance share (WAD).
    """
    self.require_governance(sender)
    assert state.market_params[market_id].listed, "roles: unknown market"
    assert self.margin_in_bounds(initial_margin_fraction_wad, maintenance_share_wad), "roles: margin parameters out of bounds"
    state.market_params[market_id].initial_margin_fraction_wad = initial_margin_fraction_wad
    state.market_params[market_id].maintenance_share_wad = maintenance_share_wad
    log events.MarginParamsSet(
        market_id=market_id,
        initial_margin_fraction_wad=initial_margin_fraction_wad,
        maintenance_share_wad=maintenance_share_wad,
    )
