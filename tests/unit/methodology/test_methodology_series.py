"""Price series: the shared files load as evenly spaced bars; gaps and short data are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from methodology.rolling import prepare
from methodology.series import align, bars, crash_windows, daily_csv, load_series, parse_duration
from protocol.errors import InvalidParameter

HEADER = "date_utc,open,high,low,close,volume,n_hours\n"


def test_shared_daily_history_loads(market_data: Path) -> None:
    btc = load_series(daily_csv(market_data, "BTC"), "BTC")
    eth = load_series(daily_csv(market_data, "ETH"), "ETH")
    assert btc.bar_s == 86_400
    assert btc.dates()[0] == "2018-01-01"
    assert len(btc) == 3_057
    assert btc.closes[0] == 13_380.0
    b, e = align((btc, eth))
    assert np.array_equal(b.times_s, e.times_s)


def test_crash_windows_have_hourly_spot_bars(market_data: Path) -> None:
    windows = crash_windows(market_data, ("BTC", "ETH"))
    assert windows[0].name == "2020-03-12_black_thursday"
    hourly = load_series(windows[0].hourly["BTC"])
    assert hourly.bar_s == 3_600
    assert hourly.dates()[0] == "2020-03-09 00:00"


def test_a_gap_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "gap.csv"
    path.write_text(HEADER + "2020-01-01,1,1,1,1,1,24\n2020-01-02,1,1,1,1,1,24\n2020-01-05,1,1,1,1,1,24\n")
    with pytest.raises(InvalidParameter, match=r"2 bar\(s\) missing after 2020-01-02"):
        load_series(path)


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="no such file"):
        load_series(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "2020-01-01,1,1,1,-3,1,24\n2020-01-02,1,1,1,1,1,24\n")
    with pytest.raises(InvalidParameter, match="row 2 has a close"):
        load_series(bad)


def test_durations() -> None:
    assert parse_duration("2d", "--mpor") == 172_800
    assert parse_duration("8h", "--mpor") == 28_800
    with pytest.raises(InvalidParameter, match="--mpor '2 days' must be a positive duration"):
        parse_duration("2 days", "--mpor")
    assert bars(172_800, 86_400, "the MPOR") == 2
    with pytest.raises(InvalidParameter, match="not a whole number of the data's 1d bars"):
        bars(28_800, 86_400, "the MPOR")


def test_too_few_observations_for_alpha(market_data: Path) -> None:
    btc = load_series(daily_csv(market_data, "BTC"), "BTC")
    too_few = r"fewer than the 1000 needed for one tail observation at alpha = 0\.999"
    with pytest.raises(InvalidParameter, match=too_few):
        prepare(btc, alpha=0.999, h=1, lookback=365)
    with pytest.raises(InvalidParameter, match="not more than the lookback"):
        prepare(btc, alpha=0.99, h=1, lookback=4_000)
