"""The structure-of-arrays book: accounts x markets x collateral assets.

A :class:`MarginBook` holds two views of the same accounts:

* :class:`ScreenArrays`, float64 in whole units, read by the batch screen (the only data a
  price tick streams through);
* an exact source of each account's WAD integers, from which the model's own
  :func:`protocol.margin.account_health` re-evaluates the few accounts the screen cannot decide:
  deep copies of the model's :class:`~protocol.state.Account` objects (:meth:`MarginBook.from_state`)
  or :class:`~protocol.margin_core.limbs.WadLimbs` arrays (:meth:`MarginBook.from_arrays`).

Columns are the perpetual markets of ``params.markets`` and the assets of ``params.collaterals``,
in declaration order; option markets are margined by the portfolio engine, and an account
holding one is refused. Pending funding and loss are
taken against the market indices stored in the book, exactly as ``account_health`` does (it
does not accrue funding up to ``now``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.margin_core.limbs import WadLimbs
from protocol.margin_core.screen import prepare
from protocol.params import CollateralParams, MarketParams, Params
from protocol.state import Account, MarketState, Position, ProtocolState

__all__ = ["MarginBook", "RowArrays", "ScreenArrays"]


@dataclass(frozen=True, eq=False)
class ScreenArrays:
    """float64 copies of the book in whole units (read-only).

    Per-account arrays are contiguous; the (N, M) and (N, C) arrays are column-major
    (Fortran order): each market's or asset's column is contiguous, so the screen streams a block
    of accounts column by column with SIMD over accounts (see :mod:`protocol.margin_core.screen`).
    """

    #: Settlement balance, USD, shape (N,).
    balance: NDArray[np.float64]
    #: ``|B| + sum_m (|O| + |s| |F0| + |s| |L0|)``, USD, shape (N,): the static part of the error bound.
    magnitude: NDArray[np.float64]
    #: Signed position size, base units, shape (N, M).
    size: NDArray[np.float64]
    #: Price-independent part of the position term ``-O + (s F0 + |s| L0) / W``, USD, shape (N, M).
    carry: NDArray[np.float64]
    #: Collateral held, base units, shape (N, C).
    collateral: NDArray[np.float64]

    def __post_init__(self) -> None:
        for name in ("balance", "magnitude"):
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.dtype != np.float64 or a.ndim != 1 or not a.flags.c_contiguous:
                raise InvalidParameter(f"ScreenArrays.{name} must be a contiguous 1-D float64 array")
        for name in ("size", "carry", "collateral"):
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.dtype != np.float64 or a.ndim != 2 or not a.flags.f_contiguous:
                raise InvalidParameter(f"ScreenArrays.{name} must be a column-major (Fortran-order) 2-D float64 array")

    def as_tuple(
        self,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(balance, magnitude, size, carry, collateral): the screen's input order."""
        return self.balance, self.magnitude, self.size, self.carry, self.collateral

    @property
    def nbytes(self) -> int:
        """Bytes one screen pass reads."""
        return sum(int(a.nbytes) for a in self.as_tuple())


class _ExactAccounts(Protocol):
    def accounts(self, indices: Sequence[int]) -> list[Account]: ...


@dataclass(frozen=True, eq=False)
class _ModelAccounts:
    rows: tuple[Account, ...]

    def accounts(self, indices: Sequence[int]) -> list[Account]:
        return [self.rows[i] for i in indices]


