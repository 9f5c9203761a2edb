"""Facts the market-data README documents about the Chainlink USDC/USDT histories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from oracles.history import CHAINLINK_USD_DECIMALS, load_chainlink_rounds
from oracles.history_report import (
    HistoryReport,
    PhaseOverlap,
    analyse_history,
    current_phase_view,
    heartbeat_gaps,
)
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.oracle.rounds import RoundData, compose_round_id


def ts(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def usdc(chainlink_dir: Path) -> HistoryReport:
    rounds = load_chainlink_rounds(chainlink_dir / "etherisc_chainlink_usdc_usd_all.csv")
    return analyse_history(rounds, CHAINLINK_USD_DECIMALS)


@pytest.fixture(scope="module")
def usdt(chainlink_dir: Path) -> HistoryReport:
    rounds = load_chainlink_rounds(chainlink_dir / "etherisc_chainlink_usdt_usd_all.csv")
    return analyse_history(rounds, CHAINLINK_USD_DECIMALS)


def test_stale_round_counts(usdc: HistoryReport, usdt: HistoryReport) -> None:
    assert len(usdc.stale) == 3
    assert len(usdt.stale) == 4
    assert [r.aggregator_round_id for r in usdc.stale] == [292, 293, 294]
    assert all(r.answered_in_round < r.round_id for r in usdc.stale + usdt.stale)


def test_usdc_longest_gap_is_39_5_hours_in_march_2021(usdc: HistoryReport) -> None:
    gap = usdc.gaps_proxy_view[0]
    assert gap.duration_s == 142_302  # 39 h 31 min 42 s
    assert (gap.before.updated_at, gap.after.updated_at) == (1615971454, 1616113756)
    assert datetime.fromtimestamp(gap.before.updated_at, UTC).date().isoformat() == "2021-03-17"
    assert datetime.fromtimestamp(gap.after.updated_at, UTC).date().isoformat() == "2021-03-19"
    assert usdc.gaps_overall[0] == gap


def test_usdt_longest_gap_is_28_9_hours(usdt: HistoryReport) -> None:
    gap = usdt.gaps_proxy_view[0]
    assert gap.duration_s == 104_004  # 28.89 h
    assert (gap.before.updated_at, gap.after.updated_at) == (1616008113, 1616112117)


def test_phases_overlap_because_phase_1_kept_reporting(usdc: HistoryReport, usdt: HistoryReport) -> None:
    assert usdc.overlaps == (PhaseOverlap(1, 2, 1617279401, 1638981380),)
    assert usdt.overlaps == (PhaseOverlap(1, 2, 1617267364, 1638679556),)
    assert datetime.fromtimestamp(1617279401, UTC).date().isoformat() == "2021-04-01"
    assert datetime.fromtimestamp(1638981380, UTC).strftime("%Y-%m") == "2021-12"
    # Inside the abandoned phase 1 the gaps are far longer than any the proxy showed.
    assert usdc.gaps_per_phase[0].duration_s == 1_209_798
    assert usdc.gaps_per_phase[0].before.phase_id == 1


def test_usdt_terra_depeg(usdt: HistoryReport, usdc: HistoryReport) -> None:
    low = usdt.min_answer_round
    assert low.answer == 95_181_623
    assert low.round_id == compose_round_id(2, 473)
    assert datetime.fromtimestamp(low.updated_at, UTC).strftime("%Y-%m-%d %H:%M") == ("2022-05-12 07:22")
    assert len(usdt.depegged) == 11
    assert all(ts(2022, 5, 12, 7) <= r.updated_at < ts(2022, 5, 12, 8) for r in usdt.depegged)
    assert usdc.depegged == ()
    assert usdc.min_answer_round.answer == 99_896_042


def test_ftx_window_round_counts(chainlink_dir: Path) -> None:
    start, end = ts(2022, 11, 6), ts(2022, 11, 15)
    for name, count in (("usdc", 64), ("usdt", 30)):
        rounds = load_chainlink_rounds(chainlink_dir / f"etherisc_chainlink_{name}_usd_all.csv")
        assert sum(start <= r.updated_at < end for r in rounds) == count


def test_gap_threshold_is_strict() -> None:
    rounds = [RoundData(i + 1, 1, t, t, i + 1) for i, t in enumerate((0, 86_400, 86_400 * 2 + 1))]
    gaps = heartbeat_gaps(rounds)
    assert [g.duration_s for g in gaps] == [86_401]
    with pytest.raises(InvalidParameter, match="sorted by updated_at"):
        heartbeat_gaps(rounds[::-1])


def test_proxy_view_switches_at_first_round_of_next_phase() -> None:
    p1 = [RoundData(compose_round_id(1, i), 1, t, t, compose_round_id(1, i)) for i, t in ((1, 10), (2, 50))]
    p2 = [RoundData(compose_round_id(2, 1), 1, 30, 30, compose_round_id(2, 1))]
    assert current_phase_view(p1 + p2) == (p1[0], p2[0])


def test_depeg_threshold_is_strict() -> None:
    rounds = [RoundData(1, 97_000_000, 1, 1, 1), RoundData(2, 96_999_999, 2, 2, 2)]
    report = analyse_history(rounds, 8, depeg_threshold_wad=97 * WAD // 100)
    assert report.depegged == (rounds[1],)
    with pytest.raises(InvalidParameter, match="rounds must not be empty"):
        analyse_history([], 8)
