"""Markdown reports of a study folder, a sweep folder, and the combined stress study.

:func:`write_report` reads what :func:`~simulator.runner.run_study` stored in a folder
(manifest, per-path metrics, kept series), computes the summary, draws the plots of
:mod:`simulator.plots` next to it and writes ``report.md``: the configuration as TOML
(runnable as it stands), how every path is seeded, the summary table, the plots and the worst
paths with their seeds. :func:`write_sweep_report` and :func:`write_search_report` do the same
for the folders of :func:`~simulator.sweep.run_sweep` and
:func:`~simulator.sweep.search` (heatmap, threshold plot, one row per point), and
:func:`write_stress_report` joins several studies into one page.

Money is USD (floats, formatted for reading; the exact WAD figures stay in the Parquet files),
durations are seconds unless the unit is written.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from simulator import plots
from simulator.config import StudyConfig
from simulator.results import METRICS, asset_bad_debt, collateral_series, market_bad_debt, market_series
from simulator.store import ResultStore, atomic_write, usd_column
from simulator.summary import (
    CONVERGENCE_METRICS,
    INTERVAL_METHOD,
    MIN_BOOTSTRAP_PATHS,
    PERCENTILE_METHOD,
    RESOLVED_RELATIVE_WIDTH,
    SUMMARY_FIELDS,
    convergence,
    headline_rows,
    resolution_notes,
    summary_headers,
    summary_rows,
    write_summary,
)
from simulator.uncertainty import DEFAULT_CONFIDENCE

__all__ = [
    "PLOT_FILES",
    "REPORT_FILE",
    "StudySection",
    "config_toml",
    "markdown_table",
    "write_report",
    "write_search_report",
    "write_stress_report",
    "write_sweep_report",
]

#: Name of the report in a study folder.
REPORT_FILE = "report.md"
#: Plots of a study folder: file name -> caption.
PLOT_FILES: dict[str, str] = {
    "price_paths.png": "Lead market price vs the oracle price the protocol accepted, for the worst paths "
    "(shaded: reduce-only, the price was not trusted and nothing could be liquidated).",
    "market_prices.png": "Every feed's outside price (including the impact of liquidation sales) on the worst paths.",
    "insurance_fund.png": "Insurance fund across every path: median, 25-75 % and 5-95 % bands, the lowest path, "
    "and the starting level.",
    "cascade.png": "Liquidation cascade on the worst paths: liquidations per block, the backlog of flagged "
    "accounts not yet served, and the price impact of liquidation sales.",
    "bad_debt.png": "Bad debt per path across all paths, with the 95th percentile (value-at-risk).",
    "convergence.png": "Each headline metric and its interval over the first n paths: where the bands stop "
    "narrowing, more paths change little.",
}
#: Heatmap of a two-axis sweep.
HEATMAP_FILE = "heatmap.png"
#: Line plot (with error bars) of a one-axis sweep.
LINE_FILE = "sweep.png"
#: Paths listed in a report's "worst paths" table.
WORST_PATHS = 5


def _write_text(path: Path, text: str) -> Path:
    with atomic_write(path, "w") as fh:
        fh.write(text)
    path.chmod(0o644)  # mkstemp makes 0600; a report is for reading
    return path


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], *, align: str = "") -> str:
    """A GitHub-flavoured markdown table; ``align`` is one of ``l``/``r`` per column (default left)."""
    marks = [("---:" if a == "r" else "---") for a in align.ljust(len(header), "l")]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):  # an inline table
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def config_toml(config: StudyConfig) -> str:
    """The study as a TOML file :func:`~simulator.config.load_study` reads back."""
    blocks = []
    for section, fields in config.to_dict().items():
        lines = [f"[{section}]"] + [f"{key} = {_toml_value(value)}" for key, value in fields.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _summary_markdown(summary: Mapping[str, float | int]) -> str:
    table = markdown_table(summary_headers(summary), summary_rows(summary), align="lrrr")
    notes = resolution_notes(summary)
    return table + ("\n\n" + "\n".join(f"- **note**: {note}" for note in notes) if notes else "")


#: Per-path metric the worst paths are chosen by, unless the caller names another.
WORST_BY = "bad_debt_wad"


def worst_paths(metrics: pd.DataFrame, by: str = WORST_BY, count: int = plots.MAX_PATHS) -> list[int]:
    """Indices of the ``count`` worst paths by the per-path metric ``by`` (largest first; ties by
    fund drawdown, then liquidated notional, then path index)."""
    if by not in METRICS:
        raise InvalidParameter(f"worst paths by {by!r}: not a per-path metric; allowed: {sorted(METRICS)}")
    if metrics.empty:
        return []
    keys = [by, "insurance_fund_drawdown_wad", "liquidated_notional_wad"]
    order = metrics.sort_values([*keys, "path_index"], ascending=[False, False, False, True], kind="stable")
    return [int(i) for i in order["path_index"].head(count)]


def _worst_table(metrics: pd.DataFrame, by: str) -> str:
    if metrics.empty:
        return "No paths stored."
    chosen = worst_paths(metrics, by, WORST_PATHS)
    worst = metrics.set_index("path_index").loc[chosen]
    if not (worst[by] != 0).any():
        return f"No path has a non-zero `{by}`; the table lists none."
    rows = [
        (
            int(i),
            plots.format_usd(float(r.bad_debt_usd)),
            plots.format_usd(float(r.socialized_loss_usd)),
            plots.format_usd(float(r.insurance_fund_min_usd)),
            int(r.liquidations),
            int(r.accounts_liquidated),
            int(r.deferred_liquidations),
            plots.format_metric("reduce_only_s", int(r.reduce_only_s)),
            f"`SeedSequence({r.seed_entropy}, spawn_key=({r.spawn_key}))`",
        )
        for i, r in zip(chosen, worst.itertuples(), strict=True)
        if r._asdict()[by] != 0
    ]
    header = (
        "path",
        "bad debt",
        "socialized loss",
        "lowest fund",
        "liquidations",
        "accounts liquidated",
        "deferred",
        "reduce-only",
        "seed",
    )
    return markdown_table(header, rows, align="rrrrrrrrl")


def _study_plots(
    out_dir: Path, config: StudyConfig, metrics: pd.DataFrame, everything: Mapping[int, Any], worst: Sequence[int]
) -> list[str]:
    """Draw the study's plots into ``out_dir``; the file names drawn (none without data)."""
    step_s = config.run.step_s
    drawn = []
    kept = {i: everything[i] for i in worst if i in everything}
    if kept:
        symbols = {fp.feed_id: fp.symbol for fp in config.book_params().feeds}
        plots.plot_price_paths(kept, out_dir / "price_paths.png", step_s=step_s)
        plots.plot_feed_prices(kept, out_dir / "market_prices.png", symbols=symbols, step_s=step_s)
        plots.plot_cascade(kept, out_dir / "cascade.png", step_s=step_s)
        drawn += ["price_paths.png", "market_prices.png", "cascade.png"]
    if everything:
        start = float(metrics["insurance_fund_start_usd"].iloc[0])
        plots.plot_fund_fan(everything, out_dir / "insurance_fund.png", step_s=step_s, start_usd=start)
        drawn.append("insurance_fund.png")
    if not metrics.empty:
        plots.plot_bad_debt(metrics, out_dir / "bad_debt.png")
        drawn.append("bad_debt.png")
        table = convergence(metrics)
        titles = {m: SUMMARY_FIELDS[m] for m in CONVERGENCE_METRICS}
        plots.plot_convergence(table, out_dir / "convergence.png", metrics=CONVERGENCE_METRICS, titles=titles)
        drawn.append("convergence.png")
    return drawn


