"""``novation calibrate`` on the shared 2018-2026 history, as a user runs it: the parameter file
it writes passes ``check-params`` and the model, its study runs in the simulator, and the report
holds every section with its plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from novation.cli import app
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.params import load_params
from protocol.scenarios import ACTORS
from simulator.config import load_study

runner = CliRunner()


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory, market_data: Path) -> Path:
    out = tmp_path_factory.mktemp("calibrate") / "run"
    args = ["calibrate", "--out", str(out), "--data", str(market_data), "--paths", "2", "--workers", "1"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "recommended insurance fund" in result.output
    return out


def test_outputs_are_written(calibrated: Path) -> None:
    names = {p.name for p in calibrated.iterdir()}
    assert {"params.toml", "study.toml", "report.md", "calibration.json", "cover2.png"} <= names
    for market in ("BTC-PERP", "ETH-PERP"):
        assert {f"margin_vs_losses_{market}.png", f"traffic_light_{market}.png", f"apc_{market}.png"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary file left
    report = (calibrated / "report.md").read_text()
    for section in (
        "## Recommended parameters",
        "Backtests",
        "Crash windows",
        "Anti-procyclicality",
        "## Portfolios",
        "## Insurance fund",
        "Recommended insurance fund",
    ):
        assert section in report


def test_params_are_accepted_by_check_params_and_the_model(calibrated: Path) -> None:
    result = runner.invoke(app, ["check-params", str(calibrated / "params.toml")])
    assert result.exit_code == 0, result.output
    params = load_params(calibrated / "params.toml")
    payload = json.loads((calibrated / "calibration.json").read_text())
    for market, entry in zip(params.markets, payload["markets"], strict=True):
        assert market.initial_margin_fraction_wad == int(entry["initial_margin_fraction_wad"])
        assert market.initial_margin_fraction_wad % (WAD // 10_000) == 0  # rounded up to 4 decimals
        assert market.initial_margin_fraction_wad >= entry["initial_fraction"] * WAD
        assert 0 < market.maintenance_share_wad < WAD
    ClearingHouse(params, ACTORS["governance"])


def test_study_runs_the_calibrated_parameters(calibrated: Path) -> None:
    study = load_study(calibrated / "study.toml")
    payload = json.loads((calibrated / "calibration.json").read_text())
    assert study.protocol.insurance_fund_usd == payload["insurance_fund"]["recommended_usd"]
    assert study.params.markets == load_params(calibrated / "params.toml").markets


def test_backtest_and_crash_sections_are_in_the_json(calibrated: Path) -> None:
    payload = json.loads((calibrated / "calibration.json").read_text())
    btc = payload["markets"][0]
    assert btc["first_calibration"] == "2019-01-01"
    assert len(btc["crash_coverage"]) == 4
    static = btc["backtests"]["static recommended fraction"]
    assert static[0]["observations"] == len(btc["series"]["dates"]) - 1
    assert set(payload["portfolios"]) == {"long-long", "long-short"}
