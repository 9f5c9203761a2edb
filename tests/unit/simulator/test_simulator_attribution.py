"""Bad-debt attribution on hand-built price paths: a fall of the collateral alone puts all the bad
debt on the collateral cause (by asset), a crash of the market with the collateral rising puts
none there; the causes and the per-market split sum to the bad debt to the wei."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simulator.config import StudyConfig
from simulator.engine import simulate_path
from simulator.results import BAD_DEBT_CAUSES, asset_bad_debt, market_bad_debt

#: Hourly bars; the path runs 23 of them on 5-minute steps.
BARS = 24
START_MS = 1_583_712_000_000


def klines(path: Path, closes: Sequence[float]) -> str:
    """A kline CSV whose bars run straight from the previous close to the next."""
    rows = ["timestamp_ms,date,open,high,low,close,volume"]
    previous = closes[0]
    for i, close in enumerate(closes):
        rows.append(f"{START_MS + i * 3_600_000},-,{previous},{max(previous, close)},{min(previous, close)},{close},1")
        previous = close
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def study(tmp_path: Path, btc: Sequence[float], eth: Sequence[float], share: float) -> StudyConfig:
    """BTC-PERP traded by traders holding ``share`` of their collateral in WETH (read from ETH/USD); no
    liquidation impact and no oracle outage, so only the two recorded paths move prices."""
    return StudyConfig.from_dict(
        {
            "run": {
                "name": "hand-built",
                "paths": 1,
                "steps": (BARS - 1) * 12,
                "step_s": 300,
                "seed": 1,
                "accounts": 40,
            },
            "price": {
                "model": "historical",
                "csv": klines(tmp_path / "btc.csv", btc),
                "spot": btc[0],
                "feeds": {"ETH/USD": {"spot": eth[0], "sigma": 1.0, "csv": klines(tmp_path / "eth.csv", eth)}},
            },
            "traders": {"collateral_asset_share": share, "leverage_median": 4.0},
            "liquidity": {"depth_usd": 1e18},
            "oracle": {"outages_per_day": 0.0},
            "protocol": {"markets": [0], "insurance_fund_usd": "250000"},
        }
    )


def _split_adds_up(m: dict[str, int]) -> None:
    assert sum(m[f"bad_debt_{cause}_wad"] for cause in BAD_DEBT_CAUSES) == m["bad_debt_wad"]
    assert m[market_bad_debt(0)] + m["bad_debt_no_market_wad"] == m["bad_debt_wad"]
    assert m[asset_bad_debt(1)] == m["bad_debt_collateral_wad"]


def test_a_fall_of_the_collateral_alone_is_all_collateral(tmp_path: Path) -> None:
    flat = [30_000.0] * BARS
    falling = [2_000.0 * 0.05 ** (min(i, 12) / 12) for i in range(BARS)]  # -95 % over 12 hours
    m = dict(simulate_path(study(tmp_path, flat, falling, 0.9), 0).metrics)
    assert m["bad_debt_wad"] > 0
    assert m["bad_debt_collateral_wad"] == m["bad_debt_wad"]
    _split_adds_up(m)


def test_a_market_crash_with_rising_collateral_is_not_collateral(tmp_path: Path) -> None:
    crash = [30_000.0 * 0.4 ** (min(i, 12) / 12) for i in range(BARS)]  # -60 % over 12 hours
    rising = [2_000.0 * 1.1 ** (min(i, 6) / 6) for i in range(BARS)]
    m = dict(simulate_path(study(tmp_path, crash, rising, 0.5), 0).metrics)
    assert m["bad_debt_wad"] > 0
    assert m["bad_debt_collateral_wad"] == 0
    assert m[market_bad_debt(0)] == m["bad_debt_wad"]  # BTC-PERP's closes made every loss
    _split_adds_up(m)
