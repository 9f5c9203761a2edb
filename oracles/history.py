"""Loaders for historical price data: Chainlink round CSVs and Binance kline CSVs.

Decimal strings are parsed exactly (``decimal.Decimal``, never float) into integers: Chainlink
answers stay in feed units (8 decimals for USD pairs), kline prices and volumes become WAD. A
malformed file (wrong path, empty, missing column, non-numeric cell, unsorted or duplicate
timestamps) raises :class:`~protocol.errors.InvalidParameter` naming the file, the row (1-based
line number in the file, the header being line 1) and the column. Paths are passed in; nothing is
copied.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from protocol.constants import MAX_DECIMALS
from protocol.errors import InvalidParameter
from protocol.oracle.rounds import RoundData, compose_round_id

__all__ = [
    "BINANCE_KLINE_COLUMNS",
    "CHAINLINK_COLUMNS",
    "CHAINLINK_USD_DECIMALS",
    "KLINE_COLUMNS",
    "Kline",
    "load_chainlink_rounds",
    "load_klines",
]

#: Columns of a Chainlink round history CSV.
CHAINLINK_COLUMNS: Final = (
    "roundId",
    "answer",
    "startedAt",
    "updatedAt",
    "answeredInRound",
    "phaseId",
    "aggregatorRoundId",
)
#: Decimals of Chainlink USD-pair answers.
CHAINLINK_USD_DECIMALS: Final = 8
#: Columns of the project's crash-window kline CSVs (bar open time in ms).
KLINE_COLUMNS: Final = ("timestamp_ms", "date", "open", "high", "low", "close", "volume")
#: Columns of a raw Binance (Vision) kline CSV.
BINANCE_KLINE_COLUMNS: Final = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)


@dataclass(frozen=True, slots=True)
class Kline:
    """One OHLCV bar: open time in ms (UTC), prices in WAD (USD per base unit), volume in WAD."""

    open_time_ms: int
    open_wad: int
    high_wad: int
    low_wad: int
    close_wad: int
    volume_wad: int


class _Reader:
    """Rows of one CSV file as dicts, with errors that name the file, line and column."""

    def __init__(self, path: Path, rows: Iterator[list[str]], header: Sequence[str]) -> None:
        self.path = path
        self._rows = rows
        self.header = tuple(header)

    def fail(self, line: int, column: str, problem: str) -> InvalidParameter:
        return InvalidParameter(f"{self.path}: row {line}, column {column!r}: {problem}")

    def require(self, columns: Sequence[str]) -> None:
        for column in columns:
            if column not in self.header:
                raise InvalidParameter(
                    f"{self.path}: missing column {column!r} (header is {','.join(self.header)}); "
                    f"expected columns {','.join(columns)}"
                )

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        for line, cells in enumerate(self._rows, start=2):
            if not cells:
                continue
            if len(cells) != len(self.header):
                raise InvalidParameter(f"{self.path}: row {line} has {len(cells)} cells, header has {len(self.header)}")
            yield line, dict(zip(self.header, cells, strict=True))

    def integer(self, line: int, row: dict[str, str], column: str) -> int:
        cell = row[column].strip()
        try:
            return int(cell, 10)
        except ValueError:
            raise self.fail(line, column, f"expected an integer, got {cell!r}") from None

    def wad(self, line: int, row: dict[str, str], column: str) -> int:
        """A non-negative decimal string converted into WAD exactly."""
        cell = row[column].strip()
        try:
            value = Decimal(cell)
        except InvalidOperation:
            raise self.fail(line, column, f"expected a decimal number, got {cell!r}") from None
        if not value.is_finite() or value < 0:
            raise self.fail(line, column, f"expected a finite non-negative number, got {cell!r}")
        scaled = value.scaleb(MAX_DECIMALS)
        if scaled != scaled.to_integral_value():
            raise self.fail(line, column, f"{cell!r} has more than {MAX_DECIMALS} decimal places")
        return int(scaled)


def _with_reader(path: Path | str) -> _Reader:
    """Open ``path`` and return a reader over its rows (read whole: the inputs are small)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidParameter(f"{p}: no such file; pass the path of an existing CSV file")
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            lines = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidParameter(f"{p}: cannot be read as a UTF-8 CSV file ({exc})") from None
    if not lines or not any(lines):
        raise InvalidParameter(f"{p}: file is empty; expected a header row and data rows")
    header = [h.strip() for h in lines[0]]
    body = lines[1:]
    if not any(body):
        raise InvalidParameter(f"{p}: file has a header but no data rows")
    return _Reader(p, iter(body), header)


