"""Throughput of the same protocol action sequence on every chain backend (issue 3).

One deterministic sequence of ``--actions`` protocol actions (default 1,000) is generated on the
reference model from ``numpy.random.SeedSequence(--seed)`` (entropy printed, so a run can be
repeated): price pushes (a random walk with occasional shocks), fills between five traders,
funding-rate sets, USDC and WETH deposits, withdrawals, insurance top-ups, and the liquidations,
collateral sales and deleveragings the reference keeper (:func:`protocol.keeper.keeper_actions`)
finds after each step. Every action succeeds on the model (a drawn action the model refuses is
dropped and another one drawn). The actions come in blocks of ``--per-block`` (default 10): each
block starts with ``AdvanceTime(1, 1)`` (one second, one block; not counted as an action) and
its actions share the block's number and timestamp, on the model and on every chain (the
model's per-block liquidation cap included). ``--per-block 1`` gives every action its own block.

The same records (same addresses: eth-tester's keys 1..10 on every backend, same start time
``T0``; fills carry orders signed with those keys for each deployment's EIP-712 domain, so the
sequence is generated again from the same seed for each backend's chain id and address: the same
actions, each backend's own signatures and order hashes) are then run on

* eth-tester, one transaction at a time (``ChainClearingHouse.apply``: each transaction executes
  into the pending block, which an ``AdvanceTime`` seals; ``--eth-tester-actions`` times only the
  first N actions, said so in the output);
* titanoboa, one at a time;
* anvil, one at a time (only with ``--per-block 1``: anvil returns a transaction's events only
  once its block is sealed, so ``apply`` mines one block per transaction);
* anvil, ``ChainClearingHouse.apply_batch``: each model block's transactions queued in one
  JSON-RPC batch and mined with one ``evm_mine`` at the block's timestamp, pipelined with the
  preparation and event decoding in Python (``AnvilChain.send_blocks``); once signed locally
  (eth-account keys, raw transactions) and once unsigned from impersonated senders (the same
  transactions without ECDSA signing in Python and signature recovery in the node).

The anvil nodes run the repository's default hardfork (Prague) with default settings. Only
sending and processing is timed (events decoded, reverts mapped), not deployment, minting, the
sequence's generation or the final read-back; the garbage collector runs before each timed run. Printed: actions/s per
backend, the ratio to eth-tester, and whether the events of every action and the final
:class:`~protocol.state.ProtocolState` equal the model's (OK / MISMATCH; the script exits
non-zero on a mismatch). The gas table of ``tests/chain/gas_snapshot.json`` and the gas measured
in this run are printed at the end (``--gas`` prints only the snapshot table).

Run: ``PATH=$PWD/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH
.venv/bin/python benchmarks/chain_throughput.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from eth_keys.datatypes import PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts_py.audit.campaign import T0, deploy_at_t0  # noqa: E402
from contracts_py.chain_house import ChainClearingHouse, Outcome  # noqa: E402
from contracts_py.chains import Chain, make_chain  # noqa: E402
from protocol import events as ev  # noqa: E402
from protocol.actions import (  # noqa: E402
    Action,
    AdvanceTime,
    Deposit,
    FundInsurance,
    PushPrice,
    SetFundingRate,
    Withdraw,
)
from protocol.clearing_house import ClearingHouse  # noqa: E402
from protocol.constants import WAD  # noqa: E402
from protocol.errors import ProtocolRevert  # noqa: E402
from protocol.keeper import keeper_actions  # noqa: E402
from protocol.orders import OrderSigner  # noqa: E402
from protocol.params import Params  # noqa: E402
from protocol.scenarios import default_params  # noqa: E402
from protocol.state import Account, ProtocolState  # noqa: E402

GAS_SNAPSHOT: Final = ROOT / "tests" / "chain" / "gas_snapshot.json"
USDC: Final = 10**6
BTC, ETH, WETH = 0, 1, 1
#: The step that starts a block: one second, one block.
STEP: Final = AdvanceTime(1, 1)
#: Default protocol actions per block.
PER_BLOCK: Final = 10


def _key(i: int) -> bytes:
    return i.to_bytes(32, "big")


def _address(i: int) -> str:
    return "0x" + PrivateKey(_key(i)).public_key.to_canonical_address().hex()


@dataclass(frozen=True)
class Actors:
    """eth-tester's accounts (private keys 1..10) by role, the same on every backend."""

    governance: str = _address(1)
    matcher: str = _address(2)
    oracle: str = _address(3)  # also the funding operator
    keeper: str = _address(4)
    liquidator: str = _address(5)
    traders: tuple[str, ...] = tuple(_address(i) for i in range(6, 11))

    @property
    def all(self) -> tuple[str, ...]:
        return (self.governance, self.matcher, self.oracle, self.keeper, self.liquidator, *self.traders)


