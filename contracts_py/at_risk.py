"""The accounts of a live deployment closest to liquidation.

Accounts come from the house's events, or from an indexer's database (:mod:`contracts_py.indexer`)
completed by the events after its cursor; their state is read through the lens at one block; the
margin core (:mod:`protocol.margin_core`) screens them all at the block's prices with funding
accrued to its timestamp and ranks them by margin ratio (equity over maintenance); the reference
model then decides the ``top`` exactly (:func:`contracts_py.client.health_of`).
"""

from __future__ import annotations

from contracts_py.client import AccountHealth, NovationClient, health_of
from contracts_py.indexer import IndexedAccounts, named_accounts
from protocol.errors import InvalidParameter
from protocol.funding import accrued_state

__all__ = ["closest_to_liquidation", "known_accounts"]


def known_accounts(client: NovationClient, from_block: int = 0, to_block: int | None = None) -> list[str]:
    """Every address named by an account-like field of the house's events, sorted."""
    found: set[str] = set()
    for e in client.events(from_block, to_block):
        found.update(named_accounts(e.fields()))
    return sorted(found)


def closest_to_liquidation(
    client: NovationClient,
    *,
    top: int = 20,
    from_block: int = 0,
    block: int | None = None,
    index: IndexedAccounts | None = None,
) -> list[AccountHealth]:
    """The ``top`` accounts with open positions and the lowest margin ratio at ``block`` (default:
    latest), liquidatable ones first; decisions exact (the model's).

    Accounts are those named in the house's events from ``from_block``; with ``index`` (see
    :func:`contracts_py.indexer.indexed_accounts`), the index's accounts plus those named in the
    events after its cursor, so only the blocks the index has not reached are scanned."""
    import numpy as np

    from protocol.margin_core import MarginBook, evaluate

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InvalidParameter(f"top must be a positive integer, got {top!r}")
    at = client.block_number() if block is None else block
    if index is None:
        accounts = known_accounts(client, from_block, at)
    else:
        index.check_client(client)
        scan_from = max(from_block, index.cursor + 1)
        later = known_accounts(client, scan_from, at) if scan_from <= at else []
        accounts = sorted(set(index.up_to(at)) | set(later))
    snap = client.snapshot(accounts, block=at)
    state = accrued_state(snap.state, snap.params)
    state.accounts = {a: acct for a, acct in state.accounts.items() if acct.positions}
    if not state.accounts:
        return []
    prices = {f: fs.price_wad for f, fs in state.feeds.items() if fs.price_wad > 0}
    book = MarginBook.from_state(state, snap.params)
    batch = evaluate(book, prices)
    ratio = np.where(batch.maintenance > 0, batch.equity / np.maximum(batch.maintenance, 1e-300), np.inf)
    order = np.lexsort((np.arange(len(ratio)), ratio))[:top]
    labels = book.labels or ()
    chosen = [labels[int(i)] for i in order]
    exact = health_of(snap, chosen)
    ranked = [exact[a] for a in chosen]
    ranked.sort(key=lambda h: (not h.liquidatable, float("inf") if h.margin_ratio_wad is None else h.margin_ratio_wad))
    return ranked
