"""``novation simulate``, ``simulate-on-chain``, ``sweep``, ``stress``, ``compare`` and
``compare-methods``: stress studies."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from novation.cli._common import app, fail
from protocol.errors import InvalidParameter, NovationError
from simulator import EXAMPLES_DIR
from simulator.uncertainty import DEFAULT_CONFIDENCE, check_confidence

if TYPE_CHECKING:
    from simulator.config import StudyConfig

#: ``novation stress --quick``: a handful of small paths (tests, smoke runs).
_QUICK_MONTE_CARLO: dict[str, object] = {"run.paths": 4, "run.accounts": 60, "run.steps": 120}
_QUICK_CRASH: dict[str, object] = {"run.paths": 2, "run.accounts": 60, "run.step_s": 1_800, "run.steps": 204}


def _toml_scalar(text: str) -> object:
    """A ``--grid`` value: a TOML number, boolean or quoted string, else the bare text."""
    value = _toml_value(text)
    return value if isinstance(value, bool | int | float | str) else text


def _toml_value(text: str) -> object:
    """A ``--set`` value: any TOML value (``[0, 1]``, ``{ "ETH/USD" = { spot = 3000.0, sigma = 1.0 } }``
    included), else the bare text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _assignments(flag: str, items: list[str] | None) -> dict[str, str]:
    """``["section.field=value", ...]`` as ``{"section.field": "value"}``; a malformed item fails."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        section, dot, field = key.partition(".")
        if not sep or not dot or not section or not field or not value.strip():
            raise InvalidParameter(f"{flag} {item!r} must look like section.field=value (e.g. run.paths=16)")
        if key in out:
            raise InvalidParameter(f"{flag} gives {key} twice")
        out[key] = value.strip()
    return out


def _study(path: Path, overrides: Mapping[str, object]) -> StudyConfig:
    """:func:`~simulator.config.load_study` with the command's overrides."""
    from simulator.config import load_study

    return load_study(path, overrides)


def _run_options(workers: int | None, scheduler: str | None, resume: bool, quiet: bool) -> dict[str, object]:
    """The run options of a study command, checked before any study is loaded or run."""
    from simulator.runner import check_scheduler_address

    if scheduler is not None:
        check_scheduler_address(scheduler)
        if workers is not None:
            raise InvalidParameter("--workers counts local processes; leave it out when --scheduler is given")
    return {"workers": workers, "scheduler": scheduler, "resume": resume, "progress": not quiet}


def _run_and_report(
    config: StudyConfig,
    out: Path,
    options: Mapping[str, Any],
    console: Console,
    quiet: bool,
    *,
    report: bool = True,
    confidence: float = DEFAULT_CONFIDENCE,
    worst_by: str = "bad_debt_wad",
) -> dict[str, Any]:
    """Run (or resume) one study into ``out``, print its summary table, and write its report
    (unless ``report`` is False: a combined report writes it). Returns the study's JSON record."""
    from simulator.report import write_report
    from simulator.runner import run_study
    from simulator.summary import jsonable, resolution_notes, summarize, summary_table

    run = run_study(config, out, **options)
    summary = summarize(run.metrics(), confidence)
    if not quiet:
        console.print(summary_table(summary, title=f"{config.run.name}: {run.n_paths:,} paths"))
    resumed = f", {run.n_resumed:,} resumed from {out}" if run.n_resumed else ""
    console.print(
        f"{config.run.name}: ran {run.n_run_now:,} paths in {run.elapsed_s:.1f} s "
        f"({run.backend}, {run.workers} worker{'s' if run.workers != 1 else ''}){resumed}"
    )
    if report:
        write_report(out, confidence=confidence, worst_by=worst_by)
    return {
        "study": config.run.name,
        "out": str(out),
        "n_paths": run.n_paths,
        "n_run_now": run.n_run_now,
        "n_resumed": run.n_resumed,
        "summary": jsonable(summary),
        "notes": resolution_notes(summary),
    }


def _emit_json(payload: Mapping[str, Any]) -> None:
    """The command's machine-readable result: one JSON object on stdout."""
    typer.echo(json.dumps(payload, indent=2, default=str))


