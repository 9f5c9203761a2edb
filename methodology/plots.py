"""The calibration report's figures (matplotlib, Agg), each written atomically as PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from methodology.backtest import TRAFFIC_WINDOW, exceptions
from simulator.store import atomic_write

__all__ = ["plot_apc", "plot_cover", "plot_margin_vs_losses", "plot_traffic_light"]

_DPI = 110
_ZONE_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}


def _write(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())
    return path


def _days(times_s: NDArray[np.int64]) -> NDArray[np.datetime64]:
    return np.asarray(times_s, dtype=np.int64).astype("datetime64[s]")


def plot_margin_vs_losses(
    path: Path, times_s: NDArray[np.int64], margins: NDArray[np.float64], outcomes: NDArray[np.float64], title: str
) -> Path:
    """The margin in force against the realised MPOR loss of each side; exceptions marked."""
    fig = Figure(figsize=(11, 4.5))
    ax = fig.add_subplot()
    days = _days(times_s)
    known = np.isfinite(outcomes)
    loss = np.where(known, np.abs(outcomes), np.nan)
    ax.scatter(days, loss, s=3, color="#90a4ae", label="realised MPOR loss (losing side)")
    ax.plot(days, margins, color="#1565c0", lw=1.2, label="margin fraction")
    long_hits, short_hits = exceptions(margins, outcomes)
    for hits, colour, label in ((long_hits, "#c62828", "long exception"), (short_hits, "#6a1b9a", "short exception")):
        idx = np.flatnonzero(hits)
        ax.scatter(days[idx], loss[idx], s=22, marker="x", color=colour, label=f"{label} ({len(idx)})")
    ax.set_ylabel("fraction of notional")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return _write(fig, path)


def plot_traffic_light(
    path: Path, times_s: NDArray[np.int64], hits: NDArray[np.bool_], zones: Sequence[str], title: str
) -> Path:
    """Exceptions in the last 250 observations over time, coloured by Basel zone."""
    fig = Figure(figsize=(11, 3.5))
    ax = fig.add_subplot()
    counts = np.convolve(hits.astype(np.int64), np.ones(TRAFFIC_WINDOW, dtype=np.int64), mode="valid")
    days = _days(times_s[TRAFFIC_WINDOW - 1 : TRAFFIC_WINDOW - 1 + len(counts)])
    colours = [_ZONE_COLOURS[z] for z in zones]
    ax.scatter(days, counts, c=colours, s=4)
    ax.set_ylabel(f"exceptions in last {TRAFFIC_WINDOW}")
    ax.set_title(title)
    fig.tight_layout()
    return _write(fig, path)


def plot_apc(path: Path, times_s: NDArray[np.int64], series: Mapping[str, NDArray[np.float64]], title: str) -> Path:
    """The chosen model's margin under each anti-procyclicality option."""
    fig = Figure(figsize=(11, 4.5))
    ax = fig.add_subplot()
    days = _days(times_s)
    for name, values in series.items():
        ax.plot(days, values, lw=1.0, label=name)
    ax.set_ylabel("margin fraction")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return _write(fig, path)


def plot_cover(path: Path, names: Sequence[str], cover2_usd: Sequence[float], lines: Mapping[str, float]) -> Path:
    """Cover-2 per stress scenario, with the simulator's fund VaR and the recommendation."""
    fig = Figure(figsize=(11, 0.45 * len(names) + 2))
    ax = fig.add_subplot()
    ax.barh(list(names), list(cover2_usd), color="#546e7a")
    for (label, value), colour in zip(lines.items(), ("#c62828", "#1565c0", "#2e7d32"), strict=False):
        ax.axvline(value, color=colour, lw=1.5, label=f"{label}: ${value:,.0f}")
    ax.set_xlabel("USD")
    ax.set_title("Cover-2 per stress scenario")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _write(fig, path)
