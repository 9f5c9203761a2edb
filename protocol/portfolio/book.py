"""Positions of many accounts as a padded structure of arrays.

Account ``a`` holds up to ``P`` positions in slots ``(a, 0..P-1)``; a slot with ``size == 0``
is empty and its other fields are ignored. Units: ``size`` in units of the underlying (signed,
short < 0); ``strike`` USD per unit; ``expiry_years`` time to expiry in years (ACT/365);
``implied_vol`` annualised decimal; ``dividend_yield`` the continuous yield ``q`` of the
underlying the option is priced with, annualised decimal (:mod:`protocol.black_scholes`; may be
negative). ``strike``, ``expiry_years``, ``implied_vol`` and ``dividend_yield`` are ignored for
perpetuals (write 0).

On construction the book groups its option slots into *series*: slots with the same
underlying, kind, strike, expiry, implied volatility and yield hold the same listed instrument, whose
scenario P&L per unit the engine computes once (SPAN's risk array). :attr:`PositionBook.series`
maps each slot to its row of :attr:`PositionBook.listed` (series held by at least two slots);
other slots (perpetuals, empty slots and options held once) map to -1 and are revalued on
their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from protocol.portfolio._validate import check_finite, check_positive, float_array, int_array, same_shape

T = TypeVar("T", bound=np.generic)

__all__ = ["OPTION_FIELDS", "Instrument", "Position", "PositionBook", "SeriesTable"]

#: The float fields of an option slot besides its size (units: module docstring).
OPTION_FIELDS = ("strike", "expiry_years", "implied_vol", "dividend_yield")


class Instrument(IntEnum):
    """Position type codes stored in :attr:`PositionBook.kind`."""

    #: Linear perpetual: value changes by ``size * (new price - price)``.
    PERP = 0
    #: European cash-settled call.
    CALL = 1
    #: European cash-settled put.
    PUT = 2


@dataclass(frozen=True)
class Position:
    """One position (units: module docstring), for building small books by hand."""

    underlying: int
    kind: Instrument
    size: float
    strike: float = 0.0
    expiry_years: float = 0.0
    implied_vol: float = 0.0
    dividend_yield: float = 0.0


@dataclass(frozen=True, eq=False)
class SeriesTable:
    """``N`` distinct option series (read-only ``(N,)`` arrays; units: module docstring)."""

    underlying: NDArray[np.int64]
    kind: NDArray[np.int64]
    strike: NDArray[np.float64]
    expiry_years: NDArray[np.float64]
    implied_vol: NDArray[np.float64]
    dividend_yield: NDArray[np.float64]

    @property
    def count(self) -> int:
        """Number of series ``N``."""
        return int(self.strike.size)


def _read_only(arr: NDArray[T]) -> NDArray[T]:
    arr.flags.writeable = False
    return arr


def _group_series(
    underlying: NDArray[np.int64],
    kind: NDArray[np.int64],
    size: NDArray[np.float64],
    strike: NDArray[np.float64],
    expiry: NDArray[np.float64],
    vol: NDArray[np.float64],
    dividend_yield: NDArray[np.float64],
) -> tuple[SeriesTable, NDArray[np.int64]]:
    """The series held by at least two option slots and each slot's series index (-1: none)."""
    series = np.full(size.shape, -1, dtype=np.int64)
    slots = np.flatnonzero((kind != Instrument.PERP) & (size != 0.0))
    keys = (
        dividend_yield.reshape(-1)[slots],
        vol.reshape(-1)[slots],
        expiry.reshape(-1)[slots],
        strike.reshape(-1)[slots],
        (underlying.reshape(-1)[slots] * 3 + kind.reshape(-1)[slots]).astype(np.float64),
    )
    order = np.lexsort(keys)  # the last key is the primary one
    same = np.ones(order.size, dtype=np.bool_)  # sorted slot equals the previous one
    if same.size:
        same[0] = False
    for key in keys:
        ordered = key[order]
        same[1:] &= ordered[1:] == ordered[:-1]
    starts = ~same  # first sorted slot of each series
    group = np.cumsum(starts) - 1  # series (all, shared or not) of each sorted slot
    counts = np.bincount(group)
    shared = counts >= 2
    index = np.where(shared, np.cumsum(shared) - 1, -1)
    series.reshape(-1)[slots[order]] = index[group]
    first = order[starts][shared]  # one slot of each shared series, in series order
    at = slots[first]
    table = SeriesTable(
        underlying=_read_only(underlying.reshape(-1)[at]),
        kind=_read_only(kind.reshape(-1)[at]),
        strike=_read_only(strike.reshape(-1)[at]),
        expiry_years=_read_only(expiry.reshape(-1)[at]),
        implied_vol=_read_only(vol.reshape(-1)[at]),
        dividend_yield=_read_only(dividend_yield.reshape(-1)[at]),
    )
    return table, _read_only(series)