def _check_worst_by(worst_by: str) -> str:
    from simulator.results import METRICS

    if worst_by not in METRICS:
        raise InvalidParameter(f"--worst-by {worst_by!r} is not a per-path metric; allowed: {sorted(METRICS)}")
    return worst_by


_Out = Annotated[Path, typer.Option("--out", help="output folder (results, report.md, plots); resumable")]
_Workers = Annotated[
    int | None, typer.Option("--workers", help="local worker processes (default: every CPU; 1 runs in-process)")
]
_Scheduler = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
]
_Resume = Annotated[
    bool,
    typer.Option(
        "--resume/--no-resume",
        " /--overwrite",
        help="continue the study already in --out, or replace its results (--overwrite is --no-resume)",
    ),
]
_Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar and no summary table")]
_Paths = Annotated[int | None, typer.Option("--paths", help="Monte Carlo paths (overrides run.paths)")]
_Set = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="override a study field: section.field=value (repeatable; TOML values), e.g. price.sigma=1.5, "
        "protocol.markets=[0,1]",
    ),
]
_Confidence = Annotated[
    float,
    typer.Option("--confidence", help="level of every interval and upper bound, in (0.5, 1)"),
]
_Json = Annotated[
    bool, typer.Option("--json", help="print the result as one JSON object on stdout (messages to stderr)")
]
_WorstBy = Annotated[
    str, typer.Option("--worst-by", help="per-path metric the report's worst paths are chosen (and drawn) by")
]
_StudyFile = Annotated[Path, typer.Argument(help="study TOML file, e.g. simulator/examples/stress.toml")]


def _overrides(set_: list[str] | None, paths: int | None) -> dict[str, object]:
    """The study overrides of ``--set KEY=VALUE`` (TOML values) and ``--paths`` (``run.paths``)."""
    overrides: dict[str, object] = {k: _toml_value(v) for k, v in _assignments("--set", set_).items()}
    if paths is not None:
        overrides["run.paths"] = paths
    return overrides


def _interrupted(out: Path) -> typer.Exit:
    Console(stderr=True, soft_wrap=True).print(
        f"[yellow]interrupted[/]: finished paths are stored in {out}; run the same command again to resume",
        highlight=False,
    )
    return typer.Exit(code=130)


@app.command()
def simulate(
    study: _StudyFile,
    out: _Out,
    paths: _Paths = None,
    workers: _Workers = None,
    scheduler: _Scheduler = None,
    resume: _Resume = True,
    quiet: _Quiet = False,
    set_: _Set = None,
    confidence: _Confidence = DEFAULT_CONFIDENCE,
    worst_by: _WorstBy = "bad_debt_wad",
    json_: _Json = False,
) -> None:
    """Run a Monte Carlo stress study and write its summary, report.md and plots into --out.

    Paths are seeded from run.seed (path i: SeedSequence(run.seed, spawn_key=(1, i))), so the
    results do not depend on --workers or --scheduler; an interrupted run resumes.
    """
    from simulator.report import REPORT_FILE

    console = Console(soft_wrap=True, stderr=json_)
    try:
        overrides = _overrides(set_, paths)
        check_confidence(confidence, "--confidence")
        _check_worst_by(worst_by)
        options = _run_options(workers, scheduler, resume, quiet or json_)
        config = _study(study, overrides)
        record = _run_and_report(
            config, out, options, console, quiet or json_, confidence=confidence, worst_by=worst_by
        )
    except NovationError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise _interrupted(out) from None
    console.print(f"report: {out / REPORT_FILE} (plots beside it)")
    if json_:
        _emit_json({**record, "report": str(out / REPORT_FILE)})


