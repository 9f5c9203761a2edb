"""Benchmark of the simulator: account-steps per second on one market, against a plain numpy loop.

One perpetual market, ``--accounts`` traders (default 100,000), ``--steps`` one-minute steps
(default 500) of the default study's price model (seed ``--seed``, printed). The book is built
once (timed separately); then the same path runs twice:

* the engine as shipped: the margin core's :class:`~protocol.margin_core.LiquidationWatch`
  (full screens only when the market moved enough, else the few accounts it could have moved);
* the same engine screening every account with the margin core at every step;
* the same engine with the screen replaced by a plain numpy implementation of the same formula
  (vectorised numpy expressions over the same arrays, the same error bound and the same exact
  re-evaluation of undecided accounts) — "a plain numpy loop of the same model".

Both runs must take the same actions and produce the same metrics (checked; the script exits
non-zero otherwise). Printed: account-steps per second of each (``accounts x steps / time of the
path``, everything included: oracle, funding, keepers, liquidations through the model), the
screen-only throughput, and the ratio. Target (issue 6): at least 2e8 account-steps per second.
A fourth run of the engine as shipped times the reference model's calls (``ClearingHouse.apply``
and ``KeeperBlock`` calls by kind, ``LiveBook.refresh``) and the margin core's liquidation sizes
of due accounts (``liquidation_sizes``: bankrupt and healthy ones need no model question) and
prints where the
path's time goes; its wrappers add a little time, so it is not one of the measured runs. Every run
starts after a ``gc.collect()``: a full collection walks the 100,000-account book (~0.1 s) and
would otherwise land in whichever run happens to trigger it.

The book is built by :func:`~simulator.engine.build_book` (keys, signed orders, the batched
set-up :meth:`ClearingHouse.book_setup`); its first ``--setup-sample`` set-up actions are then
replayed on fresh houses one by one through the model (every signature recovered) and through
the batched set-up, and the ratio is printed against issue 19's target (>= 10x). The keepers act
through :meth:`ClearingHouse.keeper_block`; the breakdown names its calls. Targets printed per
scenario: >= 2e8 account-steps/s, and (issue 19) >= 20x the numpy loop on the whole path.

Run: ``.venv/bin/python benchmarks/simulator_throughput.py`` (about a minute, most of it building the
100,000-account book through the reference model).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from model_actions import setup_both_ways  # a script beside this one
from numpy.typing import NDArray

from protocol.actions import Action
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.keeper_block import KeeperBlock
from protocol.margin import account_health
from protocol.margin_core import LiquidationWatch, LiveBook, MarginBook, MarginOutputs, evaluate
from protocol.margin_core.prices import price_scalars, validate_prices
from protocol.margin_core.screen import PARALLEL_MIN_ROWS, Tolerances
from simulator import engine
from simulator.config import StudyConfig
from simulator.engine import Book, build_book, simulate_path

#: name -> (description, study overrides): a calm day and a crash, same book.
SCENARIOS: dict[str, tuple[str, dict[str, object]]] = {
    "calm": ("the default study's Merton jump-diffusion", {}),
    "crash": (
        "a Brownian bridge to -30 % with a thin outside market",
        {"price.model": "bridge", "price.shock": -0.357, "liquidity.depth_usd": 2e8},
    ),
}


class Timed:
    """Wraps a screen and accumulates the seconds spent in it."""

    def __init__(self, screen: object) -> None:
        self.screen = screen
        self.seconds = 0.0
        self.calls = 0

    def __call__(
        self, book: MarginBook, prices: Mapping[int, int], changed: Sequence[int], skip: NDArray[np.bool_]
    ) -> NDArray[np.int64]:
        t = time.perf_counter()
        rows: NDArray[np.int64] = self.screen(book, prices, changed, skip)  # type: ignore[operator]
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return rows


class FullCoreScreen:
    """The margin core's full screen of every account at every step."""

    def __init__(self, n_accounts: int) -> None:
        self._out = MarginOutputs.allocate(n_accounts)

    def __call__(
        self, book: MarginBook, prices: Mapping[int, int], changed: Sequence[int], skip: NDArray[np.bool_]
    ) -> NDArray[np.int64]:
        return np.flatnonzero(evaluate(book, prices, out=self._out).liquidatable)


