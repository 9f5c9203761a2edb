"""Where the shared market data lives, and the crash slices the simulator replays.

The data is third-party (Binance klines, see its README) and is read in place, never copied
into the repository. The folder is, in order:

1. the environment variable ``NOVATION_MARKET_DATA`` when it is set (it must then exist);
2. ``<repository root>/../shared/market_data``, beside the checkout.

:func:`market_data_dir` returns None when neither exists, so callers can fall back to synthetic
shocks; :func:`black_thursday_2020` refuses a folder that lacks the files it promises.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import protocol
from protocol.errors import InvalidParameter

__all__ = ["ENV_VAR", "CrashData", "black_thursday_2020", "default_market_data_dir", "market_data_dir"]

#: Environment variable naming the market data folder.
ENV_VAR = "NOVATION_MARKET_DATA"

_BLACK_THURSDAY = "2020-03-12_black_thursday"


@dataclass(frozen=True)
class CrashData:
    """Kline CSVs of one crash window (Binance layouts readable by :func:`oracles.history.load_klines`)."""

    #: Name of the window's folder, e.g. ``2020-03-12_black_thursday``.
    name: str
    #: 1-minute USDT-M perpetual klines of the worst hour (Binance 12-column layout).
    minute_csv: Path
    #: 1-hour USDT-M perpetual klines of the whole window (``timestamp_ms,date,open,...``): BTC
    #: and ETH, starting at the same bar.
    hourly_csv: Path
    eth_hourly_csv: Path


def default_market_data_dir() -> Path:
    """``<repository root>/../shared/market_data``; the repository root holds the protocol package."""
    repo_root = Path(protocol.__file__).resolve().parents[1]
    return repo_root.parent / "shared" / "market_data"


def market_data_dir() -> Path | None:
    """The shared market data folder, or None when it is absent.

    ``NOVATION_MARKET_DATA`` wins when set; a value that is not a folder is an error (the user
    asked for it), not a silent fall-back.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise InvalidParameter(f"{ENV_VAR}={env} is not a folder; point it at the shared market_data folder")
        return path.resolve()
    path = default_market_data_dir()
    return path if path.is_dir() else None


def black_thursday_2020(root: Path | str | None = None) -> CrashData | None:
    """The 2020-03-12 crash: the BTC perpetual's 1-minute slice of 2020-03-13 02:00-02:59 UTC
    (low 3 621.81 USD at 02:16, then a 44 % round trip) and the BTC and ETH perpetuals' 1-hour
    bars of 03-09 .. 03-16.

    ``root`` is the market data folder (default :func:`market_data_dir`); None when there is no
    folder. A folder without the window's files raises :class:`InvalidParameter` naming the file.
    """
    base = market_data_dir() if root is None else Path(root)
    if base is None:
        return None
    folder = base / _BLACK_THURSDAY
    data = CrashData(
        name=_BLACK_THURSDAY,
        minute_csv=folder / "binance_usdm_perp_BTCUSDT_1m_2020-03-13T02.csv",
        hourly_csv=folder / "binance_usdm_perp_BTCUSDT_1h.csv",
        eth_hourly_csv=folder / "binance_usdm_perp_ETHUSDT_1h.csv",
    )
    for path in (data.minute_csv, data.hourly_csv, data.eth_hourly_csv):
        if not path.is_file():
            raise InvalidParameter(f"market data file {path} is missing; the folder {base} is incomplete")
    return data
