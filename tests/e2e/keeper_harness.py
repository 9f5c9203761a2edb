"""Black Thursday on anvil with keepers as separate processes (issue 18).

A book of ``N_TRADERS`` accounts (sides, sizes and leverage from a seeded ``SeedSequence``) opens
BTC positions against a market maker at the first close of the 2020-03-13 02:00-02:59 UTC minute
slice. Then the driver (this process) replays the slice: each minute's close is pushed by the
oracle in a block, followed by ``BLOCKS_PER_ROUND - 1`` more blocks (none: a block a minute),
every block mined by the driver (``evm_mine``, automine off, ``BLOCK_S`` apart) once each running
keeper has logged that it handled the previous one (or after ``KEEPER_WAIT_S``). Keepers are
``novation keeper`` processes; their transactions land in the next block, beside the next close.
The book is built once per test module; each scenario starts from an anvil snapshot of it, and
the model from one snapshot of the book read once (:attr:`Book.model_start`).

Afterwards the reference model replays the same blocks from a snapshot read at the crash's start
(the oracle's pushes and every mined liquidation, at the blocks' own numbers and times): each
liquidation must be accepted by the model (no healthy account touched), every account the model
finds liquidatable after a block must be liquidated within ``MAX_BLOCKS_TO_LIQUIDATION`` blocks,
and the chain's state at the end (insurance fund, every account) must equal the model's.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from eth_abi import decode

from contracts_py.chain_house import call_of, mint_test_tokens
from contracts_py.chains import BatchCall
from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.client import NovationClient, Snapshot
from contracts_py.deploy import System, deploy_system
from contracts_py.keeper import Journal
from contracts_py.keeper.transactions import LOST_RACE
from oracles.history import load_klines
from protocol.actions import Action, AdvanceTime, Deposit, Liquidate, LiquidateCollateral, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.events import CollateralLiquidated, Liquidated
from protocol.orders import OrderSigner
from protocol.scenarios import BTC_FEED, BTC_PERP, ETH_FEED, default_params

REPO = Path(__file__).resolve().parents[2]
SLICE = "2020-03-12_black_thursday/binance_usdm_perp_BTCUSDT_1m_2020-03-13T02.csv"
USDC = 10**6
N_TRADERS = 1_000
SEED = 18
BLOCKS_PER_ROUND = 1
#: Seconds between blocks (Ethereum's slot time): closes pushed a second apart would move faster
#: than the oracle guard's per-window bound lets them (``move_window_s``), and be rejected.
BLOCK_S = 12
TAIL_BLOCKS = 6
KEEPER_WAIT_S = 20.0
#: The stated bound: an account liquidatable after block b is liquidated in block b + 4 at the
#: latest: b + 1 when the keeper acts on b, up to three more when a crash minute makes ~140
#: accounts liquidatable at once (the per-block liquidation cap, 1M USD of notional, and the
#: block gas limit, about 100 liquidations, spread them over the following blocks).
MAX_BLOCKS_TO_LIQUIDATION = 4
ETH_USD = 120


@dataclass
class Book:
    chain: AnvilChain
    system: System
    governance: str
    oracle: str
    maker: str
    keepers: list[str]
    traders: list[str]
    closes: list[int]
    start_snapshot: Any = None
    #: The model's start (block number, snapshot read there): read once, copied by each scenario.
    model_start: tuple[int, Snapshot] | None = None


def build_book(chain: AnvilChain, closes: list[int]) -> Book:
    """Deploy, then open ``N_TRADERS`` positions against a market maker at ``closes[0]``."""
    gov, oracle, matcher, maker, *keepers = chain.accounts[:7]
    system = deploy_system(chain, default_params(), gov, matchers=[matcher], oracles=[oracle])
    seq = np.random.SeedSequence(SEED)
    rng = np.random.default_rng(seq)
    signer = OrderSigner(system.order_domain)
    keys = rng.integers(1, 2**63, size=(N_TRADERS, 4), dtype=np.uint64)
    traders = [signer.add_key(b"".join(int(w).to_bytes(8, "big") for w in row)) for row in keys]
    signer.add_key(chain.account_keys()[maker])
    chain.set_balances(traders, 10**20)
    mint_test_tokens(system, [maker, *keepers, *traders], 10**30, asset_ids=[0])
    now = chain.timestamp() + 1
    p0 = closes[0]
    actions: list[Action] = [PushPrice(oracle, BTC_FEED, p0, now), PushPrice(oracle, ETH_FEED, ETH_USD * WAD, now)]
    actions += [Deposit(maker, 0, 10**9 * USDC), *(Deposit(k, 0, 5 * 10**7 * USDC) for k in keepers)]
    sides = rng.random(N_TRADERS) < 0.6  # long
    notionals = rng.uniform(2_000, 20_000, N_TRADERS)
    leverage = rng.uniform(2.0, 9.5, N_TRADERS)
    fills: list[Action] = []
    for t, long, notional, lev in zip(traders, sides, notionals, leverage, strict=True):
        size = int(notional) * WAD * WAD // p0 // 10**12 * 10**12
        actions.append(Deposit(t, 0, int(notional / lev * USDC)))
        fills.append(signer.fill(matcher, maker, t, BTC_PERP, size if long else -size, p0))
    for part in (actions, fills):
        for start in range(0, len(part), 500):
            calls = [
                BatchCall(system.core, fn, args, sender=s) for s, fn, args in map(call_of, part[start : start + 500])
            ]
            failed = [r.reason for r in chain.send_batch(calls) if not r.success]
            assert not failed, failed[:3]
    return Book(chain, system, gov, oracle, maker, keepers, traders, closes)


@dataclass
class KeeperProc:
    """One ``novation keeper`` process and its log."""

    name: str
    args: list[str]
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    _fh: Any = None
    _read: int = 0  # bytes of the log parsed into _lines (the driver polls it every few ms)
    _lines: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> None:
        self._fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "novation", "keeper", *self.args], stdout=self._fh, stderr=self._fh, env=self.env
        )

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (complete lines only; what was parsed before is kept)."""
        with self.log.open("rb") as f:
            f.seek(self._read)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._read += len(complete)
        for raw in complete.splitlines():
            if raw.startswith(b"{") and raw.endswith(b"}"):  # not a line cut short by SIGKILL
                self._lines.append(json.loads(raw))
        return self._lines

    @property
    def journal(self) -> Path:
        return Path(self.args[self.args.index("--journal") + 1])

    def last_block(self) -> int:
        blocks = [ln["block"] for ln in self.lines() if ln.get("event") == "block"]
        return max(blocks, default=-1)

    def stop(self, sig: int = 15) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self._fh.close()


