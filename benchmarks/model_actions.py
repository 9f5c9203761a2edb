"""Cost of the reference model per action kind, one by one and through the batched exact paths.

One book (``--accounts`` traders, default 20,000, seed ``--seed``) and one crash path on it (the
default study's Brownian bridge to ``--shock``, a thin outside market); the same actions are
applied, on the same book, twice:

* **model, one by one** (the specification, what the engine did before the batched paths):
  :meth:`ClearingHouse.apply` for every action on a fork of the state, every signature recovered
  (the orders' digests are known, as :meth:`OrderSigner.sign` hands them out), and
  for every keeper action the question the keeper asks first
  (:meth:`ClearingHouse.max_liquidation_size` / ``settled_account``), on a fork too;
* **batched**: the set-up through :meth:`ClearingHouse.book_setup` (trusted set-up entry: the
  orders were signed by the set-up itself) and every keeper block through
  :meth:`ClearingHouse.keeper_block` (the question and the action on the live state under an
  undo journal, one settlement per account); everything else as before.

Printed per action kind: count, microseconds per action each way, and the ratio; signature
recovery alone is timed on its own line (it is part of the model's ``Fill``). Both runs must end
in the same state with the same events (checked; the script exits non-zero otherwise).

Run: ``.venv/bin/python benchmarks/model_actions.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from protocol.actions import Action, AutoDeleverage, Fill, Liquidate, LiquidateCollateral, SignedOrder
from protocol.clearing_house import ClearingHouse
from protocol.events import Event
from protocol.keeper_block import KEEPER_ACTIONS, KeeperBlock
from protocol.orders import order_signer
from simulator.config import StudyConfig
from simulator.engine import FUNDING_OPERATOR, GOVERNANCE, MATCHER, ORACLE, Book, build_book, simulate_path

Timing = tuple[defaultdict[str, float], Counter[str]]


def unverified(log: Sequence[Action]) -> list[Action]:
    """``log`` with its signed orders as :meth:`OrderSigner.sign` hands them out (the digest
    known, the signature never recovered), one fresh record per order shared by its fills."""
    fresh: dict[int, SignedOrder] = {}

    def copy(signed: SignedOrder) -> SignedOrder:
        if id(signed) not in fresh:
            record = fresh[id(signed)] = SignedOrder(signed.order, signed.signature)
            record.memo.update({sep: (digest, None) for sep, (digest, _) in signed.memo.items()})
        return fresh[id(signed)]

    return [
        dataclasses.replace(a, maker_order=copy(a.maker_order), taker_order=copy(a.taker_order))
        if isinstance(a, Fill)
        else a
        for a in log
    ]


def fresh_house(book: Book) -> ClearingHouse:
    return ClearingHouse(
        book.params, GOVERNANCE, matchers=[MATCHER], oracles=[ORACLE], funding_operators=[FUNDING_OPERATOR]
    )


def timed(timing: Timing, kind: str, call: Callable[[], list[Event] | object]) -> object:
    t = time.perf_counter()
    out = call()
    timing[0][kind] += time.perf_counter() - t
    timing[1][kind] += 1
    return out


def new_timing() -> Timing:
    return defaultdict(float), Counter()


def setup_both_ways(book: Book, log: Sequence[Action]) -> tuple[Timing, Timing, list[list[Event]], list[list[Event]]]:
    """The set-up log through the model one by one and through the trusted book set-up."""
    model_actions, setup_actions = unverified(log), unverified(log)
    model, lean = fresh_house(book), fresh_house(book)
    setup = lean.book_setup(signatures_verified=True)
    slow, fast = new_timing(), new_timing()
    gc.collect()
    slow_events = [timed(slow, type(a).__name__, lambda a=a: model.apply(a)) for a in model_actions]
    gc.collect()
    fast_events = [timed(fast, type(a).__name__, lambda a=a: setup.apply(a)) for a in setup_actions]
    if model.state != lean.state:
        raise SystemExit("ERROR: the set-up paths ended in different states")
    return slow, fast, slow_events, fast_events  # type: ignore[return-value]


def keeper_question(house: ClearingHouse | KeeperBlock, action: Action) -> object:
    """The keeper's question before ``action`` (the engine asks it before each action)."""
    if isinstance(action, Liquidate | AutoDeleverage):
        return house.max_liquidation_size(action.account, action.market_id)
    assert isinstance(action, LiquidateCollateral)
    return house.settled_account(action.account).balance


