"""The calibration's outputs: ``report.md``, ``calibration.json`` and plots, written atomically."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from methodology import plots
from methodology.backtest import Backtest, exceptions, traffic_light_series
from methodology.calibration import Calibration, MarketCalibration, addon_table
from methodology.cover import Cover
from methodology.models import MODELS
from methodology.series import format_duration
from simulator.report import markdown_table
from simulator.store import atomic_write, write_json_atomic

__all__ = ["JSON_FILE", "REPORT_FILE", "FundSizing", "recommended_fund", "write_report"]

REPORT_FILE = "report.md"
JSON_FILE = "calibration.json"


@dataclass(frozen=True)
class FundSizing:
    """Cover-1 / Cover-2 per scenario, the simulator's fund VaR, and the recommended fund (USD)."""

    covers: list[Cover]
    simulator: dict[str, float]
    recommended_usd: int


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _usd(x: float) -> str:
    return f"${x:,.0f}"


def _bt_row(name: str, b: Backtest) -> list[str]:
    return [
        name,
        b.side,
        str(b.observations),
        str(b.exceptions),
        f"{b.expected:.1f}",
        f"{b.kupiec_p:.3f}",
        f"{b.independence_p:.3f}",
        f"{b.conditional_coverage_p:.3f}",
        b.traffic_light,
        f"{b.zone_share['green']:.0%}/{b.zone_share['yellow']:.0%}/{b.zone_share['red']:.0%}",
    ]


def _market_json(mc: MarketCalibration) -> dict[str, Any]:
    s = mc.rolling
    return {
        "market_id": mc.market.market_id,
        "symbol": mc.market.symbol,
        "source": mc.series.source,
        "bars": len(mc.series),
        "first_calibration": mc.dates()[0],
        "last_calibration": mc.dates()[-1],
        "initial_fraction": mc.initial_fraction,
        "maintenance_fraction": mc.maintenance_fraction,
        "initial_margin_fraction_wad": str(mc.imf_wad),
        "maintenance_share_wad": str(mc.maintenance_share_wad),
        "oi_cap_upper_wad": str(mc.oi_cap_upper_wad),
        "depth_usd": mc.depth_usd,
        "bounds_hit": mc.bounds_hit,
        "last_margins": {m: {"var": float(s.margin(m, "var")[-1]), "es": float(s.margin(m, "es")[-1])} for m in MODELS},
        "garch_last": vars(s.inputs.garch[-1]),
        "jumps_last": vars(s.inputs.jumps[-1]),
        "seed": {"entropy": s.inputs.seed_entropy, "mc_paths": s.inputs.mc_paths},
        "backtests": {k: [b.to_dict() for b in v] for k, v in mc.backtests.items()},
        "crash_coverage": mc.crash_coverage,
        "apc_measures": mc.apc_measures,
        "series": {
            "dates": mc.dates(),
            "margin": {k: v.tolist() for k, v in mc.apc.items()},
            "realized": [None if not math.isfinite(x) else x for x in s.inputs.realized.tolist()],
        },
    }


def _market_plots(out_dir: Path, mc: MarketCalibration, apc: str) -> list[tuple[str, str]]:
    name = mc.market.symbol
    times = mc.series.times_s[mc.inputs.dates]
    margins = mc.apc[apc]
    realized = mc.inputs.realized
    files = []
    files.append(
        (
            plots.plot_margin_vs_losses(
                out_dir / f"margin_vs_losses_{name}.png",
                times,
                margins,
                realized,
                f"{name}: margin ({apc} APC) vs realised MPOR losses",
            ).name,
            f"{name}: the margin in force and each bar's realised MPOR loss of the losing side; "
            "crosses are exceptions.",
        )
    )
    known = np.isfinite(realized)
    long_hits, short_hits = exceptions(margins, realized)
    hits = (long_hits | short_hits)[known][:: mc.inputs.h]
    zones = traffic_light_series(hits, 1.0 - mc.inputs.alpha)
    if zones:
        t = times[known][:: mc.inputs.h]
        files.append(
            (
                plots.plot_traffic_light(
                    out_dir / f"traffic_light_{name}.png", t, hits, zones, f"{name}: Basel traffic light"
                ).name,
                f"{name}: exceptions (either side) in the last 250 MPOR periods, coloured by Basel zone.",
            )
        )
    files.append(
        (
            plots.plot_apc(out_dir / f"apc_{name}.png", times, mc.apc, f"{name}: anti-procyclicality options").name,
            f"{name}: the chosen model's margin without APC and under each EMIR option.",
        )
    )
    return files