def keeper_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


@dataclass
class Run:
    """What the driver mined: block number -> the oracle's push (if any)."""

    first_block: int = 0
    last_block: int = 0
    pushes: dict[str, PushPrice] = field(default_factory=dict)  # by transaction hash


def drive(book: Book, keepers: list[KeeperProc], *, on_round: Any = None) -> Run:
    """Replay the slice block by block (see the module docstring)."""
    chain, rpc = book.chain, book.chain._rpc
    chain.set_automine(False)
    run = Run(first_block=chain.block_number() + 1)
    core = book.system.core

    def mine() -> int:
        ts = chain.timestamp() + BLOCK_S
        rpc("evm_mine", ts)
        number = chain.block_number()
        deadline = time.monotonic() + KEEPER_WAIT_S
        while time.monotonic() < deadline and any(
            k.proc and k.proc.poll() is None and k.last_block() < number for k in keepers
        ):
            time.sleep(0.02)
        return number

    try:
        for i, close in enumerate(book.closes):
            ts = chain.timestamp() + BLOCK_S
            push = PushPrice(book.oracle, BTC_FEED, close, ts)
            data = "0x" + core.abi.encode_call("push_price", (BTC_FEED, close, ts)).hex()
            tx = rpc(
                "eth_sendTransaction", {"from": book.oracle, "to": core.address, "input": data, "gas": hex(500_000)}
            )
            mine()
            run.pushes[str(tx).lower()] = push
            for _ in range(BLOCKS_PER_ROUND - 1):
                mine()
            if on_round is not None:
                on_round(i)
        for _ in range(TAIL_BLOCKS):
            mine()
    finally:
        chain.set_automine(True)
    run.last_block = chain.block_number()
    return run


@dataclass
class Figures:
    liquidations: int
    liquidated_accounts: int
    max_blocks_to_liquidation: int
    mean_blocks_to_liquidation: float
    txs_sent: int
    txs_reverted: int
    txs_lost_race: int
    gas_used: int