def numpy_screen(
    book: MarginBook, prices: Mapping[int, int], changed: Sequence[int], skip: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """The margin core's screen and decision rule written as plain numpy expressions."""
    checked = validate_prices(book.perpetuals, book.collaterals, prices)
    sc = price_scalars(book.perpetuals, book.collaterals, book.markets, checked)
    tol = Tolerances(len(book.perpetuals), len(book.collaterals))
    balance, magnitude, size, carry, collateral = book.screen.as_tuple()
    value = collateral * sc.value_rate
    term = np.where(size > 0.0, size * sc.q_long, size * sc.q_short)
    equity = balance + np.minimum(value, sc.value_cap).sum(axis=1) + (term + carry).sum(axis=1)
    mag = magnitude + value.sum(axis=1) + np.abs(term).sum(axis=1)
    maintenance = (np.abs(size) * sc.mm_rate).sum(axis=1)
    dm = equity - maintenance
    uncertain = np.abs(dm) <= tol.rel_tol * (mag + maintenance) + tol.requirement_slack
    liquidatable = dm < 0.0
    for i in np.flatnonzero(uncertain).tolist():
        h = account_health(book.account(i), book.params, book.markets, checked, now_s=book.now_s)
        liquidatable[i] = h.liquidatable
    return np.flatnonzero(liquidatable)


@contextmanager
def timed_model() -> Iterator[tuple[dict[str, float], Counter[str]]]:
    """Seconds and calls of the model's entry points the engine uses, while the block runs."""
    seconds: defaultdict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    originals: list[tuple[object, str, Callable[..., Any]]] = []

    def wrap(owner: object, name: str, key: Callable[[tuple[Any, ...]], str]) -> None:
        original = getattr(owner, name)
        originals.append((owner, name, original))

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                k = key(args)
                seconds[k] += time.perf_counter() - t
                calls[k] += 1

        setattr(owner, name, timed)

    wrap(ClearingHouse, "apply", lambda args: f"model: {type(args[1]).__name__}")
    wrap(KeeperBlock, "apply", lambda args: f"keeper block: {type(args[1]).__name__}")
    for question in ("max_liquidation_size", "liquidation_health", "settled_account"):
        wrap(KeeperBlock, question, lambda args, q=question: f"keeper block: {q}")
    wrap(LiveBook, "refresh", lambda args: "live book refresh")
    wrap(engine, "liquidation_sizes", lambda args: "margin core: liquidation_sizes (due rows)")
    try:
        yield seconds, calls
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20200312)
    parser.add_argument(
        "--setup-sample", type=int, default=20_000, help="set-up actions replayed both ways for the ratio (0: all)"
    )
    parser.add_argument("--path", type=int, default=0, help="path index (its seed is SeedSequence(seed, (1, path)))")
    parser.add_argument(
        "--scenario", choices=sorted(SCENARIOS), action="append", help="price scenario (default: calm and crash)"
    )
    args = parser.parse_args()
    base = {"run.accounts": args.accounts, "run.steps": args.steps, "run.seed": args.seed, "run.paths": args.path + 1}
    config = StudyConfig().override(base)
    print(
        f"study: {args.accounts:,} accounts x {args.steps} steps of {config.run.step_s} s, one market; seed {args.seed}"
    )
    t = time.perf_counter()
    setup_log: list[Action] = []
    book = build_book(config, log=setup_log)
    print(
        f"book: {book.setup_actions:,} set-up actions (keys, signed orders, the batched set-up) in "
        f"{time.perf_counter() - t:.1f} s"
    )
    print_setup_ratio(book, setup_log[: args.setup_sample or None])

    # compile the numba kernels outside the timing: the calling-thread and the parallel passes
    for accounts in (50, PARALLEL_MIN_ROWS):
        simulate_path(StudyConfig().override({"run.accounts": accounts, "run.steps": 5}), 0)
    failed = 0
    for scenario in args.scenario or sorted(SCENARIOS):
        print(f"\n== {scenario}: {SCENARIOS[scenario][0]}")
        failed += run_scenario(config.override(SCENARIOS[scenario][1]), book, args.path)
    return 1 if failed else 0


