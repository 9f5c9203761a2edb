"""Who bears a socialized loss on a path: per-account ledger and the book's groups of accounts.

A socialized loss reaches an account in one of four ways: a loss-index charge (``LossCharged``
when settled, or still pending on an open position at the end of the path), profit given up to
auto-deleveraging (what the counterparty's close price gives up against the oracle price), a
share of a shortfall charged to its gains (``GainsCharged``) or a profit haircut on a withdrawal
(``ProfitHaircut``). :class:`LossLedger` adds them up per account
in USD WAD, exactly; :func:`bearer_groups` puts each account of a book into the groups of
:data:`~simulator.results.BEARER_GROUPS`, and :meth:`LossLedger.by_group` sums the ledger over them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.constants import WAD
from protocol.events import Deleveraged, Event, GainsCharged, LossCharged, ProfitHaircut
from protocol.margin import collateral_value, notional, pending_loss, side_loss_index
from protocol.params import Params
from protocol.state import Account, AccountsOverlay, ProtocolState, read_account
from simulator.results import BEARER_GROUPS

__all__ = ["LossLedger", "OpenPositions", "bearer_groups"]


def bearer_groups(
    state: ProtocolState, params: Params, traders: Sequence[str], market_maker: str, keeper: str
) -> dict[str, tuple[str, ...]]:
    """Groups of every account at the set-up ``state`` (prices: the last accepted ones).

    A trader's size is its equity at set-up (balance plus collateral value, USD WAD), its leverage
    its notional over that equity, its side the sign of its net notional; "small"/"large" and
    "low"/"high leverage" split at the median (nearest rank) of the traders.
    """
    prices = {f: fs.price_wad for f, fs in state.feeds.items()}
    feed_of = {mp.market_id: mp.feed_id for mp in params.markets}
    size: dict[str, int] = {}
    gross: dict[str, int] = {}
    net: dict[str, int] = {}
    for a in traders:
        acct = state.accounts[a]
        size[a] = acct.balance + sum(
            collateral_value(cp, acct.collateral.get(cp.asset_id, 0), prices[cp.feed_id]) for cp in params.collaterals
        )
        gross[a] = sum(notional(p.size, prices[feed_of[m]]) for m, p in acct.positions.items())
        net[a] = sum(
            (1 if p.size > 0 else -1) * notional(p.size, prices[feed_of[m]]) for m, p in acct.positions.items()
        )
    out: dict[str, tuple[str, ...]] = {market_maker: ("market_maker",), keeper: ("keeper",)}
    if not traders:
        return out
    median_size = sorted(size.values())[(len(traders) - 1) // 2]
    leverage = {a: gross[a] / size[a] if size[a] > 0 else float("inf") for a in traders}
    median_leverage = sorted(leverage.values())[(len(traders) - 1) // 2]
    for a in traders:
        out[a] = (
            "small" if size[a] < median_size else "large",
            "low_leverage" if leverage[a] < median_leverage else "high_leverage",
            "long" if net[a] > 0 else "short",
        )
    return out


class LossLedger:
    """Socialized loss borne per account on one path (USD WAD)."""

    def __init__(self) -> None:
        self.borne: dict[str, int] = {}
        #: Counterparties whose positions deleveraging cut.
        self.deleveraged: set[str] = set()

    def _add(self, account: str, amount_wad: int) -> None:
        self.borne[account] = self.borne.get(account, 0) + amount_wad

    def record(self, events: Iterable[Event], mark: Callable[[int], int]) -> None:
        """Add the losses ``events`` charge; ``mark(market_id)`` is the oracle price (USD WAD) a
        deleveraging's give-up is measured against."""
        for e in events:
            if isinstance(e, LossCharged):
                self._add(e.account, e.amount_wad)
            elif isinstance(e, ProfitHaircut):
                self._add(e.account, e.haircut_wad)
            elif isinstance(e, GainsCharged):
                self._add(e.counterparty, e.amount_wad)
            elif isinstance(e, Deleveraged):
                self._add(e.counterparty, abs(e.notional_wad - notional(e.size_wad, mark(e.market_id))))
                self.deleveraged.add(e.counterparty)

    def close(self, state: ProtocolState, held: OpenPositions) -> None:
        """Add the charges still pending on the open positions of ``held.addresses`` at the end
        (none while every market's loss indices are zero: a snapshot never exceeds its index).

        When ``state``'s accounts are an overlay over ``held.source`` (a path's state over its
        book's), the accounts the path never wrote are charged a group of ``held`` at a time;
        the others are read one by one."""
        if not any(ms.loss_index_long or ms.loss_index_short for ms in state.markets.values()):
            return
        markets = state.markets
        accounts = state.accounts
        written: Collection[str] | None = None
        if isinstance(accounts, AccountsOverlay) and accounts.base is held.source:
            written = accounts.written()
            for (m, long, snapshot), (owners, sizes) in held.groups.items():
                ms = markets[m]
                delta = (ms.loss_index_long if long else ms.loss_index_short) - snapshot
                if delta:
                    for a, charge in zip(owners, _pending_losses(sizes, delta), strict=True):
                        if a not in written:
                            self._add(a, -charge)
        for a in held.addresses if written is None else [a for a in held.addresses if a in written]:
            acct = read_account(accounts, a)
            for m, pos in (acct.positions if acct is not None else {}).items():
                ms = markets[m]
                if side_loss_index(ms, pos.size) != pos.loss_snapshot:  # else nothing is pending
                    self._add(a, -pending_loss(pos, ms))

    def by_group(self, groups: Mapping[str, Sequence[str]]) -> dict[str, int]:
        """The ledger summed over each group of :data:`~simulator.results.BEARER_GROUPS`."""
        out = dict.fromkeys(BEARER_GROUPS, 0)
        for account, amount in self.borne.items():
            for g in groups.get(account, ()):
                out[g] += amount
        return out


