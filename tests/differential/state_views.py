"""Plain-value views of protocol state and action outcomes, for exact comparisons between paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocol.errors import ProtocolRevert
from protocol.state import Account, ProtocolState

_CONTAINERS = ("roles", "accounts", "markets", "feeds", "vault_tokens", "order_filled")


def account_view(acct: Account) -> tuple[Any, ...]:
    """Every field of an account as plain values."""
    positions = {m: vars(p).copy() for m, p in acct.positions.items()}
    return acct.balance, dict(acct.collateral), positions, acct.realized_pnl


def state_view(state: ProtocolState) -> dict[str, Any]:
    """Every field of a state as plain values (overlays and forks compare like dicts)."""
    out: dict[str, Any] = {k: v for k, v in vars(state).items() if k not in _CONTAINERS}
    out["roles"] = vars(state.roles).copy()
    out["accounts"] = {a: account_view(state.accounts[a]) for a in sorted(state.accounts)}
    out["markets"] = {m: vars(ms).copy() for m, ms in state.markets.items()}
    out["feeds"] = {f: vars(fs).copy() for f, fs in state.feeds.items()}
    out["vault_tokens"] = dict(state.vault_tokens)
    out["order_filled"] = dict(state.order_filled)
    return out


def outcome(call: Callable[[], Any]) -> Any:
    """What ``call`` returns, or the revert reason it raises."""
    try:
        result = call()
    except ProtocolRevert as exc:
        return ("revert", exc.reason)
    return account_view(result) if isinstance(result, Account) else result