@app.command("simulate-on-chain")
def simulate_on_chain(
    study: _StudyFile,
    path: Annotated[int, typer.Option("--path", help="path index (seed SeedSequence(run.seed, spawn_key=(1, i)))")] = 0,
    backend: Annotated[str, typer.Option("--backend", help="anvil (a real node, the fast path) or boa")] = "anvil",
    set_: _Set = None,
) -> None:
    """Run one path of a study on the model and its exact action log on a local chain.

    The book's set-up and the path's actions go to the contracts (on anvil each block's
    transactions in one pipelined JSON-RPC batch) while a fresh model applies the same records;
    every action's events and the final state must be equal. Exits 1 if anything differs.
    """
    from contracts_py.chains import make_chain
    from simulator.on_chain import ANVIL_ARGS, replay_path

    console = Console(soft_wrap=True)
    try:
        if backend not in ("anvil", "boa"):
            raise InvalidParameter(f"--backend must be anvil or boa, got {backend!r}")
        config = _study(study, {k: _toml_value(v) for k, v in _assignments("--set", set_).items()})
        config.path_seed(path)  # validates --path
        kwargs: dict[str, Any] = {"impersonate": True, "extra_args": list(ANVIL_ARGS)} if backend == "anvil" else {}
        with make_chain(backend, **kwargs) as chain:
            report = replay_path(config, path, chain)
    except NovationError as exc:
        fail(exc)
    m = report.result.metrics
    console.print(
        f"{config.run.name} path {path} on {report.backend}: {report.actions:,} protocol actions in "
        f"{report.chain_seconds:.2f} s ({report.actions_per_s:,.0f} actions/s); {m['liquidations']} liquidations, "
        f"{m['collateral_liquidations']} collateral sales, {m['deleveragings']} deleveragings, bad debt "
        f"{m['bad_debt_wad'] / 10**18:,.2f} USD",
        highlight=False,
    )
    if report.equal:
        console.print("chain == model: every action's events and the final state are equal to the wei")
        return
    for line in (*report.action_mismatches, *report.state_differences)[:10]:
        console.print(f"[red]differs[/]: {line}", highlight=False)
    raise typer.Exit(code=1)


def _grid_axes(items: list[str] | None) -> dict[str, list[object]]:
    axes: dict[str, list[object]] = {}
    for key, values in _assignments("--grid", items).items():
        parts = [v.strip() for v in values.split(",")]
        if any(not v for v in parts):
            raise InvalidParameter(f"--grid {key}={values!r} has an empty value; separate values by single commas")
        axes[key] = [_toml_scalar(v) for v in parts]
    return axes


def _search_range(text: str) -> tuple[str, str, str]:
    (key, value), *_ = _assignments("--search", [text]).items()
    lo, sep, hi = value.partition(":")
    if not sep or not lo.strip() or not hi.strip():
        raise InvalidParameter(f"--search {text!r} must look like section.field=lo:hi (e.g. ...=0.02:0.2)")
    return key, lo.strip(), hi.strip()


def _summary_metrics() -> list[str]:
    from simulator.summary import ALL_FIELDS, SUMMARY_FIELDS

    return [*SUMMARY_FIELDS, *sorted(ALL_FIELDS - set(SUMMARY_FIELDS) - {"confidence"})][1:]  # not n_paths


