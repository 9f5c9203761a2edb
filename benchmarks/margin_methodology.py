"""Margin methodology: a full rolling backtest, fast path (numba) vs plain pandas, in one run.

    .venv/bin/python benchmarks/margin_methodology.py [--alpha 0.99] [--mpor 1] [--lookback 365]
        [--refit 30] [--mc-paths 10000] [--floor 0] [--repeats 3]

On the shared daily BTC and ETH spot history (2018-01-01 .. 2026-05-15), every bar from the
first full lookback on is recalibrated with every model of :data:`methodology.models.MODELS`
(historical VaR / ES on overlapping and non-overlapping MPOR windows, FHS with EWMA and with
GARCH(1,1) refitted every ``--refit`` bars by ``arch``, normal, Student-t, Cornish-Fisher,
Monte Carlo of the simulator's Merton model) for both assets, and the two BTC/ETH portfolios
with the portfolio models (historical, joint FHS, normal, Student-t, Cornish-Fisher), then
backtested (exceptions, Kupiec, Christoffersen, Basel traffic light).

* **shared inputs** (timed separately, used by both paths): the outcomes, the GARCH fits and
  the Monte Carlo pools drawn with the simulator's samplers at each refit bar;
* **fast path**: :func:`methodology.rolling.rolling_margins` and
  :func:`methodology.portfolio.portfolio_margins` (best of ``--repeats``, after a warm-up that
  loads the compiled kernels);
* **plain pandas**: :mod:`methodology.reference`, the same maths recomputed bar by bar.

Every number of the two paths must agree within 1e-12 (absolute, fractions of notional) and
the backtests exactly; the script exits 1 otherwise. ``--floor N`` adds every model on a floor
lookback of N bars (the EMIR 10-year option uses 3650). Printed: seconds per part, the ratio,
and a user's whole backtest through the fast path from interpreter start (imports, data, inputs,
kernel load and one full run: the < 10 s target), wall and CPU (CPU is the figure that holds on a
loaded machine).
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()
_STARTED_CPU = time.process_time()

import argparse  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from methodology import backtest as bt  # noqa: E402
from methodology.models import MODELS  # noqa: E402
from methodology.portfolio import PORTFOLIO_MODELS, PORTFOLIOS, portfolio_margins  # noqa: E402
from methodology.reference import reference_margins, reference_portfolio  # noqa: E402
from methodology.rolling import Inputs, RollingMargins, prepare, rolling_margins  # noqa: E402
from methodology.series import align, daily_csv, load_series  # noqa: E402
from simulator.market_data import market_data_dir  # noqa: E402

TOLERANCE = 1e-12


def _fast(inputs: tuple[Inputs, ...], floor: bool) -> tuple[list[RollingMargins], dict[str, dict[str, np.ndarray]]]:
    singles = [rolling_margins(inp, MODELS, floor_models=MODELS if floor else ()) for inp in inputs]
    portfolios = {name: portfolio_margins(inputs, w, PORTFOLIO_MODELS) for name, w in PORTFOLIOS.items()}
    return singles, portfolios


def _plain(inputs: tuple[Inputs, ...], floor: bool) -> tuple[list[RollingMargins], dict[str, dict[str, np.ndarray]]]:
    singles = [reference_margins(inp, MODELS, floor_models=MODELS if floor else ()) for inp in inputs]
    portfolios = {name: reference_portfolio(inputs, w, PORTFOLIO_MODELS) for name, w in PORTFOLIOS.items()}
    return singles, portfolios


def _backtests(inputs: tuple[Inputs, ...], singles: list[RollingMargins]) -> list[tuple[bt.Backtest, bt.Backtest]]:
    out = []
    for inp, rm in zip(inputs, singles, strict=True):
        for m in MODELS:
            for measure in ("var", "es"):
                out.append(bt.backtest(rm.margin(m, measure), inp.realized, alpha=inp.alpha, h=inp.h))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alpha", type=float, default=0.99)
    parser.add_argument("--mpor", type=int, default=1, help="margin period of risk (days)")
    parser.add_argument("--lookback", type=int, default=365, help="lookback (days)")
    parser.add_argument("--refit", type=int, default=30, help="GARCH refit and jump re-estimation interval (days)")
    parser.add_argument("--mc-paths", type=int, default=10_000)
    parser.add_argument("--floor", type=int, default=0, help="also every model on a floor lookback of N days")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20180101)
    args = parser.parse_args()
    root = market_data_dir()
    if root is None:
        print("shared market data not found (NOVATION_MARKET_DATA or ../shared/market_data)", file=sys.stderr)
        return 2

    t0, c0 = time.perf_counter(), time.process_time()
    series = align(tuple(load_series(daily_csv(root, s), s) for s in ("BTC", "ETH")))
    seeds = np.random.SeedSequence(args.seed).spawn(len(series))
    inputs = tuple(
        prepare(
            s,
            alpha=args.alpha,
            h=args.mpor,
            lookback=args.lookback,
            floor=args.floor or None,
            refit=args.refit,
            mc_paths=args.mc_paths,
            seed=seed,
        )
        for s, seed in zip(series, seeds, strict=True)
    )
    shared_s, shared_cpu = time.perf_counter() - t0, time.process_time() - c0
    n_dates = len(inputs[0].dates)
    floor = bool(args.floor)

    t0, c0 = time.perf_counter(), time.process_time()
    _fast(inputs, floor)  # warm-up: loads (or compiles, on a fresh checkout) the kernels
    warm_s, warm_cpu = time.perf_counter() - t0, time.process_time() - c0
    fast_s = fast_cpu = float("inf")
    for repeat in range(max(args.repeats, 1)):
        t0, c0 = time.perf_counter(), time.process_time()
        fast_singles, fast_portfolios = _fast(inputs, floor)
        fast_bt = _backtests(inputs, fast_singles)
        fast_s, fast_cpu = min(fast_s, time.perf_counter() - t0), min(fast_cpu, time.process_time() - c0)
        if repeat == 0:  # a user's whole backtest: imports, data, inputs, kernel load, one run
            user_s, user_cpu = time.perf_counter() - _STARTED, time.process_time() - _STARTED_CPU

    t0, c0 = time.perf_counter(), time.process_time()
    plain_singles, plain_portfolios = _plain(inputs, floor)
    plain_bt = _backtests(inputs, plain_singles)
    plain_s, plain_cpu = time.perf_counter() - t0, time.process_time() - c0

    worst = 0.0
    for f, p in zip(fast_singles, plain_singles, strict=True):
        for m in MODELS:
            worst = max(worst, float(np.max(np.abs(f.main[m] - p.main[m]))))
            if floor:
                worst = max(worst, float(np.max(np.abs(f.floor[m] - p.floor[m]))))
    for name in PORTFOLIOS:
        for m in PORTFOLIO_MODELS:
            worst = max(worst, float(np.max(np.abs(fast_portfolios[name][m] - plain_portfolios[name][m]))))
    same_backtests = all(
        (a.exceptions, b.exceptions) == (c.exceptions, d.exceptions)
        for (a, b), (c, d) in zip(fast_bt, plain_bt, strict=True)
    )

    first, last = inputs[0].series.dates()[inputs[0].dates[0]], inputs[0].series.dates()[-1]
    models = len(MODELS) * (2 if floor else 1)
    print(
        f"rolling backtest: BTC and ETH daily spot, {n_dates:,} calibration days ({first} .. {last}), "
        f"alpha {args.alpha}, MPOR {args.mpor} d, lookback {args.lookback} d"
        + (f", floor lookback {args.floor} d" if floor else "")
        + f"; {models} model runs per asset + {len(PORTFOLIOS)} portfolios x {len(PORTFOLIO_MODELS)} models; "
        f"GARCH refit every {args.refit} d ({len(inputs[0].segments)} fits per asset), {args.mc_paths:,} MC paths"
    )
    print("                                              wall s    CPU s (this process)")
    print(f"shared inputs (arch fits, simulator pools): {shared_s:8.3f}  {shared_cpu:8.3f}")
    print(f"fast path warm-up (kernel load/compile):    {warm_s:8.3f}  {warm_cpu:8.3f}")
    print(f"fast path (best of {args.repeats}):                     {fast_s:8.3f}  {fast_cpu:8.3f}")
    print(f"plain pandas:                               {plain_s:8.3f}  {plain_cpu:8.3f}")
    print(
        f"ratio plain / fast:                         {plain_s / fast_s:8.1f}x {plain_cpu / fast_cpu:8.1f}x"
        "  (target >= 20x)"
    )
    print(
        f"whole backtest, fast path, from start:      {user_s:8.3f}  {user_cpu:8.3f}  (target < 10 s; "
        "imports, data, inputs, kernel load and one full run)"
    )
    print(
        f"this benchmark (+ repeats and plain pandas): {time.perf_counter() - _STARTED:8.3f}  "
        f"{time.process_time() - _STARTED_CPU:8.3f}"
    )
    print(f"max |fast - plain|: {worst:.1e} (tolerance {TOLERANCE:g}); backtest exceptions equal: {same_backtests}")
    return 0 if worst <= TOLERANCE and same_backtests else 1


if __name__ == "__main__":
    raise SystemExit(main())