def write_report(
    out_dir: Path, calibration: Calibration, fund: FundSizing | None, params_file: str, study_file: str
) -> Path:
    """Write ``report.md``, ``calibration.json`` and the plots into ``out_dir`` (atomically each)."""
    st = calibration.settings
    lines = [
        "# Margin calibration",
        "",
        f"Model **{st.model}**, measure **{st.measure.upper()}** at alpha = {st.alpha:g} over an MPOR of "
        f"{format_duration(st.mpor_s)} (overlapping windows; `hs-nonoverlap` uses non-overlapping ones), lookback "
        f"{format_duration(st.lookback_s)}, anti-procyclicality **{st.apc}**, maintenance from a liquidation "
        f"horizon of {format_duration(st.liquidation_horizon_s)} (square root of time). Fractions are rounded up "
        f"to {st.precision} decimals and written as exact WAD. Parameters: `{params_file}`; study with the "
        f"recommended fund: `{study_file or 'not written'}`.",
        "",
        "## Recommended parameters",
        "",
    ]
    rows = []
    for mc in calibration.markets:
        rows.append(
            [
                mc.market.symbol,
                _pct(mc.initial_fraction),
                _pct(mc.imf_wad / 1e18),
                _pct(mc.maintenance_share_wad / 1e18),
                _pct(mc.imf_wad / 1e18 * mc.maintenance_share_wad / 1e18),
                _usd(mc.depth_usd),
                _usd(mc.oi_cap_upper_wad / 1e18),
                "; ".join(mc.bounds_hit) or "none",
            ]
        )
    lines.append(
        markdown_table(
            [
                "market",
                "margin",
                "initial fraction",
                "maintenance share",
                "maintenance fraction",
                "depth D",
                "oi_cap_upper",
                "bounds hit",
            ],
            rows,
        )
    )
    plot_files: list[tuple[str, str]] = []
    for mc in calibration.markets:
        name = mc.market.symbol
        s = mc.rolling
        lines += [
            "",
            f"## {name} ({mc.series.source}, {mc.dates()[0]} .. {mc.dates()[-1]})",
            "",
            "Margins at the last bar:",
            "",
        ]
        lines.append(
            markdown_table(
                ["model", "VaR", "ES", "VaR long", "VaR short", "ES long", "ES short"],
                [
                    [m, _pct(s.margin(m, "var")[-1]), _pct(s.margin(m, "es")[-1]), *(_pct(v) for v in s.main[m][-1])]
                    for m in MODELS
                ],
            )
        )
        lines += [
            "",
            "Backtests (tests on non-overlapping MPOR periods; p-values; zones: share of time green/yellow/red):",
            "",
        ]
        lines.append(
            markdown_table(
                [
                    "margin",
                    "side",
                    "n",
                    "exceptions",
                    "expected",
                    "Kupiec p",
                    "indep. p",
                    "cond. cov. p",
                    "zone now",
                    "zones",
                ],
                [_bt_row(k, b) for k, pair in mc.backtests.items() for b in pair],
            )
        )
        if mc.crash_coverage:
            lines += ["", "Crash windows (daily bars, and every 1-hour start of the window):", ""]
            lines.append(
                markdown_table(
                    [
                        "crash",
                        "daily exc. long/short",
                        "hourly exceptions",
                        "worst MPOR move",
                        "margin then",
                        "coverage",
                        "worst liq.-horizon move",
                        "MM fraction",
                    ],
                    [
                        [
                            c["crash"],
                            f"{c['daily_exceptions_long']}/{c['daily_exceptions_short']} of {c['daily_bars']}",
                            f"{c['hourly_exceptions']} of {c['hourly_starts']}",
                            _pct(c["worst_mpor_move"]),
                            _pct(c["margin_at_worst"]),
                            f"{c['coverage_ratio']:.2f}",
                            _pct(c["worst_liquidation_horizon_move"]),
                            _pct(c["maintenance_fraction"]),
                        ]
                        for c in mc.crash_coverage
                    ],
                )
            )
        lines += ["", "Anti-procyclicality (peak-to-trough ratio; largest 1/5/30-day increase):", ""]
        lines.append(
            markdown_table(
                ["period | option", "peak/trough", "1 d", "5 d", "30 d"],
                [
                    [
                        k,
                        f"{v['peak_to_trough']:.2f}",
                        _pct(v["largest_1d_increase"]),
                        _pct(v["largest_5d_increase"]),
                        _pct(v["largest_30d_increase"]),
                    ]
                    for k, v in mc.apc_measures.items()
                ],
            )
        )
        lines += ["", f"Liquidity add-on (depth D = {_usd(mc.depth_usd)}):", ""]
        lines.append(markdown_table(["position", "add-on"], [[_usd(q), _pct(a)] for q, a in addon_table(mc.depth_usd)]))
        plot_files += _market_plots(out_dir, mc, st.apc)
    if calibration.portfolios:
        lines += ["", "## Portfolios (per unit of gross notional)", ""]
        prow = []
        for name, p in calibration.portfolios.items():
            for m, v in p["margin"].items():
                prow.append([name, m, _pct(v), _pct(p["additive_margin"][m]), f"{v / p['additive_margin'][m]:.2f}"])
        lines.append(markdown_table(["portfolio", "model", "portfolio margin", "additive (protocol)", "ratio"], prow))
        corr = next(iter(calibration.portfolios.values()))["correlation"]
        lines += [
            "",
            f"Log-return correlation over the lookback: {corr:.3f}. Monte Carlo draws the assets' jumps independently.",
        ]
    if fund is not None:
        lines += ["", "## Insurance fund", ""]
        lines.append(
            markdown_table(
                ["scenario", "kind", "shocks", "Cover-1", "Cover-2", "accounts short"],
                [
                    [
                        c.scenario,
                        c.kind,
                        ", ".join(f"{k} {v:+.1%}" for k, v in c.shocks.items()),
                        _usd(c.cover1_usd),
                        _usd(c.cover2_usd),
                        str(c.accounts_short),
                    ]
                    for c in fund.covers
                ],
            )
        )
        sim = fund.simulator
        lines += [
            "",
            f"Simulator, same book, {int(sim['paths'])} Monte Carlo paths: bad debt 99 % "
            f"{_usd(sim['bad_debt_p99_usd'])}, "
            f"fund drawdown 99 % {_usd(sim['fund_drawdown_p99_usd'])}, P(fund depleted) {sim['p_fund_depleted']:.3f}.",
            "",
            f"**Recommended insurance fund: {_usd(fund.recommended_usd)}** (the larger of the worst Cover-2 and the "
            "simulator's 99 % bad debt, rounded up to 10,000 USD).",
        ]
        worst = max((c.cover2_usd for c in fund.covers), default=0.0)
        plot_files.append(
            (
                plots.plot_cover(
                    out_dir / "cover2.png",
                    [c.scenario for c in fund.covers],
                    [c.cover2_usd for c in fund.covers],
                    {
                        "worst Cover-2": worst,
                        "simulator bad debt 99 %": sim["bad_debt_p99_usd"],
                        "recommended": fund.recommended_usd,
                    },
                ).name,
                "Cover-2 per scenario beside the simulator's 99 % bad debt and the recommended fund.",
            )
        )
    lines += ["", "## Plots", ""]
    lines += [f"![{caption}]({name})\n\n{caption}\n" for name, caption in plot_files]
    payload = {
        "settings": vars(st),
        "markets": [_market_json(mc) for mc in calibration.markets],
        "portfolios": calibration.portfolios,
        "insurance_fund": None
        if fund is None
        else {
            "covers": [c.to_dict() for c in fund.covers],
            "simulator": fund.simulator,
            "recommended_usd": fund.recommended_usd,
        },
        "files": {"params": params_file, "study": study_file, "plots": [n for n, _ in plot_files]},
    }
    write_json_atomic(out_dir / JSON_FILE, payload)
    path = out_dir / REPORT_FILE
    with atomic_write(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def recommended_fund(covers: Sequence[Cover], simulator: dict[str, float]) -> int:
    """The larger of the worst Cover-2 and the simulator's 99 % bad debt, up to 10,000 USD."""
    worst = max([c.cover2_usd for c in covers] + [simulator.get("bad_debt_p99_usd", 0.0)])
    return int(math.ceil(worst / 10_000) * 10_000)