def _pending_losses(sizes: NDArray[np.object_], delta: int) -> list[int]:
    """:func:`~protocol.margin.pending_loss` (USD WAD, <= 0) of positions of absolute sizes
    ``sizes`` (base units WAD, Python ints) whose side's loss index is ``delta`` (> 0) past their
    snapshot, at once: ``-ceil(size * delta / WAD)``, that is ``floor(size * -delta / WAD)``."""
    losses: list[int] = (sizes * -delta // WAD).tolist()
    return losses


@dataclass(frozen=True, eq=False)
class OpenPositions:
    """The open positions of some accounts of one state, grouped by market, side and
    socialized-loss snapshot: what :meth:`LossLedger.close` charges a group at a time for the
    accounts a path never wrote."""

    #: The accounts dict read; must not change afterwards (a book's set-up state).
    source: Mapping[str, Account]
    #: The accounts covered, in the order given.
    addresses: tuple[str, ...]
    #: (market id, long side, loss snapshot) -> the holders and their absolute sizes (base
    #: units WAD, Python ints in an object array).
    groups: Mapping[tuple[int, bool, int], tuple[tuple[str, ...], NDArray[np.object_]]]

    @classmethod
    def of(cls, source: Mapping[str, Account], addresses: Iterable[str]) -> OpenPositions:
        """The open positions of ``addresses`` (absent ones hold none) in ``source``."""
        addresses = tuple(addresses)
        holders: dict[tuple[int, bool, int], tuple[list[str], list[int]]] = {}
        for a in addresses:
            acct = read_account(source, a)
            for m, pos in (acct.positions if acct is not None else {}).items():
                owners, sizes = holders.setdefault((m, pos.size > 0, pos.loss_snapshot), ([], []))
                owners.append(a)
                sizes.append(abs(pos.size))
        groups = {key: (tuple(owners), np.array(sizes, dtype=object)) for key, (owners, sizes) in holders.items()}
        return cls(source, addresses, groups)
