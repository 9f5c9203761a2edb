"""The undo journal of an action applied in place: before-images of everything it may write.

:meth:`ClearingHouse.apply <protocol.clearing_house.ClearingHouse.apply>` makes an action atomic
by working on a fork of the state. The batched paths (:mod:`protocol.keeper_block`,
:mod:`protocol.book_setup`) apply actions to the live state instead and keep a :class:`Journal`:
the accounts the action names (absent ones are removed again), every market, the pending ADL
proposals, the state's scalar fields, and, when asked, the vault's token counts and the filled
size of given orders. An action kind that writes anything else must not be applied in place.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocol.state import Account, MarketState, ProtocolState

__all__ = ["Journal"]


def _market_copy(ms: MarketState) -> MarketState:
    """A field-for-field copy of ``ms`` (all its fields are integers)."""
    out = MarketState.__new__(MarketState)
    out.__dict__.update(ms.__dict__)
    return out


class Journal:
    """Before-images taken now; :meth:`restore` puts them back."""

    __slots__ = ("accounts", "adl_proposals", "markets", "order_filled", "scalars", "state", "vault_tokens")

    def __init__(
        self,
        state: ProtocolState,
        addresses: Iterable[str],
        *,
        orders: Iterable[bytes] = (),
        vault: bool = False,
    ) -> None:
        self.state = state
        self.scalars = dict(state.__dict__)
        self.markets = {m: _market_copy(ms) for m, ms in state.markets.items()}
        self.adl_proposals = dict(state.adl_proposals)  # liquidation and ADL consume or store one
        self.vault_tokens = dict(state.vault_tokens) if vault else None
        self.order_filled = {d: state.order_filled.get(d) for d in orders}
        self.accounts: dict[str, Account | None] = {}
        self.add(addresses)

    def add(self, addresses: Iterable[str]) -> None:
        """Also journal the accounts of ``addresses`` (not journaled yet) as they are now."""
        accounts = self.state.accounts
        for a in addresses:
            if a not in self.accounts:
                acct = accounts.get(a)
                self.accounts[a] = None if acct is None else acct.clone()

    def restore(self) -> None:
        """Put every before-image back."""
        st = self.state
        st.__dict__.update(self.scalars)
        for m, ms in self.markets.items():
            st.markets[m] = ms
        st.adl_proposals = self.adl_proposals
        if self.vault_tokens is not None:
            st.vault_tokens.clear()
            st.vault_tokens.update(self.vault_tokens)
        for d, filled in self.order_filled.items():
            if filled is None:
                st.order_filled.pop(d, None)
            else:
                st.order_filled[d] = filled
        for a, acct in self.accounts.items():
            if acct is None:
                del st.accounts[a]
            else:
                st.accounts[a] = acct
