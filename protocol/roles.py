"""Governance actions: roles, the pause switch and margin parameters within validated bounds.

Governance moves in two steps (F-16): the holder proposes a successor, which takes over by
accepting, so a mistyped address never receives the role. Unpausing starts a grace period
(F-17): liquidations resume ``liquidation_grace_s`` later, so traders can restore margin first.
"""

from __future__ import annotations

import dataclasses

from protocol.actions import AcceptGovernance, SetMarketMargin, SetPaused, SetRole
from protocol.context import Context, require
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import GovernanceProposed, MarginParamsSet, PausedSet, RoleSet

__all__ = [
    "accept_governance",
    "require_governance",
    "require_liquidations_resumed",
    "set_market_margin",
    "set_paused",
    "set_role",
]


def require_governance(ctx: Context, sender: str) -> None:
    """Revert ``"roles: caller is not governance"`` unless ``sender`` is governance."""
    require(sender == ctx.state.roles.governance, "roles: caller is not governance")


def set_role(ctx: Context, action: SetRole) -> None:
    """Grant or revoke a role; granting ``governance`` proposes a successor (it takes over with
    :func:`accept_governance`), so governance is never revoked, only handed over."""
    require_governance(ctx, action.sender)
    roles = ctx.state.roles
    if action.role == "governance":
        require(action.enabled, "roles: governance cannot be revoked, only transferred")
        roles.pending_governance = action.account
        ctx.emit(GovernanceProposed(action.account))
        return
    members = {"matcher": roles.matchers, "oracle": roles.oracles, "funding": roles.funding_operators}[action.role]
    if action.enabled:
        members.add(action.account)
    else:
        members.discard(action.account)
    ctx.emit(RoleSet(action.role, action.account, action.enabled))


def accept_governance(ctx: Context, action: AcceptGovernance) -> None:
    """The proposed successor takes over governance."""
    roles = ctx.state.roles
    require(action.sender == roles.pending_governance, "roles: caller is not the proposed governance")
    roles.governance, roles.pending_governance = action.sender, None
    ctx.emit(RoleSet("governance", action.sender, True))


def set_paused(ctx: Context, action: SetPaused) -> None:
    """Pause or unpause every user action (prices, funding, cancellations and governance keep
    working); unpausing starts the liquidation grace period."""
    require_governance(ctx, action.sender)
    if ctx.state.paused and not action.paused:
        ctx.state.liquidations_resume_at_s = ctx.state.now_s + ctx.params.protocol.liquidation_grace_s
    ctx.state.paused = action.paused
    ctx.emit(PausedSet(action.paused))


def require_liquidations_resumed(ctx: Context) -> None:
    """Revert ``"roles: liquidation grace period"`` until the grace period after the last
    unpause is over (liquidations, collateral sales and deleveraging wait for it)."""
    require(ctx.state.now_s >= ctx.state.liquidations_resume_at_s, "roles: liquidation grace period")


def set_market_margin(ctx: Context, action: SetMarketMargin) -> None:
    """Set a market's initial fraction and maintenance share within the parameter bounds."""
    require_governance(ctx, action.sender)
    mp, _ = ctx.market(action.market_id, "roles")
    try:
        new = dataclasses.replace(
            mp,
            initial_margin_fraction_wad=action.initial_margin_fraction_wad,
            maintenance_share_wad=action.maintenance_share_wad,
        )
    except InvalidParameter:
        raise ProtocolRevert("roles: margin parameters out of bounds") from None
    ctx.params = dataclasses.replace(
        ctx.params, markets=tuple(new if m.market_id == mp.market_id else m for m in ctx.params.markets)
    )
    ctx.emit(MarginParamsSet(action.market_id, action.initial_margin_fraction_wad, action.maintenance_share_wad))
