"""``novation demo``, ``check-params`` and ``replay``: the reference model from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from novation.cli._common import app, fail, write_atomic
from protocol.actions import action_from_dict
from protocol.clearing_house import ClearingHouse
from protocol.errors import InvalidParameter, NovationError, ProtocolRevert
from protocol.invariants import check_state, check_transition
from protocol.params import load_params
from protocol.scenarios import default_params


@app.command()
def demo() -> None:
    """Run the scripted crash scenario on the reference model and print what happened."""
    from novation.demo import run_demo

    console = Console()
    run_demo(Console(width=max(console.width, 150)))  # the account table needs the room


@app.command("check-params")
def check_params(path: Annotated[Path, typer.Argument(help="TOML parameter file")]) -> None:
    """Validate a parameter file and print its markets and collateral."""
    console = Console()
    try:
        params = load_params(path)
    except NovationError as exc:
        fail(exc)
    for m in params.markets:
        console.print(
            f"market {m.market_id} {m.symbol}: IMF {m.initial_margin_fraction_wad / 1e18:.4%}, "
            f"MM share {m.maintenance_share_wad / 1e18:.2%}"
        )
    for c in params.collaterals:
        console.print(f"collateral {c.asset_id} {c.symbol}: haircut {c.haircut_wad / 1e18:.2%}")
    console.print(f"[green]ok[/]: {path}")


def _check_output_file(out: Path) -> None:
    """An output file path whose folder exists and that is not itself a folder."""
    if out.is_dir():
        raise InvalidParameter(f"--out {out} is a folder; give a file path such as {out / 'events.jsonl'}")
    if not out.parent.is_dir():
        raise InvalidParameter(f"--out {out}: the folder {out.parent} does not exist; create it first")


@app.command()
def replay(
    actions: Annotated[Path, typer.Argument(help="JSON-lines file of action records")],
    params_file: Annotated[Path | None, typer.Option("--params", help="TOML parameter file")] = None,
    governance: Annotated[str | None, typer.Option(help="governance address")] = None,
    out: Annotated[Path | None, typer.Option(help="write events as JSON lines here")] = None,
    chain: Annotated[
        str | None,
        typer.Option(help="replay an audit log (novation audit) on model, boa, eth-tester or anvil, the model as twin"),
    ] = None,
) -> None:
    """Apply action records to the model, checking every invariant after every action.

    Roles are granted by ``SetRole`` records from ``--governance``. Refused actions are
    reported with their revert reason and change nothing. With ``--chain``, the log of
    ``novation audit`` (its actors and parameters) runs with every campaign check on that chain
    and the model; exit code 1 when a check fails.
    """
    if chain is not None:
        _replay_audit(actions, chain, params_file)
        return
    if params_file is None or governance is None:
        fail(InvalidParameter("replay needs --params and --governance (or --chain for a log of novation audit)"))
    console = Console()
    try:
        if out is not None:
            _check_output_file(out)
        house = ClearingHouse(load_params(params_file), governance)
        lines = actions.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(NovationError(f"cannot read {actions}: {exc.strerror}"))
    except NovationError as exc:
        fail(exc)
    records: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            action = action_from_dict(json.loads(line))
        except json.JSONDecodeError as exc:
            fail(NovationError(f"{actions}:{number}: not JSON ({exc.msg})"))
        except NovationError as exc:
            fail(NovationError(f"{actions}:{number}: {exc}"))
        before = house.snapshot()
        try:
            events = house.apply(action)
        except ProtocolRevert as exc:
            console.print(f"{number}: [yellow]reverted[/] {exc.reason}")
            records.append(json.dumps({"line": number, "revert": exc.reason}))
            continue
        violated = check_state(house.state, house.params) | check_transition(before, house.state, events, house.params)
        if violated:
            fail(NovationError(f"{actions}:{number}: invariant violated: {violated}"))
        console.print(f"{number}: {type(action).__name__} -> {len(events)} events")
        records.extend(json.dumps({"line": number, **ev.to_dict()}) for ev in events)
    if out is not None:
        write_atomic(out, "\n".join(records) + "\n")
        console.print(f"events written to {out}")


def _replay_audit(log: Path, chain: str, params_file: Path | None) -> None:
    """``replay --chain``: an audit log on ``chain`` with the campaign's checks."""
    from contracts_py.audit.campaign import open_target
    from contracts_py.audit.reproducer import read_log, replay_log

    console = Console()
    try:
        header, records = read_log(log)
        params = load_params(params_file) if params_file is not None else default_params()
        with open_target(chain, params) as target:
            stats, violation = replay_log(target, records, header.get("plant"))
    except NovationError as exc:
        fail(exc)
    console.print(f"{stats.actions} actions, {stats.blocks} blocks, {stats.checks} invariant checks on {chain}")
    if violation is not None:
        v = violation
        console.print(f"[bold red]violation[/] {v.check} on the {v.where} at action {v.action_index}: {v.detail}")
        raise typer.Exit(code=1)
    console.print("[green]every check held[/]")
