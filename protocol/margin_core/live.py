"""A margin book that follows a live model state, for simulations that screen every step.

Building a :class:`~protocol.margin_core.book.MarginBook` walks every account in Python; a
simulation that changes a handful of accounts per step instead keeps one :class:`LiveBook`,
refreshes the rows of the accounts an action touched (:meth:`LiveBook.refresh`) and takes a
:meth:`LiveBook.book` view at each step's market state. The exact source of a row is the live
model account itself, so the batch's exact re-evaluation reads exactly what the protocol holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from protocol.margin_core.book import MarginBook, RowArrays, ScreenArrays
from protocol.margin_core.screen import prepare, prepare_rows
from protocol.params import Params
from protocol.state import Account, MarketState, ProtocolState

__all__ = ["LiveBook"]


@dataclass(frozen=True, eq=False)
class _LiveAccounts:
    by_address: Mapping[str, Account]
    labels: Sequence[str]

    def accounts(self, indices: Sequence[int]) -> list[Account]:
        return [self.by_address[self.labels[i]] for i in indices]


def _read_only(a: NDArray[np.float64]) -> NDArray[np.float64]:
    view = a.view()
    view.flags.writeable = False
    return view


class LiveBook:
    """Rows for ``labels`` (addresses) of a model state, refreshed on demand.

    The rows hold what :meth:`MarginBook.from_state` would build from the same accounts; a test
    compares the two after every refresh.
    """

    def __init__(self, state: ProtocolState, params: Params, labels: Sequence[str]) -> None:
        if not isinstance(state, ProtocolState):
            raise InvalidParameter(f"state must be a ProtocolState, got {type(state).__name__}")
        if not isinstance(params, Params):
            raise InvalidParameter(f"params must be a Params, got {type(params).__name__}")
        self._labels = tuple(labels)
        missing = [a for a in self._labels if a not in state.accounts]
        if missing:
            raise InvalidParameter(f"LiveBook: {len(missing)} labels are not accounts of the state, e.g. {missing[0]}")
        if len(set(self._labels)) != len(self._labels):
            raise InvalidParameter("LiveBook: labels must be distinct")
        self._params = params
        self._row = {a: i for i, a in enumerate(self._labels)}
        self._rows = RowArrays.allocate(len(self._labels), params)
        self._rows.fill(range(len(self._labels)), self._labels, [state.accounts[a] for a in self._labels])
        self._carry, self._magnitude = prepare(self._rows.balance, *self._rows.fields)
        self._changed: list[int] = []
        self._views()

    def _views(self) -> None:
        self._screen = ScreenArrays(
            _read_only(self._rows.balance),
            _read_only(self._magnitude),
            _read_only(self._rows.fields[0]),
            _read_only(self._carry),
            _read_only(self._rows.collateral),
        )

    def copy(self) -> LiveBook:
        """An independent copy (arrays copied in their layout; no account is read again)."""
        twin = object.__new__(LiveBook)
        twin._labels, twin._params, twin._row = self._labels, self._params, self._row
        twin._rows = RowArrays(
            self._params,
            self._rows.balance.copy(),
            tuple(f.copy(order="F") for f in self._rows.fields),  # type: ignore[arg-type]
            self._rows.collateral.copy(order="F"),
        )
        twin._carry, twin._magnitude = self._carry.copy(order="F"), self._magnitude.copy()
        twin._changed = list(self._changed)
        twin._views()
        return twin

    def take_changed(self) -> list[int]:
        """Rows refreshed since the last call (ascending, distinct), and forget them."""
        changed, self._changed = sorted(set(self._changed)), []
        return changed

    @property
    def labels(self) -> tuple[str, ...]:
        """Addresses in row order."""
        return self._labels

    def row(self, address: str) -> int:
        """Row of ``address``."""
        try:
            return self._row[address]
        except KeyError:
            raise InvalidParameter(f"{address} is not an account of this book") from None

    def position_column(self, market_id: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Read-only (size in base units, open notional in USD) of every row in ``market_id``."""
        for j, mp in enumerate(mp for mp in self._params.markets if not mp.is_option):
            if mp.market_id == market_id:
                return _read_only(self._rows.fields[0][:, j]), _read_only(self._rows.fields[1][:, j])
        raise InvalidParameter(f"market {market_id} is not a perpetual column of this book")

    def refresh(self, state: ProtocolState, addresses: Iterable[str]) -> None:
        """Re-read the rows of ``addresses`` (those not in the book are ignored) from ``state``."""
        picked = sorted({self._row[a] for a in addresses if a in self._row})
        if not picked:
            return
        self._rows.fill(picked, [self._labels[i] for i in picked], [state.accounts[self._labels[i]] for i in picked])
        prepare_rows(
            np.asarray(picked, dtype=np.int64), self._rows.balance, *self._rows.fields, self._carry, self._magnitude
        )
        self._changed.extend(picked)

    def book(self, state: ProtocolState, markets: Mapping[int, MarketState], now_s: int) -> MarginBook:
        """A :class:`MarginBook` view of the rows at ``markets`` (accrued to ``now_s``), whose exact
        source is ``state``'s live accounts. Valid until the next :meth:`refresh`."""
        perpetual = {mp.market_id: markets[mp.market_id] for mp in self._params.markets if not mp.is_option}
        return MarginBook(
            self._params, now_s, perpetual, self._screen, self._labels, _LiveAccounts(state.accounts, self._labels)
        )