@app.command()
def sweep(
    study: _StudyFile,
    out: _Out,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="sweep axis section.field=v1,v2,... (repeatable: the Cartesian product)"),
    ] = None,
    search_range: Annotated[
        str | None,
        typer.Option("--search", help="search section.field=lo:hi for the smallest value meeting --threshold"),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="summary field: the heatmap's colour, or the search target")
    ] = "p_socialized_loss",
    threshold: Annotated[float, typer.Option("--threshold", help="search target: metric <= threshold")] = 0.001,
    tolerance: Annotated[
        str | None,
        typer.Option(
            "--tolerance", help="search resolution, in the field's unit (default: 1/100 of the range's magnitude)"
        ),
    ] = None,
    confidence: _Confidence = DEFAULT_CONFIDENCE,
    extend: Annotated[
        bool,
        typer.Option(
            "--extend", help="search: raise the paths per point to what the target needs (stored paths are kept)"
        ),
    ] = False,
    paths: _Paths = None,
    workers: _Workers = None,
    scheduler: _Scheduler = None,
    resume: _Resume = True,
    quiet: _Quiet = False,
    set_: _Set = None,
    json_: _Json = False,
) -> None:
    """Run the study over a parameter grid (--grid) or search one field (--search), then report.

    Every point uses the same path seeds, so differences between points come from the
    parameters. Grid: a heatmap of --metric when there are exactly two axes, and a table.
    Search: bisects assuming --metric falls as the field grows (more margin, fewer losses), and
    a value meets the target only when the metric's one-sided --confidence upper bound does;
    a target the path count cannot resolve is refused with the count it needs (or --extend).
    """
    from simulator.report import write_search_report, write_sweep_report
    from simulator.sweep import run_sweep, search

    console = Console(soft_wrap=True, stderr=json_)
    payload: dict[str, Any] = {}
    try:
        if bool(grid) == (search_range is not None):
            raise InvalidParameter(
                "give either --grid section.field=v1,v2,... (repeatable) or --search section.field=lo:hi"
            )
        allowed = _summary_metrics()
        if metric not in allowed:
            raise InvalidParameter(f"--metric {metric!r} is not a summary field; allowed: {allowed}")
        overrides = _overrides(set_, paths)
        check_confidence(confidence, "--confidence")
        options = _run_options(workers, scheduler, resume, quiet or json_)
        config = _study(study, overrides)
        if search_range is None:
            axes = _grid_axes(grid)
            if extend:
                raise InvalidParameter("--extend applies to --search; for a grid raise --paths (stored paths are kept)")
            table = run_sweep(config, axes, out, confidence=confidence, **options)
            if not (quiet or json_):
                console.print(_sweep_table(table, list(axes), metric))
            report = write_sweep_report(out, metric=metric)
            payload = {"axes": list(axes), "metric": metric, "confidence": confidence, "points": _records(table)}
        else:
            key, lo, hi = _search_range(search_range)
            found = search(
                config,
                key,
                lo,
                hi,
                metric=metric,
                threshold=threshold,
                tolerance=tolerance,
                confidence=confidence,
                extend=extend,
                out_dir=out,
                **options,
            )
            report = write_search_report(out)
            level = f"{found.confidence:.0%}"
            where = (
                f"the target already holds at the lower bound {lo}: the smallest value may lie below it; "
                "try a lower --search bound"
                if found.at_lower_bound
                else f"the smallest value lies in ({found.value - found.tolerance}, {found.value}]"
            )
            console.print(
                f"smallest {key} with {metric} <= {threshold:g} at its {level} upper bound: [bold]{found.value}[/] "
                f"({metric} = {found.metric_value:.4g}, {level} upper bound {found.metric_upper:.4g}, margin of "
                f"safety {found.margin:.4g}; {found.paths:,} paths per point, {len(found.points)} points "
                f"evaluated); {where}",
                highlight=False,
            )
            if not found.monotone:
                console.print(f"[yellow]note[/]: {metric} was not monotone in {key} over the points; add --paths")
            payload = {
                "key": key,
                "value": str(found.value),
                "metric": metric,
                "threshold": threshold,
                "metric_value": found.metric_value,
                "metric_upper": found.metric_upper,
                "margin": found.margin,
                "confidence": found.confidence,
                "paths": found.paths,
                "paths_needed": found.paths_needed,
                "tolerance": str(found.tolerance),
                "at_lower_bound": found.at_lower_bound,
                "monotone": found.monotone,
                "points": _records(found.points),
            }
    except NovationError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise _interrupted(out) from None
    console.print(f"report: {report} (one study folder per point under {out / 'points'})")
    if json_:
        _emit_json({**payload, "report": str(report)})


def _records(table: Any) -> list[dict[str, Any]]:
    """A sweep or search table as JSON-able rows (NaN and infinity as None, decimals as text)."""
    from simulator.summary import jsonable

    return [
        jsonable({k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()})
        for row in table.to_dict("records")
    ]


