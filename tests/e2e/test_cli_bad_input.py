"""Every ``novation`` subcommand answers bad input with one sentence, a non-zero exit code and no
traceback, before it does any work (no network call, no simulation, no file left behind).

A new subcommand must get a row in ``BAD_INPUT``: ``test_every_subcommand_has_a_bad_input_case``
fails until it does.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from novation.cli import app
from protocol.scenarios import ACTORS

REPO = Path(__file__).resolve().parents[2]
PARAMS = REPO / "protocol" / "examples" / "default.toml"
STUDY = REPO / "simulator" / "examples" / "stress.toml"
USDC_ROUNDS = "chainlink/etherisc_chainlink_usdc_usd_all.csv"
GOV = ACTORS["governance"]
FEED = "0x" + "11" * 20
DEAD_RPC = "http://127.0.0.1:9"  # the discard port: nothing listens there
runner = CliRunner()


#: Subcommand -> [(arguments, a fragment of the one sentence it must answer)]. In the arguments,
#: ``{tmp}`` is an empty folder of the test, ``{params}`` a parameter file with a bad field,
#: ``{actions}`` a valid action log, ``{gap}`` a daily CSV with a missing day and ``{md}`` the
#: shared market data folder.
HOUSE = "0x" + "22" * 20
BAD_INPUT: dict[str, list[tuple[list[str], str]]] = {
    "deploy": [
        (
            ["deploy", "--rpc", DEAD_RPC, "--params", "{tmp}/missing.toml", "--out", "{tmp}/d.json"],
            "cannot read parameter",
        ),
        (["deploy", "--rpc", DEAD_RPC, "--params", str(PARAMS), "--out", "{tmp}"], "is a folder"),
    ],
    "state": [
        (["state", "--rpc", DEAD_RPC, "--house", HOUSE], "cannot reach the JSON-RPC endpoint"),
        (["state", "--rpc", DEAD_RPC, "--house", "0x12"], "house address"),
        (["state", "--rpc", DEAD_RPC], "--house ADDRESS or as --manifest FILE"),
    ],
    "events": [
        (["events", "--rpc", DEAD_RPC, "--house", HOUSE, "--from-block", "-3"], "'--from-block'"),
        (["events", "--rpc", "notaurl", "--house", HOUSE], "must be an http(s) URL"),
    ],
    "at-risk": [
        (["at-risk", "--rpc", DEAD_RPC, "--house", HOUSE, "--top", "0"], "'--top'"),
        (["at-risk", "--rpc", DEAD_RPC, "--manifest", "{tmp}/none.json"], "cannot read manifest"),
        (["at-risk", "--rpc", DEAD_RPC, "--house", HOUSE, "--db", "{tmp}/none.sqlite"], "does not exist; build it"),
        (["at-risk", "--rpc", DEAD_RPC, "--house", HOUSE, "--db", "{tmp}"], "is a folder; give the index file"),
        (["at-risk", "--rpc", DEAD_RPC, "--house", HOUSE, "--db", "{params}"], "is not an index written by"),
    ],
    "index": [
        (["index", "--rpc", DEAD_RPC, "--house", HOUSE, "--db", "{tmp}"], "cannot reach the JSON-RPC endpoint"),
        (
            ["index", "--rpc", DEAD_RPC, "--house", HOUSE, "--db", "{tmp}/i.sqlite", "--parquet", "{tmp}/no"],
            "--parquet",
        ),
        (
            ["index", "--rpc", DEAD_RPC, "--house", HOUSE, "--db", "{tmp}/i.sqlite", "--adapter", "0x12"],
            "--adapter must be a 0x-prefixed 20-byte hex address",
        ),
    ],
    "demo": [(["demo", "--rounds", "3"], "No such option: --rounds")],
    "check-params": [
        (["check-params", "{tmp}/missing.toml"], "cannot read parameter file"),
        (["check-params", "{params}"], "protocol.liquidation_penalty = 0.5 is out of range [0, 0.1]"),
    ],
    "replay": [
        (["replay", "{actions}", "--params", str(PARAMS), "--governance", GOV, "--out", "{tmp}"], "is a folder"),
        (
            ["replay", "{actions}", "--params", str(PARAMS), "--governance", GOV, "--out", "{tmp}/no/events.jsonl"],
            "does not exist; create it first",
        ),
        (["replay", "{actions}"], "replay needs --params and --governance"),
        (["replay", "{actions}", "--chain", "ganache"], "--chain 'ganache' is unknown"),
    ],
    "audit": [
        (["audit", "--chain", "ganache"], "--chain 'ganache' is unknown"),
        (["audit", "--actions", "0"], "--actions must be a positive integer"),
        (["audit", "--out", "{actions}"], "is a file; give a folder"),
        (["audit", "--coverage", "{actions}"], "is a file; give a folder for the coverage report"),
        (["audit", "--coverage", "{tmp}/cov", "--chain", "anvil"], "--coverage measures titanoboa"),
        (["audit", "--profile", "fastest"], "--profile 'fastest' is unknown"),
    ],
    "oracle history": [
        (["oracle", "history", "{md}/" + USDC_ROUNDS, "--gap-hours", "-1"], "--gap-hours -1 must be"),
        (["oracle", "history", "{tmp}/none.csv"], "no such file"),
    ],
    "oracle check": [
        (["oracle", "check", "--rpc", DEAD_RPC, "--feed", FEED, "--max-move", "-1"], "--max-move -1 must be"),
        (["oracle", "check", "--rpc", DEAD_RPC, "--feed", FEED, "--heartbeat", "-5"], "'--heartbeat'"),
        (["oracle", "check", "--rpc", DEAD_RPC, "--feed", FEED], "Connection refused; check that the node"),
    ],
    "simulate": [
        (["simulate", "{tmp}/missing.toml", "--out", "{tmp}/s"], "cannot read study file"),
        (["simulate", str(STUDY), "--out", "{tmp}/s", "--scheduler", "notaurl"], "not a Dask scheduler"),
        (
            ["simulate", str(STUDY), "--out", "{tmp}/s", "--set", "price.csv='/no/such.csv'"],
            "price.csv = '/no/such.csv': no such file",
        ),
        (
            ["simulate", str(STUDY), "--out", "{tmp}/s", "--confidence", "1.5"],
            "--confidence must be a level in (0.5, 1)",
        ),
        (["simulate", str(STUDY), "--out", "{tmp}/s", "--worst-by", "pain"], "--worst-by 'pain' is not a per-path"),
    ],
    "simulate-on-chain": [
        (["simulate-on-chain", str(STUDY), "--backend", "ganache"], "--backend must be anvil or boa")
    ],
    "sweep": [
        (
            [
                "sweep",
                str(STUDY),
                "--out",
                "{tmp}/w",
                "--search",
                "protocol.initial_margin_fraction=0.02:0.2",
                "--threshold",
                "-1",
            ],
            "threshold -1 for p_socialized_loss must be a probability in [0, 1]",
        ),
        (["sweep", str(STUDY), "--out", "{tmp}/w", "--grid", "run.seed=1,2", "--scheduler", "tcp://"], "not a Dask"),
        (
            ["sweep", str(STUDY), "--out", "{tmp}/w", "--search", "protocol.initial_margin_fraction=0.02:0.2"],
            "64 paths cannot resolve p_socialized_loss <= 0.001: even with no event on any path its 95% upper "
            "bound stays above the target, and resolving it needs at least 2,995 paths; rerun with --paths 2995 "
            "or --extend",
        ),
        (["sweep", str(STUDY), "--out", "{tmp}/w", "--grid", "run.seed=1,2", "--extend"], "--extend applies to"),
    ],
    "stress": [
        (["stress", "--out", "{tmp}/x", "--scheduler", "localhost"], "not a Dask scheduler"),
        (["stress", "--out", "{tmp}/x", "--confidence", "0.3"], "--confidence must be a level in (0.5, 1)"),
    ],
    "compare": [
        (["compare", "{tmp}/a", "{tmp}/b"], "/a does not exist; give a folder written by simulate or stress"),
        (["compare", "{tmp}/a", "{tmp}/b", "--confidence", "95"], "--confidence must be a level in (0.5, 1)"),
    ],
    "calibrate": [
        (
            ["calibrate", "--out", "{tmp}/c", "--alpha", "1.5"],
            "alpha = 1.5 must be a confidence level strictly between",
        ),
        (["calibrate", "--out", "{tmp}/c", "--market", "BTC-PERP={gap}"], "1 bar(s) missing after 2020-01-02"),
        (
            ["calibrate", "--out", "{tmp}/c", "--data", "{md}", "--lookback", "60d"],
            "fewer than the 100 needed for one tail observation at alpha = 0.99",
        ),
        (["calibrate", "--out", "{tmp}/c", "--mpor", "2 days"], "--mpor '2 days' must be a positive duration"),
    ],
    # a keeper's wrong chain and missing role need a node: tests/e2e/test_keeper_crash.py
    "keeper": [
        (
            ["keeper", "--rpc", "http://127.0.0.1:9", "--house", HOUSE, "--key-file", "{keystore}"],
            "does not open with this password (wrong password)",
        ),
        (["keeper", "--rpc", "http://127.0.0.1:9", "--house", HOUSE], "give the keeper's account as --key-file"),
    ],
    "monitor": [
        (["monitor", "--db", "{notdb}"], "is not a Novation indexer database (no accounts, blocks, cursor"),
        (["monitor", "--db", "{tmp}/missing.sqlite"], "does not exist: create it with novation index"),
    ],
}


def _keystore(tmp: Path) -> Path:
    from eth_account import Account

    path = tmp / "keeper.json"
    path.write_text(json.dumps(Account.encrypt(b"\x01" * 32, "right", kdf="pbkdf2", iterations=1000)))
    return path


def _not_an_index(tmp: Path) -> Path:
    path = tmp / "other.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE events (x INTEGER)")
    return path


def _bad_params(tmp: Path) -> Path:
    path = tmp / "bad.toml"
    path.write_text(PARAMS.read_text().replace('liquidation_penalty = "0.025"', 'liquidation_penalty = "0.5"'))
    return path


def _gap_csv(tmp: Path) -> Path:
    path = tmp / "gap.csv"
    rows = ["2020-01-01", "2020-01-02", "2020-01-04"]
    path.write_text("date_utc,open,high,low,close,volume,n_hours\n" + "".join(f"{d},1,1,1,1,1,24\n" for d in rows))
    return path


def _actions(tmp: Path) -> Path:
    path = tmp / "actions.jsonl"
    path.write_text('{"kind": "AdvanceTime", "seconds": 10, "blocks": 1}\n')
    return path


def _commands(group: Any, prefix: str = "") -> list[str]:
    """Every leaf command of a (Typer's own) click group, as ``"group sub"``."""
    names: list[str] = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def _assert_one_sentence(result: Result, fragment: str) -> None:
    output = result.output
    assert result.exit_code != 0, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    assert fragment in " ".join(output.replace("│", " ").split()), output
    ours = [line for line in output.splitlines() if line.startswith("error: ")]
    if ours:  # the command's own errors: exactly one line
        assert len([line for line in output.splitlines() if line.strip()]) == 1, output


def test_every_subcommand_has_a_bad_input_case() -> None:
    assert sorted(_commands(typer.main.get_command(app))) == sorted(BAD_INPUT)


CASES = [(name, args, fragment) for name, cases in BAD_INPUT.items() for args, fragment in cases]


@pytest.mark.parametrize(("command", "args", "fragment"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_gets_one_sentence_and_does_no_work(
    command: str, args: list[str], fragment: str, tmp_path: Path, market_data: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    files = {
        "tmp": str(work),
        "params": str(_bad_params(tmp_path)),
        "actions": str(_actions(tmp_path)),
        "gap": str(_gap_csv(tmp_path)),
        "keystore": str(_keystore(tmp_path)),
        "notdb": str(_not_an_index(tmp_path)),
    }
    argv = [a.format(md=market_data, **files) for a in args]
    result = runner.invoke(app, argv, env={"COLUMNS": "200", "NOVATION_KEEPER_PASSWORD": "wrong"})
    _assert_one_sentence(result, fragment)
    assert list(work.iterdir()) == []  # no output folder, no stray temp file


def test_python_m_novation_and_version() -> None:
    help_ = subprocess.run([sys.executable, "-m", "novation", "--help"], capture_output=True, text=True, check=False)
    assert help_.returncode == 0, help_.stderr
    assert "simulate" in help_.stdout
    version = subprocess.run(
        [sys.executable, "-m", "novation", "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    import novation

    assert version.stdout.strip() == f"novation {novation.__version__}"