ACT: Final = Actors()
#: ``--backends`` keys, in run order.
BACKENDS: Final = ("eth-tester", "boa", "anvil", "anvil-batch", "anvil-batch-impersonated")


def new_model(params: Params) -> ClearingHouse:
    """The model on its own (its own order domain), at ``T0``."""
    return ClearingHouse(
        params,
        ACT.governance,
        matchers=[ACT.matcher],
        oracles=[ACT.oracle],
        funding_operators=[ACT.oracle],
        start_time_s=T0,
    )


# --------------------------------------------------------------------------- the sequence


@dataclass
class ActionSequence:
    """The generated sequence: protocol actions, the model's events of each, the action mix, and
    how many actions share a block."""

    actions: list[Action]
    events: list[list[ev.Event]]
    seed: np.random.SeedSequence
    kinds: dict[str, int] = field(default_factory=dict)
    per_block: int = 1

    @property
    def blocks(self) -> int:
        """Blocks the sequence spans."""
        return -(-len(self.actions) // self.per_block)

    def with_steps(self, n: int | None = None) -> list[Action]:
        """The first ``n`` actions, ``AdvanceTime(1, 1)`` before every ``per_block``-th."""
        out: list[Action] = []
        for i, a in enumerate(self.actions[: len(self.actions) if n is None else n]):
            if i % self.per_block == 0:
                out.append(STEP)
            out.append(a)
        return out


def twin(house: ChainClearingHouse, params: Params) -> ClearingHouse:
    """A fresh model in the deployment's state (its order domain, its markets' listing clocks)."""
    return house.reference_model(
        params, ACT.governance, matchers=[ACT.matcher], oracles=[ACT.oracle], funding_operators=[ACT.oracle]
    )


def generate(model: ClearingHouse, n_actions: int, seed: np.random.SeedSequence, per_block: int) -> ActionSequence:
    """``n_actions`` actions that all succeed on ``model`` (a fresh one, which they leave
    applied), ``per_block`` per block (each block after an ``AdvanceTime(1, 1)``), fills signed
    for its order domain."""
    rng = np.random.default_rng(seed)
    signer = OrderSigner(model.state.order_domain, [_key(i) for i in range(1, 11)])
    price = {BTC: 60_000 * WAD, ETH: 3_000 * WAD}
    actions: list[Action] = []
    events: list[list[ev.Event]] = []
    kinds: dict[str, int] = defaultdict(int)
    queue: list[Action] = []  # scripted opening, then keeper actions

    for feed in (BTC, ETH):
        queue.append(PushPrice(ACT.oracle, feed, price[feed], 0))  # timestamp filled in below
    for t in ACT.traders:
        queue.append(Deposit(t, 0, int(rng.integers(20_000, 200_000)) * USDC))
    queue += [
        Deposit(ACT.keeper, 0, 500_000 * USDC),
        Deposit(ACT.liquidator, 0, 500_000 * USDC),
        FundInsurance(ACT.governance, 20_000 * USDC),
    ]
    for t in ACT.traders[2:4]:
        queue.append(Deposit(t, WETH, int(rng.integers(1, 20)) * WAD))

    def draw() -> Action:
        now = model.state.now_s
        r = rng.random()
        if r < 0.45:  # fill
            market = int(rng.integers(0, 2))
            maker, taker = (ACT.traders[int(i)] for i in rng.choice(len(ACT.traders), 2, replace=False))
            px = model.state.feeds[market].price_wad or price[market]
            notional_usd = float(rng.lognormal(np.log(30_000), 1.0))
            size = max(int(notional_usd * WAD * WAD // px), 10**9) * (1 if rng.random() < 0.5 else -1)
            fill_px = px * int(rng.integers(995_000, 1_005_001)) // 1_000_000
            fee = int(rng.choice([0, WAD // 10_000, WAD // 2_000]))
            return signer.fill(ACT.matcher, maker, taker, market, size, fill_px, fee, fee)
        if r < 0.68:  # price push: random walk, a 6-12 % shock now and then
            feed = int(rng.integers(0, 2))
            move = rng.normal(0, 0.004)
            if rng.random() < 0.06:
                move = rng.uniform(0.06, 0.12) * (-1 if rng.random() < 0.7 else 1)
            price[feed] = max(int(price[feed] * (1 + move)), WAD)
            return PushPrice(ACT.oracle, feed, price[feed], now)
        if r < 0.74:  # funding rate, up to ~0.05 % per hour either way
            cap = WAD // 2_000 // 3_600
            return SetFundingRate(ACT.oracle, int(rng.integers(0, 2)), int(rng.integers(-cap, cap + 1)))
        if r < 0.86:  # deposit (USDC mostly, WETH sometimes)
            who = ACT.traders[int(rng.integers(0, len(ACT.traders)))]
            if rng.random() < 0.2:
                return Deposit(who, WETH, int(rng.integers(1, 5 * WAD)))
            return Deposit(who, 0, int(rng.integers(1_000, 50_000)) * USDC)
        if r < 0.97:  # withdrawal of part of the balance or collateral
            who = ACT.traders[int(rng.integers(0, len(ACT.traders)))]
            acct = model.state.accounts.get(who, Account())
            if rng.random() < 0.2 and acct.collateral.get(WETH, 0) > 0:
                return Withdraw(who, WETH, max(int(acct.collateral[WETH] * rng.uniform(0.05, 0.5)), 1))
            usdc = max(acct.balance, 0) // 10**12  # WAD -> token units
            return Withdraw(who, 0, max(int(usdc * rng.uniform(0.02, 0.4)), 1))
        return FundInsurance(ACT.governance, int(rng.integers(100, 5_000)) * USDC)

    while len(actions) < n_actions:
        if len(actions) % per_block == 0:
            model.apply(STEP)
        for _attempt in range(1_000):
            if not queue:
                queue = keeper_actions(model, ACT.keeper, ACT.liquidator)
            if queue:
                action = queue.pop(0)
                if isinstance(action, PushPrice) and action.timestamp_s == 0:
                    action = PushPrice(action.sender, action.feed_id, action.price_wad, model.state.now_s)
            else:
                action = draw()
            try:
                out = model.apply(action)
            except ProtocolRevert:
                continue  # the model refuses it: drop it, draw another at the same clock
            actions.append(action)
            events.append([e for e in out if not isinstance(e, ev.TimeAdvanced)])
            kinds[type(action).__name__] += 1
            break
        else:
            raise RuntimeError("no valid action found in 1,000 draws")
    return ActionSequence(actions, events, seed, dict(kinds), per_block)


# --------------------------------------------------------------------------- backends


def expected_state(model: ClearingHouse, addresses: set[str]) -> ProtocolState:
    """The model's state in the form ``ChainClearingHouse.state`` reads it back."""
    st = model.snapshot()
    for acct in st.accounts.values():
        acct.collateral = {i: v for i, v in acct.collateral.items() if v}
    st.accounts = {a: acct for a, acct in st.accounts.items() if a in addresses and acct != Account()}
    r = st.roles
    r.matchers, r.oracles = r.matchers & addresses, r.oracles & addresses
    r.funding_operators = r.funding_operators & addresses
    for m in st.markets.values():
        m.settlement_price_wad = 0
    return st


def state_diffs(house: ChainClearingHouse, model: ClearingHouse) -> list[str]:
    """Differences between the contract's state (and its token balances) and the model's."""
    addrs = set(ACT.all)
    got, want = house.state(addrs, model.state.order_filled), expected_state(model, addrs)
    diffs = [
        f"{name}: chain {getattr(got, name)!r} != model {getattr(want, name)!r}"
        for name in ProtocolState.__dataclass_fields__
        if name != "accounts" and getattr(got, name) != getattr(want, name)
    ]
    for addr in sorted(set(got.accounts) | set(want.accounts)):
        if got.accounts.get(addr) != want.accounts.get(addr):
            diffs.append(f"{addr}: chain {got.accounts.get(addr)!r} != model {want.accounts.get(addr)!r}")
    system = house.system
    for asset_id, token in system.tokens.items():
        held = system.chain.call(token, "balanceOf", system.core.address)
        if held != want.vault_tokens.get(asset_id, 0):
            want_held = want.vault_tokens.get(asset_id, 0)
            diffs.append(f"token {asset_id} held by the core: chain {held} != model {want_held}")
    return diffs


def open_chain(backend: str, *, impersonate: bool = False) -> Chain:
    """A fresh chain with the actors funded (anvil: eth-tester's keys for signing batches, and
    ``--auto-impersonate`` for web3's one-at-a-time ``eth_sendTransaction``)."""
    if backend != "anvil":
        return make_chain(backend)
    chain = make_chain(
        "anvil",
        extra_args=["--auto-impersonate"],
        private_keys=[_key(i) for i in range(1, 11)],
        impersonate=impersonate,
    )
    for a in ACT.all:
        chain._rpc("anvil_setBalance", a, hex(10**24))  # type: ignore[attr-defined]
    return chain


def deploy(chain: Chain, params: Params) -> ChainClearingHouse:
    """Deploy, mint test tokens, put the clock at ``T0`` and wrap the system in a house."""
    system = deploy_at_t0(chain, params, ACT.governance, ACT.matcher, ACT.oracle, ACT.oracle, ACT.all)
    house = ChainClearingHouse(chain, system)
    assert house.now_s == T0, (chain.name, house.now_s)
    return house


@dataclass
class Run:
    label: str
    n_actions: int
    seconds: float
    events_ok: bool
    state_ok: bool
    detail: list[str]
    gas: dict[str, list[int]]

    @property
    def rate(self) -> float:
        return self.n_actions / self.seconds


def run_backend(
    label: str,
    backend: str,
    params: Params,
    seq: ActionSequence,
    n: int,
    send: Callable[[ChainClearingHouse, list[Action]], tuple[list[Outcome], dict[str, list[int]]]],
    impersonate: bool = False,
) -> Run:
    with open_chain(backend, impersonate=impersonate) as chain:
        house = deploy(chain, params)
        seq = generate(twin(house, params), len(seq.actions), seq.seed, seq.per_block)
        model = twin(house, params)
        full = seq.with_steps(n)
        gc.collect()  # leftovers of earlier runs are not this run's cost
        t = time.perf_counter()
        outcomes, gas = send(house, full)
        seconds = time.perf_counter() - t
        got = [o for a, o in zip(full, outcomes, strict=True) if not isinstance(a, AdvanceTime)]
        detail: list[str] = []
        for i, (o, want) in enumerate(zip(got, seq.events[:n], strict=True)):
            if o != want:
                detail.append(f"action {i} {seq.actions[i]!r}: chain {o!r} != model {want!r}")
                break
        events_ok = not detail
        for a in full:
            model.apply(a)
        diffs = state_diffs(house, model)
        detail += diffs[:5]
        return Run(label, n, seconds, events_ok, not diffs, detail, gas)


def one_at_a_time(house: ChainClearingHouse, full: list[Action]) -> tuple[list[Outcome], dict[str, list[int]]]:
    outcomes: list[Outcome] = []
    gas: dict[str, list[int]] = defaultdict(list)
    for a in full:
        try:
            outcomes.append(house.apply(a))
        except ProtocolRevert as exc:
            outcomes.append(exc)
            continue
        if not isinstance(a, AdvanceTime) and house.last_tx is not None:
            gas[house.last_tx_function].append(house.last_tx.gas_used)
    return outcomes, gas


def batched(house: ChainClearingHouse, full: list[Action]) -> tuple[list[Outcome], dict[str, list[int]]]:
    return house.apply_batch(full), {}


# --------------------------------------------------------------------------- report


def gas_snapshot_table() -> str:
    snap = json.loads(GAS_SNAPSHOT.read_text())
    width = max(len(k) for k in snap["gas"])
    lines = [
        f"gas snapshot ({GAS_SNAPSHOT.relative_to(ROOT)}, {snap['backend']}, vyper {snap['vyper']}):",
        f"  {'function':<{width}}  {'gas':>10}",
    ]
    lines += [f"  {k:<{width}}  {v:>10,}" for k, v in snap["gas"].items()]
    return "\n".join(lines)


def measured_gas_table(gas: dict[str, list[int]], label: str) -> str:
    width = max((len(k) for k in gas), default=8)
    lines = [f"gas measured in this run ({label}, receipts' gasUsed incl. intrinsic gas):"]
    lines.append(f"  {'function':<{width}}  {'calls':>6}  {'min':>9}  {'mean':>9}  {'max':>9}")
    for fn in sorted(gas):
        v = gas[fn]
        lines.append(f"  {fn:<{width}}  {len(v):>6}  {min(v):>9,}  {round(statistics.mean(v)):>9,}  {max(v):>9,}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--actions", type=int, default=1_000, help="protocol actions in the sequence (default 1000)")
    p.add_argument("--seed", type=int, default=None, help="SeedSequence entropy (default: fresh, printed)")
    p.add_argument(
        "--eth-tester-actions",
        type=int,
        default=None,
        help="time eth-tester on the first N actions only (default: all); rates are per action",
    )
    p.add_argument(
        "--per-block",
        type=int,
        default=PER_BLOCK,
        help=f"protocol actions per block (default {PER_BLOCK}; 1: every action in its own block)",
    )
    p.add_argument(
        "--backends",
        default=None,
        help=f"comma-separated subset of {','.join(BACKENDS)} (default: all; 'anvil' only with --per-block 1)",
    )
    p.add_argument("--gas", action="store_true", help="print the committed gas table and exit")
    args = p.parse_args(argv)
    if args.gas:
        print(gas_snapshot_table())
        return 0
    if args.actions < 1 or args.per_block < 1:
        p.error("--actions and --per-block must be positive")
    default = [b for b in BACKENDS if b != "anvil" or args.per_block == 1]
    keys = default if args.backends is None else [k.strip() for k in args.backends.split(",")]
    unknown = [k for k in keys if k not in BACKENDS]
    if unknown:
        p.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    if "anvil" in keys and args.per_block != 1:
        p.error(
            "backend 'anvil' (one at a time) needs --per-block 1: anvil returns a transaction's events only once "
            "its block is sealed, so apply mines one block per transaction"
        )

    seed = np.random.SeedSequence(args.seed)
    print(f"seed: SeedSequence entropy {seed.entropy}  (repeat with --seed {seed.entropy})")
    params = default_params()
    t = time.perf_counter()
    seq = generate(new_model(params), args.actions, seed, args.per_block)
    gen_s = time.perf_counter() - t
    mix = ", ".join(f"{k} {v}" for k, v in sorted(seq.kinds.items(), key=lambda kv: -kv[1]))
    print(f"sequence: {len(seq.actions)} protocol actions, all valid on the model ({mix});")
    print(
        f"          {seq.blocks} blocks of {seq.per_block} action(s), each after AdvanceTime(1, 1) (not counted); "
        f"generated in {gen_s:.1f} s"
    )

    model = new_model(params)
    full = seq.with_steps()
    t = time.perf_counter()
    for a in full:
        model.apply(a)
    model_rate = len(seq.actions) / (time.perf_counter() - t)

    n_all = len(seq.actions)
    n_et = min(args.eth_tester_actions or n_all, n_all)
    plan = {
        "eth-tester": ("eth-tester, one at a time", "eth-tester", n_et, one_at_a_time, False),
        "boa": ("titanoboa, one at a time", "boa", n_all, one_at_a_time, False),
        "anvil": ("anvil, one at a time", "anvil", n_all, one_at_a_time, False),
        "anvil-batch": ("anvil, apply_batch, signed", "anvil", n_all, batched, False),
        "anvil-batch-impersonated": ("anvil, apply_batch, impersonated", "anvil", n_all, batched, True),
    }
    runs: list[Run] = []
    for key in keys:
        label, backend, n, send, impersonate = plan[key]
        print(f"running {label} on {n} actions ...", flush=True)
        runs.append(run_backend(label, backend, params, seq, n, send, impersonate))

    base = next((r for r in runs if r.label.startswith("eth-tester")), None)
    print()
    if base is not None and base.n_actions < n_all:
        print(f"NOTE: eth-tester timed on the first {base.n_actions} of {n_all} actions only; ratios are per action")
    width = max(len(r.label) for r in runs)
    head = f"{'backend':<{width}}  {'actions':>7}  {'seconds':>8}  {'actions/s':>9}  {'x eth-tester':>12}"
    print(f"{head}  events  state")
    print(f"{'reference model (in memory)':<{width}}  {n_all:>7}  {'':>8}  {model_rate:>9,.0f}  {'':>12}")
    for r in runs:
        ratio = f"{r.rate / base.rate:>11.1f}x" if base else f"{'-':>12}"
        print(
            f"{r.label:<{width}}  {r.n_actions:>7}  {r.seconds:>8.2f}  {r.rate:>9,.0f}  {ratio}  "
            f"{'OK' if r.events_ok else 'MISMATCH':<6}  {'OK' if r.state_ok else 'MISMATCH'}"
        )
        for line in r.detail:
            print(f"    {line}")
    fastest = max(runs, key=lambda r: r.rate)
    print()
    verdict = f"fastest path: {fastest.label}: {fastest.rate:,.0f} protocol actions/s"
    if base is not None:
        verdict += f", {fastest.rate / base.rate:.1f}x eth-tester"
    print(verdict)
    if base is not None:
        print(
            f"targets (issue 3): >= 30x eth-tester: {'met' if fastest.rate / base.rate >= 30 else 'MISSED'}; "
            f">= 1,500 actions/s: {'met' if fastest.rate >= 1_500 else 'MISSED'}"
        )
    print()
    print(gas_snapshot_table())
    gas_run = next((r for r in runs if r.gas), None)
    if gas_run is not None:
        print(measured_gas_table(gas_run.gas, gas_run.label))
    return 0 if all(r.events_ok and r.state_ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
