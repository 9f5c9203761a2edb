"""The whole calibration as one call: what ``novation calibrate`` and the notebook run.

:func:`check_inputs` validates everything a user typed and loads the series (no work yet);
:func:`run` calibrates, writes ``params.toml``, sizes the insurance fund on the simulator's book
built with those parameters, writes ``study.toml`` (the study with the calibrated parameters and
the recommended fund) and the report. Each file is written atomically; the simulator's study in
``simulation/`` resumes if interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from methodology.calibration import Calibration, Settings, calibrate, write_params
from methodology.cover import HYPOTHETICAL, Scenario, cover, historical_scenarios, simulator_fund_var
from methodology.report import FundSizing, recommended_fund, write_report
from methodology.series import CrashWindow, PriceSeries, align, crash_windows, daily_csv, load_series
from protocol.errors import InvalidParameter
from protocol.params import Params, load_params
from simulator import EXAMPLES_DIR
from simulator.config import StudyConfig, load_study

__all__ = ["PARAMS_FILE", "STUDY_FILE", "Plan", "check_inputs", "run"]

PARAMS_FILE = "params.toml"
STUDY_FILE = "study.toml"
_DEFAULT_PARAMS = Path(__file__).resolve().parents[1] / "protocol" / "examples" / "default.toml"


@dataclass(frozen=True, eq=False)
class Plan:
    """Validated inputs of a calibration."""

    out_dir: Path
    base: Params
    series: dict[int, PriceSeries]
    symbols: dict[int, str]
    settings: Settings
    crashes: tuple[CrashWindow, ...]
    study: StudyConfig | None
    workers: int | None


def _symbol(params: Params, market_id: int) -> str:
    feed = params.feed(params.market(market_id).feed_id).symbol
    return feed.split("/")[0].strip().upper()


def check_inputs(
    out_dir: Path,
    *,
    settings: Settings,
    params_path: Path | None = None,
    markets: dict[str, Path] | None = None,
    data_dir: Path | None = None,
    study_path: Path | None = None,
    paths: int = 16,
    workers: int | None = None,
) -> Plan:
    """Check ``out_dir``, the parameter file, the series (gaps, length) and the study; load them.

    ``markets`` maps market symbols (``BTC-PERP``) to CSV files; by default every perpetual of the
    parameters whose base asset has a daily file in ``data_dir`` (the shared market data).
    ``study_path`` (default the simulator's ``stress.toml``) gives the book of the fund sizing;
    None with ``paths = 0`` skips the fund sizing.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidParameter(f"--out {out_dir} is a file; give a folder for the report")
    if not out_dir.parent.is_dir():
        raise InvalidParameter(f"--out {out_dir}: the folder {out_dir.parent} does not exist; create it first")
    base = load_params(params_path or _DEFAULT_PARAMS)
    by_symbol = {m.symbol: m.market_id for m in base.markets if not m.is_option}
    files: dict[int, Path] = {}
    if markets:
        for symbol, path in markets.items():
            if symbol not in by_symbol:
                raise InvalidParameter(
                    f"--market {symbol}: not a perpetual of the parameters; known: {sorted(by_symbol)}"
                )
            files[by_symbol[symbol]] = path
    else:
        if data_dir is None:
            raise InvalidParameter(
                "no market data folder found; set NOVATION_MARKET_DATA, pass --data, or give --market SYMBOL=CSV"
            )
        for market_id in by_symbol.values():
            candidate = data_dir / "daily" / f"binance_spot_{_symbol(base, market_id)}USDT_1d_from_1h.csv"
            if candidate.is_file():
                files[market_id] = daily_csv(data_dir, _symbol(base, market_id))
        if not files:
            raise InvalidParameter(f"{data_dir} has no daily file for the markets {sorted(by_symbol)}; give --market")
    loaded = tuple(load_series(path, base.market(m).symbol) for m, path in files.items())
    if len(loaded) > 1:
        loaded = align(loaded)
    series = dict(zip(files, loaded, strict=True))
    symbols = {m: _symbol(base, m) for m in series}
    crashes: tuple[CrashWindow, ...] = ()
    if data_dir is not None and all(s.bar_s == 86_400 for s in loaded):
        try:
            crashes = crash_windows(data_dir, tuple(symbols.values()))
        except InvalidParameter:
            crashes = ()
    study = None
    if paths:
        if isinstance(paths, bool) or not isinstance(paths, int) or paths < 0:
            raise InvalidParameter(f"--paths {paths!r} must be a non-negative number of simulator paths")
        study = load_study(study_path or EXAMPLES_DIR / "stress.toml", {"run.paths": paths})
        missing = set(study.protocol.markets) - set(series)
        if missing:
            raise InvalidParameter(
                f"the study trades markets {sorted(missing)} that are not calibrated; "
                "calibrate them too or pick another study"
            )
    # the lengths and the confidence: refused here, before any fit
    from methodology.rolling import check_sample
    from methodology.series import bars

    for s in loaded:
        h = bars(settings.mpor_s, s.bar_s, "the MPOR")
        lookback = bars(settings.lookback_s, s.bar_s, "the lookback")
        if len(s) <= lookback:
            raise InvalidParameter(
                f"{s.source} has {len(s)} bars, not more than the lookback of {lookback} bars; shorten --lookback"
            )
        check_sample(lookback // h, settings.alpha, f"{s.name}: a lookback of {lookback} bars at an MPOR of {h} bars")
    return Plan(out_dir, base, series, symbols, settings, crashes, study, workers)


def _book_study(plan: Plan, params_file: Path, fund_usd: int | None = None) -> StudyConfig:
    assert plan.study is not None
    raw: dict[str, Any] = plan.study.to_dict()
    protocol = raw["protocol"]
    for key in ("initial_margin_fraction", "maintenance_share"):
        protocol.pop(key, None)
    protocol["params"] = str(params_file)
    if fund_usd is not None:
        protocol["insurance_fund_usd"] = str(fund_usd)
    return StudyConfig.from_dict(raw)


def run(plan: Plan, *, progress: bool = False) -> tuple[Calibration, FundSizing | None, Path]:
    """Calibrate, write the parameters, size the fund, write the study and the report."""
    from simulator.engine import build_book
    from simulator.report import config_toml

    cal = calibrate(plan.base, plan.series, plan.settings, crashes=plan.crashes, symbols=plan.symbols)
    plan.out_dir.mkdir(exist_ok=True)
    params_file = plan.out_dir / PARAMS_FILE
    summary = ", ".join(f"{m.market.symbol} {m.imf_wad / 1e18:.4f}" for m in cal.markets)
    write_params(params_file, cal.params, f"Calibrated by novation calibrate (initial fractions: {summary}).")
    load_params(params_file)  # the loader reads back what was written
    fund = None
    study_file = ""
    if plan.study is not None:
        config = _book_study(plan, params_file.resolve())
        book = build_book(config)
        depth = {mc.market.feed_id: mc.depth_usd for mc in cal.markets}
        feeds = [book.params.feed(book.params.market(m).feed_id).symbol for m in config.protocol.markets]
        scenarios: list[Scenario] = []
        if plan.crashes and len(feeds) == len(cal.markets):
            scenarios += historical_scenarios(plan.crashes, list(plan.symbols.values()), feeds, plan.settings.mpor_s)
        if len(feeds) == 2:
            scenarios += [
                Scenario(n, "hypothetical", dict(zip(feeds, s, strict=True))) for n, s in HYPOTHETICAL.items()
            ]
        covers = cover(book, scenarios, depth)
        sim = simulator_fund_var(config, plan.out_dir / "simulation", workers=plan.workers, progress=progress)
        fund = FundSizing(covers, sim, recommended_fund(covers, sim))
        study = _book_study(plan, params_file.resolve(), fund.recommended_usd)
        from simulator.store import atomic_write

        with atomic_write(plan.out_dir / STUDY_FILE, "w") as fh:
            fh.write(config_toml(study))
        study_file = STUDY_FILE
    report = write_report(plan.out_dir, cal, fund, PARAMS_FILE, study_file)
    return cal, fund, report