#: How bad debt is attributed (the report states it beside the numbers).
ATTRIBUTION_METHOD = (
    "Each account's bad debt is split when it is settled, in this order, each cause taking at most what is left. "
    "The **collateral price fall** comes first: the value (after haircut and cap) the account's collateral lost to "
    "its prices since the path began — the units it still holds at the last accepted price, the units the "
    "liquidator bought at the price of the sale; had its collateral kept its value, that much of the debt would not "
    "exist. The **price gap** is the shortfall the account already had when a keeper first saw it below maintenance "
    "(its bankruptcy price was crossed between two accepted oracle prices, or while the price was not trusted): no "
    "keeper could have prevented it. The rest built up while the account waited, and is split over the blocks it "
    "waited by what held it: keeper **latency** (the keeper had not landed yet), the block's liquidation **cap**, "
    "the block's **gas** budget, an **untrusted** price (oracle outage, reduce-only), or **other** (the keeper's own "
    "margin, no deleveraging counterparty, an account never flagged). An account settled several times (one "
    "bankrupt close per market, then what its collateral sale leaves) uses its collateral fall and its gap once. "
    "Integer shares, the remainder to the cause with the most blocks: the causes sum to each path's bad debt to the "
    "wei. Shares are of all paths' bad debt."
)
_CAUSE_TITLES = {
    "collateral": "collateral price fall",
    "gap": "price gap",
    "latency": "keeper latency",
    "block_cap": "block cap",
    "gas": "gas budget",
    "untrusted": "untrusted price",
    "other": "other",
}