def check_against_model(book: Book, run: Run, start_block: int, keepers: list[KeeperProc]) -> Figures:
    """Replay the crash on the model (see the module docstring); returns the printed figures."""
    client = NovationClient(book.chain.url, book.system.core.address)
    accounts = [book.maker, *book.keepers, *book.traders]
    if book.model_start is None or book.model_start[0] != start_block:
        book.model_start = (start_block, client.snapshot(accounts, block=start_block))
    snap = copy.deepcopy(book.model_start[1])
    snap.state.roles.oracles.add(book.oracle)
    house = ClearingHouse.from_state(snap.params, snap.state)
    events = client.events(run.first_block, run.last_block)
    by_block: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        by_block[e.block][e.tx_hash.lower()].append(e)
    since: dict[str, int] = {}  # account -> block it was first seen liquidatable (open episodes)
    delays: list[int] = []
    liquidated: set[str] = set()
    n_liq = 0
    for number in range(run.first_block, run.last_block + 1):
        block = client.rpc.request("eth_getBlockByNumber", [hex(number), False])
        house.apply(AdvanceTime(int(block["timestamp"], 16) - house.state.now_s, number - house.state.block))
        for tx in (str(h).lower() for h in block["transactions"]):  # in the block's order
            if tx in run.pushes:
                house.apply(run.pushes[tx])
                continue
            action = _action_of(client, tx, by_block[number].get(tx, []))
            if action is None:
                continue
            try:
                house.apply(action)
            except ProtocolRevert as exc:
                raise AssertionError(
                    f"block {number}: the chain accepted {action} but the model refuses: {exc}"
                ) from None
            n_liq += 1
            liquidated.add(action.account)
            if action.account in since:
                delays.append(number - since[action.account])
        now_liquidatable = {a for a in house.state.accounts if a not in book.keepers and _liquidatable(house, a)}
        for a in now_liquidatable:
            since.setdefault(a, number)
        for a in list(since):
            if a not in now_liquidatable:
                del since[a]
        late = {a: number - b for a, b in since.items() if number - b >= MAX_BLOCKS_TO_LIQUIDATION}
        assert not late, f"block {number}: accounts liquidatable for too long: {sorted(late.items())[:5]}"
    assert not since, f"still liquidatable at the end: {sorted(since)[:5]}"
    end = client.snapshot(accounts, block=run.last_block)
    assert end.state.insurance_fund == house.state.insurance_fund
    for a in accounts:
        assert end.state.accounts.get(a) == house.state.accounts.get(a) or (
            a not in end.state.accounts
            and house.state.accounts.get(a) is not None
            and not _nonzero(house.state.accounts[a])
        ), f"{a}: chain {end.state.accounts.get(a)} != model {house.state.accounts.get(a)}"
    assert end.state.markets == house.state.markets
    entries = [e for k in keepers for e in Journal(k.journal).entries.values()]  # both lives of a killed one
    assert not [e for e in entries if e.status == "pending"], "transactions still pending at the end"
    reverted = [e for e in entries if e.status == "reverted"]
    return Figures(
        n_liq,
        len(liquidated),
        max(delays, default=0),
        float(np.mean(delays)) if delays else 0.0,
        len(entries),
        len(reverted),
        len([e for e in reverted if e.reason in LOST_RACE]),
        sum(e.gas_used for e in entries),
    )


def _nonzero(acct: Any) -> bool:
    return bool(acct.balance or acct.positions or any(acct.collateral.values()) or acct.realized_pnl)


def _liquidatable(house: ClearingHouse, a: str) -> bool:
    if not house.state.accounts[a].positions:
        return False
    try:
        return house.liquidation_health(a).liquidatable
    except ProtocolRevert:
        return False


def _action_of(client: NovationClient, tx_hash: str, evs: list[Any]) -> Liquidate | LiquidateCollateral | None:
    """The keeper's action of a mined transaction (its arguments as sent), None for the oracle's."""
    kinds = {type(e.event) for e in evs}
    if not kinds & {Liquidated, CollateralLiquidated}:
        return None
    tx = client.rpc.request("eth_getTransactionByHash", [tx_hash])
    sender = str(tx["from"]).lower()
    account, which, amount = decode(["address", "uint256", "uint256"], bytes.fromhex(tx["input"][10:]))
    if Liquidated in kinds:
        return Liquidate(sender, account.lower(), which, amount)
    return LiquidateCollateral(sender, account.lower(), which, amount)


#: Minutes of the slice replayed: the fall to 3,707 and the rebound to 4,600 (02:00-02:31).
MINUTES = 32


def closes(market_data: Path) -> list[int]:
    """BTC closes of the first ``MINUTES`` minutes of the slice (USD WAD)."""
    return [k.close_wad for k in load_klines(market_data / SLICE)][:MINUTES]
