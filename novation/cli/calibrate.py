"""``novation calibrate``: margins from market data, backtested, into a parameter file and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from novation.cli._common import app, fail
from protocol.errors import InvalidParameter, NovationError


def _markets(items: list[str] | None) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items or []:
        symbol, sep, path = item.partition("=")
        if not sep or not symbol.strip() or not path.strip():
            raise InvalidParameter(f"--market {item!r} must look like SYMBOL=CSV (e.g. BTC-PERP=btc_1d.csv)")
        if symbol.strip() in out:
            raise InvalidParameter(f"--market gives {symbol.strip()} twice")
        out[symbol.strip()] = Path(path.strip())
    return out


@app.command()
def calibrate(
    out: Annotated[Path, typer.Option("--out", help="output folder: params.toml, study.toml, report.md, JSON, plots")],
    alpha: Annotated[float, typer.Option("--alpha", help="confidence level, strictly between 0 and 1")] = 0.99,
    mpor: Annotated[str, typer.Option("--mpor", help="margin period of risk, e.g. 1d, 2d, 8h")] = "1d",
    lookback: Annotated[str, typer.Option("--lookback", help="lookback of the models, e.g. 365d")] = "365d",
    floor_lookback: Annotated[str, typer.Option("--floor-lookback", help="the APC floor's lookback")] = "3650d",
    liquidation_horizon: Annotated[
        str, typer.Option("--liquidation-horizon", help="time to liquidate, for the maintenance fraction")
    ] = "1h",
    model: Annotated[
        str,
        typer.Option(
            "--model", help="hs, hs-nonoverlap, fhs-ewma, fhs-garch, normal, student-t, cornish-fisher, monte-carlo"
        ),
    ] = "hs",
    measure: Annotated[str, typer.Option("--measure", help="es or var")] = "es",
    apc: Annotated[str, typer.Option("--apc", help="anti-procyclicality: none, buffer, stressed, floor")] = "floor",
    market: Annotated[
        list[str] | None,
        typer.Option(
            "--market", help="SYMBOL=CSV: a market's daily or kline CSV (repeatable; default the shared daily files)"
        ),
    ] = None,
    params: Annotated[
        Path | None, typer.Option("--params", help="base parameter file (default: the built-in one)")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="market data folder (default: NOVATION_MARKET_DATA or ../shared/market_data)"),
    ] = None,
    study: Annotated[
        Path | None, typer.Option("--study", help="study whose book sizes the insurance fund (default: stress.toml)")
    ] = None,
    paths: Annotated[
        int, typer.Option("--paths", help="simulator paths for the insurance-fund VaR (0: skip the fund sizing)")
    ] = 16,
    workers: Annotated[int | None, typer.Option("--workers", help="simulator worker processes")] = None,
    seed: Annotated[int, typer.Option("--seed", help="root seed of the Monte Carlo model")] = 20180101,
) -> None:
    """Calibrate each market's initial and maintenance margin from price history, backtest it,
    apply anti-procyclicality, size the insurance fund (Cover-2 and the simulator's VaR) and
    write params.toml, study.toml, report.md, calibration.json and plots into --out."""
    from methodology.calibration import Settings
    from methodology.series import parse_duration
    from methodology.workflow import check_inputs, run
    from simulator.market_data import market_data_dir

    console = Console(soft_wrap=True)
    try:
        if workers is not None and workers < 1:
            raise InvalidParameter(f"--workers {workers} must be a positive number of processes")
        if paths < 0:
            raise InvalidParameter(f"--paths {paths} must be a non-negative number of simulator paths")
        settings = Settings(
            alpha=alpha,
            mpor_s=parse_duration(mpor, "--mpor"),
            lookback_s=parse_duration(lookback, "--lookback"),
            floor_lookback_s=parse_duration(floor_lookback, "--floor-lookback"),
            liquidation_horizon_s=parse_duration(liquidation_horizon, "--liquidation-horizon"),
            model=model,
            measure=measure,
            apc=apc,
            seed=seed,
        )
        if data is not None and not data.is_dir():
            raise InvalidParameter(f"--data {data} is not a folder; point it at the shared market_data folder")
        plan = check_inputs(
            out,
            settings=settings,
            params_path=params,
            markets=_markets(market),
            data_dir=data or market_data_dir(),
            study_path=study,
            paths=paths,
            workers=workers,
        )
        calibration, fund, report = run(plan, progress=False)
    except NovationError as exc:
        fail(exc)
    for mc in calibration.markets:
        console.print(
            f"{mc.market.symbol}: initial {mc.imf_wad / 1e18:.2%}, "
            f"maintenance share {mc.maintenance_share_wad / 1e18:.2%}"
            + (f" ([yellow]{'; '.join(mc.bounds_hit)}[/])" if mc.bounds_hit else ""),
            highlight=False,
        )
    if fund is not None:
        console.print(f"recommended insurance fund: ${fund.recommended_usd:,}", highlight=False)
    beside = "params.toml, study.toml" if fund is not None else "params.toml"
    console.print(f"report: {report} ({beside}, calibration.json and plots beside it)")
