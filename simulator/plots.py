"""PNG plots of a study: price paths, insurance fund, bad-debt distribution, sweep heatmap.

Every function takes plain data (a metrics :class:`pandas.DataFrame`, a ``{path_index: {series:
array}}`` mapping as :meth:`ResultStore.read_series` returns, or a sweep table), an output path,
and returns that path once the PNG is in place. Files are written atomically (a temporary file
in the same folder, then :func:`os.replace`), so a reader never sees half a picture.

Money is in USD (floats: plots are reports, never protocol state), time in hours or minutes from
the start of the path. Figures are built on :class:`matplotlib.figure.Figure` with the Agg
canvas directly: no pyplot, no global state, safe in worker threads.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from simulator.results import FEED_SERIES_PREFIX

__all__ = [
    "format_axis_value",
    "format_metric",
    "format_usd",
    "plot_bad_debt",
    "plot_cascade",
    "plot_convergence",
    "plot_feed_prices",
    "plot_fund_fan",
    "plot_insurance_fund",
    "plot_price_paths",
    "plot_search",
    "plot_sweep_heatmap",
    "value_at_risk",
]

#: Most paths drawn in one price or insurance-fund figure.
MAX_PATHS = 8
_DPI = 110
_MARKET = "#1f77b4"
_ORACLE = "#d62728"
_REDUCE_ONLY = "#f2b134"

SeriesByPath = Mapping[int, Mapping[str, NDArray[np.float64]]]


def value_at_risk(values: Sequence[float] | NDArray[np.float64], q: float = 0.95) -> float:
    """The ``q`` quantile of ``values`` by nearest rank (the ``ceil(q * n)``-th smallest, so an
    actual path's outcome), the definition :mod:`simulator.summary` uses."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise InvalidParameter("value_at_risk needs at least one value")
    return float(np.quantile(arr, q, method="inverted_cdf"))


def format_usd(value: float) -> str:
    """``$1.23M``-style USD amount."""
    if not math.isfinite(value):
        return "n/a"
    sign, v = ("-" if value < 0 else ""), abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= limit:
            return f"{sign}${v / limit:.3g}{suffix}"
    return f"{sign}${v:,.0f}" if v >= 10 else f"{sign}${v:.3g}"


def format_metric(name: str, value: object) -> str:
    """A summary or metric value formatted for a report cell, judged by its name.

    ``p_*`` are probabilities (percent), ``*_usd`` USD amounts, ``*_s`` seconds (shown in hours
    or minutes), anything else a plain number.
    """
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "n/a"
    if name.startswith("p_") or name.endswith(("_probability", "_share", "_fraction")):
        return f"{v:.2%}" if v >= 0.01 or v == 0 else f"{v:.3%}"
    if "usd" in name:
        return format_usd(v)
    if name.endswith("_s") or "_s_" in name:
        return f"{v / 3600:.2f} h" if v >= 3600 else f"{v / 60:.1f} min" if v >= 60 else f"{v:g} s"
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.4g}"


def format_axis_value(value: object) -> str:
    """A sweep axis value as the user wrote it: a float by its shortest form (0.1, not
    0.1000000000000000055511), a decimal or integer as is."""
    if isinstance(value, float | np.floating):
        return f"{float(value):g}" if math.isfinite(value) else str(value)
    return str(value)


def _write_png(fig: Figure, out: Path | str) -> Path:
    """Render ``fig`` to PNG in memory, then move it into place atomically."""
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise InvalidParameter(f"plot output {path} must end in .png")
    if not path.parent.is_dir():
        raise InvalidParameter(f"plot output folder {path.parent} does not exist")
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _check_series(series: SeriesByPath, names: Sequence[str], what: str) -> list[int]:
    if not isinstance(series, Mapping) or not series:
        raise InvalidParameter(f"{what} needs series of at least one path, got {type(series).__name__}")
    for index, arrays in series.items():
        if not isinstance(arrays, Mapping):
            raise InvalidParameter(f"{what}: series of path {index} must be a mapping of name to array")
        missing = [n for n in names if n not in arrays]
        if missing:
            raise InvalidParameter(f"{what}: path {index} lacks series {missing}")
        lengths = {len(np.asarray(arrays[n])) for n in names}
        if len(lengths) != 1 or lengths == {0}:
            raise InvalidParameter(f"{what}: series of path {index} must be non-empty and of one length")
    return list(series)[:MAX_PATHS]  # in the order given (a report passes the worst first)