def _sweep_table(table: Any, axes: list[str], metric: str) -> Any:
    from rich.table import Table

    from simulator.plots import format_metric

    shown = list(dict.fromkeys([metric, "p_socialized_loss", "p_fund_depleted", "bad_debt_p95_usd"]))
    shown = [c for c in shown if c in table.columns]
    out = Table(title=f"sweep: {len(table)} points")
    for column in (*axes, *shown):
        out.add_column(column, justify="right")
    for record in table.to_dict("records"):
        out.add_row(*(str(record[a]) for a in axes), *(format_metric(c, record[c]) for c in shown))
    return out


@app.command()
def stress(
    out: _Out,
    quick: Annotated[bool, typer.Option("--quick", help="a handful of small paths (smoke test)")] = False,
    workers: _Workers = None,
    scheduler: _Scheduler = None,
    resume: _Resume = True,
    quiet: _Quiet = False,
    confidence: _Confidence = DEFAULT_CONFIDENCE,
    json_: _Json = False,
) -> None:
    """The default stress study: Monte Carlo plus the 2020-03-12 crash replay, one combined report.

    The Monte Carlo run is simulator/examples/stress.toml; the crash replay is crash_2020.toml on
    the 1-hour BTC perpetual bars of the shared market data (NOVATION_MARKET_DATA, else
    ../shared/market_data beside the checkout), or a synthetic crash of the same size when that
    folder is absent. Each study keeps its own folder and report under --out.
    """
    from simulator import market_data
    from simulator.report import StudySection, write_stress_report

    console = Console(soft_wrap=True, stderr=json_)
    try:
        check_confidence(confidence, "--confidence")
        options = _run_options(workers, scheduler, resume, quiet or json_)
        monte_carlo = _study(EXAMPLES_DIR / "stress.toml", _QUICK_MONTE_CARLO if quick else {})
        crash_data = market_data.black_thursday_2020()
        crash_overrides: dict[str, object] = (
            {"price.csv": str(crash_data.hourly_csv)} if crash_data is not None else {"price.model": "bridge"}
        )
        if quick:
            crash_overrides |= _QUICK_CRASH
        crash = _study(EXAMPLES_DIR / "crash_2020.toml", crash_overrides)
        if crash_data is not None:  # ETH replays its own bars instead of following BTC
            eth = crash.feed_path("ETH/USD")
            crash = crash.override(
                {
                    "price.feeds": {
                        eth.symbol: {"spot": eth.spot, "sigma": eth.sigma, "csv": str(crash_data.eth_hourly_csv)}
                    }
                }
            )
        if crash_data is None:
            console.print(
                "[yellow]note[/]: no shared market data (set NOVATION_MARKET_DATA or place ../shared/market_data "
                "beside the checkout); replacing the 2020-03-12 replay with a synthetic crash of the same size"
            )
        sections = [
            StudySection(
                "Monte Carlo",
                out / "monte_carlo",
                "Merton jump-diffusion paths of a crash-prone BTC market, ETH following it, cross-margined "
                "traders with WETH collateral (simulator/examples/stress.toml).",
            ),
            StudySection(
                "2020-03-12 crash replay" if crash_data is not None else "Synthetic crash (no market data)",
                out / "crash_2020",
                f"Binance BTCUSDT and ETHUSDT perpetual 1-hour bars ({crash_data.hourly_csv.name}, "
                f"{crash_data.eth_hourly_csv.name}) replayed for "
                f"{crash.run.steps * crash.run.step_s / 3_600:g} h from their first bar, 2020-03-09 00:00 UTC."
                if crash_data is not None
                else f"A Brownian bridge to the size of the 2020-03-12 fall (log shock {crash.price.shock:g}) "
                "over the same hours; no market data was found.",
            ),
        ]
        records = [
            _run_and_report(
                config, section.out_dir, options, console, quiet or json_, report=False, confidence=confidence
            )
            for config, section in zip((monte_carlo, crash), sections, strict=True)
        ]
        report = write_stress_report(out, sections, confidence=confidence)
    except NovationError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise _interrupted(out) from None
    console.print(f"report: {report} (each study's own report and plots in its folder)")
    if json_:
        _emit_json(
            {
                "report": str(report),
                "studies": [{"title": x.title, **r} for x, r in zip(sections, records, strict=True)],
            }
        )


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="baseline study folder (written by simulate or stress)")],
    run_b: Annotated[Path, typer.Argument(help="proposal study folder, compared with the baseline")],
    confidence: _Confidence = DEFAULT_CONFIDENCE,
    json_: _Json = False,
) -> None:
    """Put two studies side by side: each metric, its difference (B - A) and whether it is significant.

    Studies with the same root seed are compared path by path on the paths they share (common
    random numbers: exact McNemar and Wilcoxon signed-rank tests, paired bootstrap intervals);
    otherwise as independent samples (Fisher exact, Mann-Whitney U, two-sample bootstrap).
    """
    from rich.table import Table

    from simulator.compare import compare_studies
    from simulator.plots import format_metric

    try:
        check_confidence(confidence, "--confidence")
        result = compare_studies(run_a, run_b, confidence=confidence)
    except NovationError as exc:
        fail(exc)
    if json_:
        _emit_json(result.to_dict())
        return
    how = (
        f"paired on {result.n_a:,} shared paths"
        if result.paired
        else f"independent, {result.n_a:,} vs {result.n_b:,} paths"
    )
    table = Table(
        title=f"A = {result.study_a} ({run_a}) vs B = {result.study_b} ({run_b}): {how}",
        caption=f"significant: two-sided p < {1 - result.confidence:.2g}; interval of B - A at {result.confidence:.0%}",
    )
    for column in ("metric", "A", "B", "B - A", "interval", "p-value", "significant", "test"):
        table.add_column(column, justify="left" if column in ("metric", "test") else "right")
    for row in result.table.to_dict("records"):
        name = str(row["metric"])
        interval = (
            ""
            if row["ci_low"] != row["ci_low"]  # NaN: probabilities carry a test only
            else f"[{format_metric(name, row['ci_low'])}, {format_metric(name, row['ci_high'])}]"
        )
        table.add_row(
            name,
            format_metric(name, row["a"]),
            format_metric(name, row["b"]),
            format_metric(name, row["difference"]),
            interval,
            f"{row['p_value']:.3g}",
            "yes" if row["significant"] else "no",
            str(row["test"]),
        )
    Console(soft_wrap=True).print(table)