@dataclass(frozen=True, eq=False)
class PositionBook:
    """``(A, P)`` read-only arrays: accounts by position slots."""

    underlying: NDArray[np.int64]
    kind: NDArray[np.int64]
    size: NDArray[np.float64]
    strike: NDArray[np.float64]
    expiry_years: NDArray[np.float64]
    implied_vol: NDArray[np.float64]
    dividend_yield: NDArray[np.float64]
    #: ``(A, P)`` row of :attr:`listed` holding the slot's series, or -1 (derived, not an argument).
    series: NDArray[np.int64] = field(init=False, repr=False)
    #: The option series held by at least two slots (derived, not an argument).
    listed: SeriesTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ints = {"underlying": int_array("book.underlying", self.underlying), "kind": int_array("book.kind", self.kind)}
        floats = {name: float_array(f"book.{name}", getattr(self, name)) for name in ("size", *OPTION_FIELDS)}
        shape = same_shape({f"book.{k}": v for k, v in {**ints, **floats}.items()})
        if len(shape) != 2:
            raise InvalidParameter(f"book arrays must be 2-D (accounts, slots), got shape {shape}")
        if ints["underlying"].size and ints["underlying"].min() < 0:
            raise InvalidParameter("book.underlying must be >= 0 (an index into the underlyings)")
        kinds = ints["kind"]
        if kinds.size and (kinds.min() < Instrument.PERP or kinds.max() > Instrument.PUT):
            raise InvalidParameter(f"book.kind must be one of {[(int(k), k.name) for k in Instrument]}")
        check_finite("book.size", floats["size"])
        option = (kinds != Instrument.PERP) & (floats["size"] != 0.0)
        check_positive("book.strike", floats["strike"], mask=option)
        check_positive("book.expiry_years", floats["expiry_years"], allow_zero=True, mask=option)
        check_positive("book.implied_vol", floats["implied_vol"], mask=option)
        check_finite("book.dividend_yield", floats["dividend_yield"], mask=option)
        for name, arr in {**ints, **floats}.items():
            if arr is getattr(self, name):
                arr = arr.copy()
            object.__setattr__(self, name, _read_only(arr))
        listed, series = _group_series(
            self.underlying, self.kind, self.size, self.strike, self.expiry_years, self.implied_vol, self.dividend_yield
        )
        object.__setattr__(self, "series", series)
        object.__setattr__(self, "listed", listed)

    @classmethod
    def from_accounts(cls, accounts: Sequence[Sequence[Position]], slots: int | None = None) -> PositionBook:
        """A book from per-account position lists, padded to ``slots`` (default: the longest)."""
        width = max((len(acct) for acct in accounts), default=0) if slots is None else slots
        if any(len(acct) > width for acct in accounts):
            raise InvalidParameter(f"an account holds more than slots = {width} positions")
        shape = (len(accounts), width)
        underlying = np.zeros(shape, dtype=np.int64)
        kind = np.zeros(shape, dtype=np.int64)
        fields = {name: np.zeros(shape) for name in ("size", *OPTION_FIELDS)}
        for a, acct in enumerate(accounts):
            for p, pos in enumerate(acct):
                if not isinstance(pos, Position):
                    raise InvalidParameter(f"accounts[{a}][{p}] must be a Position, got {type(pos).__name__}")
                underlying[a, p] = pos.underlying
                kind[a, p] = int(pos.kind)
                for name, arr in fields.items():
                    arr[a, p] = getattr(pos, name)
        return cls(underlying=underlying, kind=kind, **fields)

    def require_underlyings(self, count: int) -> None:
        """Raise unless every underlying id of the book is below ``count``."""
        if self.underlying.size and int(self.underlying.max()) >= count:
            raise InvalidParameter(
                f"book.underlying refers to underlying {int(self.underlying.max())} but only {count} are given"
            )

    @property
    def shape(self) -> tuple[int, int]:
        """``(accounts, slots)``."""
        a, p = self.size.shape
        return int(a), int(p)