def _check_step(step_s: float) -> None:
    if isinstance(step_s, bool) or not isinstance(step_s, int | float) or not (math.isfinite(step_s) and step_s > 0):
        raise InvalidParameter(f"step_s must be a positive number of seconds, got {step_s!r}")


def _time_axis(n: int, step_s: float) -> tuple[NDArray[np.float64], str]:
    """Grid times of ``n`` points ``step_s`` apart, in hours (long paths) or minutes."""
    seconds = np.arange(n, dtype=np.float64) * step_s
    if seconds[-1] >= 3 * 3600:
        return seconds / 3600, "hours from start"
    return seconds / 60, "minutes from start"


def _usd_axis(ax: Any) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_usd(v)))


def _reduce_only_spans(trusted: NDArray[np.float64]) -> list[tuple[int, int]]:
    """``[start, end)`` index runs where ``trusted`` is 0."""
    down = np.asarray(trusted) == 0
    if not down.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], down.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def plot_price_paths(series: SeriesByPath, out: Path | str, *, step_s: float = 60, title: str = "") -> Path:
    """Market price vs the protocol's oracle price (USD) for up to :data:`MAX_PATHS` paths.

    One panel per path; intervals where ``trusted == 0`` (reduce-only: no liquidation possible)
    are shaded. ``step_s`` is the grid spacing in seconds.
    """
    _check_step(step_s)
    indices = _check_series(series, ("market_price", "oracle_price", "trusted"), "plot_price_paths")
    cols = 1 if len(indices) == 1 else 2
    rows = math.ceil(len(indices) / cols)
    fig = Figure(figsize=(6.0 * cols, 2.6 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    shaded = False
    for slot, index in enumerate(indices):
        ax = axes[slot // cols][slot % cols]
        arrays = series[index]
        market = np.asarray(arrays["market_price"], dtype=np.float64)
        oracle = np.asarray(arrays["oracle_price"], dtype=np.float64)
        t, label = _time_axis(len(market), step_s)
        ax.plot(t, market, color=_MARKET, lw=1.0, label="market price")
        ax.step(t, np.where(oracle > 0, oracle, np.nan), where="post", color=_ORACLE, lw=1.0, label="oracle price")
        dt = t[1] - t[0] if len(t) > 1 else 1.0
        for a, b in _reduce_only_spans(np.asarray(arrays["trusted"])):
            ax.axvspan(t[a], t[b - 1] + dt, color=_REDUCE_ONLY, alpha=0.3, lw=0, label="reduce-only")
            shaded = True
        ax.set_title(f"path {index}", fontsize=9)
        _usd_axis(ax)
        ax.grid(alpha=0.3)
        if slot // cols == rows - 1 or slot + cols >= len(indices):
            ax.set_xlabel(label)
    for slot in range(len(indices), rows * cols):
        axes[slot // cols][slot % cols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if shaded and "reduce-only" not in labels:
        from matplotlib.patches import Patch

        handles.append(Patch(color=_REDUCE_ONLY, alpha=0.3))
        labels.append("reduce-only")
    unique = dict(zip(labels, handles, strict=True))
    fig.legend(list(unique.values()), list(unique), loc="outside upper right", ncols=3, fontsize=8)
    fig.suptitle(title or "Market vs oracle price (USD)", x=0.02, ha="left")
    return _write_png(fig, out)


def plot_insurance_fund(series: SeriesByPath, out: Path | str, *, step_s: float = 60, title: str = "") -> Path:
    """Insurance-fund balance (USD) over time, one line per path (at most :data:`MAX_PATHS`)."""
    _check_step(step_s)
    indices = _check_series(series, ("insurance_fund",), "plot_insurance_fund")
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    label = ""
    for index in indices:
        fund = np.asarray(series[index]["insurance_fund"], dtype=np.float64)
        t, label = _time_axis(len(fund), step_s)
        ax.plot(t, fund, lw=1.1, label=f"path {index}")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel(label)
    ax.set_ylabel("insurance fund")
    _usd_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    ax.set_title(title or "Insurance-fund balance (USD)")
    return _write_png(fig, out)


def _usd_column(metrics: pd.DataFrame, base: str) -> NDArray[np.float64]:
    """``<base>_usd`` as floats, or ``<base>_wad`` (exact decimals in USD) converted."""
    if not isinstance(metrics, pd.DataFrame):
        raise InvalidParameter(f"metrics must be a pandas DataFrame, got {type(metrics).__name__}")
    for column in (f"{base}_usd", f"{base}_wad"):
        if column in metrics.columns:
            values = np.asarray([float(v) for v in metrics[column]], dtype=np.float64)
            if not np.isfinite(values).all():
                raise InvalidParameter(f"metrics column {column} holds non-finite values")
            return values
    raise InvalidParameter(f"metrics have no column {base}_usd or {base}_wad; columns: {list(metrics.columns)}")


def plot_bad_debt(metrics: pd.DataFrame, out: Path | str, *, q: float = 0.95, title: str = "") -> Path:
    """Histogram of bad debt per path (USD), with the ``q`` quantile (value-at-risk) marked.

    The title gives the number of paths and the share of paths with no bad debt at all.
    """
    if isinstance(q, bool) or not isinstance(q, float | int) or not 0 < q < 1:
        raise InvalidParameter(f"q must be a probability in (0, 1), got {q!r}")
    values = _usd_column(metrics, "bad_debt")
    if values.size == 0:
        raise InvalidParameter("plot_bad_debt needs at least one path")
    zero_share = float(np.mean(values == 0))
    var = value_at_risk(values, q)
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    top = float(values.max())
    bins: Any = np.linspace(0.0, top, 31) if top > 0 else np.linspace(-0.5, 0.5, 2)
    ax.hist(values, bins=bins, color="#6b8fb5", edgecolor="white")
    if top == 0:
        ax.set_xticks([0.0])  # one bar at $0: no negative dollars on the axis
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.axvline(var, color=_ORACLE, lw=1.5, ls="--", label=f"p{q * 100:g} (value-at-risk) {format_usd(var)}")
    ax.set_xlabel("bad debt per path")
    ax.set_ylabel("paths")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_usd(v)))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=9)
    if top == 0:
        ax.text(0.5, 0.6, f"no bad debt on any of the {values.size} paths", transform=ax.transAxes, ha="center")
    ax.set_title(
        title or f"Bad debt across {values.size} paths: {zero_share:.1%} of paths with zero bad debt", fontsize=11
    )
    return _write_png(fig, out)


def _axis_order(values: pd.Series) -> list[Any]:
    """Distinct axis values in numeric order when they are numbers, else in first-seen order."""
    distinct = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(distinct, key=float)
    except (TypeError, ValueError):
        return distinct


def plot_sweep_heatmap(
    table: pd.DataFrame, out: Path | str, *, axes: Sequence[str], metric: str, title: str = ""
) -> Path:
    """Heatmap of ``metric`` over a two-parameter grid, every cell annotated with its value.

    ``table`` has one row per grid point with a column per axis (dotted names such as
    ``protocol.initial_margin_fraction``) and a column ``metric``; ``axes`` names exactly two of
    them: the first runs along x, the second along y. Grid points missing from the table stay
    blank; a grid point given twice is refused.
    """
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameter(f"sweep table must be a pandas DataFrame, got {type(table).__name__}")
    axes = list(axes)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise InvalidParameter(f"a heatmap needs exactly two distinct sweep axes, got {axes}")
    for column in (*axes, metric):
        if column not in table.columns:
            raise InvalidParameter(f"sweep table has no column {column!r}; columns: {list(table.columns)}")
    if table.empty:
        raise InvalidParameter("sweep table has no rows")
    x_name, y_name = axes
    keys = table[[x_name, y_name]].astype(str)
    if keys.duplicated().any():
        dup = keys[keys.duplicated()].iloc[0].tolist()
        raise InvalidParameter(f"sweep table has grid point {x_name}={dup[0]}, {y_name}={dup[1]} more than once")
    xs, ys = _axis_order(table[x_name]), _axis_order(table[y_name])
    grid = np.full((len(ys), len(xs)), np.nan)
    x_at = {str(v): i for i, v in enumerate(xs)}
    y_at = {str(v): i for i, v in enumerate(ys)}
    for xv, yv, value in zip(table[x_name], table[y_name], table[metric], strict=True):
        try:
            grid[y_at[str(yv)], x_at[str(xv)]] = float(value)
        except (TypeError, ValueError):
            raise InvalidParameter(f"sweep column {metric!r} must be numeric, got {value!r}") from None
    fig = Figure(figsize=(max(5.0, 1.1 * len(xs) + 2.5), max(3.5, 0.6 * len(ys) + 2.0)), layout="constrained")
    ax = fig.add_subplot()
    finite = grid[np.isfinite(grid)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:  # a flat grid: a small range above the value (probabilities stay >= 0)
        vmax = vmin + 0.1 * (abs(vmin) or 1.0)
    image = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(metric)
    bar.formatter = FuncFormatter(lambda v, _pos: format_metric(metric, v))
    bar.update_ticks()
    mid = (vmin + vmax) / 2
    low, high = f"{metric}_ci_low", f"{metric}_ci_high"
    intervals: dict[tuple[int, int], str] = {}
    if low in table.columns and high in table.columns:
        for xv, yv, lo, hi in zip(table[x_name], table[y_name], table[low], table[high], strict=True):
            intervals[y_at[str(yv)], x_at[str(xv)]] = f"\n[{format_metric(metric, lo)}, {format_metric(metric, hi)}]"
    for (row, col), value in np.ndenumerate(grid):
        if math.isfinite(value):
            ax.text(
                col,
                row,
                format_metric(metric, value) + intervals.get((row, col), ""),
                ha="center",
                va="center",
                fontsize=8,
                color="black" if value > mid else "white",
            )
    ax.set_xticks(range(len(xs)), [format_axis_value(v) for v in xs])
    ax.set_yticks(range(len(ys)), [format_axis_value(v) for v in ys])
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    if finite.size and not finite.any():
        ax.set_title(title or f"{metric} over the sweep grid: zero at every point", fontsize=11)
    else:
        ax.set_title(title or f"{metric} over the sweep grid (cells: value and interval)", fontsize=11)
    return _write_png(fig, out)


def _error_bars(table: pd.DataFrame, metric: str, order: NDArray[np.intp]) -> NDArray[np.float64] | None:
    """``[below, above]`` distances to the two-sided interval of ``metric`` (None without one);
    an unresolved (infinite) side is drawn to the top of the data."""
    low, high = f"{metric}_ci_low", f"{metric}_ci_high"
    if low not in table.columns or high not in table.columns:
        return None
    y = np.asarray([float(v) for v in table[metric]], dtype=np.float64)[order]
    lo = np.asarray([float(v) for v in table[low]], dtype=np.float64)[order]
    hi = np.asarray([float(v) for v in table[high]], dtype=np.float64)[order]
    finite = np.concatenate([y[np.isfinite(y)], hi[np.isfinite(hi)]])
    top = float(finite.max()) if finite.size else 1.0
    hi = np.where(np.isinf(hi), top, hi)
    return np.vstack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)]).clip(min=0)