def _attribution(metrics: pd.DataFrame) -> str:
    total = float(metrics["bad_debt_usd"].sum())
    if total == 0:
        return "No path had bad debt: nothing to attribute."
    rows = []
    for cause, title in _CAUSE_TITLES.items():
        column = metrics[f"bad_debt_{cause}_usd"]
        rows.append((title, f"{float(column.sum()) / total:.1%}", plots.format_usd(float(column.mean()))))
    table = markdown_table(("cause", "share of all bad debt", "mean per path"), rows, align="lrr")
    return f"{ATTRIBUTION_METHOD}\n\n{table}"


def _breakdown(config: StudyConfig, metrics: pd.DataFrame, series: Mapping[int, Mapping[str, Any]]) -> str:
    """Bad debt per market (over every path, exact) with the liquidated notional (kept paths),
    and per collateral asset the bad debt its fall explains with the liquidator's proceeds."""
    params = config.book_params()
    n, kept = len(metrics), len(series)
    total = float(metrics["bad_debt_usd"].sum())

    def finals(name: str) -> NDArray[np.float64]:
        return np.asarray([float(s[name][-1]) if name in s else 0.0 for s in series.values()])

    def debt(column: str) -> tuple[str, str, str]:
        values = metrics[usd_column(column)]
        share = f"{float(values.sum()) / total:.1%}" if total else "—"
        return plots.format_usd(float(values.mean())), plots.format_usd(float(values.max())), share

    def flow(name: str) -> str:
        return plots.format_usd(float(finals(name).mean())) if kept else "—"

    rows = [
        ("market", mp.symbol, *debt(market_bad_debt(mp.market_id)), flow(market_series(mp.market_id)))
        for mp in params.markets
    ]
    rows.append(("market", "none (no losing close)", *debt("bad_debt_no_market_wad"), "—"))
    rows += [
        ("collateral", cp.symbol, *debt(asset_bad_debt(cp.asset_id)), flow(collateral_series(cp.asset_id)))
        for cp in params.collaterals
    ]
    header = (
        "kind",
        "market or asset",
        "bad debt, mean per path",
        "bad debt, worst path",
        "share of all bad debt",
        "liquidated notional / collateral proceeds, mean per path",
    )
    caption = (
        f"Bad debt over all {n:,} paths (USD, exact sums). Per market: what its bankrupt closes settled (F-15), plus "
        "its share of what an account's collateral sale left (an account still holding collateral settles nothing "
        "at the close), split over the markets by the losses the account's liquidations realized in each, the F-15 "
        "rule applied to the residual; what no losing close explains (funding, fees) has no market. The market "
        "rows sum to the total. Per collateral asset: the collateral-price-fall cause of the attribution, by asset. "
        "Last column, over the "
        f"{kept:,} paths whose series were kept: liquidated notional at the oracle price per market, proceeds of the "
        "collateral the liquidator bought per asset."
    )
    return caption + "\n\n" + markdown_table(header, rows, align="llrrrr")


def _keepers(config: StudyConfig, summary: Mapping[str, float | int]) -> str:
    """Keeper economics at the study's gas price."""
    kc = config.keepers
    ratio = float(summary["keeper_revenue_to_gas_cost"])
    cost = plots.format_usd(float(summary["keeper_gas_cost_mean_usd"]))
    verdict = "—" if math.isnan(ratio) else f"{ratio:,.2f}"
    return (
        f"Gas priced at **{kc.gas_price_gwei:g} gwei** and **{plots.format_usd(kc.gas_token_usd)} per ETH** "
        "(`keepers.gas_price_gwei`, `keepers.gas_token_usd`). Per path, mean: keeper revenue "
        f"{plots.format_usd(float(summary['keeper_rewards_mean_usd']))}, gas "
        f"{float(summary['keeper_gas_mean']):,.0f} costing {cost}, "
        f"net {plots.format_usd(float(summary['keeper_profit_mean_usd']))}; revenue / gas cost over all paths "
        f"{verdict}."
    )


