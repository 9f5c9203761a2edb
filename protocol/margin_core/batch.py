"""Batch margin at one price vector: equity, requirements, flags, shortfall, candidates.

:func:`evaluate` is a thin validating wrapper: it checks the price vector and the output
buffers, computes the per-market scalars exactly, runs the float64 screen kernel into
preallocated outputs and re-evaluates, with :func:`protocol.margin.account_health`, every account
the screen's error bound cannot decide (see :mod:`protocol.margin_core.screen`).

Guarantees, on every account: ``liquidatable`` equals the model's ``equity < maintenance``,
``meets_initial`` equals ``equity >= initial``, and the sign of every returned float (equity,
free collateral, shortfall) equals the sign of the model's integer. Float magnitudes are
approximate (relative error about ``1e-14`` of the account's gross magnitude) except on
re-evaluated accounts, whose exact integers are in :attr:`MarginBatch.exact` and whose floats
are those integers correctly rounded. :func:`evaluate_rows` does the same for chosen rows only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.margin import Health, account_health
from protocol.margin_core.book import MarginBook
from protocol.margin_core.prices import price_scalars, validate_prices
from protocol.margin_core.screen import Tolerances, screen

__all__ = ["MarginBatch", "MarginOutputs", "evaluate", "evaluate_rows", "liquidation_candidates"]


@dataclass(frozen=True, eq=False)
class MarginOutputs:
    """Preallocated outputs of :func:`evaluate` for N accounts; reuse them across price ticks."""

    #: Equity, initial and maintenance requirement, USD (float64, shape (N,)).
    equity: NDArray[np.float64]
    initial: NDArray[np.float64]
    maintenance: NDArray[np.float64]
    #: Exact decisions (bool, shape (N,)).
    liquidatable: NDArray[np.bool_]
    meets_initial: NDArray[np.bool_]
    #: Scratch: accounts the screen could not decide.
    uncertain: NDArray[np.bool_]

    @classmethod
    def allocate(cls, n_accounts: int) -> MarginOutputs:
        """Fresh outputs for ``n_accounts`` accounts."""
        if isinstance(n_accounts, bool) or not isinstance(n_accounts, int) or n_accounts < 0:
            raise InvalidParameter(f"n_accounts must be a non-negative integer, got {n_accounts!r}")

        def floats() -> NDArray[np.float64]:
            return np.empty(n_accounts, dtype=np.float64)

        def flags() -> NDArray[np.bool_]:
            return np.empty(n_accounts, dtype=np.bool_)

        return cls(floats(), floats(), floats(), flags(), flags(), flags())

    @property
    def nbytes(self) -> int:
        """Bytes of all output arrays."""
        return sum(int(a.nbytes) for a in self._arrays())

    def _arrays(self) -> tuple[NDArray[np.generic], ...]:
        return (self.equity, self.initial, self.maintenance, self.liquidatable, self.meets_initial, self.uncertain)

    def check(self, n_accounts: int) -> None:
        """Raise InvalidParameter unless every array is a writable, C-contiguous (N,) array of its dtype."""
        names = ("equity", "initial", "maintenance", "liquidatable", "meets_initial", "uncertain")
        for name, a in zip(names, self._arrays(), strict=True):
            dtype = np.float64 if name in names[:3] else np.bool_
            if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != (n_accounts,):
                raise InvalidParameter(
                    f"out.{name} must be a numpy {np.dtype(dtype).name} array of shape ({n_accounts},); "
                    "use MarginOutputs.allocate(book.n_accounts)"
                )
            if not a.flags.c_contiguous or not a.flags.writeable:
                raise InvalidParameter(f"out.{name} must be writable and C-contiguous")


@dataclass(frozen=True, eq=False)
class MarginBatch:
    """The margin of every account of a book at one price vector (views of the outputs)."""

    #: Equity, initial and maintenance requirement, USD; exact sign, approximate magnitude.
    equity: NDArray[np.float64]
    initial: NDArray[np.float64]
    maintenance: NDArray[np.float64]
    #: ``equity < maintenance`` (strict), exactly as the model decides.
    liquidatable: NDArray[np.bool_]
    #: ``equity >= initial``, exactly as the model decides.
    meets_initial: NDArray[np.bool_]
    #: Rows re-evaluated exactly by the model (ascending).
    reevaluated: NDArray[np.int64]
    #: The model's exact health (USD WAD) of each re-evaluated row.
    exact: Mapping[int, Health]
    #: The exact effective fractions used (WAD), ``market_id -> (initial, maintenance)``.
    fractions: Mapping[int, tuple[int, int]]

    def free_collateral(self) -> NDArray[np.float64]:
        """``equity - initial``, USD (exact sign; exact value on re-evaluated rows)."""
        free = self.equity - self.initial
        for i, h in self.exact.items():
            free[i] = h.free_collateral / WAD
        return free

    def shortfall(self) -> NDArray[np.float64]:
        """``maintenance - equity``, USD: positive exactly on liquidatable rows."""
        short = self.maintenance - self.equity
        for i, h in self.exact.items():
            short[i] = (h.maintenance - h.equity) / WAD
        return short


def evaluate(book: MarginBook, prices: Mapping[int, int], *, out: MarginOutputs | None = None) -> MarginBatch:
    """Margin of every account of ``book`` at ``prices`` (feed_id -> price_wad, exact ints).

    Writes into ``out`` (allocated if None) and returns views of it. Raises InvalidParameter
    for a missing, NaN, float, zero or negative price and for malformed outputs.
    """
    if not isinstance(book, MarginBook):
        raise InvalidParameter(f"book must be a MarginBook, got {type(book).__name__}")
    return _evaluate(book, prices, None, out)


def evaluate_rows(
    book: MarginBook, prices: Mapping[int, int], rows: NDArray[np.integer], *, out: MarginOutputs | None = None
) -> MarginBatch:
    """:func:`evaluate` of the accounts at ``rows`` of ``book`` only (a watch re-checking a few).

    ``rows`` is a 1-D integer array of row indices in ``[0, N)``, in any order. Entry ``k`` of
    every array of the batch is row ``rows[k]``, and ``reevaluated`` / ``exact`` count in the same
    positions ``k``; ``out`` (allocated if None) must hold ``len(rows)`` accounts. Raises
    InvalidParameter as :func:`evaluate` does, and for rows that are not such an array.
    """
    if not isinstance(book, MarginBook):
        raise InvalidParameter(f"book must be a MarginBook, got {type(book).__name__}")
    if not isinstance(rows, np.ndarray) or rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise InvalidParameter("rows must be a 1-D numpy integer array of row indices")
    picked = np.ascontiguousarray(rows, dtype=np.int64)
    if picked.size and (int(picked.min()) < 0 or int(picked.max()) >= book.n_accounts):
        raise InvalidParameter(f"rows must lie in [0, {book.n_accounts}), the book's rows")
    return _evaluate(book, prices, picked, out)


def _evaluate(
    book: MarginBook, prices: Mapping[int, int], rows: NDArray[np.int64] | None, out: MarginOutputs | None
) -> MarginBatch:
    """Screen ``rows`` (every row when None) into ``out`` and re-evaluate the undecided exactly."""
    checked = validate_prices(book.perpetuals, book.collaterals, prices)
    n = book.n_accounts if rows is None else int(rows.size)
    if out is None:
        out = MarginOutputs.allocate(n)
    elif not isinstance(out, MarginOutputs):
        raise InvalidParameter(f"out must be MarginOutputs, got {type(out).__name__}")
    else:
        out.check(n)
    sc = price_scalars(book.perpetuals, book.collaterals, book.markets, checked)
    screen(
        book.screen.as_tuple(),
        (sc.q_long, sc.q_short, sc.im_rate, sc.mm_rate),
        (sc.value_rate, sc.value_cap),
        Tolerances(len(book.perpetuals), len(book.collaterals)),
        (out.equity, out.initial, out.maintenance),
        (out.liquidatable, out.meets_initial, out.uncertain),
        rows,
    )
    reevaluated = np.flatnonzero(out.uncertain)
    exact: dict[int, Health] = {}
    slots = reevaluated.tolist()
    accounts = book.accounts(slots if rows is None else rows[reevaluated].tolist())
    for i, account in zip(slots, accounts, strict=True):
        h = account_health(account, book.params, book.markets, checked, now_s=book.now_s)
        exact[i] = h
        out.equity[i] = h.equity / WAD
        out.initial[i] = h.initial / WAD
        out.maintenance[i] = h.maintenance / WAD
        out.liquidatable[i] = h.liquidatable
        out.meets_initial[i] = h.meets_initial
    return MarginBatch(
        out.equity,
        out.initial,
        out.maintenance,
        out.liquidatable,
        out.meets_initial,
        reevaluated,
        exact,
        sc.fractions,
    )


def liquidation_candidates(batch: MarginBatch) -> NDArray[np.int64]:
    """Rows of every liquidatable account, largest shortfall first (ties by row).

    The set is exact. The order uses the screened shortfall (exact on re-evaluated rows), so two
    accounts whose shortfalls differ by less than the screen's tolerance may appear swapped.
    """
    if not isinstance(batch, MarginBatch):
        raise InvalidParameter(f"batch must be a MarginBatch, got {type(batch).__name__}")
    rows = np.flatnonzero(batch.liquidatable)
    shortfall = batch.maintenance[rows] - batch.equity[rows]
    for k in np.flatnonzero(np.isin(rows, batch.reevaluated)).tolist():
        h = batch.exact[int(rows[k])]
        shortfall[k] = (h.maintenance - h.equity) / WAD
    return rows[np.lexsort((rows, -shortfall))]