def plot_search(
    points: pd.DataFrame,
    out: Path | str,
    *,
    key: str,
    metric: str,
    threshold: float | None,
    answer: object = None,
    level: str = "95 %",
) -> Path:
    """``metric`` at every value of ``key`` a threshold search (or a one-axis sweep) evaluated,
    with its two-sided interval as error bars and its one-sided upper bound (column ``upper``
    or ``<metric>_upper``) as a marker when the table has them, the target ``threshold`` as a
    horizontal line and the answer (the smallest value meeting it) marked."""
    if not isinstance(points, pd.DataFrame):
        raise InvalidParameter(f"search points must be a pandas DataFrame, got {type(points).__name__}")
    for column in (key, metric):
        if column not in points.columns:
            raise InvalidParameter(f"search points have no column {column!r}; columns: {list(points.columns)}")
    if points.empty:
        raise InvalidParameter("search points have no rows")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold)
    ):
        raise InvalidParameter(f"threshold must be a finite number, got {threshold!r}")
    try:
        xs = np.asarray([float(v) for v in points[key]], dtype=np.float64)
        ys = np.asarray([float(v) for v in points[metric]], dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameter(f"search columns {key!r} and {metric!r} must be numeric") from None
    order = np.argsort(xs, kind="stable")
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    bars = _error_bars(points, metric, order)
    ax.errorbar(xs[order], ys[order], yerr=bars, marker="o", color=_MARKET, lw=1.2, capsize=3, label=metric)
    upper_column = "upper" if "upper" in points.columns else f"{metric}_upper"
    if upper_column in points.columns:
        upper = np.asarray([float(v) for v in points[upper_column]], dtype=np.float64)[order]
        shown = np.isfinite(upper)
        ax.scatter(xs[order][shown], upper[shown], marker="v", color=_ORACLE, zorder=3, label=f"{level} upper bound")
    if threshold is not None:
        ax.axhline(threshold, color=_ORACLE, ls="--", lw=1.2, label=f"target {format_metric(metric, threshold)}")
    if answer is not None:
        x = float(answer)  # type: ignore[arg-type]
        ax.axvline(x, color="black", lw=1.0, ls=":", label=f"answer {answer}")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_metric(metric, v)))
    ax.set_xlabel(key)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_axis_value(float(v))))
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    target = "" if threshold is None else f": target {format_metric(metric, threshold)}"
    if not np.nan_to_num(ys).any():
        target += " (zero at every point)"
    ax.set_title(f"{metric} against {key}{target}", fontsize=11)
    return _write_png(fig, out)


