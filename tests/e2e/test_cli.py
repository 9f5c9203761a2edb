"""The `novation` command as a user runs it: demo, parameter checks, replays and bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from novation.cli import app
from protocol.actions import AdvanceTime, Deposit, PushPrice, SetRole
from protocol.scenarios import ACTORS

EXAMPLE = Path(__file__).resolve().parents[2] / "protocol" / "examples" / "default.toml"
runner = CliRunner()


def test_demo_prints_accounts_and_invariants() -> None:
    result = runner.invoke(app, ["demo"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Liquidated" in result.output
    assert "ShortfallSettled" in result.output
    assert "invariant checks run (all passed)" in result.output


def test_check_params_accepts_the_example() -> None:
    result = runner.invoke(app, ["check-params", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "BTC-PERP" in result.output


def test_check_params_names_the_bad_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace('initial_margin_fraction = "0.1"', 'initial_margin_fraction = "11"', 1))
    result = runner.invoke(app, ["check-params", str(bad)])
    assert result.exit_code == 2
    assert "market[0].initial_margin_fraction = 11 is out of range [0.001, 10]" in result.output
    assert "Traceback" not in result.output


def test_replay_writes_events_and_reports_reverts(tmp_path: Path) -> None:
    gov, oracle, trader = ACTORS["governance"], ACTORS["oracle"], ACTORS["trader_conservative"]
    records = [
        SetRole(gov, "oracle", oracle, True),
        AdvanceTime(100, 1),
        PushPrice(oracle, 0, 60_000 * 10**18, 100),
        Deposit(trader, 0, 1_000 * 10**6),
        PushPrice(trader, 0, 1, 100),  # not an oracle: reverts
    ]
    actions = tmp_path / "actions.jsonl"
    actions.write_text("\n".join(json.dumps(r.to_dict()) for r in records) + "\n")
    out = tmp_path / "events.jsonl"
    result = runner.invoke(
        app, ["replay", str(actions), "--params", str(EXAMPLE), "--governance", gov, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"line": 5, "revert": "oracle: caller is not an oracle"} in lines
    deposited = [ev for ev in lines if ev.get("event") == "Deposited"]
    assert deposited == [
        {
            "line": 4,
            "event": "Deposited",
            "account": trader,
            "asset_id": 0,
            "amount": 1_000 * 10**6,
            "amount_wad": 1_000 * 10**18,
        }
    ]


def test_replay_rejects_a_malformed_record(tmp_path: Path) -> None:
    actions = tmp_path / "actions.jsonl"
    actions.write_text('{"kind": "Deposit", "account": "0x12", "asset_id": 0, "amount": 5}\n')
    result = runner.invoke(
        app, ["replay", str(actions), "--params", str(EXAMPLE), "--governance", ACTORS["governance"]]
    )
    assert result.exit_code == 2
    assert "actions.jsonl:1" in result.output
    assert "Deposit.account" in result.output


def test_oracle_history_reports_the_documented_usdt_facts(market_data: Path) -> None:
    csv = market_data / "chainlink" / "etherisc_chainlink_usdt_usd_all.csv"
    result = runner.invoke(app, ["oracle", "history", str(csv)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "stale rounds (answeredInRound != roundId): 4" in result.output
    assert "28.9 h from 2021-03-17 19:08 to 2021-03-19 00:01" in result.output
    assert "lowest answer 0.95181623 at 2022-05-12 07:22" in result.output
    assert "phases 1 and 2 overlap 2021-04-01" in result.output


def test_oracle_history_names_a_bad_option(market_data: Path) -> None:
    csv = market_data / "chainlink" / "etherisc_chainlink_usdt_usd_all.csv"
    result = runner.invoke(app, ["oracle", "history", str(csv), "--depeg", "cheap"])
    assert result.exit_code == 2
    assert "--depeg" in result.output