def _headline(summary: Mapping[str, float | int]) -> str:
    level = f"{float(summary.get('confidence', DEFAULT_CONFIDENCE)):.0%}"
    header = ("metric", "point", f"{level} interval", "resolvable")
    table = markdown_table(header, headline_rows(summary), align="lrrl")
    return (
        f"{table}\n\nResolvable: a percentile that is not just the worst path and has a finite interval, an expected "
        f"shortfall whose tail holds more than one path, any other value whose interval is at most "
        f"{RESOLVED_RELATIVE_WIDTH:g} times the value wide (a bootstrap interval from at least {MIN_BOOTSTRAP_PATHS} "
        "paths); a **no** says the path count cannot support the number (add paths: it extends the study)."
    )


@dataclass(frozen=True)
class StudySection:
    """One study of a combined report: its title, folder and what it stands for."""

    title: str
    out_dir: Path
    description: str = ""


@dataclass(frozen=True)
class _Written:
    """A study report as written: where, what it summarized, which plots it drew."""

    path: Path
    store: ResultStore
    config: StudyConfig
    metrics: pd.DataFrame
    summary: dict[str, float | int]
    plots: tuple[str, ...]


def _write_study_report(
    out_dir: Path | str, *, confidence: float = DEFAULT_CONFIDENCE, worst_by: str = WORST_BY
) -> _Written:
    folder = Path(out_dir)
    if not folder.is_dir():
        raise InvalidParameter(f"study folder {folder} does not exist; run the study first")
    store = ResultStore(folder)
    config = store.config()
    metrics = store.read_metrics()
    if metrics.empty:
        raise InvalidParameter(f"{folder} holds no finished paths yet; run the study (it resumes) first")
    summary = write_summary(folder, confidence)  # also summary.json beside the report
    worst = worst_paths(metrics, worst_by)
    everything = store.read_series()
    drawn = _study_plots(folder, config, metrics, everything, worst)
    manifest = store.manifest
    n_done, n_all = len(metrics), store.n_paths
    run = config.run
    horizon_h = run.steps * run.step_s / 3600
    lines = [
        f"# Study `{run.name}`",
        "",
        f"{n_done:,} of {n_all:,} paths"
        + ("" if n_done == n_all else " (**unfinished**: run the study again to resume)")
        + f", {run.steps:,} steps of {run.step_s} s ({horizon_h:g} h) each, {run.accounts:,} trader accounts, "
        f"price model `{config.price.model}`.",
        "",
        f"Fingerprint `{store.fingerprint}`; created {manifest.get('created_utc', '?')}, "
        f"report written {datetime.now(UTC).isoformat(timespec='seconds')}.",
        "",
        "## Headline",
        "",
        _headline(summary),
        "",
        "## Summary",
        "",
        f"Money in USD. Every statistic has a two-sided interval and a one-sided upper bound at "
        f"{confidence:.0%} (intervals: {INTERVAL_METHOD}); percentiles by {PERCENTILE_METHOD}; a percentile "
        "that is just the worst path says so. Machine-readable: `summary.json`; per path: `metrics/*.parquet`.",
        "",
        _summary_markdown(summary),
        "",
        "## Plots",
        "",
    ]
    for name, caption in PLOT_FILES.items():
        if name in drawn:
            lines += [f"![{name.removesuffix('.png')}]({name})", "", caption, ""]
        else:
            lines += [f"`{name}`: not drawn (no per-path series were kept; run with keep_series > 0).", ""]
    lines += [
        "## Bad-debt attribution",
        "",
        _attribution(metrics),
        "",
        "## Breakdown by market and collateral asset",
        "",
        _breakdown(config, metrics, everything),
        "",
        "## Keepers",
        "",
        _keepers(config, summary),
        "",
        "## Worst paths",
        "",
        f"By `{worst_by}` (the plots above draw these paths, worst first).",
        "",
        _worst_table(metrics, worst_by),
        "",
        "## Seeds",
        "",
        str(manifest.get("seed_scheme", "")),
        "",
        f"Root seed `run.seed = {run.seed}`. Every row of `metrics/*.parquet` carries its path's "
        "`seed_entropy` and `spawn_key`, so any path can be rerun on its own "
        "(`simulator.engine.simulate_path(config, path_index)`) with identical results.",
        "",
        "## Configuration",
        "",
        "```toml",
        config_toml(config).rstrip(),
        "```",
        "",
    ]
    path = _write_text(folder / REPORT_FILE, "\n".join(lines))
    return _Written(path, store, config, metrics, summary, tuple(drawn))