def plot_fund_fan(
    series: SeriesByPath, out: Path | str, *, step_s: float = 60, start_usd: float | None = None, title: str = ""
) -> Path:
    """Quantile fan of the insurance fund (USD) over time across **every** path given: the
    median, the 25-75 % and 5-95 % bands and the lowest path, with the starting level."""
    _check_step(step_s)
    if not isinstance(series, Mapping) or not series:
        raise InvalidParameter("plot_fund_fan needs the series of at least one path")
    _check_series({i: series[i] for i in list(series)[:1]}, ("insurance_fund",), "plot_fund_fan")
    try:
        funds = np.vstack([np.asarray(series[i]["insurance_fund"], dtype=np.float64) for i in sorted(series)])
    except (KeyError, ValueError):
        raise InvalidParameter("plot_fund_fan: every path needs an insurance_fund series of one length") from None
    t, label = _time_axis(funds.shape[1], step_s)
    q05, q25, q50, q75, q95 = np.quantile(funds, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(t, q05, q95, color=_MARKET, alpha=0.15, lw=0, label="5-95 % of paths")
    ax.fill_between(t, q25, q75, color=_MARKET, alpha=0.35, lw=0, label="25-75 %")
    ax.plot(t, q50, color=_MARKET, lw=1.4, label="median")
    ax.plot(t, funds.min(axis=0), color=_ORACLE, lw=1.0, ls=":", label="lowest path at each time")
    start = float(funds[0, 0]) if start_usd is None else float(start_usd)
    ax.axhline(start, color="black", lw=0.9, ls="--", label=f"starting level {format_usd(start)}")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel(label)
    ax.set_ylabel("insurance fund")
    _usd_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    ax.set_title(title or f"Insurance fund across all {funds.shape[0]} paths (quantile fan, USD)", fontsize=11)
    return _write_png(fig, out)


def plot_feed_prices(
    series: SeriesByPath, out: Path | str, *, symbols: Mapping[int, str], step_s: float = 60, title: str = ""
) -> Path:
    """Every feed's outside price (USD), one panel per feed (``symbols``: feed id -> symbol),
    one line per path given (at most :data:`MAX_PATHS`, in the order given)."""
    _check_step(step_s)
    if not isinstance(symbols, Mapping) or not symbols:
        raise InvalidParameter("plot_feed_prices needs the feeds to draw (feed id -> symbol)")
    names = [f"{FEED_SERIES_PREFIX}{f}" for f in symbols]
    _check_series(series, names, "plot_feed_prices")
    indices = list(series)[:MAX_PATHS]
    fig = Figure(figsize=(8.0, 2.6 * len(symbols) + 0.8), layout="constrained")
    axes = fig.subplots(len(symbols), 1, squeeze=False, sharex=True)
    label = ""
    for row, (feed, symbol) in enumerate(symbols.items()):
        ax = axes[row][0]
        prices = {i: np.asarray(series[i][f"{FEED_SERIES_PREFIX}{feed}"], dtype=np.float64) for i in indices}
        first = prices[indices[0]]
        same = len(indices) > 1 and all(np.array_equal(first, p) for p in prices.values())
        for index, price in prices.items():
            t, label = _time_axis(len(price), step_s)
            ax.plot(t, price, lw=1.0, label=f"path {index}")
        ax.set_title(symbol + (f" (the same on all {len(indices)} paths drawn)" if same else ""), fontsize=9)
        _usd_axis(ax)
        ax.grid(alpha=0.3)
    axes[-1][0].set_xlabel(label)
    axes[0][0].legend(fontsize=7, ncols=4)
    fig.suptitle(title or "Outside price of every feed (USD)", x=0.02, ha="left")
    return _write_png(fig, out)


def plot_cascade(series: SeriesByPath, out: Path | str, *, step_s: float = 60, title: str = "") -> Path:
    """The liquidation cascade of the paths given (at most :data:`MAX_PATHS`, in the order
    given): liquidations per block, the backlog of flagged accounts not yet served, and the
    price impact of liquidation sales on the lead market (bps)."""
    _check_step(step_s)
    _check_series(series, ("liquidations", "backlog", "impact_bps"), "plot_cascade")
    indices = list(series)[:MAX_PATHS]
    fig = Figure(figsize=(8.0, 7.0), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    label = ""
    for index in indices:
        arrays = series[index]
        cumulative = np.asarray(arrays["liquidations"], dtype=np.float64)
        t, label = _time_axis(len(cumulative), step_s)
        per_block = np.diff(cumulative, prepend=0.0)
        axes[0].plot(t, per_block, lw=0.9, label=f"path {index}")
        axes[1].plot(t, np.asarray(arrays["backlog"], dtype=np.float64), lw=0.9)
        axes[2].plot(t, np.asarray(arrays["impact_bps"], dtype=np.float64), lw=0.9)
    for ax, what in zip(axes, ("liquidations per block", "backlog (accounts)", "impact (bps)"), strict=True):
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        if not any(np.any(line.get_ydata()) for line in ax.get_lines()):  # say so rather than draw flat lines
            ax.set_ylim(-1 if what == "impact (bps)" else 0, 1)
            ax.text(0.5, 0.5, "none on the paths drawn", transform=ax.transAxes, ha="center", va="center")
    axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[2].set_xlabel(label)
    axes[0].legend(fontsize=7, ncols=4)
    fig.suptitle(title or "Liquidation cascade of the worst paths", x=0.02, ha="left")
    return _write_png(fig, out)


def plot_convergence(
    table: pd.DataFrame,
    out: Path | str,
    *,
    metrics: Sequence[str],
    titles: Mapping[str, str] | None = None,
    title: str = "",
) -> Path:
    """Each metric and its two-sided interval (``<metric>_ci_low`` / ``_ci_high``) against the
    number of paths summarized (column ``n_paths``), one panel per metric (titled by
    ``titles[metric]`` when given, else its name), log-scaled x."""
    if not isinstance(table, pd.DataFrame) or table.empty or "n_paths" not in table.columns:
        raise InvalidParameter("plot_convergence needs a table with an n_paths column and at least one row")
    metrics = list(metrics)
    missing = [m for m in metrics if m not in table.columns]
    if not metrics or missing:
        raise InvalidParameter(f"plot_convergence: metrics {missing or metrics} are not columns of the table")
    n = np.asarray(table["n_paths"], dtype=np.float64)
    fig = Figure(figsize=(8.0, 2.2 * len(metrics) + 0.8), layout="constrained")
    axes = fig.subplots(len(metrics), 1, squeeze=False, sharex=True)
    for row, metric in enumerate(metrics):
        ax = axes[row][0]
        y = np.asarray([float(v) for v in table[metric]], dtype=np.float64)
        ax.plot(n, y, marker="o", ms=3, color=_MARKET, lw=1.2)
        notes = []
        low, high = f"{metric}_ci_low", f"{metric}_ci_high"
        if low in table.columns and high in table.columns:
            lo = np.asarray([float(v) for v in table[low]], dtype=np.float64)
            hi = np.asarray([float(v) for v in table[high]], dtype=np.float64)
            finite = hi[np.isfinite(hi)]
            top = float(max(finite.max() if finite.size else 0.0, np.nanmax(y) if np.isfinite(y).any() else 0.0))
            ax.fill_between(n, lo, np.where(np.isfinite(hi), hi, top), color=_MARKET, alpha=0.2, lw=0)
            open_ended = ~np.isfinite(hi)
            if open_ended.any():  # no order statistic bounds it yet: say so rather than draw a band
                last = int(n[open_ended].max())
                ax.axvspan(n[0], last, color=_REDUCE_ONLY, alpha=0.15, lw=0)
                notes.append(f"upper bound unresolved to n = {last:,} (shaded)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos, m=metric: format_metric(m, v)))
        ax.set_ylim(bottom=0)  # every headline metric is non-negative
        if not np.nan_to_num(y).any():
            notes.append("zero on every path so far")
        name = (titles or {}).get(metric, metric)
        ax.set_title(name + "".join(f"; {note}" for note in notes), fontsize=9)
        ax.grid(alpha=0.3)
        ax.set_xscale("log")
        ax.set_xticks(n, [f"{int(v):,}" for v in n])  # the checkpoints, in whole paths
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[-1][0].set_xlabel("paths summarized (the first n paths of the study)")
    fig.suptitle(title or "Convergence: each metric and its interval as paths accumulate", x=0.02, ha="left")
    return _write_png(fig, out)
