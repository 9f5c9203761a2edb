"""From a margin model to the protocol's parameters: the whole calibration of a set of markets.

:func:`calibrate` runs, per market, every model at every bar (:mod:`methodology.rolling`),
applies the chosen anti-procyclicality option to the chosen model, backtests, checks the
crash windows, and turns the margin in force at the last bar into

* the **initial fraction** ``imf``: the margin (``measure`` of ``model`` at ``alpha`` over the
  MPOR, after APC), rounded **up** to ``precision`` decimal places and converted to WAD exactly;
* the **maintenance share**: the maintenance fraction is the margin over the liquidation
  horizon, scaled from the MPOR by the square root of time (``imf * sqrt(horizon / MPOR)``),
  and the share is rounded up so that the protocol's ``ceil(imf * share)`` is at least it;
* the **open-interest caps** of the liquidity add-on (:mod:`methodology.liquidity`).

Fractions stay within today's bounds of :mod:`protocol.params` (``imf`` in [0.1 %, 100 %],
share in (0, 100 %)); a calibration that would exceed one is clamped and flagged.
:func:`params_toml` writes parameters the loader, the model, the contracts and the simulator
read as they are.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from methodology import backtest as bt
from methodology.liquidity import SIZES_USD, addon, depth_usd, oi_cap_upper_usd
from methodology.models import MODELS, check_alpha
from methodology.portfolio import PORTFOLIO_MODELS, PORTFOLIOS, portfolio_margins, portfolio_monte_carlo
from methodology.procyclicality import APC_OPTIONS, apply_apc, largest_increase, peak_to_trough
from methodology.rolling import TEN_YEARS_DAYS, Inputs, RollingMargins, prepare, rolling_margins
from methodology.series import CrashWindow, PriceSeries, bars, format_duration, load_series, utc_date
from protocol.constants import MAX_INITIAL_MARGIN_FRACTION, MIN_INITIAL_MARGIN_FRACTION, WAD
from protocol.errors import InvalidParameter
from protocol.params import MarketParams, Params

__all__ = [
    "Calibration",
    "MarketCalibration",
    "Settings",
    "addon_table",
    "calibrate",
    "fraction_to_wad",
    "params_toml",
    "write_params",
]

#: Days either side of a crash window over which the APC measures are taken.
CRASH_MARGIN_DAYS = 60
#: The n of the largest n-day margin increase.
INCREASE_DAYS = (1, 5, 30)


@dataclass(frozen=True)
class Settings:
    """What a calibration asks for (durations in seconds)."""

    alpha: float = 0.99
    mpor_s: int = 86_400
    lookback_s: int = 365 * 86_400
    floor_lookback_s: int = TEN_YEARS_DAYS * 86_400
    liquidation_horizon_s: int = 3_600
    model: str = "hs"
    measure: str = "es"
    apc: str = "floor"
    refit_bars: int = 30
    mc_paths: int = 10_000
    seed: int = 20180101
    #: Decimal places of the fractions written into the parameters (rounded up).
    precision: int = 4

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if self.model not in MODELS:
            raise InvalidParameter(f"model {self.model!r} is not one of {list(MODELS)}")
        if self.measure not in ("var", "es"):
            raise InvalidParameter(f"measure {self.measure!r} must be var or es")
        if self.apc not in APC_OPTIONS:
            raise InvalidParameter(f"anti-procyclicality option {self.apc!r} is not one of {list(APC_OPTIONS)}")
        for name in ("mpor_s", "lookback_s", "floor_lookback_s", "liquidation_horizon_s", "refit_bars", "mc_paths"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameter(f"{name} must be a positive integer, got {value!r}")
        if self.liquidation_horizon_s > self.mpor_s:
            raise InvalidParameter(
                f"the liquidation horizon ({format_duration(self.liquidation_horizon_s)}) must not exceed the MPOR "
                f"({format_duration(self.mpor_s)}): maintenance cannot exceed initial margin"
            )
        if not 0 <= self.precision <= 18:
            raise InvalidParameter(f"precision must be 0 .. 18 decimal places, got {self.precision}")


def fraction_to_wad(fraction: float, precision: int = 18) -> int:
    """WAD of a float fraction rounded **up** to ``precision`` decimal places (exact: from the
    float's shortest decimal form)."""
    if not math.isfinite(fraction) or fraction < 0:
        raise InvalidParameter(f"a margin fraction must be finite and non-negative, got {fraction!r}")
    step = Decimal(1).scaleb(-precision)
    rounded = Decimal(repr(fraction)).quantize(step, rounding=ROUND_CEILING)
    return int(rounded * WAD)


@dataclass(frozen=True, eq=False)
class MarketCalibration:
    """One market's calibration: margins per bar, backtests, APC, the recommended fractions."""

    market: MarketParams
    series: PriceSeries
    rolling: RollingMargins
    #: The chosen model's margin per calibration bar under each APC option.
    apc: dict[str, NDArray[np.float64]]
    #: Recommended fractions (float, then WAD) and which bounds bit.
    initial_fraction: float
    maintenance_fraction: float
    imf_wad: int
    maintenance_share_wad: int
    oi_cap_upper_wad: int
    depth_usd: float
    bounds_hit: list[str]
    #: Backtests per model (no APC), per APC option of the chosen model, and of the static fraction.
    backtests: dict[str, tuple[bt.Backtest, bt.Backtest]]
    crash_coverage: list[dict[str, Any]]
    apc_measures: dict[str, dict[str, float]]

    @property
    def inputs(self) -> Inputs:
        """The shared inputs of the rolling run."""
        return self.rolling.inputs

    def dates(self) -> list[str]:
        """Calibration bars as text."""
        s = self.series
        return [utc_date(int(s.times_s[t]), s.bar_s) for t in self.inputs.dates]


@dataclass(frozen=True, eq=False)
class Calibration:
    """Every market's calibration, the portfolios, and the parameters they give."""

    settings: Settings
    markets: list[MarketCalibration]
    params: Params
    portfolios: dict[str, dict[str, Any]] = field(default_factory=dict)


def _chosen(rm: RollingMargins, settings: Settings) -> dict[str, NDArray[np.float64]]:
    m = rm.margin(settings.model, settings.measure)
    floor = rm.margin(settings.model, settings.measure, floor=True)
    return {opt: apply_apc(opt, m, floor=floor, stress_bars=rm.inputs.floor or len(m)) for opt in APC_OPTIONS}


def _crash_coverage(
    series: PriceSeries,
    inputs: Inputs,
    margins: NDArray[np.float64],
    crashes: tuple[CrashWindow, ...],
    symbol: str,
    settings: Settings,
    mm_fraction: float,
) -> list[dict[str, Any]]:
    """Per crash: the daily exceptions in the window, and the hourly check — every 1-hour start
    whose MPOR move exceeded the margin in force (the last calibration before it), and the worst
    liquidation-horizon move against the static maintenance fraction."""
    out = []
    times = series.times_s[inputs.dates]
    realized = inputs.realized
    for crash in crashes:
        in_window = (times >= crash.first_day_s) & (times <= crash.last_day_s)
        long_hits, short_hits = bt.exceptions(margins, realized)
        hourly = load_series(crash.hourly[symbol], symbol)
        h = settings.mpor_s // hourly.bar_s
        hl = max(settings.liquidation_horizon_s // hourly.bar_s, 1)
        moves = hourly.closes[h:] / hourly.closes[:-h] - 1.0
        starts = hourly.times_s[:-h]
        in_force_idx = np.searchsorted(times + series.bar_s, starts, side="right") - 1
        ok = in_force_idx >= 0
        in_force = np.where(ok, margins[np.maximum(in_force_idx, 0)], np.nan)
        worst = np.abs(moves)
        liq = np.abs(hourly.closes[hl:] / hourly.closes[:-hl] - 1.0)
        out.append(
            {
                "crash": crash.name,
                "daily_bars": int(in_window.sum()),
                "daily_exceptions_long": int(long_hits[in_window].sum()),
                "daily_exceptions_short": int(short_hits[in_window].sum()),
                "hourly_starts": int(ok.sum()),
                "hourly_exceptions": int(np.sum(ok & (worst > in_force))),
                "worst_mpor_move": float(moves[np.argmax(worst)]),
                "margin_at_worst": float(in_force[np.argmax(worst)]),
                "coverage_ratio": float(in_force[np.argmax(worst)] / worst.max()),
                "worst_liquidation_horizon_move": float(liq.max()),
                "maintenance_fraction": mm_fraction,
            }
        )
    return out


def _apc_measures(
    series: PriceSeries, inputs: Inputs, apc: dict[str, NDArray[np.float64]], crashes: tuple[CrashWindow, ...]
) -> dict[str, dict[str, float]]:
    times = series.times_s[inputs.dates]
    day = 86_400
    per_day = max(day // series.bar_s, 1)
    out: dict[str, dict[str, float]] = {}
    periods = [("whole backtest", times[0], times[-1])]
    periods += [
        (c.name, c.first_day_s - CRASH_MARGIN_DAYS * day, c.last_day_s + CRASH_MARGIN_DAYS * day) for c in crashes
    ]
    for label, start, end in periods:
        keep = (times >= start) & (times <= end)
        if keep.sum() < 2:
            continue
        for option, m in apc.items():
            row = {"peak_to_trough": peak_to_trough(m[keep])}
            for n in INCREASE_DAYS:
                row[f"largest_{n}d_increase"] = largest_increase(m[keep], n * per_day)
            out[f"{label} | {option}"] = row
    return out


def _calibrate_market(
    market: MarketParams,
    series: PriceSeries,
    settings: Settings,
    crashes: tuple[CrashWindow, ...],
    symbol: str,
    seed: np.random.SeedSequence,
) -> MarketCalibration:
    bar_s = series.bar_s
    h = bars(settings.mpor_s, bar_s, "the MPOR")
    lookback = bars(settings.lookback_s, bar_s, "the lookback")
    floor = max(bars(settings.floor_lookback_s, bar_s, "the floor lookback"), lookback)
    inputs = prepare(
        series,
        alpha=settings.alpha,
        h=h,
        lookback=lookback,
        floor=floor,
        refit=settings.refit_bars,
        mc_paths=settings.mc_paths,
        seed=seed,
    )
    rm = rolling_margins(inputs, MODELS, floor_models=(settings.model,))
    apc = _chosen(rm, settings)
    current = float(apc[settings.apc][-1])
    bounds: list[str] = []
    imf_wad = fraction_to_wad(current, settings.precision)
    if imf_wad > MAX_INITIAL_MARGIN_FRACTION:
        bounds.append(f"initial fraction {current:.4f} above the protocol's maximum of 100 %; clamped")
        imf_wad = MAX_INITIAL_MARGIN_FRACTION
    imf_wad = max(imf_wad, MIN_INITIAL_MARGIN_FRACTION)
    imf = imf_wad / WAD
    mm_fraction = current * math.sqrt(settings.liquidation_horizon_s / settings.mpor_s)
    mm_wad = fraction_to_wad(mm_fraction, settings.precision)
    share_wad = -(-mm_wad * WAD // imf_wad)
    if share_wad >= WAD:
        bounds.append("maintenance share reaches 100 %; clamped below it")
        share_wad = WAD - 1
    depth = depth_usd(series, lookback)
    upper = (
        int(Decimal(repr(oi_cap_upper_usd(depth, imf))).to_integral_value(rounding=ROUND_FLOOR)) * WAD if imf < 1 else 0
    )
    realized = inputs.realized
    backtests = {
        f"model {m} (VaR)": bt.backtest(rm.margin(m, "var"), realized, alpha=settings.alpha, h=h) for m in MODELS
    }
    for option, margins in apc.items():
        backtests[f"{settings.model} + APC {option}"] = bt.backtest(margins, realized, alpha=settings.alpha, h=h)
    backtests["static recommended fraction"] = bt.backtest(
        np.full(len(realized), imf), realized, alpha=settings.alpha, h=h
    )
    coverage = (
        _crash_coverage(series, inputs, apc[settings.apc], crashes, symbol, settings, mm_wad / WAD) if crashes else []
    )
    return MarketCalibration(
        market,
        series,
        rm,
        apc,
        current,
        mm_fraction,
        imf_wad,
        share_wad,
        upper,
        depth,
        bounds,
        backtests,
        coverage,
        _apc_measures(series, inputs, apc, crashes),
    )


def _portfolios(
    markets: list[MarketCalibration], settings: Settings, seed: np.random.SeedSequence
) -> dict[str, dict[str, Any]]:
    inputs = tuple(mc.inputs for mc in markets)
    out: dict[str, dict[str, Any]] = {}
    for (name, weights), child in zip(PORTFOLIOS.items(), seed.spawn(len(PORTFOLIOS)), strict=True):
        if len(weights) != len(inputs):
            continue
        table = portfolio_margins(inputs, weights)
        cols = (0, 1) if settings.measure == "var" else (2, 3)
        last = {m: float(max(table[m][-1, cols[0]], table[m][-1, cols[1]])) for m in PORTFOLIO_MODELS}
        mc = portfolio_monte_carlo(inputs, weights, seed=child, n_paths=max(settings.mc_paths, 20_000))
        last["monte-carlo"] = float(max(mc[f"{settings.measure}_long"], mc[f"{settings.measure}_short"]))
        w = np.abs(np.asarray(weights)) / np.abs(np.asarray(weights)).sum()
        additive = {
            m: float(sum(wa * mk.rolling.margin(m, settings.measure)[-1] for wa, mk in zip(w, markets, strict=True)))
            for m in (*PORTFOLIO_MODELS, "monte-carlo")
        }
        joint = np.maximum(table["hs"][:, cols[0]], table["hs"][:, cols[1]])
        ys = sum(wa * inp.realized for wa, inp in zip(np.asarray(weights) / np.abs(weights).sum(), inputs, strict=True))
        long_bt, short_bt = bt.backtest(joint, np.asarray(ys), alpha=settings.alpha, h=inputs[0].h)
        out[name] = {
            "weights": list(weights),
            "margin": last,
            "additive_margin": additive,
            "correlation": float(mc["correlation"]),
            "hs_backtest": [long_bt.to_dict(), short_bt.to_dict()],
        }
    return out


def calibrate(
    base: Params,
    series: dict[int, PriceSeries],
    settings: Settings,
    *,
    crashes: tuple[CrashWindow, ...] = (),
    symbols: dict[int, str] | None = None,
) -> Calibration:
    """Calibrate every market of ``series`` (market id -> its price series) and return the
    parameters: ``base`` with those markets' initial fraction, maintenance share and OI caps
    replaced. ``crashes`` (with 1-hour files per symbol; ``symbols`` maps market id -> symbol)
    adds the crash-window coverage and the APC measures around each crash."""
    if not series:
        raise InvalidParameter("calibrate needs at least one market's price series")
    root = np.random.SeedSequence(settings.seed)
    children = root.spawn(len(series) + 1)
    markets = []
    for (market_id, s), child in zip(series.items(), children, strict=False):
        mp = base.market(market_id)
        if mp.is_option:
            raise InvalidParameter(f"market {market_id} ({mp.symbol}) is an option; calibrate perpetuals")
        symbol = (symbols or {}).get(market_id, "")
        markets.append(_calibrate_market(mp, s, settings, crashes if symbol else (), symbol, child))
    replaced = {
        mc.market.market_id: dataclasses.replace(
            mc.market,
            initial_margin_fraction_wad=mc.imf_wad,
            maintenance_share_wad=mc.maintenance_share_wad,
            oi_cap_lower_wad=0,
            oi_cap_upper_wad=mc.oi_cap_upper_wad,
        )
        for mc in markets
    }
    params = dataclasses.replace(base, markets=tuple(replaced.get(m.market_id, m) for m in base.markets))
    portfolios = _portfolios(markets, settings, children[-1]) if len(markets) == 2 else {}
    return Calibration(settings, markets, params, portfolios)


def addon_table(depth: float) -> list[tuple[float, float]]:
    """``(position notional USD, add-on fraction)`` at the report's sizes."""
    return [(q, addon(q, depth)) for q in SIZES_USD]


# --------------------------------------------------------------------------------------------
# parameter files


def _value(name: str, value: object) -> str:
    if isinstance(value, Enum):
        return f'"{value.value}"'
    if isinstance(value, str):
        return f'"{value}"'
    if name.endswith("_wad") and isinstance(value, int):
        text = format(Decimal(value).scaleb(-18), "f")
        return f'"{text.rstrip("0").rstrip(".") if "." in text else text}"'
    return str(value)


def _table(header: str, obj: object) -> str:
    lines = [header]
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        lines.append(f"{f.name.removesuffix('_wad')} = {_value(f.name, value)}")
    return "\n".join(lines)


def params_toml(params: Params, comment: str = "") -> str:
    """A parameter file :func:`protocol.params.load_params` reads back to ``params`` exactly."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    blocks = [_table("[protocol]", params.protocol)]
    blocks += [_table("[[feed]]", f) for f in params.feeds]
    blocks += [_table("[[market]]", m) for m in params.markets]
    blocks += [_table("[[collateral]]", c) for c in params.collaterals]
    return head + "\n\n".join(blocks) + "\n"


def write_params(path: Path, params: Params, comment: str = "") -> Path:
    """Write :func:`params_toml` atomically."""
    from simulator.store import atomic_write

    with atomic_write(path, "w") as fh:
        fh.write(params_toml(params, comment))
    return path
