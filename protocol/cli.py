"""The ``novation`` command line: the demo, parameter checks and action replays on the model."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from protocol.actions import action_from_dict
from protocol.clearing_house import ClearingHouse
from protocol.errors import NovationError, ProtocolRevert
from protocol.invariants import check_state, check_transition
from protocol.params import load_params

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
oracle_app = typer.Typer(no_args_is_help=True, help="Price-feed tools: history analysis and live checks.")
app.add_typer(oracle_app, name="oracle")


def _fail(console: Console, exc: NovationError) -> typer.Exit:
    """Print one unwrapped error line on stderr and return the exit to raise (code 2)."""
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(code=2)


@app.command()
def demo() -> None:
    """Run the scripted crash scenario on the reference model and print what happened."""
    from protocol.demo import run_demo

    console = Console()
    run_demo(Console(width=max(console.width, 150)))  # the account table needs the room


@app.command("check-params")
def check_params(path: Annotated[Path, typer.Argument(help="TOML parameter file")]) -> None:
    """Validate a parameter file and print its markets and collateral."""
    console = Console()
    try:
        params = load_params(path)
    except NovationError as exc:
        raise _fail(console, exc) from None
    for m in params.markets:
        console.print(
            f"market {m.market_id} {m.symbol}: IMF {m.initial_margin_fraction_wad / 1e18:.4%}, "
            f"MM share {m.maintenance_share_wad / 1e18:.2%}"
        )
    for c in params.collaterals:
        console.print(f"collateral {c.asset_id} {c.symbol}: haircut {c.haircut_wad / 1e18:.2%}")
    console.print(f"[green]ok[/]: {path}")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


@app.command()
def replay(
    actions: Annotated[Path, typer.Argument(help="JSON-lines file of action records")],
    params_file: Annotated[Path, typer.Option("--params", help="TOML parameter file")],
    governance: Annotated[str, typer.Option(help="governance address")],
    out: Annotated[Path | None, typer.Option(help="write events as JSON lines here")] = None,
) -> None:
    """Apply action records to the model, checking every invariant after every action.

    Roles are granted by ``SetRole`` records from ``--governance``. Refused actions are
    reported with their revert reason and change nothing.
    """
    console = Console()
    try:
        house = ClearingHouse(load_params(params_file), governance)
        lines = actions.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise _fail(console, NovationError(f"cannot read {actions}: {exc.strerror}")) from None
    except NovationError as exc:
        raise _fail(console, exc) from None
    records: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            action = action_from_dict(json.loads(line))
        except json.JSONDecodeError as exc:
            raise _fail(console, NovationError(f"{actions}:{number}: not JSON ({exc.msg})")) from None
        except NovationError as exc:
            raise _fail(console, NovationError(f"{actions}:{number}: {exc}")) from None
        before = house.snapshot()
        try:
            events = house.apply(action)
        except ProtocolRevert as exc:
            console.print(f"{number}: [yellow]reverted[/] {exc.reason}")
            records.append(json.dumps({"line": number, "revert": exc.reason}))
            continue
        violated = check_state(house.state, house.params) | check_transition(before, house.state, events, house.params)
        if violated:
            raise _fail(console, NovationError(f"{actions}:{number}: invariant violated: {violated}"))
        console.print(f"{number}: {type(action).__name__} -> {len(events)} events")
        records.extend(json.dumps({"line": number, **ev.to_dict()}) for ev in events)
    if out is not None:
        _write_atomic(out, "\n".join(records) + "\n")
        console.print(f"events written to {out}")


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


@oracle_app.command("history")
def oracle_history(
    path: Annotated[Path, typer.Argument(help="Chainlink round CSV (roundId,answer,startedAt,updatedAt,...)")],
    decimals: Annotated[int, typer.Option(help="feed decimals")] = 8,
    gap_hours: Annotated[float, typer.Option(help="report heartbeat gaps longer than this")] = 24.0,
    depeg: Annotated[str, typer.Option(help="report answers below this price")] = "0.97",
    top: Annotated[int, typer.Option(help="list at most this many gaps")] = 10,
) -> None:
    """Stale rounds, heartbeat gaps, overlapping phases and depegs in a Chainlink round history."""
    from oracles.history import load_chainlink_rounds
    from oracles.history_report import analyse_history
    from protocol.params import decimal_to_wad

    console = Console(soft_wrap=True)
    try:
        rounds = load_chainlink_rounds(path)
        report = analyse_history(
            rounds,
            decimals,
            gap_threshold_s=round(gap_hours * 3_600),
            depeg_threshold_wad=decimal_to_wad("--depeg", depeg),
        )
    except NovationError as exc:
        raise _fail(console, exc) from None
    scale = 10**decimals
    console.print(f"{path.name}: {report.rounds} rounds in {len(report.phases)} phases")
    for ov in report.overlaps:
        console.print(
            f"  phases {ov.earlier_phase_id} and {ov.later_phase_id} overlap {_utc(ov.start_s)} .. {_utc(ov.end_s)}"
        )
    console.print(f"  stale rounds (answeredInRound != roundId): {len(report.stale)}")
    for rd in report.stale:
        console.print(f"    round {rd.round_id} at {_utc(rd.updated_at)} answered in {rd.answered_in_round}")
    gaps = report.gaps_proxy_view
    console.print(
        f"  heartbeat gaps over {gap_hours:g} h seen through the proxy (current phase): {len(gaps)}"
        + (f", the {top} longest:" if len(gaps) > top else "")
    )
    for gap in gaps[:top]:
        console.print(
            f"    {gap.duration_s / 3_600:.1f} h from {_utc(gap.before.updated_at)} to {_utc(gap.after.updated_at)}"
        )
    low = report.min_answer_round
    console.print(
        f"  lowest answer {low.answer / scale:.8f} at {_utc(low.updated_at)}; "
        f"{len(report.depegged)} rounds below {depeg}"
    )


@oracle_app.command("check")
def oracle_check(
    rpc: Annotated[str, typer.Option("--rpc", help="JSON-RPC URL, e.g. http://127.0.0.1:8545")],
    feed: Annotated[str, typer.Option("--feed", help="AggregatorV3 (proxy) address")],
    heartbeat: Annotated[int, typer.Option("--heartbeat", help="largest accepted age, seconds")] = 3_600,
    max_move: Annotated[
        str, typer.Option("--max-move", help="largest move from the last good price, fraction")
    ] = "0.1",
    last_good: Annotated[
        str | None, typer.Option("--last-good", help="last good price (USD) the move guard compares with")
    ] = None,
    decimals: Annotated[
        int | None, typer.Option("--decimals", help="expected feed decimals (default: the feed's)")
    ] = None,
    now: Annotated[int | None, typer.Option("--now", help="judge at this Unix time (default: latest block)")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="RPC timeout, seconds")] = 10.0,
) -> None:
    """Read a live Chainlink feed and print its latest round, age, move and every guard's verdict.

    Exit code 0 when every guard passes, 1 when one fails, 2 on an error (dead endpoint, wrong
    address, a contract that is not a feed, bad options).
    """
    from oracles.guards import FeedConfig, GuardStatus
    from oracles.live import check_live_feed, read_feed
    from protocol.params import decimal_to_wad

    console = Console(soft_wrap=True)
    try:
        move_wad = decimal_to_wad("--max-move", max_move)
        last_wad = None if last_good is None else decimal_to_wad("--last-good", last_good)
        if decimals is None:
            decimals = read_feed(rpc, feed, timeout_s=timeout).decimals
        config = FeedConfig(decimals=decimals, heartbeat_s=heartbeat, max_move_wad=move_wad)
        live, verdict = check_live_feed(rpc, feed, config, last_good_price_wad=last_wad, now_s=now, timeout_s=timeout)
    except NovationError as exc:
        raise _fail(console, exc) from None
    rd = live.round
    at = live.block_timestamp_s if now is None else now
    age = at - rd.updated_at
    scale = 10**live.decimals
    console.print(f"feed {live.address} ({live.description}), {live.decimals} decimals, current phase {live.phase_id}")
    console.print(
        f"latest round {rd.round_id} (phase {rd.phase_id}, round {rd.aggregator_round_id}): "
        f"answer {rd.answer / scale:,.{min(live.decimals, 8)}f} ({rd.answer} raw), "
        f"updated {rd.updated_at} ({_utc(rd.updated_at) if rd.updated_at < 2**40 else 'far future'} UTC), "
        f"answered in round {rd.answered_in_round}"
    )
    console.print(f"age {age} s at {at} (heartbeat {heartbeat} s)")
    if last_wad is None or verdict.price_wad is None:
        console.print("move since last good price: n/a" + (" (give --last-good)" if last_wad is None else ""))
    else:
        move = (verdict.price_wad - last_wad) / last_wad
        console.print(f"move since last good price {last_good}: {move:+.4%} (max {move_wad / 10**18:.4%})")
    for r in verdict.results:
        label = {GuardStatus.PASSED: "pass", GuardStatus.FAILED: "FAIL", GuardStatus.SKIPPED: "skip"}[r.status]
        console.print(f"  {r.guard:<18} {label}" + (f"  {r.reason}" if r.status is GuardStatus.FAILED else ""))
    if verdict.ok:
        console.print("verdict: ok")
        return
    console.print(f"verdict: rejected ({verdict.failure})")
    raise typer.Exit(code=1)