def print_setup_ratio(book: Book, log: list[Action]) -> None:
    """The first set-up actions one by one through the model (forks, every signature recovered)
    and through the batched set-up (trusted entry); the ratio against the target."""
    slow, fast, _, _ = setup_both_ways(book, log)
    one_by_one, batched = sum(slow[0].values()), sum(fast[0].values())
    ratio = one_by_one / batched
    print(
        f"set-up, first {len(log):,} actions: model one by one {one_by_one / len(log) * 1e6:.1f} us/action, "
        f"batched {batched / len(log) * 1e6:.1f} us/action, {ratio:.1f}x "
        f"(target >= 10x: {'met' if ratio >= 10 else 'NOT met'})"
    )


def run_scenario(config: StudyConfig, book: Book, path: int) -> int:
    """Run one path with each screen; print the table; 1 if the screens disagreed."""
    runs = {}
    n, steps = len(book.accounts), config.run.steps
    screens = {
        "engine (watch)": Timed(LiquidationWatch(n)),
        "core every step": Timed(FullCoreScreen(n)),
        "numpy loop": Timed(numpy_screen),
    }
    for name, screen in screens.items():
        log: list[Action] = []
        gc.collect()  # a full collection scans the whole book (~0.1 s): never inside a timed run
        t = time.perf_counter()
        result = simulate_path(config, path, book=book, screen=screen, log=log)
        runs[name] = (time.perf_counter() - t, screen, result, log)

    account_steps = n * (steps + 1)
    print(f"{'run':<22} {'path s':>8} {'account-steps/s':>16} {'screen s':>9} {'screen acct-steps/s':>20}")
    for name, (seconds, screen, _, _) in runs.items():
        print(
            f"{name:<22} {seconds:8.3f} {account_steps / seconds:16.3e} {screen.seconds:9.3f} "
            f"{n * screen.calls / screen.seconds:20.3e}"
        )
    fast, fast_screen, fast_result, fast_log = runs["engine (watch)"]
    slow, slow_screen, _, _ = runs["numpy loop"]
    screen_ratio = slow_screen.seconds / fast_screen.seconds
    print(f"ratio engine / numpy loop: {slow / fast:.1f}x whole path, {screen_ratio:.1f}x screen")
    watch = fast_screen.screen
    assert isinstance(watch, LiquidationWatch)
    print(f"watch: {watch.full_screens} full screens, {watch.screened / account_steps:.2%} of account-steps screened")
    m = fast_result.metrics
    print(
        f"path: {m['liquidations']} liquidations, {m['accounts_liquidated']} accounts, bad debt "
        f"{m['bad_debt_wad'] / WAD:,.2f} USD, {m['oracle_updates']} oracle updates, {len(fast_log)} actions"
    )
    rate, ratio = account_steps / fast, slow / fast
    print(f"target >= 2e8 account-steps/s: {'met' if rate >= 2e8 else 'NOT met'} ({rate:.2e})")
    print(f"target >= 20x the numpy loop on the whole path: {'met' if ratio >= 20 else 'NOT met'} ({ratio:.1f}x)")

    print_breakdown(config, book, path)
    if any(log != fast_log or dict(r.metrics) != dict(fast_result.metrics) for _, _, r, log in runs.values()):
        print("ERROR: the two screens took different actions", file=sys.stderr)
        return 1
    return 0


def print_breakdown(config: StudyConfig, book: Book, path: int) -> None:
    """Run the engine once more with the model's entry points timed; print where the time goes."""
    screen = Timed(LiquidationWatch(len(book.accounts)))
    gc.collect()
    with timed_model() as (seconds, calls):
        t = time.perf_counter()
        simulate_path(config, path, book=book, screen=screen)
        total = time.perf_counter() - t
    parts: dict[str, tuple[float, int]] = {"screen (watch)": (screen.seconds, screen.calls)}
    parts.update({k: (seconds[k], calls[k]) for k in seconds})
    parts["engine: the rest (agents, keepers' queue, bookkeeping)"] = (total - sum(v for v, _ in parts.values()), 0)
    print(f"where the time goes (one more run with the model's calls timed, {total:.3f} s):")
    for name, (sec, count) in sorted(parts.items(), key=lambda kv: -kv[1][0]):
        per = f"{sec / count * 1e6:8.1f} us x {count}" if count else ""
        print(f"  {name:<56} {sec:7.3f} s {sec / total:6.1%}  {per}")


if __name__ == "__main__":
    sys.exit(main())
