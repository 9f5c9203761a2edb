"""``novation audit``: stateful random invariant campaigns on the model or a chain, with shrunk reproducers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from contracts_py.audit.campaign import CHAINS, open_target
from contracts_py.audit.coverage import campaign_coverage
from contracts_py.audit.reproducer import failing_check, shrink, write_reproducer
from contracts_py.audit.runner import CampaignConfig, CampaignResult, run_campaign
from novation.cli._common import app, fail, write_atomic
from protocol.errors import InvalidParameter, NovationError


def _check_out(out: Path | None, option: str = "--out", what: str = "the summary and any reproducer") -> None:
    if out is not None and out.exists() and not out.is_dir():
        raise InvalidParameter(f"{option} {out} is a file; give a folder for {what}")
    if out is not None and not out.parent.is_dir():
        raise InvalidParameter(f"{option} {out}: the folder {out.parent} does not exist; create it first")


@app.command()
def audit(
    actions: Annotated[int, typer.Option(help="protocol actions in the whole campaign")] = 10_000,
    sequence_length: Annotated[int, typer.Option(help="actions per sequence (each from a fresh state)")] = 500,
    per_block: Annotated[int, typer.Option(help="actions per block; invariants run after every block")] = 20,
    chain: Annotated[str, typer.Option(help=f"where to run: {', '.join(CHAINS)} (chains run the model as twin)")] = (
        "model"
    ),
    seed: Annotated[int | None, typer.Option(help="SeedSequence entropy (default: fresh, printed)")] = None,
    time: Annotated[
        float | None, typer.Option("--time", help="stop starting sequences after this many seconds")
    ] = None,
    workers: Annotated[int, typer.Option(help="worker processes (each with its own chain)")] = 1,
    params_file: Annotated[
        Path | None, typer.Option("--params", help="TOML parameter file (default: built-in)")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="folder for summary.json and a shrunk reproducer")] = None,
    shrink_time: Annotated[float, typer.Option(help="seconds the shrinker may take")] = 60.0,
    coverage: Annotated[
        Path | None,
        typer.Option(
            help="folder for the line and branch coverage of the contracts and the model "
            "(--chain boa, one worker): never-reached lines listed"
        ),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help="action weights: default, or coverage (aimed at seldom-reached code: liquidations, governance, "
            "refusals; with --coverage, half the actions under each socialized-loss method)"
        ),
    ] = "default",
    plant: Annotated[str | None, typer.Option(hidden=True, help="test hook: a planted (wrong) invariant")] = None,
) -> None:
    """Run random action sequences over every actor, checking every invariant after every block
    (and, on a chain, chain == model to the wei); shrink a violation to a minimal replayable log."""
    console = Console()
    try:
        _check_out(out)
        if shrink_time <= 0:
            raise InvalidParameter(f"--shrink-time must be a positive number of seconds, got {shrink_time}")
        _check_out(coverage, "--coverage", "the coverage report")
        config = CampaignConfig(
            trace_sources=coverage is not None,
            actions=actions,
            sequence_length=sequence_length,
            per_block=per_block,
            chain=chain,
            seed=seed,
            time_s=time,
            workers=workers,
            params_path=params_file,
            plant=plant,
            profile=profile,
        )
        config.params()
        if coverage is not None and (chain != "boa" or workers != 1):
            raise InvalidParameter("--coverage measures titanoboa in this process: give --chain boa --workers 1")
    except NovationError as exc:
        fail(exc)
    with Progress(
        TextColumn(f"[bold]audit on {chain}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("actions", total=actions)
        try:
            if coverage is None:
                results: tuple[CampaignResult, ...] = (run_campaign(config, lambda n: bar.advance(task, n)),)
            else:
                report = campaign_coverage(config, coverage, lambda n: bar.advance(task, n))
                results = report.results
        except NovationError as exc:
            fail(exc)
    for r in results:
        _summary(console, r)
    result = next((r for r in results if r.violation is not None), results[-1])
    if coverage is not None:
        c, m = report.contracts, report.model
        console.print(
            f"contract line coverage: {c.reached:,}/{c.statements:,} lines ({c.percent:.1f} %; "
            f"{c.code_percent:.1f} % of the {c.code_statements:,} with code), "
            f"branches {c.branch_percent:.1f} %; model (protocol/): {m.percent:.1f} % of lines, "
            f"branches {m.branch_percent:.1f} %; never reached: {coverage / 'coverage.txt'}, "
            f"annotated sources: {coverage / 'html' / 'index.html'}"
        )
    if out is not None:
        out.mkdir(exist_ok=True)
        write_atomic(out / "summary.json", json.dumps(result.to_dict(), indent=2) + "\n")
    if result.violation is None:
        return
    v = result.violation
    console.print(f"[bold red]violation[/] {v.check} on the {v.where} at action {v.action_index}: {v.detail[:500]}")
    if out is None:
        console.print("give --out FOLDER to shrink it and write a reproducer")
        raise typer.Exit(code=1)
    with open_target(chain, config.params()) as target:
        fails = failing_check(target, v.check, plant)
        small = shrink(result.violation_log, fails, time_s=shrink_time)
    log, test = write_reproducer(
        out,
        small,
        v,
        {"chain": chain, "plant": plant, "seed_entropy": result.entropy, "sequence": result.violation_sequence},
    )
    console.print(f"shrunk {len(result.violation_log)} -> {len(small)} actions: {log}, {test}")
    console.print(f"replay: novation replay {log} --chain {chain}")
    raise typer.Exit(code=1)


def _summary(console: Console, result: CampaignResult) -> None:
    s = result.stats
    console.print(
        f"{s.actions:,} actions in {s.sequences} sequences, {s.blocks:,} blocks on {result.config.chain}"
        f"{'' if result.config.loss_method is None else f' ({result.config.loss_method} socialized loss)'}: "
        f"{result.seconds:.1f} s ({s.setup_s:.1f} s of set-up: node, compilation, deployment), "
        f"{result.rate:,.0f} actions/s after set-up (invariants included); {s.checks:,} invariant checks; "
        f"seed entropy {result.entropy}"
    )
    if s.reverts:
        console.print(f"reverts ({sum(s.reverts.values()):,}) by reason:")
        for reason, n in s.reverts.most_common():
            console.print(f"  {n:>8,}  {reason}")