@dataclass(frozen=True, eq=False)
class _LimbAccounts:
    market_ids: tuple[int, ...]
    asset_ids: tuple[int, ...]
    balance: WadLimbs
    size: WadLimbs
    open_notional: WadLimbs
    funding_snapshot: WadLimbs
    loss_snapshot: WadLimbs
    collateral: WadLimbs

    def accounts(self, indices: Sequence[int]) -> list[Account]:
        """Fresh model accounts of rows ``indices``: one gather per limb array for all of them (the
        exact re-evaluation of a batch's undecided rows builds them all at once)."""
        picked = np.asarray(indices, dtype=np.int64)

        def exact(limbs: WadLimbs) -> list[list[int]]:
            whole, frac = limbs.whole[picked].tolist(), limbs.frac[picked].tolist()
            return [[w * WAD + f for w, f in zip(ws, fs, strict=True)] for ws, fs in zip(whole, frac, strict=True)]

        balances = [
            w * WAD + f
            for w, f in zip(self.balance.whole[picked].tolist(), self.balance.frac[picked].tolist(), strict=True)
        ]
        fields = zip(
            exact(self.size),
            exact(self.open_notional),
            exact(self.funding_snapshot),
            exact(self.loss_snapshot),
            strict=True,
        )
        out = []
        for balance, (sizes, opens, fundings, losses), amounts in zip(
            balances, fields, exact(self.collateral), strict=True
        ):
            positions = {
                market_id: Position(size=sz, open_notional=o, funding_snapshot=f, loss_snapshot=lo)
                for market_id, sz, o, f, lo in zip(self.market_ids, sizes, opens, fundings, losses, strict=True)
                if sz or o
            }
            collateral = dict(zip(self.asset_ids, amounts, strict=True))
            out.append(Account(balance=balance, collateral=collateral, positions=positions))
        return out


def _frozen(a: NDArray[np.float64]) -> NDArray[np.float64]:
    a.flags.writeable = False
    return a


def _screen_arrays(
    balance: NDArray[np.float64],
    size: NDArray[np.float64],
    open_notional: NDArray[np.float64],
    funding_snapshot: NDArray[np.float64],
    loss_snapshot: NDArray[np.float64],
    collateral: NDArray[np.float64],
) -> ScreenArrays:
    size, collateral = np.asfortranarray(size), np.asfortranarray(collateral)
    carry, magnitude = prepare(balance, size, open_notional, funding_snapshot, loss_snapshot)
    return ScreenArrays(_frozen(balance), _frozen(magnitude), _frozen(size), _frozen(carry), _frozen(collateral))


def _perpetuals(params: Params) -> tuple[MarketParams, ...]:
    return tuple(mp for mp in params.markets if not mp.is_option)


def _check_time(now_s: object) -> int:
    if isinstance(now_s, bool) or not isinstance(now_s, int) or now_s < 0:
        raise InvalidParameter(f"now_s must be a non-negative integer (seconds), got {now_s!r}")
    return now_s


def _market_states(params: Params, markets: Mapping[int, MarketState]) -> dict[int, MarketState]:
    if not isinstance(markets, Mapping):
        raise InvalidParameter(f"markets must be a mapping market_id -> MarketState, got {type(markets).__name__}")
    states: dict[int, MarketState] = {}
    for mp in _perpetuals(params):
        ms = markets.get(mp.market_id)
        if not isinstance(ms, MarketState):
            raise InvalidParameter(
                f"markets has no MarketState for market {mp.market_id} ({mp.symbol}); pass one per market in params"
            )
        states[mp.market_id] = copy.deepcopy(ms)
    return states


