"""Loaders on the real shared files and on malformed temporary files."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from oracles.history import (
    BINANCE_KLINE_COLUMNS,
    CHAINLINK_COLUMNS,
    KLINE_COLUMNS,
    Kline,
    load_chainlink_rounds,
    load_klines,
)
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.oracle.rounds import RoundData

USDC = "etherisc_chainlink_usdc_usd_all.csv"
USDT = "etherisc_chainlink_usdt_usd_all.csv"
BLACK_THURSDAY = "2020-03-12_black_thursday"
TARIFF = "2025-10-10_tariff_cascade"


# --- real files ------------------------------------------------------------------------------


def test_chainlink_usdc_history_loads_exactly(chainlink_dir: Path) -> None:
    rounds = load_chainlink_rounds(chainlink_dir / USDC)
    assert len(rounds) == 1_035
    assert rounds[0] == RoundData(18446744073709551617, 99_997_500, 1613504612, 1613585410, 18446744073709551617)
    assert rounds[-1].phase_id == 2


def test_chainlink_usdt_history_loads(chainlink_dir: Path) -> None:
    rounds = load_chainlink_rounds(chainlink_dir / USDT)
    assert len(rounds) == 1_006
    assert sum(r.started_at != r.updated_at for r in rounds) == 298


def test_hourly_klines_parse_decimals_exactly(market_data: Path) -> None:
    bars = load_klines(market_data / BLACK_THURSDAY / "binance_usdm_mark_BTCUSDT_1h.csv")
    assert len(bars) == 168
    assert bars[0] == Kline(
        1583712000000,
        8_034_371_726_260_000_000_000,
        8_171_657_767_190_000_000_000,
        8_015_734_621_010_000_000_000,
        8_083_638_856_730_000_000_000,
        0,
    )
    assert all(b.open_time_ms - a.open_time_ms == 3_600_000 for a, b in pairwise(bars))


@pytest.mark.parametrize(
    ("folder", "minute_file", "hour_open_ms", "ohlcv"),
    [
        (
            BLACK_THURSDAY,
            "binance_usdm_perp_BTCUSDT_1m_2020-03-13T02.csv",
            1584064800000,
            ("4062.95", "5228.23", "3621.81", "4723.95", "92664.543"),
        ),
        (
            TARIFF,
            "binance_usdm_perp_BTCUSDT_1m_2025-10-10T21.csv",
            1760130000000,
            ("114200.4", "115075.6", "101516.5", "113253.6", "131850.219"),
        ),
    ],
)
def test_minute_slice_aggregates_to_the_hourly_perp_bar(
    market_data: Path, folder: str, minute_file: str, hour_open_ms: int, ohlcv: tuple[str, ...]
) -> None:
    minutes = load_klines(market_data / folder / minute_file)
    hours = load_klines(market_data / folder / "binance_usdm_perp_BTCUSDT_1h.csv")
    hour = next(h for h in hours if h.open_time_ms == hour_open_ms)
    assert len(minutes) == 60
    assert minutes[0].open_time_ms == hour_open_ms
    aggregated = Kline(
        hour_open_ms,
        minutes[0].open_wad,
        max(m.high_wad for m in minutes),
        min(m.low_wad for m in minutes),
        minutes[-1].close_wad,
        sum(m.volume_wad for m in minutes),
    )
    assert aggregated == hour
    o, h, lo, c, v = (int(x.replace(".", "")) * 10 ** (18 - len(x.split(".")[1])) for x in ohlcv)
    assert (hour.open_wad, hour.high_wad, hour.low_wad, hour.close_wad, hour.volume_wad) == (
        o,
        h,
        lo,
        c,
        v,
    )


def test_every_crash_window_kline_file_loads(market_data: Path) -> None:
    files = sorted(p for p in market_data.glob("20*/binance_*.csv") if "funding" not in p.name)
    assert len(files) == 28
    for path in files:
        assert len(load_klines(path)) >= 60, path


def test_btc_spot_low_matches_readme(market_data: Path) -> None:
    bars = load_klines(market_data / BLACK_THURSDAY / "binance_spot_BTCUSDT_1h.csv")
    low = min(bars, key=lambda b: b.low_wad)
    assert (low.low_wad, low.open_time_ms) == (3_782_130_000_000_000_000_000, 1584064800000)


# --- malformed files -------------------------------------------------------------------------

CL_HEADER = ",".join(CHAINLINK_COLUMNS)
CL_ROW_1 = "18446744073709551617,100000000,10,20,18446744073709551617,1,1"
CL_ROW_2 = "18446744073709551618,100000001,30,40,18446744073709551618,1,2"
K_HEADER = ",".join(KLINE_COLUMNS)
K_ROW_1 = "1000,2020-01-01T00:00:00Z,10.5,11,10,10.75,1.25"
K_ROW_2 = "2000,2020-01-01T01:00:00Z,10.75,12,10.5,11,0.0"


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path


def test_small_valid_files_load_exactly(tmp_path: Path) -> None:
    rounds = load_chainlink_rounds(write(tmp_path, CL_HEADER, CL_ROW_1, CL_ROW_2))
    assert [r.answer for r in rounds] == [100_000_000, 100_000_001]
    bars = load_klines(write(tmp_path, K_HEADER, K_ROW_1, K_ROW_2))
    assert bars[0] == Kline(
        1000,
        10_500_000_000_000_000_000,
        11 * WAD,
        10 * WAD,
        10_750_000_000_000_000_000,
        1_250_000_000_000_000_000,
    )
    raw = ",".join(BINANCE_KLINE_COLUMNS)
    bars = load_klines(write(tmp_path, raw, "60000,1.0,2,0.5,1.5,7,119999,0,0,0,0,0"))
    assert bars == (Kline(60000, WAD, 2 * WAD, WAD // 2, 3 * WAD // 2, 7 * WAD),)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((), r"file is empty"),
        ((CL_HEADER,), r"header but no data rows"),
        (
            (CL_HEADER.replace(",answeredInRound", ""), CL_ROW_1),
            r"missing column 'answeredInRound'",
        ),
        (
            (CL_HEADER, CL_ROW_1.replace("100000000", "1.0e8")),
            r"row 2, column 'answer': expected an integer, got '1.0e8'",
        ),
        ((CL_HEADER, CL_ROW_1, CL_ROW_1), r"row 3, column 'roundId': not increasing"),
        ((CL_HEADER, CL_ROW_2, CL_ROW_1), r"row 3, column 'roundId': not increasing"),
        (
            (CL_HEADER, CL_ROW_1, CL_ROW_2.replace(",30,40,", ",5,5,")),
            r"row 3, column 'updatedAt': decreases within phase 1",
        ),
        (
            (CL_HEADER, CL_ROW_1.replace(",1,1", ",2,1")),
            r"row 2, column 'roundId': .* != phaseId << 64",
        ),
        ((CL_HEADER, CL_ROW_1 + ",9"), r"row 2 has 8 cells, header has 7"),
    ],
)
def test_malformed_chainlink_files(tmp_path: Path, lines: tuple[str, ...], message: str) -> None:
    path = write(tmp_path, *lines)
    with pytest.raises(InvalidParameter, match=message) as info:
        load_chainlink_rounds(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((K_HEADER.replace(",volume", ""), K_ROW_1), r"missing column 'volume'"),
        (
            (K_HEADER, K_ROW_1.replace("10.75", "abc")),
            r"row 2, column 'close': expected a decimal number, got 'abc'",
        ),
        ((K_HEADER, K_ROW_1.replace("10.75", "nan")), r"row 2, column 'close': expected a finite"),
        (
            (K_HEADER, K_ROW_1.replace("1.25", "-1")),
            r"row 2, column 'volume': expected a finite non-negative",
        ),
        (
            (K_HEADER, K_ROW_1.replace("10.75", "10.0000000000000000001")),
            r"more than 18 decimal places",
        ),
        ((K_HEADER, K_ROW_1, K_ROW_1), r"row 3, column 'timestamp_ms': duplicate timestamp 1000"),
        ((K_HEADER, K_ROW_2, K_ROW_1), r"row 3, column 'timestamp_ms': unsorted timestamp 1000"),
        ((K_HEADER, K_ROW_1.replace(",11,", ",10.6,")), r"row 2, column 'high': bar violates"),
        ((K_HEADER, "x" + K_ROW_1), r"row 2, column 'timestamp_ms': expected an integer"),
    ],
)
def test_malformed_kline_files(tmp_path: Path, lines: tuple[str, ...], message: str) -> None:
    path = write(tmp_path, *lines)
    with pytest.raises(InvalidParameter, match=message) as info:
        load_klines(path)
    assert str(path) in str(info.value)


def test_wrong_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(InvalidParameter, match=r"nope.csv: no such file"):
        load_klines(missing)
    with pytest.raises(InvalidParameter, match=r"no such file"):
        load_chainlink_rounds(tmp_path)


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InvalidParameter, match="cannot be read as a UTF-8 CSV"):
        load_klines(path)
