"""Price series for margin calibration: loading, gap checks, alignment and durations.

A :class:`PriceSeries` is a regular grid of bar closes (USD per base unit, float64) with bar
open times in UTC seconds and volumes in base units. Two layouts are read:

* the shared daily files (``date_utc,open,high,low,close,volume,n_hours``, one UTC day a bar);
* any kline CSV :func:`oracles.history.load_klines` reads (``timestamp_ms,date,...`` or the
  12-column Binance layout), at whatever bar size the file has.

A series must be evenly spaced: a missing bar would turn a two-bar move into a one-bar return,
so a gap is refused with one sentence naming the file, the time and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from oracles.history import load_klines
from protocol.constants import WAD
from protocol.errors import InvalidParameter

__all__ = [
    "CRASHES",
    "DAILY_COLUMNS",
    "CrashWindow",
    "PriceSeries",
    "align",
    "bars",
    "crash_windows",
    "daily_csv",
    "format_duration",
    "load_series",
    "parse_duration",
    "utc_date",
]

#: Columns of the shared daily files (resampled from 1-hour bars).
DAILY_COLUMNS: Final = ("date_utc", "open", "high", "low", "close", "volume", "n_hours")
_UNITS: Final = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")

#: The four crash windows of the shared market data: folder name -> (first, last) UTC day of
#: the window (its README; the end of each folder is exclusive, so the last day is the day before).
CRASHES: Final = {
    "2020-03-12_black_thursday": ("2020-03-09", "2020-03-15"),
    "2021-05-19_china_selloff": ("2021-05-16", "2021-05-22"),
    "2022-11_ftx_collapse": ("2022-11-05", "2022-11-14"),
    "2025-10-10_tariff_cascade": ("2025-10-07", "2025-10-13"),
}


@dataclass(frozen=True, eq=False)
class PriceSeries:
    """Evenly spaced bars of one asset: open times (UTC s), closes (USD) and volumes (base units)."""

    name: str
    times_s: NDArray[np.int64]
    closes: NDArray[np.float64]
    volumes: NDArray[np.float64]
    bar_s: int
    source: str

    def __post_init__(self) -> None:
        n = len(self.closes)
        if n < 2 or len(self.times_s) != n or len(self.volumes) != n:
            raise InvalidParameter(f"{self.source}: a price series needs at least two bars of equal-length columns")
        if not np.all(np.isfinite(self.closes)) or np.any(self.closes <= 0):
            raise InvalidParameter(f"{self.source}: every close must be a positive number")

    def __len__(self) -> int:
        return len(self.closes)

    def dates(self) -> list[str]:
        """``YYYY-MM-DD`` (daily bars) or ``YYYY-MM-DD HH:MM`` of every bar's open, UTC."""
        return [utc_date(int(t), self.bar_s) for t in self.times_s]

    def between(self, start_s: int, end_s: int) -> PriceSeries:
        """The bars whose open time lies in ``[start_s, end_s]``."""
        keep = (self.times_s >= start_s) & (self.times_s <= end_s)
        return PriceSeries(
            self.name, self.times_s[keep], self.closes[keep], self.volumes[keep], self.bar_s, self.source
        )


def utc_date(t_s: int, bar_s: int = 86_400) -> str:
    """A bar's open time as text: the day for daily bars, else day and minute (UTC)."""
    fmt = "%Y-%m-%d" if bar_s % 86_400 == 0 else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(t_s, tz=UTC).strftime(fmt)