def write_report(out_dir: Path | str, *, confidence: float = DEFAULT_CONFIDENCE, worst_by: str = WORST_BY) -> Path:
    """Write ``report.md``, ``summary.json`` and the plots of the study stored in ``out_dir``;
    returns the report's path.

    The report holds the configuration (as TOML), the seed scheme, the summary table (intervals
    and upper bounds at ``confidence``, with the resolution notes), the plots (the worst paths by
    the per-path metric ``worst_by``, a fan of the insurance fund over every path, the cascade,
    the convergence as paths accumulate) and the worst paths with their seeds. It works on an
    unfinished study too (it says how many paths it covers). Raises :class:`InvalidParameter`
    when the folder holds no study results.
    """
    return _write_study_report(out_dir, confidence=confidence, worst_by=worst_by).path


#: Summary columns a sweep or search report lists (besides the chosen metric), when present.
SWEEP_COLUMNS = (
    "p_socialized_loss",
    "p_fund_depleted",
    "p_bad_debt",
    "bad_debt_p95_usd",
    "fund_drawdown_p95_usd",
    "liquidated_notional_p95_usd",
)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidParameter(f"{path} is unreadable ({exc}); rerun the sweep") from None
    if not isinstance(data, dict):
        raise InvalidParameter(f"{path} is not a sweep manifest; rerun the sweep")
    return data


def _read_table(folder: Path, name: str) -> pd.DataFrame:
    path = folder / name
    if not path.is_file():
        raise InvalidParameter(f"{folder} holds no {name}; run the sweep first")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InvalidParameter(f"{path} is unreadable ({exc}); rerun the sweep (it resumes)") from None


def _metric_cell(table: pd.DataFrame, row: Mapping[str, Any], column: str) -> str:
    """A summary value with its two-sided interval when the table has one."""
    text = plots.format_metric(column, row[column])
    low, high = f"{column}_ci_low", f"{column}_ci_high"
    if low in table.columns and high in table.columns:
        text += f" [{plots.format_metric(column, row[low])}, {plots.format_metric(column, row[high])}]"
    return text


def _plain(value: object) -> object:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return value


def _points_table(table: pd.DataFrame, axes: Sequence[str], metric: str, extra: Sequence[str] = ()) -> str:
    metrics = [c for c in dict.fromkeys((metric, *SWEEP_COLUMNS)) if c in table.columns]
    header = ["point", *axes, *metrics, *extra, "folder"]
    rows = []
    for record in table.to_dict("records"):
        folder = str(record.get("dir", ""))
        rows.append(
            [
                record.get("point", ""),
                *(record[a] for a in axes),
                *(_metric_cell(table, record, m) for m in metrics),
                *(plots.format_metric(metric, record[e]) if e == "upper" else _plain(record.get(e, "")) for e in extra),
                f"[{folder}]({folder}/)" if folder else "",
            ]
        )
    return markdown_table(header, rows, align="r" * (1 + len(axes) + len(metrics)) + "l" * (len(extra) + 1))


