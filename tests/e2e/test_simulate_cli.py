"""`novation simulate`, `sweep` and `stress` as a user runs them: tiny studies on the real engine,
reports on disk, and one clear line (exit code 2) for every bad study file or flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from novation.cli import app
from simulator import market_data

EXAMPLES = Path(__file__).resolve().parents[2] / "simulator" / "examples"
runner = CliRunner()

TINY = """\
[run]
name = "tiny"
paths = 3
steps = 30
accounts = 20

[price]
model = "merton"
sigma = 1.5
jumps_per_year = 5000.0
"""


def _tiny(tmp_path: Path, text: str = TINY) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def _invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def _one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_simulate_writes_summary_report_and_plots_then_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _invoke("simulate", str(_tiny(tmp_path)), "--out", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "P(socialized loss > 0)" in result.output  # the summary table
    assert "tiny: ran 3 paths" in result.output
    assert f"report: {out / 'report.md'}" in result.output
    report = (out / "report.md").read_text()
    for name in ("price_paths.png", "insurance_fund.png", "bad_debt.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
        assert f"]({name})" in report
    assert json.loads((out / "summary.json").read_text())["summary"]["n_paths"] == 3

    again = _invoke("simulate", str(_tiny(tmp_path)), "--out", str(out), "--workers", "1", "--quiet")
    assert again.exit_code == 0, again.output
    assert "ran 0 paths" in again.output
    assert "3 resumed" in again.output
    assert "P(socialized loss > 0)" not in again.output  # --quiet: no table

    base = ["simulate", str(_tiny(tmp_path)), "--out", str(out), "--workers", "1", "--quiet"]
    fewer = _invoke(*base, "--paths", "2")  # the first two paths of the same study: nothing to run
    assert fewer.exit_code == 0, fewer.output
    assert "ran 0 paths" in fewer.output
    more = _invoke(*base, "--paths", "5")  # extended: only paths 3 and 4 run
    assert more.exit_code == 0, more.output
    assert "tiny: ran 2 paths" in more.output
    assert "3 resumed" in more.output
    other = [*base, "--set", "run.seed=9"]
    assert "holds a different study" in _one_error_line(_invoke(*other))
    replaced = _invoke(*other, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert "tiny: ran 3 paths" in replaced.output


def test_simulate_overrides_paths_and_fields(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _invoke(
        "simulate", str(_tiny(tmp_path)), "--out", str(out), "--paths", "2", "--set", "run.name=renamed",
        "--set", "price.model=gbm", "--workers", "1", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["run"]["paths"] == 2
    assert manifest["config"]["run"]["name"] == "renamed"
    assert manifest["config"]["price"]["model"] == "gbm"


@pytest.mark.parametrize(
    ("study", "named"),
    [
        (TINY.replace("accounts = 20", "acounts = 20"), "run.acounts is not a known field"),
        (TINY.replace("paths = 3", "paths = -1"), "run.paths = -1 is out of range"),
        (TINY.replace('model = "merton"', 'model = "levy"'), "price.model = 'levy'"),
        (TINY.replace("sigma = 1.5", "sigma = 'high'"), "price.sigma must be a number"),
        (TINY.replace("[price]", "[prices]"), "unknown sections ['prices']"),
        (TINY.replace("steps = 30", "steps = "), "is not valid TOML"),
        (TINY + "[protocol]\nmarkets = [0, 1]\n", "price.feeds has no path for ['ETH/USD']"),
        (TINY + '[price.feeds."ETH/USD"]\nspot = 3000.0\n', "must be a table of spot and sigma"),
        (
            TINY.replace("steps = 30", "steps = 30\nstep_s = 601") + '[protocol]\nsocialized_loss_method = "adl"\n',
            "run.step_s = 601 exceeds twice the ADL window (300 s)",
        ),
    ],
)
def test_simulate_bad_study_file_names_the_field(tmp_path: Path, study: str, named: str) -> None:
    line = _one_error_line(_invoke("simulate", str(_tiny(tmp_path, study)), "--out", str(tmp_path / "o")))
    assert named in line
    assert "study.toml" in line
    assert not (tmp_path / "o").exists()


def test_simulate_a_cross_margined_book_from_set_flags(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _invoke(
        "simulate", str(_tiny(tmp_path)), "--out", str(out), "--workers", "1", "--quiet",
        "--set", "protocol.markets=[0, 1]", "--set", 'price.feeds={ "ETH/USD" = { spot = 2000.0, sigma = 1.2 } }',
        "--set", "traders.collateral_asset_share=0.3", "--set", "protocol.socialized_loss_method='adl'",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert config["protocol"]["markets"] == [0, 1]
    assert config["price"]["feeds"] == {"ETH/USD": {"spot": 2000.0, "sigma": 1.2}}
    assert config["protocol"]["socialized_loss_method"] == "adl"


def test_simulate_missing_file_and_bad_flags(tmp_path: Path) -> None:
    line = _one_error_line(_invoke("simulate", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")))
    assert "cannot read study file" in line
    assert "nope.toml" in line
    study = str(_tiny(tmp_path))
    line = _one_error_line(_invoke("simulate", study, "--out", str(tmp_path / "o"), "--set", "paths=3"))
    assert "--set 'paths=3' must look like section.field=value" in line
    line = _one_error_line(_invoke("simulate", study, "--out", str(tmp_path / "o"), "--set", "run.pathz=3"))
    assert "run.pathz is not a known field" in line
    line = _one_error_line(_invoke("simulate", study, "--out", str(tmp_path / "o"), "--paths", "0"))
    assert "run.paths = 0 is out of range" in line
    line = _one_error_line(_invoke("simulate", study, "--out", str(tmp_path / "o"), "--workers", "0"))
    assert "workers must be a positive integer" in line


def test_simulate_historical_study_without_csv_says_so(tmp_path: Path) -> None:
    line = _one_error_line(_invoke("simulate", str(EXAMPLES / "crash_2020.toml"), "--out", str(tmp_path / "o")))
    assert "price.csv must name a kline CSV file" in line


def test_sweep_grid_two_axes_writes_heatmap(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = _invoke(
        "sweep", str(_tiny(tmp_path)), "--out", str(out), "--paths", "2", "--workers", "1", "--quiet",
        "--grid", "protocol.initial_margin_fraction=0.05,0.1", "--grid", "keepers.latency_blocks=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.md'}" in result.output
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "![heatmap](heatmap.png)" in report
    assert "2 of 2 grid points finished" in report


def test_sweep_search_finds_a_value(tmp_path: Path) -> None:
    out = tmp_path / "search"
    result = _invoke(
        "sweep", str(_tiny(tmp_path)), "--out", str(out), "--paths", "2", "--workers", "1", "--quiet",
        "--search", "protocol.initial_margin_fraction=0.05:0.3", "--metric", "p_socialized_loss",
        "--threshold", "1", "--tolerance", "0.05",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "smallest protocol.initial_margin_fraction with p_socialized_loss <= 1 at its 95% upper bound: 0.05" in (
        result.output
    )
    assert "already holds" in result.output  # threshold 1 is met everywhere, so at the lower bound
    assert (out / "search.png").is_file()
    assert "![search](search.png)" in (out / "report.md").read_text()


def test_sweep_search_refuses_an_unresolvable_target_then_extends(tmp_path: Path) -> None:
    out = tmp_path / "search"
    args = [
        "sweep", str(_tiny(tmp_path)), "--out", str(out), "--paths", "2", "--workers", "1", "--quiet",
        "--search", "protocol.initial_margin_fraction=0.2:0.3", "--threshold", "0.5", "--tolerance", "0.1",
    ]  # fmt: skip
    line = _one_error_line(_invoke(*args))  # 2 loss-free paths bound the probability at 1 - 0.05 ** 0.5 = 78 %
    assert "2 paths cannot resolve p_socialized_loss <= 0.5" in line
    assert "needs at least 5 paths; rerun with --paths 5 or --extend" in line
    assert not out.exists()
    result = runner.invoke(app, [*args, "--extend", "--json"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["paths"], found["paths_needed"]) == (5, 5)
    assert found["metric_upper"] <= 0.5
    assert found["margin"] == pytest.approx(0.5 - found["metric_upper"])
    assert all(p["n_paths"] == 5 for p in found["points"])
    assert "upper bound" in (out / "report.md").read_text()


def test_simulate_json_and_compare(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ran = runner.invoke(
        app, ["simulate", str(_tiny(tmp_path)), "--out", str(a), "--workers", "1", "--json"], env={"COLUMNS": "200"}
    )
    assert ran.exit_code == 0, ran.output
    record = json.loads(ran.stdout)
    assert record["n_paths"] == 3
    assert record["summary"]["confidence"] == 0.95
    assert "bad_debt_es975_usd_upper" in record["summary"]
    assert record["report"] == str(a / "report.md")
    for name in ("convergence.png", "cascade.png", "market_prices.png", "insurance_fund.png"):
        assert (a / name).read_bytes()[:4] == b"\x89PNG"
    proposal = ["simulate", str(_tiny(tmp_path)), "--out", str(b), "--workers", "1", "--quiet"]
    assert _invoke(*proposal, "--set", "protocol.initial_margin_fraction=0.3").exit_code == 0
    table = _invoke("compare", str(a), str(b))
    assert table.exit_code == 0, table.output
    assert "paired on 3 shared paths" in table.output
    assert "exact McNemar" in table.output
    compared = json.loads(_invoke("compare", str(a), str(b), "--json").stdout)
    assert compared["paired"] is True
    assert compared["difference"] == "B - A"
    rows = {r["metric"]: r for r in compared["metrics"]}
    assert rows["liquidations_mean"]["difference"] == rows["liquidations_mean"]["b"] - rows["liquidations_mean"]["a"]
    assert all(isinstance(r["significant"], bool) for r in compared["metrics"])


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        ([], "give either --grid"),
        (["--grid", "run.paths=1", "--search", "run.paths=1:2"], "give either --grid"),
        (["--grid", "keepers.latency=1,2"], "keepers has no field 'latency'"),
        (["--grid", "keepers.latency_blocks=1,,2"], "has an empty value"),
        (
            ["--grid", "keepers.latency_blocks=1", "--metric", "p_nothing"],
            "--metric 'p_nothing' is not a summary field",
        ),
        (["--search", "protocol.initial_margin_fraction=0.1"], "must look like section.field=lo:hi"),
        (["--search", "protocol.initial_margin_fraction=0.2:0.1"], "lo must be below hi"),
    ],
)
def test_sweep_bad_flags_name_the_problem(tmp_path: Path, flags: list[str], named: str) -> None:
    line = _one_error_line(_invoke("sweep", str(_tiny(tmp_path)), "--out", str(tmp_path / "o"), *flags))
    assert named in line


def test_stress_quick_runs_the_monte_carlo_and_the_2020_replay(tmp_path: Path) -> None:
    result = _invoke("stress", "--out", str(tmp_path), "--quick", "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    assert f"report: {tmp_path / 'report.md'}" in result.output
    report = (tmp_path / "report.md").read_text()
    assert "## Monte Carlo" in report
    assert "## 2020-03-12 crash replay" in report  # the shared market data sits beside the checkout
    assert "binance_usdm_perp_BTCUSDT_1h.csv" in report
    for sub in ("monte_carlo", "crash_2020"):
        assert (tmp_path / sub / "report.md").is_file()
        for name in ("price_paths.png", "insurance_fund.png", "bad_debt.png"):
            assert (tmp_path / sub / name).read_bytes()[:4] == b"\x89PNG"
            assert f"]({sub}/{name})" in report
    crash = json.loads((tmp_path / "crash_2020" / "manifest.json").read_text())["config"]
    assert crash["price"]["model"] == "historical"
    assert Path(crash["price"]["csv"]).name == "binance_usdm_perp_BTCUSDT_1h.csv"


def test_stress_without_market_data_runs_a_synthetic_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(market_data, "market_data_dir", lambda: None)
    result = _invoke("stress", "--out", str(tmp_path), "--quick", "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    assert "no shared market data" in result.output
    assert "## Synthetic crash (no market data)" in (tmp_path / "report.md").read_text()
    crash = json.loads((tmp_path / "crash_2020" / "manifest.json").read_text())["config"]
    assert crash["price"]["model"] == "bridge"


def test_stress_with_a_wrong_market_data_folder_fails_clearly(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["stress", "--out", str(tmp_path / "o"), "--quick"], env={"NOVATION_MARKET_DATA": str(tmp_path / "x")}
    )
    line = _one_error_line(result)
    assert "NOVATION_MARKET_DATA" in line


def test_simulate_on_chain_reports_the_chain_equal_to_the_model(tmp_path: Path) -> None:
    result = _invoke("simulate-on-chain", str(_tiny(tmp_path)), "--path", "1", "--set", "run.steps=20")
    assert result.exit_code == 0, result.output
    assert "tiny path 1 on anvil:" in result.output
    assert "chain == model: every action's events and the final state are equal to the wei" in result.output


@pytest.mark.parametrize(
    ("flags", "named"),
    [(["--backend", "eth-tester"], "--backend must be anvil or boa"), (["--path", "3"], "path_index must be")],
)
def test_simulate_on_chain_bad_flags_name_the_problem(tmp_path: Path, flags: list[str], named: str) -> None:
    assert named in _one_error_line(_invoke("simulate-on-chain", str(_tiny(tmp_path)), *flags))