@dataclass(frozen=True, eq=False)
class RowArrays:
    """Writable float64 rows (whole units) of model accounts, before the screen's folding."""

    params: Params
    #: Settlement balance, USD, shape (N,).
    balance: NDArray[np.float64]
    #: (size, open notional, funding snapshot, loss snapshot), each shape (N, M).
    fields: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]
    #: Collateral held, base units, shape (N, C).
    collateral: NDArray[np.float64]

    @classmethod
    def allocate(cls, n: int, params: Params) -> RowArrays:
        """Zeroed rows for ``n`` accounts over the perpetuals and collateral assets of ``params``
        (2-D arrays column-major, the layout :class:`ScreenArrays` keeps)."""
        m, c = len(_perpetuals(params)), len(params.collaterals)

        def columns(width: int) -> NDArray[np.float64]:
            return np.zeros((n, width), order="F")

        return cls(params, np.zeros(n), (columns(m), columns(m), columns(m), columns(m)), columns(c))

    def fill(self, rows: Iterable[int], labels: Sequence[str], accounts: Sequence[Account]) -> None:
        """Write ``accounts`` (labelled for errors) into ``rows``; InvalidParameter for an option
        position, an unknown asset or a negative collateral amount."""
        column = {mp.market_id: j for j, mp in enumerate(_perpetuals(self.params))}
        asset_column = {cp.asset_id: k for k, cp in enumerate(self.params.collaterals)}
        for i, address, acct in zip(rows, labels, accounts, strict=True):
            self.balance[i] = acct.balance / WAD
            for f in self.fields:
                f[i] = 0.0
            self.collateral[i] = 0.0
            for market_id, pos in acct.positions.items():
                if market_id not in column:
                    raise InvalidParameter(
                        f"account {address} has a position in market {market_id}, which is not a perpetual of "
                        "params; the batch core margins perpetuals (options use portfolio margin)"
                    )
                j = column[market_id]
                values = (pos.size, pos.open_notional, pos.funding_snapshot, pos.loss_snapshot)
                for f, v in zip(self.fields, values, strict=True):
                    f[i, j] = v / WAD
            for asset_id, amount in acct.collateral.items():
                if asset_id not in asset_column:
                    raise InvalidParameter(f"account {address} holds unknown collateral asset {asset_id}")
                if amount < 0:
                    raise InvalidParameter(f"account {address} holds a negative amount {amount} of asset {asset_id}")
                self.collateral[i, asset_column[asset_id]] = amount / WAD