def load_chainlink_rounds(path: Path | str) -> tuple[RoundData, ...]:
    """Load a Chainlink round history (columns :data:`CHAINLINK_COLUMNS`), answers in feed units.

    Checks that ``roundId == phaseId << 64 | aggregatorRoundId``, that round ids strictly
    increase (no duplicates) and that ``updatedAt`` never decreases within a phase (phases may
    overlap in time, so the file as a whole is not sorted by time).
    """
    reader = _with_reader(path)
    reader.require(CHAINLINK_COLUMNS)
    rounds: list[RoundData] = []
    last_updated: dict[int, int] = {}
    for line, row in reader.rows():
        v = {c: reader.integer(line, row, c) for c in CHAINLINK_COLUMNS}
        try:
            packed = compose_round_id(v["phaseId"], v["aggregatorRoundId"])
            rd = RoundData(v["roundId"], v["answer"], v["startedAt"], v["updatedAt"], v["answeredInRound"])
        except InvalidParameter as exc:
            raise InvalidParameter(f"{reader.path}: row {line}: {exc}") from None
        if packed != rd.round_id:
            raise reader.fail(line, "roundId", f"{rd.round_id} != phaseId << 64 | aggregatorRoundId = {packed}")
        if rounds and rd.round_id <= rounds[-1].round_id:
            raise reader.fail(line, "roundId", f"not increasing (previous row has {rounds[-1].round_id})")
        phase = v["phaseId"]
        if phase in last_updated and rd.updated_at < last_updated[phase]:
            raise reader.fail(
                line,
                "updatedAt",
                f"decreases within phase {phase} ({rd.updated_at} < {last_updated[phase]})",
            )
        last_updated[phase] = rd.updated_at
        rounds.append(rd)
    return tuple(rounds)


def load_klines(path: Path | str) -> tuple[Kline, ...]:
    """Load a kline CSV in either layout, :data:`KLINE_COLUMNS` or :data:`BINANCE_KLINE_COLUMNS`.

    The layout is recognised by the first header cell. Open times must strictly increase, and
    each bar must satisfy ``0 < low <= min(open, close)`` and ``max(open, close) <= high``.
    """
    reader = _with_reader(path)
    columns: tuple[str, ...]
    if reader.header[0] == "open_time":
        time_column, columns = "open_time", BINANCE_KLINE_COLUMNS
    else:
        time_column, columns = "timestamp_ms", KLINE_COLUMNS
    reader.require(columns)
    bars: list[Kline] = []
    for line, row in reader.rows():
        t = reader.integer(line, row, time_column)
        if t < 0:
            raise reader.fail(line, time_column, f"negative timestamp {t}")
        if bars and t <= bars[-1].open_time_ms:
            kind = "duplicate" if t == bars[-1].open_time_ms else "unsorted"
            raise reader.fail(line, time_column, f"{kind} timestamp {t} after {bars[-1].open_time_ms}")
        o, h, lo, c, vol = (reader.wad(line, row, k) for k in ("open", "high", "low", "close", "volume"))
        if lo <= 0:
            raise reader.fail(line, "low", "price must be positive")
        if not lo <= min(o, c) or not max(o, c) <= h:
            raise reader.fail(line, "high", "bar violates low <= open, close <= high")
        bars.append(Kline(t, o, h, lo, c, vol))
    return tuple(bars)