def write_sweep_report(out_dir: Path | str, *, metric: str = "p_socialized_loss") -> Path:
    """Write ``report.md`` of the sweep stored in ``out_dir`` (``sweep.json``, ``sweep.parquet``):
    a heatmap of ``metric`` (``heatmap.png``) when the sweep has exactly two axes, a line with
    error bars (``sweep.png``) when it has one, and a table of
    every finished grid point in any case; returns the report's path.

    Money in USD; every value with its two-sided interval (``<metric>_ci_low`` / ``_ci_high``).
    """
    folder = Path(out_dir)
    manifest = _read_json(folder / "sweep.json")
    table = _read_table(folder, "sweep.parquet")
    axes = list(manifest.get("axes", {}))
    missing = [c for c in (*axes, metric) if c not in table.columns]
    if not axes or missing:
        raise InvalidParameter(f"sweep table in {folder} lacks columns {missing or ['<axes>']}; rerun the sweep")
    if table.empty:
        raise InvalidParameter(f"the sweep in {folder} has no finished grid points; run it (it resumes)")
    n_all = len(manifest.get("points", [])) or len(table)
    lines = [
        f"# Sweep over {', '.join(f'`{a}`' for a in axes)}",
        "",
        f"{len(table):,} of {n_all:,} grid points finished"
        + ("" if len(table) >= n_all else " (**unfinished**: run the sweep again to resume)")
        + "; every point runs the same path seeds (common random numbers). Money in USD; "
        "every value with its two-sided interval (see each point's report).",
        "",
    ]
    if len(axes) == 2:
        plots.plot_sweep_heatmap(table, folder / HEATMAP_FILE, axes=axes, metric=metric)
        lines += [f"![heatmap]({HEATMAP_FILE})", "", f"`{metric}` over the grid, each cell with its interval.", ""]
    elif len(axes) == 1:
        plots.plot_search(table, folder / LINE_FILE, key=axes[0], metric=metric, threshold=None)
        lines += [f"![sweep]({LINE_FILE})", "", f"`{metric}` at every point, with its interval as error bars.", ""]
    lines += ["## Grid points", "", _points_table(table, axes, metric), ""]
    base = manifest.get("base_config")
    if isinstance(base, Mapping):
        with contextlib.suppress(InvalidParameter):
            lines += ["## Base study", "", "```toml", config_toml(StudyConfig.from_dict(base)).rstrip(), "```", ""]
    return _write_text(folder / REPORT_FILE, "\n".join(lines))


def write_search_report(out_dir: Path | str) -> Path:
    """Write ``report.md`` and ``search.png`` of the threshold search stored in ``out_dir``
    (``search.json``, ``search.parquet``): the smallest value meeting the target found so far,
    the bracket it guarantees, and every evaluated point; returns the report's path."""
    folder = Path(out_dir)
    manifest = _read_json(folder / "search.json")
    table = _read_table(folder, "search.parquet")
    key, metric = str(manifest.get("key", "")), str(manifest.get("metric", ""))
    threshold = manifest.get("threshold")
    if key not in table.columns or metric not in table.columns or not isinstance(threshold, int | float):
        raise InvalidParameter(f"search files in {folder} are inconsistent; rerun the search")
    if table.empty:
        raise InvalidParameter(f"the search in {folder} has no evaluated points; run it (it resumes)")
    table = table.assign(_x=[float(v) for v in table[key]]).sort_values("_x", kind="stable")
    passing = table[table["satisfies"].astype(bool)] if "satisfies" in table.columns else table.iloc[:0]
    answer = passing.iloc[0][key] if len(passing) else None
    confidence = float(manifest.get("confidence", 0.95))
    level = f"{confidence:.0%}"
    plots.plot_search(
        table, folder / "search.png", key=key, metric=metric, threshold=float(threshold), answer=answer, level=level
    )
    target = f"`{metric}` <= {plots.format_metric(metric, threshold)}"
    paths = int(table["n_paths"].iloc[-1]) if "n_paths" in table.columns else 0
    if answer is None:
        verdict = f"No evaluated value of `{key}` meets {target} at its {level} upper bound yet."
    else:
        row = passing.iloc[0]
        upper = float(row["upper"]) if "upper" in row else float(row[metric])
        margin = (
            f"{plots.format_metric(metric, row[metric])}, {level} upper bound {plots.format_metric(metric, upper)}: "
            f"a margin of safety of {plots.format_metric(metric, float(threshold) - upper)} below the target"
        )
        if float(answer) <= float(str(manifest.get("lo", "-inf"))):
            verdict = (
                f"The target {target} already holds, at its {level} upper bound, at the lower bound `{key} = {answer}` "
                f"({margin}): the smallest value may lie below the searched range."
            )
        else:
            verdict = (
                f"Smallest `{key}` meeting {target} at its {level} upper bound: **{answer}** ({margin}; the true "
                f"threshold lies within one tolerance, {manifest.get('tolerance')}, below it)."
            )
    estimate_only = table[(table[metric] <= float(threshold)) & ~table["satisfies"].astype(bool)]
    if "satisfies" in table.columns and len(estimate_only):
        verdict += (
            f" At {', '.join(f'`{v}`' for v in estimate_only[key])} the point estimate meets the target but its "
            f"upper bound does not: {paths:,} paths cannot support it there."
        )
    values = [float(v) for v in table[metric]]
    monotone = all(a >= b for a, b in itertools.pairwise(values))
    lines = [
        f"# Search: smallest `{key}` with {target}",
        "",
        verdict,
        "",
        f"Decision rule: {manifest.get('decision', 'the point estimate is at most the threshold')} "
        f"({paths:,} paths per point; {INTERVAL_METHOD}).",
        "",
        f"Range [{manifest.get('lo')}, {manifest.get('hi')}], tolerance {manifest.get('tolerance')}; "
        f"assumption: {manifest.get('assumption', f'{metric} is non-increasing in {key}')}"
        + ("." if monotone else " — **violated by the evaluated points** (sampling noise? add paths)."),
        "",
        "![search](search.png)",
        "",
        "## Evaluated points",
        "",
        _points_table(table, [key], metric, extra=[c for c in ("upper", "satisfies") if c in table.columns]),
        "",
    ]
    return _write_text(folder / REPORT_FILE, "\n".join(lines))