@dataclass(frozen=True, eq=False)
class MarginBook:
    """Accounts x markets x collateral assets, ready for :func:`~protocol.margin_core.evaluate`.

    Build with :meth:`from_state` or :meth:`from_arrays`; the book is immutable and owns copies
    of the market states and of the exact account data.
    """

    params: Params
    #: Time (s) the book is evaluated at; passed to the model on re-evaluation.
    now_s: int
    #: Market accumulators (funding and loss indices, open interest) the book is evaluated with.
    markets: Mapping[int, MarketState]
    screen: ScreenArrays
    #: Account labels (addresses for a book built from model state), or None.
    labels: tuple[str, ...] | None
    _exact: _ExactAccounts

    @property
    def perpetuals(self) -> tuple[MarketParams, ...]:
        """The market columns: every perpetual market of ``params``, in declaration order."""
        return _perpetuals(self.params)

    @property
    def collaterals(self) -> tuple[CollateralParams, ...]:
        """The collateral columns, in declaration order."""
        return self.params.collaterals

    @property
    def n_accounts(self) -> int:
        """Number of accounts N."""
        return int(self.screen.balance.shape[0])

    def account(self, index: int) -> Account:
        """The exact model account at row ``index`` (a fresh object for array-built books)."""
        if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < self.n_accounts:
            raise InvalidParameter(f"account index must be an integer in [0, {self.n_accounts}), got {index!r}")
        return self._exact.accounts([int(index)])[0]

    def accounts(self, indices: Sequence[int]) -> list[Account]:
        """The exact model accounts at rows ``indices`` (fresh objects for array-built books),
        gathered in one pass: what :meth:`account` gives for each. InvalidParameter for a row
        that is not an integer in ``[0, N)``."""
        if isinstance(indices, str | bytes) or not isinstance(indices, Sequence):
            raise InvalidParameter(f"indices must be a sequence of row numbers, got {type(indices).__name__}")
        rows = []
        for index in indices:
            if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < self.n_accounts:
                raise InvalidParameter(f"account index must be an integer in [0, {self.n_accounts}), got {index!r}")
            rows.append(int(index))
        return self._exact.accounts(rows)

    @classmethod
    def from_state(cls, state: ProtocolState, params: Params) -> MarginBook:
        """A book of every account of ``state`` (rows in address order), copied, at ``state.now_s``.

        Funding indexes are taken as stored; pass :func:`protocol.funding.accrued_state` of the
        state to decide as the protocol would if it touched every market now.
        """
        if not isinstance(state, ProtocolState):
            raise InvalidParameter(f"state must be a ProtocolState, got {type(state).__name__}")
        if not isinstance(params, Params):
            raise InvalidParameter(f"params must be a Params, got {type(params).__name__}")
        markets = _market_states(params, state.markets)
        labels = tuple(sorted(state.accounts))
        accounts = tuple(copy.deepcopy(state.accounts[a]) for a in labels)
        rows = RowArrays.allocate(len(accounts), params)
        rows.fill(range(len(accounts)), labels, accounts)
        balance, (size, open_notional, funding_snapshot, loss_snapshot), collateral = (
            rows.balance,
            rows.fields,
            rows.collateral,
        )
        screen = _screen_arrays(balance, size, open_notional, funding_snapshot, loss_snapshot, collateral)
        return cls(params, state.now_s, markets, screen, labels, _ModelAccounts(accounts))

    @classmethod
    def from_arrays(
        cls,
        params: Params,
        markets: Mapping[int, MarketState],
        *,
        balance: WadLimbs,
        size: WadLimbs,
        open_notional: WadLimbs,
        funding_snapshot: WadLimbs,
        loss_snapshot: WadLimbs,
        collateral: WadLimbs,
        labels: Sequence[str] | None = None,
        now_s: int = 0,
    ) -> MarginBook:
        """A book from exact WAD arrays: ``balance`` (N,), position fields (N, M), ``collateral``
        (N, C) in base units, >= 0, columns as :attr:`perpetuals` and :attr:`collaterals`. A row
        whose size and open notional are both 0 has no position in that market. The limbs are kept
        (not copied) as the exact source: do not mutate them.
        """
        if not isinstance(params, Params):
            raise InvalidParameter(f"params must be a Params, got {type(params).__name__}")
        states = _market_states(params, markets)
        now_s = _check_time(now_s)
        limbs = {
            "balance": balance,
            "size": size,
            "open_notional": open_notional,
            "funding_snapshot": funding_snapshot,
            "loss_snapshot": loss_snapshot,
            "collateral": collateral,
        }
        for name, value in limbs.items():
            if not isinstance(value, WadLimbs):
                raise InvalidParameter(f"{name} must be WadLimbs (see WadLimbs.from_ints / from_scaled)")
        if len(balance.shape) != 1:
            raise InvalidParameter(f"balance must have shape (N,), got {balance.shape}")
        perps = _perpetuals(params)
        n, m, c = balance.shape[0], len(perps), len(params.collaterals)
        for name in ("size", "open_notional", "funding_snapshot", "loss_snapshot"):
            if limbs[name].shape != (n, m):
                raise InvalidParameter(
                    f"{name} must have shape (N, M) = ({n}, {m}) for {m} perpetual markets, got {limbs[name].shape}"
                )
        if collateral.shape != (n, c):
            raise InvalidParameter(f"collateral must have shape (N, C) = ({n}, {c}), got {collateral.shape}")
        if np.any(collateral.whole < 0) or np.any(collateral.frac < 0):
            raise InvalidParameter("collateral amounts must be >= 0")
        if labels is not None:
            labels = tuple(labels)
            if len(labels) != n or not all(isinstance(x, str) for x in labels):
                raise InvalidParameter(f"labels must be {n} strings, one per account")
        screen = _screen_arrays(
            balance.units(),
            size.units(),
            open_notional.units(),
            funding_snapshot.units(),
            loss_snapshot.units(),
            collateral.units(),
        )
        exact = _LimbAccounts(
            tuple(mp.market_id for mp in perps),
            tuple(cp.asset_id for cp in params.collaterals),
            balance,
            size,
            open_notional,
            funding_snapshot,
            loss_snapshot,
            collateral,
        )
        return cls(params, now_s, states, screen, labels, exact)