def _day_s(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


def parse_duration(text: str, what: str) -> int:
    """Seconds of a duration written ``<integer><unit>`` with unit s, m, h or d (``"2d"``, ``"8h"``)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) <= 0:
        raise InvalidParameter(f"{what} {text!r} must be a positive duration such as 1d, 8h or 30m")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The shortest ``<n><unit>`` text of a duration (``172800`` -> ``2d``)."""
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def bars(duration_s: int, bar_s: int, what: str) -> int:
    """Whole bars in ``duration_s``; a duration that is not a multiple of the bar is refused."""
    if duration_s <= 0 or duration_s % bar_s:
        raise InvalidParameter(
            f"{what} of {format_duration(duration_s)} is not a whole number of the data's "
            f"{format_duration(bar_s)} bars; give a multiple of {format_duration(bar_s)}"
        )
    return duration_s // bar_s


def _check_spacing(source: str, times_s: NDArray[np.int64]) -> int:
    steps = np.diff(times_s)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0)) + 1
        raise InvalidParameter(f"{source}: bar {i + 1} is not after the bar before it; sort the file by time")
    bar_s = int(np.min(steps))
    gaps = np.flatnonzero(steps != bar_s)
    if len(gaps):
        i = int(gaps[0])
        missing = int(steps[i] // bar_s) - 1
        raise InvalidParameter(
            f"{source}: {missing} bar(s) missing after {utc_date(int(times_s[i]), bar_s)} "
            f"({len(gaps)} gap(s) in all; bars are {format_duration(bar_s)} apart elsewhere); "
            "fill or cut the series so it is evenly spaced"
        )
    return bar_s


def _daily(path: Path) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    try:
        frame = pd.read_csv(path, dtype={"date_utc": str})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InvalidParameter(f"{path}: cannot be read as a CSV file ({exc})") from None
    missing = [c for c in DAILY_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidParameter(f"{path}: missing columns {missing}; expected {','.join(DAILY_COLUMNS)}")
    try:
        days = pd.to_datetime(frame["date_utc"], format="%Y-%m-%d", utc=True)
    except ValueError:
        raise InvalidParameter(f"{path}: column 'date_utc' must hold dates written YYYY-MM-DD") from None
    closes = pd.to_numeric(frame["close"], errors="coerce").to_numpy(dtype=np.float64)
    volumes = pd.to_numeric(frame["volume"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(closes) | (closes <= 0) | ~np.isfinite(volumes))
    if len(bad):
        raise InvalidParameter(f"{path}: row {int(bad[0]) + 2} has a close or volume that is not a positive number")
    times = ((days - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    return times, closes, volumes


def load_series(path: Path | str, name: str | None = None) -> PriceSeries:
    """Load a daily file or a kline CSV (layout from its header) as an evenly spaced series.

    ``name`` defaults to the file's stem. Raises :class:`InvalidParameter` for a missing or
    malformed file, fewer than two bars, unsorted bars or a gap.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidParameter(f"{p}: no such file; pass the path of a daily or kline CSV file")
    with p.open(encoding="utf-8", errors="replace") as fh:
        header = fh.readline().strip().split(",")
    if header and header[0] == "date_utc":
        times, closes, volumes = _daily(p)
    else:
        klines = load_klines(p)
        times = np.asarray([k.open_time_ms // 1000 for k in klines], dtype=np.int64)
        closes = np.asarray([k.close_wad / WAD for k in klines], dtype=np.float64)
        volumes = np.asarray([k.volume_wad / WAD for k in klines], dtype=np.float64)
    if len(times) < 2:
        raise InvalidParameter(f"{p}: needs at least two bars, has {len(times)}")
    bar_s = _check_spacing(str(p), times)
    return PriceSeries(name or p.stem, times, closes, volumes, bar_s, str(p))


def align(series: tuple[PriceSeries, ...]) -> tuple[PriceSeries, ...]:
    """The bars every series has (same bar size), so the assets' returns share dates."""
    if not series:
        raise InvalidParameter("align needs at least one series")
    bar_s = series[0].bar_s
    for s in series[1:]:
        if s.bar_s != bar_s:
            raise InvalidParameter(
                f"{s.source} has {format_duration(s.bar_s)} bars but {series[0].source} has "
                f"{format_duration(bar_s)} bars; give series of one bar size"
            )
    common = series[0].times_s
    for s in series[1:]:
        common = np.intersect1d(common, s.times_s)
    if len(common) < 2:
        raise InvalidParameter(f"the series {[s.name for s in series]} share fewer than two bars")
    out = []
    for s in series:
        keep = np.isin(s.times_s, common)
        out.append(PriceSeries(s.name, s.times_s[keep], s.closes[keep], s.volumes[keep], bar_s, s.source))
    _check_spacing(f"the bars shared by {[s.name for s in series]}", common)
    return tuple(out)


def daily_csv(root: Path, symbol: str) -> Path:
    """The shared daily spot file of ``symbol`` (``BTC``, ``ETH``) under the market data folder."""
    path = root / "daily" / f"binance_spot_{symbol}USDT_1d_from_1h.csv"
    if not path.is_file():
        raise InvalidParameter(f"market data file {path} is missing; the folder {root} is incomplete")
    return path


@dataclass(frozen=True)
class CrashWindow:
    """One crash of the shared market data: its days and its 1-hour spot bars per symbol."""

    name: str
    first_day_s: int
    last_day_s: int
    hourly: dict[str, Path]


def crash_windows(root: Path, symbols: tuple[str, ...]) -> tuple[CrashWindow, ...]:
    """The four crash windows (:data:`CRASHES`) with the 1-hour spot CSV of each symbol."""
    out = []
    for name, (first, last) in CRASHES.items():
        hourly = {s: root / name / f"binance_spot_{s}USDT_1h.csv" for s in symbols}
        for path in hourly.values():
            if not path.is_file():
                raise InvalidParameter(f"market data file {path} is missing; the folder {root} is incomplete")
        out.append(CrashWindow(name, _day_s(first), _day_s(last), hourly))
    return tuple(out)
