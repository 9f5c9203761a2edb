"""``novation oracle history`` and ``novation oracle check``: price-feed tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from novation.cli._common import fail, oracle_app, utc
from protocol.constants import MAX_DECIMALS, WAD
from protocol.errors import InvalidParameter, NovationError
from protocol.oracle.guards import MAX_HEARTBEAT_S


@oracle_app.command("history")
def oracle_history(
    path: Annotated[Path, typer.Argument(help="Chainlink round CSV (roundId,answer,startedAt,updatedAt,...)")],
    decimals: Annotated[int, typer.Option(help="feed decimals", min=0, max=MAX_DECIMALS)] = 8,
    gap_hours: Annotated[float, typer.Option(help="report heartbeat gaps longer than this many hours")] = 24.0,
    depeg: Annotated[str, typer.Option(help="report answers below this price")] = "0.97",
    top: Annotated[int, typer.Option(help="list at most this many gaps", min=0)] = 10,
) -> None:
    """Stale rounds, heartbeat gaps, overlapping phases and depegs in a Chainlink round history."""
    from oracles.history import load_chainlink_rounds
    from oracles.history_report import analyse_history
    from protocol.params import decimal_to_wad

    console = Console(soft_wrap=True)
    try:
        if not gap_hours > 0:
            raise InvalidParameter(f"--gap-hours {gap_hours:g} must be a positive number of hours, e.g. 24")
        rounds = load_chainlink_rounds(path)
        report = analyse_history(
            rounds,
            decimals,
            gap_threshold_s=round(gap_hours * 3_600),
            depeg_threshold_wad=decimal_to_wad("--depeg", depeg),
        )
    except NovationError as exc:
        fail(exc)
    scale = 10**decimals
    console.print(f"{path.name}: {report.rounds} rounds in {len(report.phases)} phases")
    for ov in report.overlaps:
        console.print(
            f"  phases {ov.earlier_phase_id} and {ov.later_phase_id} overlap {utc(ov.start_s)} .. {utc(ov.end_s)}"
        )
    console.print(f"  stale rounds (answeredInRound != roundId): {len(report.stale)}")
    for rd in report.stale:
        console.print(f"    round {rd.round_id} at {utc(rd.updated_at)} answered in {rd.answered_in_round}")
    gaps = report.gaps_proxy_view
    console.print(
        f"  heartbeat gaps over {gap_hours:g} h seen through the proxy (current phase): {len(gaps)}"
        + (f", the {top} longest:" if len(gaps) > top else "")
    )
    for gap in gaps[:top]:
        console.print(
            f"    {gap.duration_s / 3_600:.1f} h from {utc(gap.before.updated_at)} to {utc(gap.after.updated_at)}"
        )
    low = report.min_answer_round
    console.print(
        f"  lowest answer {low.answer / scale:.8f} at {utc(low.updated_at)}; "
        f"{len(report.depegged)} rounds below {depeg}"
    )


@oracle_app.command("check")
def oracle_check(
    rpc: Annotated[str, typer.Option("--rpc", help="JSON-RPC URL, e.g. http://127.0.0.1:8545")],
    feed: Annotated[str, typer.Option("--feed", help="AggregatorV3 (proxy) address")],
    heartbeat: Annotated[
        int, typer.Option("--heartbeat", help="largest accepted age, seconds", min=1, max=MAX_HEARTBEAT_S)
    ] = 3_600,
    max_move: Annotated[
        str, typer.Option("--max-move", help="largest move from the last good price, fraction")
    ] = "0.1",
    last_good: Annotated[
        str | None, typer.Option("--last-good", help="last good price (USD) the move guard compares with")
    ] = None,
    decimals: Annotated[
        int | None,
        typer.Option("--decimals", help="expected feed decimals (default: the feed's)", min=0, max=MAX_DECIMALS),
    ] = None,
    now: Annotated[int | None, typer.Option("--now", help="judge at this Unix time (default: latest block)")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="RPC timeout, seconds")] = 10.0,
) -> None:
    """Read a live Chainlink feed and print its latest round, age, move and every guard's verdict.

    Exit code 0 when every guard passes, 1 when one fails, 2 on an error (dead endpoint, wrong
    address, a contract that is not a feed, bad options).
    """
    from oracles.live import check_live_feed, read_feed
    from protocol.oracle.guards import FeedConfig, GuardStatus
    from protocol.params import decimal_to_wad

    console = Console(soft_wrap=True)
    try:
        if not timeout > 0:
            raise InvalidParameter(f"--timeout {timeout:g} must be a positive number of seconds")
        move_wad = decimal_to_wad("--max-move", max_move)
        if not 0 < move_wad <= WAD:
            raise InvalidParameter(f"--max-move {max_move} must be a fraction in (0, 1], e.g. 0.1 for 10 %")
        last_wad = None if last_good is None else decimal_to_wad("--last-good", last_good)
        if last_wad is not None and last_wad <= 0:
            raise InvalidParameter(f"--last-good {last_good} must be a positive price in USD")
        if decimals is None:
            decimals = read_feed(rpc, feed, timeout_s=timeout).decimals
        config = FeedConfig(decimals=decimals, heartbeat_s=heartbeat, max_move_wad=move_wad)
        live, verdict = check_live_feed(rpc, feed, config, last_good_price_wad=last_wad, now_s=now, timeout_s=timeout)
    except NovationError as exc:
        fail(exc)
    rd = live.round
    at = live.block_timestamp_s if now is None else now
    age = at - rd.updated_at
    scale = 10**live.decimals
    console.print(f"feed {live.address} ({live.description}), {live.decimals} decimals, current phase {live.phase_id}")
    console.print(
        f"latest round {rd.round_id} (phase {rd.phase_id}, round {rd.aggregator_round_id}): "
        f"answer {rd.answer / scale:,.{min(live.decimals, 8)}f} ({rd.answer} raw), "
        f"updated {rd.updated_at} ({utc(rd.updated_at) if rd.updated_at < 2**40 else 'far future'} UTC), "
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