@app.command("compare-methods")
def compare_methods_command(
    study: _StudyFile,
    out: _Out,
    paths: _Paths = None,
    workers: _Workers = None,
    scheduler: _Scheduler = None,
    resume: _Resume = True,
    quiet: _Quiet = False,
    set_: _Set = None,
) -> None:
    """Run one study under every socialized-loss method and compare them side by side.

    The same book and seeded paths run once per method (pro_rata, adl, open_interest,
    profit_haircut, gains; each into --out/<method>, resumable); the table gives the shortfall per path
    (mean, 95 % VaR and expected shortfall), accounts deleveraged, insurance-fund depletion, and
    who bears the loss by account size, leverage and side. Writes comparison.md, comparison.csv
    and loss_bearers.png into --out.
    """
    from rich.table import Table

    from protocol.params import SocializedLossMethod
    from simulator.loss_methods import COMPARISON_FIELDS, compare_methods, markdown_cell, write_comparison

    console = Console(soft_wrap=True)
    try:
        overrides = _overrides(set_, paths)
        if "protocol.socialized_loss_method" in overrides:
            raise InvalidParameter("--set protocol.socialized_loss_method: compare-methods runs every method itself")
        options = _run_options(workers, scheduler, resume, quiet)
        config = _study(study, overrides)
        table = compare_methods(config, out, methods=tuple(SocializedLossMethod), **options)
        report = write_comparison(out, table, config)
    except NovationError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise _interrupted(out) from None
    shown = Table(title=f"{config.run.name}: {config.run.paths:,} paths under every socialized-loss method")
    shown.add_column("per path (USD)")
    for method in table.index:
        shown.add_column(str(method), justify="right")
    for name, meaning in COMPARISON_FIELDS.items():
        shown.add_row(meaning, *(markdown_cell(name, float(table.at[m, name])) for m in table.index))
    console.print(shown)
    console.print(f"report: {report} (plot loss_bearers.png beside it)")
