# pragma version ~=0.4.3
"""
@title roles
@notice Governance: roles, the pause switch and market margins within validated bounds
        (mirrors protocol/roles.py), and the bounds of every parameter checked on chain
        (protocol/params.py's, read from constants.vy).
@dev Governance moves in two steps: `set_role("governance", a, True)` proposes `a`, which
     takes over with `accept_governance`. Unpausing starts the liquidation grace period.
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
    @notice Grant or revoke a role; granting "governance" proposes a successor, who takes over
            with `accept_governance`.
    @param sender The caller (governance).
    @param role One of "governance", "matcher", "oracle", "funding".
    @param account The account.
    @param enabled Grant (True) or revoke (False).
    """
    self.require_governance(sender)
    assert account != empty(address), "roles: zero address"
    h: bytes32 = keccak256(role)
    if h == keccak256("governance"):
        assert enabled, "roles: governance cannot be revoked, only transferred"
        state.pending_governance = account
        log events.GovernanceProposed(account=account)
        return
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
def accept_governance(sender: address):
    """
    @notice The proposed successor takes over governance.
    @param sender The caller (must be the proposed governance).
    """
    assert sender == state.pending_governance, "roles: caller is not the proposed governance"
    state.governance = sender
    state.pending_governance = empty(address)
    log events.RoleSet(role="governance", account=sender, enabled=True)


@internal
def set_paused(sender: address, paused: bool):
    """
    @notice Pause or unpause every user action (prices, funding, cancellations and governance
            keep working); unpausing starts the liquidation grace period.
    @param sender The caller (governance).
    @param paused The new switch position.
    """
    self.require_governance(sender)
    if state.paused and not paused:
        state.liquidations_resume_at_s = block.timestamp + state.protocol_params.liquidation_grace_s
    state.paused = paused
    log events.PausedSet(paused=paused)


@internal
@view
def require_liquidations_resumed():
    """
    @notice Revert "roles: liquidation grace period" until the grace period after the last
            unpause is over.
    """
    assert block.timestamp >= state.liquidations_resume_at_s, "roles: liquidation grace period"


@internal
@pure
def protocol_in_bounds(pp: state.ProtocolParams) -> bool:
    """
    @notice The bounds protocol.params.ProtocolParams validates (those the contracts use).
    @param pp Protocol parameters.
    @return Whether every field is within bounds.
    """
    return (
        pp.settlement_decimals <= c.MAX_DECIMALS
        and pp.insurance_fee_share_wad <= c.WAD
        and pp.liquidation_penalty_wad <= c.MAX_LIQUIDATION_PENALTY
        and pp.keeper_penalty_share_wad <= c.WAD
        and pp.liquidation_spread_wad <= c.MAX_LIQUIDATION_SPREAD
        and pp.max_liquidation_notional_per_block_wad >= 1
        and pp.max_fill_deviation_wad >= 1
        and pp.max_fill_deviation_wad <= c.MAX_FILL_DEVIATION
        and pp.max_funding_rate_per_s_wad <= c.MAX_FUNDING_RATE_PER_S
        and pp.funding_rate_ramp_s >= c.MIN_FUNDING_RATE_RAMP_S
        and pp.funding_rate_ramp_s <= c.MAX_FUNDING_RATE_RAMP_S
        and pp.liquidation_grace_s <= c.MAX_LIQUIDATION_GRACE_S
        and pp.adl_window_s >= c.MIN_ADL_WINDOW_S
        and pp.adl_window_s <= c.MAX_ADL_WINDOW_S
        and pp.collateral_liquidation_fee_wad <= c.MAX_COLLATERAL_LIQUIDATION_FEE
        and pp.socialized_loss_method <= c.LOSS_METHOD_GAINS
        and pp.adl_close_fraction_wad >= c.MIN_ADL_CLOSE_FRACTION
        and pp.adl_close_fraction_wad <= c.WAD
        and pp.collateral_close_factor_wad >= c.MIN_COLLATERAL_CLOSE_FACTOR
        and pp.collateral_close_factor_wad <= c.WAD
        and pp.collateral_debt_ratio_trigger_wad <= c.MAX_COLLATERAL_DEBT_RATIO_TRIGGER
        and pp.profit_haircut_wad <= c.MAX_PROFIT_HAIRCUT
    )


@internal
@pure
def feed_in_bounds(heartbeat_s: uint256, max_move_wad: uint256, move_window_s: uint256) -> bool:
    """
    @notice The bounds protocol.params.FeedParams validates.
    @param heartbeat_s Largest age of a trusted price (s).
    @param max_move_wad Largest accepted move (WAD).
    @param move_window_s Seconds over which the allowed move grows to max_move_wad.
    @return Whether all three are within bounds.
    """
    return (
        heartbeat_s >= c.MIN_HEARTBEAT_S
        and heartbeat_s <= c.MAX_HEARTBEAT_S
        and max_move_wad >= 1
        and max_move_wad <= c.MAX_PRICE_MOVE
        and move_window_s >= c.MIN_MOVE_WINDOW_S
        and move_window_s <= c.MAX_MOVE_WINDOW_S
    )


@internal
@pure
def market_in_bounds(mp: state.MarketParams) -> bool:
    """
    @notice The bounds protocol.params.MarketParams validates: margins, and open-interest caps
            either both zero or ordered.
    @param mp Market parameters.
    @return Whether they are within bounds.
    """
    scaling: bool = mp.oi_cap_lower_wad != 0 or mp.oi_cap_upper_wad != 0
    return self.margin_in_bounds(mp.initial_margin_fraction_wad, mp.maintenance_share_wad) and (not scaling or mp.oi_cap_upper_wad > mp.oi_cap_lower_wad)


@internal
@pure
def collateral_in_bounds(cp: state.CollateralParams) -> bool:
    """
    @notice The bounds protocol.params.CollateralParams validates.
    @param cp Collateral parameters.
    @return Whether they are within bounds.
    """
    return (
        cp.decimals <= c.MAX_DECIMALS
        and cp.haircut_wad <= c.WAD - 1
        and cp.liquidation_discount_wad <= c.WAD - 1
        and cp.deposit_cap >= 1
        and cp.value_cap_wad >= 1
        and cp.account_deposit_cap >= 1
        and cp.account_deposit_cap <= cp.deposit_cap
    )


@internal
@pure
def margin_in_bounds(initial_margin_fraction_wad: uint256, maintenance_share_wad: uint256) -> bool:
    """
    @notice The bounds protocol.params.MarketParams validates.
    @param initial_margin_fraction_wad Initial fraction (WAD).
    @param maintenance_share_wad Maintenance share (WAD).
    @return Whether both are within bounds.
    """
    return (initial_margin_fraction_wad >= c.MIN_INITIAL_MARGIN_FRACTION and initial_margin_fraction_wad <= c.MAX_INITIAL_MARGIN_FRACTION and maintenance_share_wad >= 1 and maintenance_share_wad <= c.WAD - 1)


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