def path_both_ways(book: Book, log: Sequence[Action]) -> tuple[Timing, Timing, list[object], list[object]]:
    """The path's log from the book: the model one by one, and keeper blocks in place."""
    model = ClearingHouse.from_state(book.params, book.state())
    batched = ClearingHouse.from_state(book.params, book.state())
    slow, fast = new_timing(), new_timing()
    slow_out: list[object] = []
    fast_out: list[object] = []
    gc.collect()
    for a in log:
        kind = type(a).__name__
        if isinstance(a, KEEPER_ACTIONS):
            slow_out.append(timed(slow, f"{kind}: question", lambda a=a: keeper_question(model, a)))
        slow_out.append(timed(slow, kind, lambda a=a: model.apply(a)))
    gc.collect()
    k = 0
    while k < len(log):
        if not isinstance(log[k], KEEPER_ACTIONS):
            a = log[k]
            fast_out.append(timed(fast, type(a).__name__, lambda a=a: batched.apply(a)))
            k += 1
            continue
        with batched.keeper_block() as block:
            while k < len(log) and isinstance(log[k], KEEPER_ACTIONS):
                a, kind = log[k], type(log[k]).__name__
                fast_out.append(timed(fast, f"{kind}: question", lambda a=a, b=block: keeper_question(b, a)))
                fast_out.append(timed(fast, kind, lambda a=a, b=block: b.apply(a)))
                k += 1
    return slow, fast, slow_out, fast_out


def recovery_seconds(book: Book, log: Sequence[Action]) -> tuple[float, int]:
    """Seconds to recover every signature the set-up's fills carry (records that never recovered
    one), and how many."""
    fills = [a for a in unverified(log) if isinstance(a, Fill)]
    orders = {id(o): o for a in fills for o in (a.maker_order, a.taker_order)}
    t = time.perf_counter()
    for s in orders.values():
        order_signer(s, book.setup_state.order_domain)
    return time.perf_counter() - t, len(orders)


def table(title: str, slow: Timing, fast: Timing) -> tuple[float, float]:
    print(f"\n{title}")
    print(f"  {'action kind':<30} {'count':>7} {'model us':>10} {'batched us':>11} {'ratio':>7}")
    for kind in sorted(slow[1], key=lambda k: -slow[0][k]):
        n = slow[1][kind]
        s_us, f_us = slow[0][kind] / n * 1e6, fast[0][kind] / max(fast[1][kind], 1) * 1e6
        print(f"  {kind:<30} {n:7d} {s_us:10.1f} {f_us:11.1f} {s_us / f_us if f_us else float('inf'):6.1f}x")
    total_slow, total_fast = sum(slow[0].values()), sum(fast[0].values())
    count, ratio = sum(slow[1].values()), total_slow / total_fast
    print(f"  {'all':<30} {count:7d} {total_slow:9.3f}s {total_fast:10.3f}s {ratio:6.1f}x")
    return total_slow, total_fast


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20200312)
    parser.add_argument("--shock", type=float, default=-0.357, help="the bridge's move over the path")
    args = parser.parse_args()
    config = StudyConfig().override(
        {
            "run.accounts": args.accounts,
            "run.steps": args.steps,
            "run.seed": args.seed,
            "price.model": "bridge",
            "price.shock": args.shock,
            "liquidity.depth_usd": 2e8 * args.accounts / 100_000,
        }
    )
    print(
        f"book: {args.accounts:,} accounts, seed {args.seed}; crash path: bridge to {args.shock:+.1%}, "
        f"{args.steps} steps"
    )
    setup_log: list[Action] = []
    book = build_book(config, log=setup_log)
    seconds, recovered = recovery_seconds(book, setup_log)
    slow, fast, slow_events, fast_events = setup_both_ways(book, setup_log)
    table("set-up (deposits, the market maker's orders, every opening)", slow, fast)
    print(f"  signature recovery alone: {seconds / recovered * 1e6:.1f} us x {recovered} (inside the model's Fill)")
    path_log: list[Action] = []
    simulate_path(config, 0, book=book, log=path_log)
    slow, fast, slow_out, fast_out = path_both_ways(book, path_log)
    table("crash path (keeper questions and actions; oracle, clock and funding)", slow, fast)
    if slow_events != fast_events or slow_out != fast_out:
        print("ERROR: the model and the batched paths gave different events", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
