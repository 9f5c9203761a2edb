"""Study, sweep, search and stress reports from stored results, and where the market data is.

Paths come from a synthetic task (no engine): the report reads only what the store holds.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from simulator import market_data
from simulator.config import StudyConfig
from simulator.report import (
    PLOT_FILES,
    REPORT_FILE,
    StudySection,
    config_toml,
    markdown_table,
    write_report,
    write_search_report,
    write_stress_report,
    write_sweep_report,
)
from simulator.results import SERIES, PathResult, feed_series, market_bad_debt, study_metrics
from simulator.runner import run_study
from simulator.store import PathRecord, ResultStore
from simulator.sweep import run_sweep, search

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def synthetic_path(config: StudyConfig, path_index: int) -> PathResult:
    """A seeded stand-in for the engine: bad debt on odd paths, more of it below 10 % initial margin."""
    seed = config.path_seed(path_index)
    rng = np.random.default_rng(seed)
    steps = config.run.steps
    imf = config.protocol.initial_margin_fraction
    thin = imf is not None and imf < Decimal("0.1")
    bad = (path_index % 2) * (50_000 + 100_000 * thin) * WAD
    fund = 1_000_000 * WAD
    metrics = dict.fromkeys(study_metrics(config.book_params()), 0)
    metrics |= {
        "bad_debt_wad": bad,
        "insurance_fund_start_wad": fund,
        "insurance_fund_min_wad": fund - bad,
        "insurance_fund_end_wad": fund - bad,
        "insurance_fund_drawdown_wad": bad,
        "socialized_loss_wad": bad // 4 if thin else 0,
        "socialized_loss_events": int(thin and bad > 0),
        "liquidations": 3 + path_index,
        "accounts_liquidated": 2 + path_index,
        "liquidated_notional_wad": 1_000_000 * WAD + path_index,
        "reduce_only_s": 120 * (path_index % 3),
        "bad_debt_gap_wad": bad,
        market_bad_debt(config.book_params().markets[0].market_id): bad,
        "keeper_rewards_wad": 600 * WAD,
        "keeper_gas": 1_000_000,
        "keeper_gas_cost_wad": config.keepers.gas_cost_wad(1_000_000),
    }
    price = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, steps + 1)))
    trusted = np.ones(steps + 1)
    trusted[steps // 3 : steps // 3 + 4] = 0.0
    series: dict[str, NDArray[np.float64]] = {
        "market_price": price,
        "oracle_price": price * 1.001,
        "insurance_fund": np.linspace(1e6, (fund - bad) / WAD, steps + 1),
        "bad_debt": np.linspace(0.0, bad / WAD, steps + 1),
        "liquidated_notional": np.linspace(0.0, 1e6, steps + 1),
        "trusted": trusted,
        "liquidations": np.linspace(0.0, 3 + path_index, steps + 1).round(),
        "backlog": np.where(np.arange(steps + 1) % 7 < 2, 1.0 + path_index % 3, 0.0),
        "impact_bps": -np.linspace(0.0, 5.0 * path_index, steps + 1),
        feed_series(0): price,
        feed_series(1): price / 15,
    }
    assert set(SERIES) <= set(series)
    return PathResult(path_index, int(seed.entropy), tuple(seed.spawn_key), metrics, series)


def _config(paths: int = 6, name: str = "tiny") -> StudyConfig:
    return StudyConfig().override({"run.paths": paths, "run.steps": 40, "run.name": name, "run.accounts": 10})


def _study(folder: Path, *, paths: int = 6, keep_series: int = 3, name: str = "tiny") -> StudyConfig:
    config = _config(paths, name)
    run_study(config, folder, task=synthetic_path, workers=1, progress=False, keep_series=keep_series)
    return config


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000


def test_report_lists_every_plot_the_summary_seeds_and_config(tmp_path: Path) -> None:
    config = _study(tmp_path)
    report = write_report(tmp_path)
    assert report == tmp_path / REPORT_FILE
    text = report.read_text()
    for name in PLOT_FILES:
        assert f"]({name})" in text
        _assert_png(tmp_path / name)
    assert "P(socialized loss > 0)" in text
    assert "bad debt, 95th percentile: insolvent-debt value-at-risk (USD)" in text
    assert "| P(bad debt > 0) | 50 % |" in text  # odd paths: 3 of 6
    assert "6 of 6 paths" in text
    # the headline opens the report: with 6 paths nothing is resolved, and it says why
    headline = text.split("## Headline", 1)[1].split("## Summary", 1)[0]
    assert "| metric | point | 95% interval | resolvable |" in headline
    assert "| P(bad debt > 0) | 50 % | [" in headline
    assert "| no: needs 72 paths for its interval |" in headline  # the 95th percentile: 1 - 0.95**72 >= 0.975
    assert "| yes |" not in headline
    # every bad debt came from the lead market's closes and the price gap
    assert "| market | BTC-PERP | $25k | $50k | 100.0% |" in text
    assert "| price gap | 100.0% | $25k |" in text
    # keepers: 1,000,000 gas at 20 gwei and 3,000 USD per ETH is 60 USD against 600 USD of revenue
    keepers = text.split("## Keepers", 1)[1]
    assert "**20 gwei**" in keepers
    assert "costing $60, net $540; revenue / gas cost over all paths 10.00." in keepers
    assert f"SeedSequence({config.run.seed}, spawn_key=(1,5))" in text  # a worst path with its seed
    assert "spawn_key=(1, i)" in text  # the seed scheme
    assert (tmp_path / "summary.json").is_file()
    # the configuration block is a study file that reads back to the same study
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    assert StudyConfig.from_dict(tomllib.loads(block)) == config
    assert not list(tmp_path.glob(".*.tmp"))


def test_report_without_series_and_unfinished(tmp_path: Path) -> None:
    config = _config(paths=6)
    store = ResultStore(tmp_path, config, keep_series=0)
    store.write([PathRecord.of(synthetic_path(config, i), keep_series=False) for i in (0, 1)])
    text = write_report(tmp_path).read_text()
    assert "2 of 6 paths (**unfinished**" in text
    assert "`price_paths.png`: not drawn" in text
    assert not (tmp_path / "price_paths.png").exists()
    _assert_png(tmp_path / "bad_debt.png")


def test_report_refuses_a_folder_without_results(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"no manifest\.json"):
        write_report(tmp_path)
    with pytest.raises(InvalidParameter, match="does not exist"):
        write_report(tmp_path / "missing")


def test_sweep_report_two_axes_draws_the_heatmap(tmp_path: Path) -> None:
    axes = {"protocol.initial_margin_fraction": ["0.05", "0.1"], "keepers.latency_blocks": [1, 4]}
    run_sweep(_config(4), axes, tmp_path, task=synthetic_path, workers=1, progress=False)
    text = write_sweep_report(tmp_path).read_text()
    _assert_png(tmp_path / "heatmap.png")
    assert "![heatmap](heatmap.png)" in text
    assert "4 of 4 grid points finished" in text
    assert "| point | protocol.initial_margin_fraction | keepers.latency_blocks | p_socialized_loss |" in text
    assert "[points/0003](points/0003/)" in text


def test_sweep_report_one_axis_is_a_table(tmp_path: Path) -> None:
    run_sweep(
        _config(2), {"keepers.latency_blocks": [1, 2, 3]}, tmp_path, task=synthetic_path, workers=1, progress=False
    )
    text = write_sweep_report(tmp_path, metric="bad_debt_p95_usd").read_text()
    assert not (tmp_path / "heatmap.png").exists()
    assert "| point | keepers.latency_blocks | bad_debt_p95_usd |" in text
    with pytest.raises(InvalidParameter, match=r"sweep\.json"):
        write_sweep_report(tmp_path / "points")


def test_search_report_names_the_answer(tmp_path: Path) -> None:
    result = search(
        _config(4),
        "protocol.initial_margin_fraction",
        "0.05",
        "0.2",
        metric="socialized_loss_mean_usd",
        threshold=0.0,
        tolerance="0.01",
        out_dir=tmp_path,
        task=synthetic_path,
        workers=1,
        progress=False,
    )
    assert result.value == Decimal("0.1")
    text = write_search_report(tmp_path).read_text()
    assert "upper bound" in text
    assert "margin of safety" in text
    assert "**0.1" in text
    assert "![search](search.png)" in text
    _assert_png(tmp_path / "search.png")


def test_stress_report_combines_studies(tmp_path: Path) -> None:
    _study(tmp_path / "monte_carlo", name="monte-carlo")
    _study(tmp_path / "crash", paths=2, name="crash")
    sections = [
        StudySection("Monte Carlo", tmp_path / "monte_carlo", "Synthetic."),
        StudySection("Crash", tmp_path / "crash", "Also synthetic."),
    ]
    text = write_stress_report(tmp_path, sections).read_text()
    assert "| quantity | Monte Carlo | Crash |" in text
    assert "## Monte Carlo" in text
    assert "## Crash" in text
    for sub in ("monte_carlo", "crash"):
        assert f"[{sub}/report.md]({sub}/report.md)" in text
        for name in PLOT_FILES:
            assert f"]({sub}/{name})" in text
            assert (tmp_path / sub / name).is_file()
        assert (tmp_path / sub / REPORT_FILE).is_file()
    with pytest.raises(InvalidParameter, match="at least one study"):
        write_stress_report(tmp_path, [])


def test_config_toml_round_trips_and_tables_escape() -> None:
    config = _config().override({"price.model": "gbm", "protocol.initial_margin_fraction": "0.075"})
    assert StudyConfig.from_dict(tomllib.loads(config_toml(config))) == config
    table = markdown_table(["a", "b"], [[1, "x|y"]], align="rl")
    assert table.splitlines() == ["| a | b |", "| ---: | --- |", "| 1 | x\\|y |"]


# ---- market data location


def test_market_data_is_found_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(market_data.ENV_VAR, raising=False)
    root = market_data.market_data_dir()
    assert root is not None, "the shared market data must sit in ../shared/market_data beside the checkout"
    data = market_data.black_thursday_2020()
    assert data is not None
    assert data.minute_csv.name == "binance_usdm_perp_BTCUSDT_1m_2020-03-13T02.csv"
    assert data.hourly_csv.name == "binance_usdm_perp_BTCUSDT_1h.csv"
    assert data.minute_csv.is_file()
    assert data.hourly_csv.is_file()
    assert data.minute_csv.read_text().startswith("open_time,open,high,low,close")


def test_market_data_env_var_wins_and_is_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(market_data.ENV_VAR, str(tmp_path))
    assert market_data.market_data_dir() == tmp_path.resolve()
    with pytest.raises(InvalidParameter, match=r"binance_usdm_perp_BTCUSDT_1m_2020-03-13T02\.csv is missing"):
        market_data.black_thursday_2020()
    monkeypatch.setenv(market_data.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(InvalidParameter, match="NOVATION_MARKET_DATA"):
        market_data.market_data_dir()


def test_market_data_absent_is_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(market_data.ENV_VAR, raising=False)
    monkeypatch.setattr(market_data, "default_market_data_dir", lambda: tmp_path / "absent")
    assert market_data.market_data_dir() is None
    assert market_data.black_thursday_2020() is None