def write_stress_report(
    out_dir: Path | str, sections: Sequence[StudySection], *, confidence: float = DEFAULT_CONFIDENCE
) -> Path:
    """Write one ``report.md`` in ``out_dir`` over several studies (usually in its sub-folders):
    their summaries side by side (intervals at ``confidence``) with each study's resolution
    notes, then each study's plots. Each study also gets its own full report
    (:func:`write_report`). Returns the combined report's path."""
    folder = Path(out_dir)
    if not folder.is_dir():
        raise InvalidParameter(f"report folder {folder} does not exist")
    if not sections:
        raise InvalidParameter("a stress report needs at least one study")
    written = [(section, _write_study_report(section.out_dir, confidence=confidence)) for section in sections]
    by_study = [{meaning: (value, ci) for meaning, value, ci, _ in summary_rows(w.summary)} for _, w in written]
    quantities = list(dict.fromkeys(q for rows in by_study for q in rows))
    table = [[q, *(" ".join(x for x in rows.get(q, ("n/a", "")) if x) for rows in by_study)] for q in quantities]
    lines = ["# Stress study", "", f"Written {datetime.now(UTC).isoformat(timespec='seconds')}.", ""]
    for section, w in written:
        run = w.config.run
        lines.append(
            f"- **{section.title}** (`{_relative(section.out_dir, folder)}`): {section.description} "
            f"{len(w.metrics):,} paths of {run.steps:,} steps of {run.step_s} s, "
            f"{run.accounts:,} accounts, price model `{w.config.price.model}`."
        )
    lines += ["", "## Headline", ""]
    for section, w in written:
        lines += [f"### {section.title}", "", _headline(w.summary), ""]
    header = ["quantity", *(section.title for section, _ in written)]
    lines += [
        "",
        "## Summary",
        "",
        f"Money in USD; each value with its {confidence:.0%} interval ({INTERVAL_METHOD}); percentiles "
        f"by {PERCENTILE_METHOD}.",
        "",
        markdown_table(header, table, align="l" + "r" * len(written)),
        "",
    ]
    for section, w in written:
        sub = _relative(section.out_dir, folder)
        lines += [f"## {section.title}", "", f"Full report: [{sub}/{REPORT_FILE}]({sub}/{REPORT_FILE}).", ""]
        for name in w.plots:
            lines += [f"![{section.title}: {name.removesuffix('.png')}]({sub}/{name})", "", PLOT_FILES[name], ""]
        notes = resolution_notes(w.summary)
        if notes:
            lines += ["### Notes", "", *(f"- {note}" for note in notes), ""]
        lines += ["### Worst paths", "", _worst_table(w.metrics, WORST_BY), ""]
    return _write_text(folder / REPORT_FILE, "\n".join(lines))


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_posix()
