"""Governance actions: roles, the pause switch and margin parameters within validated bounds."""

from __future__ import annotations

import dataclasses

from protocol.actions import SetMarketMargin, SetPaused, SetRole
from protocol.context import Context, require
from protocol.errors import InvalidParameter, ProtocolRevert
from protocol.events import MarginParamsSet, PausedSet, RoleSet

__all__ = ["require_governance", "set_market_margin", "set_paused", "set_role"]


def require_governance(ctx: Context, sender: str) -> None:
    """Revert ``"roles: caller is not governance"`` unless ``sender`` is governance."""
    require(sender == ctx.state.roles.governance, "roles: caller is not governance")


def set_role(ctx: Context, action: SetRole) -> None:
    """Grant or revoke a role; ``governance`` is transferred (granting replaces the holder)."""
    require_governance(ctx, action.sender)
    roles = ctx.state.roles
    if action.role == "governance":
        require(action.enabled, "roles: governance cannot be revoked, only transferred")
        roles.governance = action.account
    else:
        members = {"matcher": roles.matchers, "oracle": roles.oracles, "funding": roles.funding_operators}[action.role]
        if action.enabled:
            members.add(action.account)
        else:
            members.discard(action.account)
    ctx.emit(RoleSet(action.role, action.account, action.enabled))


def set_paused(ctx: Context, action: SetPaused) -> None:
    """Pause or unpause every user action (prices, funding and governance keep working)."""
    require_governance(ctx, action.sender)
    ctx.state.paused = action.paused
    ctx.emit(PausedSet(action.paused))


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
