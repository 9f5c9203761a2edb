"""Benchmark of the batch margin core against the memory roofline and the reference model.

Synthetic book: ``--accounts`` accounts (default 1,000,000) x 8 perpetual markets x 2 collateral
assets, generated from ``numpy.random.SeedSequence(--seed)`` (printed, so a run can be
repeated), with a few accounts planted exactly on the maintenance and initial thresholds and at
zero equity so that the exact re-evaluation path runs. Printed, all measured in this run:

* the headline: time of :func:`protocol.margin_core.evaluate` (preallocated outputs) against the
  memory roofline, the faster of two all-thread streaming passes over the same input bytes
  (numba parallel sums of every screen array: flat in memory order, and striped by accounts as
  the screen walks them), all best of ``--repeats`` rounds that alternate them, and the ratio
  (target <= 1.5x); the median of the per-round ratios, bytes read per second
  and a single-threaded numpy sum are printed beside it, with the machine's load average, and the
  same ratio with numba limited to one thread, and a warning when the all-thread streaming pass
  was no faster than the one-thread pass (a busy machine: the headline is then not a roofline);
* the part of ``evaluate`` spent re-evaluating undecided accounts exactly (the planted ones);
* the speed-up over :func:`protocol.margin.account_health`, timed on ``--sample`` random
  accounts and extrapolated, with a check that every sampled and planted decision agrees;
* peak extra memory of one call that allocates its outputs (tracemalloc) against the input size;
* a scaling table over ``--sizes`` (powers of ten; ``4,5,6,7`` adds 10^7, about 10 GB).

Run: ``.venv/bin/python benchmarks/margin_core.py`` (about a minute) or
``.venv/bin/python benchmarks/margin_core.py --sizes 4,5,6,7``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from protocol.constants import WAD
from protocol.margin import account_health
from protocol.margin_core import MarginBook, MarginOutputs, WadLimbs, evaluate, liquidation_candidates
from protocol.margin_core.screen import STRIPE_ROWS
from protocol.params import CollateralParams, FeedParams, MarketParams, Params, ProtocolParams
from protocol.state import MarketState

N_MARKETS, N_COLLATERALS = 8, 2
PRICES_USD = (60_000, 3_000, 150, 0.6, 25, 7, 0.15, 1.2)


def synthetic_params() -> Params:
    """8 perpetuals (two with open-interest scaling) and 2 collateral assets on feeds 1 and 2."""
    feeds = tuple(FeedParams(f, f"F{f}/USD", heartbeat_s=3_600, max_move_wad=WAD // 2) for f in range(N_MARKETS))
    markets = tuple(
        MarketParams(
            j,
            f"M{j}-PERP",
            j,
            initial_margin_fraction_wad=(2 + j) * WAD // 100,
            maintenance_share_wad=WAD // 2 + j * WAD // 100,
            oi_cap_lower_wad=(10**9 * WAD if j in (1, 5) else 0),
            oi_cap_upper_wad=(10**10 * WAD if j in (1, 5) else 0),
        )
        for j in range(N_MARKETS)
    )
    collaterals = tuple(
        CollateralParams(
            k + 1,
            f"C{k + 1}",
            decimals=18,
            feed_id=k + 1,
            haircut_wad=(k + 1) * WAD // 10,
            liquidation_discount_wad=WAD // 20,
            deposit_cap=10**30,
            value_cap_wad=10**6 * WAD,
            account_deposit_cap=10**30,
        )
        for k in range(N_COLLATERALS)
    )
    return Params(ProtocolParams(), feeds, markets, collaterals)


@dataclass
class Synthetic:
    """A generated book and the price vector it is evaluated at."""

    book: MarginBook
    prices: dict[int, int]
    planted: NDArray[np.int64]
    exact_bytes: int


def synthetic_book(params: Params, n: int, seed: np.random.SeedSequence, planted: int) -> Synthetic:
    """``n`` accounts with ~half the markets held, equity / notional lognormal around 15 % (a few
    per cent below maintenance), 30 % holding collateral."""
    rng = np.random.default_rng(seed)
    price = np.array(PRICES_USD)
    prices = {j: round(p * 10**6) * 10**12 for j, p in enumerate(PRICES_USD)}
    markets = {
        j: MarketState(
            funding_index=int(rng.integers(-(10**6), 10**6)) * prices[j] // 10**9,
            loss_index_long=int(rng.integers(0, 10**3)) * prices[j] // 10**9,
            loss_index_short=int(rng.integers(0, 10**3)) * prices[j] // 10**9,
            oi_long=int(2 * 10**9 / PRICES_USD[j]) * WAD,
            oi_short=int(2 * 10**9 / PRICES_USD[j]) * WAD,
        )
        for j in range(N_MARKETS)
    }
    held = rng.random((n, N_MARKETS)) < 0.5
    side = np.where(rng.random((n, N_MARKETS)) < 0.5, -1.0, 1.0)
    notional = rng.lognormal(np.log(20_000.0), 1.5, (n, N_MARKETS)) * held
    size_i = np.rint(side * notional / price * 1e9).astype(np.int64)  # 1e-9 base units
    entry = price * (1.0 + rng.normal(0.0, 0.05, (n, N_MARKETS)))
    size_f = size_i / 1e9
    open_i = np.rint(size_f * entry * 1e6).astype(np.int64)  # micro-USD
    fund_i = np.array([markets[j].funding_index // 10**6 for j in range(N_MARKETS)]) - rng.integers(
        0, 10**9, (n, N_MARKETS)
    )  # 1e-12 USD per unit
    fund_i *= held
    loss_now = np.array(
        [[markets[j].loss_index_long // 10**6, markets[j].loss_index_short // 10**6] for j in range(N_MARKETS)]
    )
    loss_i = np.where(size_i > 0, loss_now[:, 0], loss_now[:, 1]) - rng.integers(0, 10**6, (n, N_MARKETS))
    loss_i *= held
    coll_held = rng.random((n, N_COLLATERALS)) < 0.3
    coll_i = np.rint(rng.lognormal(np.log(5.0), 1.0, (n, N_COLLATERALS)) * coll_held * 1e9).astype(np.int64)
    gross = np.abs(size_f) @ price
    pnl = (size_f * price).sum(axis=1) - open_i.sum(axis=1) / 1e6
    coll_usd = coll_i / 1e9 @ (price[1:3] * np.array([0.9, 0.8]))
    target = gross * rng.lognormal(np.log(0.15), 0.6, n) + (gross == 0) * 100.0  # equity / gross notional
    balance_i = np.rint((target - pnl - coll_usd) * 1e6).astype(np.int64)
    del notional, entry, side, gross, pnl, coll_usd, target, size_f
    fields = {
        "balance": WadLimbs.from_scaled(balance_i, 6),
        "size": WadLimbs.from_scaled(size_i, 9),
        "open_notional": WadLimbs.from_scaled(open_i, 6),
        "funding_snapshot": WadLimbs.from_scaled(fund_i, 12),
        "loss_snapshot": WadLimbs.from_scaled(loss_i, 12),
        "collateral": WadLimbs.from_scaled(coll_i, 9),
    }
    del balance_i, size_i, open_i, fund_i, loss_i, coll_i, held
    book = MarginBook.from_arrays(params, markets, **fields)
    rows = rng.choice(n, size=min(planted, n), replace=False)
    for k, i in enumerate(rows.tolist()):
        acct = book.account(i)
        h = account_health(acct, params, markets, prices, now_s=0)
        target_equity = (h.maintenance, h.initial, 0)[k % 3] + (k // 3) % 3 - 1  # threshold -1, +0, +1 wei
        new_balance = acct.balance + target_equity - h.equity
        one = WadLimbs.from_ints([new_balance])
        fields["balance"].whole[i], fields["balance"].frac[i] = one.whole[0], one.frac[0]
    book = MarginBook.from_arrays(params, markets, **fields)
    return Synthetic(book, prices, rows, sum(f.nbytes for f in fields.values()))


@njit(parallel=True, cache=True, fastmath=True)  # reassociation lets the sums vectorize: a roofline probe
def _flat_sum(
    balance: NDArray[np.float64],
    magnitude: NDArray[np.float64],
    size: NDArray[np.float64],
    carry: NDArray[np.float64],
    collateral: NDArray[np.float64],
) -> float:
    """Every element of the screen arrays (1-D views in memory order), each array split between threads."""
    total = 0.0
    for k in prange(balance.size):
        total += balance[k] + magnitude[k]
    for k in prange(size.size):
        total += size[k] + carry[k]
    for k in prange(collateral.size):
        total += collateral[k]
    return total


@njit(parallel=True, cache=True, fastmath=True)
def _striped_sum(
    balance: NDArray[np.float64],
    magnitude: NDArray[np.float64],
    size: NDArray[np.float64],
    carry: NDArray[np.float64],
    collateral: NDArray[np.float64],
) -> float:
    """Every element of the screen arrays, threads taking stripes of accounts (one parallel region,
    each column of a stripe read as one contiguous run)."""
    n = balance.shape[0]
    total = 0.0
    for stripe in prange((n + STRIPE_ROWS - 1) // STRIPE_ROWS):
        lo, hi = stripe * STRIPE_ROWS, min(n, (stripe + 1) * STRIPE_ROWS)
        acc = 0.0
        for i in range(lo, hi):
            acc += balance[i] + magnitude[i]
        for j in range(size.shape[1]):
            for i in range(lo, hi):
                acc += size[i, j] + carry[i, j]
        for k in range(collateral.shape[1]):
            for i in range(lo, hi):
                acc += collateral[i, k]
        total += acc
    return total


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) wall time of ``fn`` over ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


@dataclass
class Roofline:
    """``evaluate`` against the all-thread streaming passes, timed in alternating rounds (seconds)."""

    core: float
    core_median: float
    #: Best time of the faster streaming pass (the roofline), and which pass it was.
    stream: float
    stream_name: str
    #: Median over rounds of (core time / faster streaming time) within the round.
    paired_ratio: float

    @property
    def ratio(self) -> float:
        """Best core time over best streaming time: the headline."""
        return self.core / self.stream


def roofline(book: MarginBook, prices: dict[int, int], out: MarginOutputs, repeats: int) -> Roofline:
    """Alternate ``evaluate`` and two all-thread streaming passes over the screen arrays (a flat
    pass per array in memory order, and a striped pass like the screen's) ``repeats`` times,
    after a warm-up; the roofline is the faster pass."""
    arrays = book.screen.as_tuple()
    views = tuple(np.ravel(a, order="K") for a in arrays)
    assert all(np.shares_memory(v, a) for v, a in zip(views, arrays, strict=True))  # no copy
    passes = {"flat": lambda: _flat_sum(*views), "striped": lambda: _striped_sum(*arrays)}
    evaluate(book, prices, out=out)
    times: dict[str, list[float]] = {"core": [], **{name: [] for name in passes}}
    for fn in passes.values():
        fn()
    for _ in range(repeats):
        t0 = time.perf_counter()
        evaluate(book, prices, out=out)
        times["core"].append(time.perf_counter() - t0)
        for name, fn in passes.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    fastest = min(passes, key=lambda name: min(times[name]))
    ratios = [c / min(ts) for c, *ts in zip(times["core"], *(times[name] for name in passes), strict=True)]
    return Roofline(
        min(times["core"]), statistics.median(times["core"]), min(times[fastest]), fastest, statistics.median(ratios)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="4,5,6", help="powers of ten for the scaling table (e.g. 4,5,6,7)")
    parser.add_argument("--seed", type=int, default=20_251_010, help="SeedSequence entropy")
    parser.add_argument("--sample", type=int, default=2_000, help="accounts timed through the reference model")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--planted", type=int, default=27, help="accounts placed exactly on a threshold (+-1 wei)")
    args = parser.parse_args()

    params = synthetic_params()
    seq = np.random.SeedSequence(args.seed)
    print(f"seed: SeedSequence(entropy={seq.entropy}); numba {numba.__version__}, threads {numba.get_num_threads()}")
    t0 = time.perf_counter()
    syn = synthetic_book(params, args.accounts, seq, args.planted)
    book, prices = syn.book, syn.prices
    n = book.n_accounts
    in_bytes = book.screen.nbytes
    print(
        f"book: {n:,} accounts x {N_MARKETS} markets x {N_COLLATERALS} collateral assets, generated in "
        f"{time.perf_counter() - t0:.1f} s; screen input {in_bytes / 1e6:.1f} MB "
        f"({in_bytes // n} B/account), exact limbs {syn.exact_bytes / 1e6:.1f} MB"
    )

    out = MarginOutputs.allocate(n)
    roof = roofline(book, prices, out, args.repeats)
    batch = evaluate(book, prices, out=out)
    numpy_t, _ = best_time(lambda: [a.sum() for a in book.screen.as_tuple()], args.repeats)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"HEADLINE evaluate / all-thread streaming pass over the same bytes: {roof.ratio:.2f}x (target <= 1.5x) "
        f"at {numba.get_num_threads()} threads; evaluate {roof.core * 1e3:.2f} ms, streaming pass "
        f"({roof.stream_name}) {roof.stream * 1e3:.2f} ms ({in_bytes / roof.stream / 1e9:.2f} GB/s), "
        f"best of {args.repeats} alternating rounds; median per-round ratio {roof.paired_ratio:.2f}x; "
        f"load average {load} on {os.cpu_count()} CPUs"
    )
    print(
        f"evaluate: {roof.core * 1e3:.1f} ms best, {roof.core_median * 1e3:.1f} ms median; "
        f"{in_bytes / roof.core / 1e9:.2f} GB/s read ({(in_bytes + out.nbytes) / roof.core / 1e9:.2f} GB/s "
        f"read+write); {n / roof.core / 1e6:.1f} M accounts/s; single-threaded numpy sum "
        f"{numpy_t * 1e3:.1f} ms -> ratio {roof.core / numpy_t:.2f}x"
    )
    rows = batch.reevaluated.tolist()
    reeval_t, _ = best_time(
        lambda: [account_health(a, params, book.markets, prices, now_s=book.now_s) for a in book.accounts(rows)],
        args.repeats,
    )
    print(
        f"of which exact re-evaluation of the {len(rows)} undecided accounts (the model accounts "
        f"gathered from the limbs, then account_health on each): {reeval_t * 1e3:.2f} ms; evaluate without it "
        f"{(roof.core - reeval_t) / roof.stream:.2f}x the streaming pass"
    )
    threads = numba.get_num_threads()
    if threads > 1:  # one thread: no worker waits at a barrier for a descheduled peer (a busy machine)
        numba.set_num_threads(1)
        try:
            one = roofline(book, prices, out, args.repeats)
        finally:
            numba.set_num_threads(threads)
        print(
            f"at 1 thread: evaluate {one.core * 1e3:.2f} ms, streaming pass ({one.stream_name}) "
            f"{one.stream * 1e3:.2f} ms -> ratio {one.ratio:.2f}x; median per-round ratio {one.paired_ratio:.2f}x"
        )
        if roof.stream >= one.stream:  # more threads never stream slower on an idle machine
            print(
                f"WARNING: the {threads}-thread streaming pass was no faster than the 1-thread one: other work "
                "held the CPUs (see the load average), so the headline ratio is not against the machine's "
                "roofline; rerun on an idle machine"
            )
    cands = liquidation_candidates(batch)
    print(
        f"decisions: {int(batch.liquidatable.sum()):,} liquidatable, {int((~batch.meets_initial).sum()):,} below "
        f"initial, {cands.size:,} candidates; re-evaluated exactly: {batch.reevaluated.size} accounts "
        f"({syn.planted.size} planted within 1 wei of a threshold)"
    )

    rng = np.random.default_rng(seq.spawn(1)[0])
    rows = np.unique(np.concatenate([rng.choice(n, size=min(args.sample, n), replace=False), syn.planted]))
    sample = [book.account(i) for i in rows.tolist()]
    t0 = time.perf_counter()
    healths = [account_health(a, params, book.markets, prices, now_s=0) for a in sample]
    model_t = (time.perf_counter() - t0) / len(sample)
    agree = sum(
        h.liquidatable == batch.liquidatable[i] and h.meets_initial == batch.meets_initial[i]
        for h, i in zip(healths, rows.tolist(), strict=True)
    )
    print(
        f"reference model: {model_t * 1e6:.1f} us/account on {len(sample)} accounts -> {model_t * n:.1f} s "
        f"extrapolated; speed-up {model_t * n / roof.core:,.0f}x (target >= 1,000x); decisions agree on "
        f"{agree}/{len(sample)}"
    )
    if agree != len(sample):
        raise SystemExit("decision mismatch against the reference model")

    gc.collect()
    tracemalloc.start()
    evaluate(book, prices)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"peak extra memory (allocating outputs): {peak / 1e6:.1f} MB = {peak / in_bytes:.3f} x input "
        f"(target <= 1x); with preallocated outputs: outputs are reused"
    )

    print("\nscaling (best of 5; ratio to the all-thread streaming pass over the same bytes; no planted accounts")
    print("except in the main run's row, so re-eval counts the accounts the screen could not decide by itself)")
    print(f"{'accounts':>12} {'input MB':>9} {'time ms':>9} {'GB/s':>6} {'M acct/s':>9} {'ratio':>6} {'re-eval':>8}")
    del batch, out, sample, healths
    for e in (int(s) for s in args.sizes.split(",")):
        size = 10**e
        if size == n:
            b, p = book, prices
        else:
            del syn
            gc.collect()
            syn = synthetic_book(params, size, seq.spawn(1)[0], 0)
            b, p = syn.book, syn.prices
        o = MarginOutputs.allocate(size)
        res = evaluate(b, p, out=o)
        r = roofline(b, p, o, 5)
        t = r.core
        nb = b.screen.nbytes
        print(
            f"{size:>12,} {nb / 1e6:>9.1f} {t * 1e3:>9.2f} {nb / t / 1e9:>6.2f} {size / t / 1e6:>9.1f} "
            f"{r.ratio:>6.2f} {res.reevaluated.size:>8}"
        )


if __name__ == "__main__":
    main()
