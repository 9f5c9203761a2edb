"""The keeper's block loop, its structured log and its Prometheus counters.

Each new block: settle and replace the keeper's own transactions (:class:`TxSender`), learn new
accounts from the house's events, read the book at that block through the lens
(:meth:`~contracts_py.client.NovationClient.snapshot`), plan the work
(:func:`~contracts_py.keeper.decisions.plan_work`), estimate each transaction's gas and send
what pays (reward minus gas at the gas token's oracle price) or everything with
``unprofitable``; then funding and oracle pokes when configured. An RPC failure during a block
is logged and counted; the block is tried again after a backoff.

Log lines are ``key=value`` text, or one JSON object per line with ``json_logs``; every line has
``ts`` and ``event`` (``start``, ``block``, ``sent``, ``mined``, ``reverted``, ``lost_race``,
``replaced``, ``dropped``, ``skipped``, ``rpc_error``, ``stop``). Counters are written after
every block to ``metrics_path`` in Prometheus' text format (for node_exporter's textfile
collector), atomically.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from contracts_py.at_risk import known_accounts
from contracts_py.build import Builder, house_abi
from contracts_py.chain_house import call_of
from contracts_py.chains.abi import ContractABI
from contracts_py.client import NovationClient
from contracts_py.keeper.decisions import Work, plan_work, work_action
from contracts_py.keeper.transactions import LOST_RACE, Journal, RetryingRpc, SentTx, TxSender
from contracts_py.keeper.wallet import Wallet
from contracts_py.oracle_deploy import oracle_artifacts
from contracts_py.rpc import HttpRpc, Rpc
from protocol.actions import Action, normalize_address
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert

__all__ = ["COUNTERS", "Keeper", "KeeperConfig"]

#: Every counter the keeper exports (``novation_keeper_<name>``), with its help text.
COUNTERS: Final = {
    "blocks_total": "blocks handled",
    "txs_sent_total": "transactions sent (replacements not counted)",
    "txs_mined_total": "transactions mined with status 1",
    "txs_reverted_total": "transactions mined with status 0 (lost races included)",
    "txs_lost_race_total": "reverted because another keeper got there first (normal)",
    "txs_replaced_total": "stuck transactions sent again with higher fees",
    "txs_dropped_total": "nonces taken by a transaction the keeper could not find",
    "liquidations_total": "liquidations, collateral sales and deleveragings mined",
    "pokes_total": "funding and oracle pokes mined",
    "gas_used_total": "gas used by mined and reverted transactions",
    "skipped_unprofitable_total": "work skipped: reward below gas cost",
    "skipped_reverting_total": "work skipped: the node's gas estimate reverted",
    "rpc_errors_total": "failed JSON-RPC calls (each retry counted)",
    "block_errors_total": "blocks abandoned after retries (tried again later)",
}
#: Gas added to a node's estimate.
GAS_MARGIN: Final = 30_000


@dataclass(frozen=True)
class KeeperConfig:
    """What a keeper watches and how it acts.

    ``min_profit_wad``: least reward minus gas cost (USD WAD) worth sending, unless
    ``unprofitable``. ``gas_feed_id``: the feed pricing the chain's gas token in USD (default: the
    feed of a listed collateral whose symbol holds ``ETH``). ``poke_funding_every`` /
    ``poke_oracle_every``: blocks between funding pokes (re-setting each market's rate, which
    accrues funding; needs the funding role) and oracle pokes (``adapter.poke`` of every feed;
    the adapter needs the oracle role); 0 = never. ``chain_id``: the chain the node must serve.
    """

    rpc_url: str
    house: str
    journal: Path
    chain_id: int | None = None
    lens: str | None = None
    min_profit_wad: int = 0
    unprofitable: bool = False
    replace_after_blocks: int = 3
    gas_feed_id: int | None = None
    adapter: str | None = None
    poke_funding_every: int = 0
    poke_oracle_every: int = 0
    poll_s: float = 0.05
    rpc_timeout_s: float = 10.0
    metrics_path: Path | None = None
    json_logs: bool = False
    from_block: int = 0


class Keeper:
    """A keeper on one deployment; ``wallet`` is built from the connected RPC (it may need it)."""

    def __init__(self, config: KeeperConfig, wallet: Callable[[Rpc], Wallet], *, out: TextIO | None = None) -> None:
        self.config, self.out = config, out or sys.stdout
        self.counters: Counter[str] = Counter()
        for name in ("poke_funding_every", "poke_oracle_every", "replace_after_blocks", "from_block"):
            if getattr(config, name) < 0:
                raise InvalidParameter(f"{name} must be a non-negative integer, got {getattr(config, name)}")
        self.rpc = RetryingRpc(HttpRpc(config.rpc_url, timeout_s=config.rpc_timeout_s), on_error=self._rpc_error)
        self.client = NovationClient(self.rpc, config.house, lens=config.lens, chain_id=config.chain_id)
        self.wallet = wallet(self.rpc)
        self.me = self.wallet.address
        builder = Builder()
        self.abi = ContractABI(house_abi(builder), "clearing_house")
        self.adapter_abi = ContractABI(oracle_artifacts(builder).adapter.abi, "oracle_adapter")
        self.adapter = None if config.adapter is None else normalize_address(config.adapter, "adapter address")
        self._check_roles()
        self.params = self.client.params_from_chain()
        self.gas_feed = self._gas_feed()
        self.journal = Journal(config.journal)
        self.sender = TxSender(
            self.rpc,
            self.wallet,
            self.client.chain_id,
            self.journal,
            replace_after_blocks=config.replace_after_blocks,
            notify=self._tx_event,
        )
        self.accounts: set[str] = set()
        #: The actions of the keeper's pending transactions, by key (the model's next block holds
        #: them); after a restart, those of the journal's pending entries.
        self._sent_actions: dict[str, Action] = self._journal_actions()
        self._accounts_to = config.from_block - 1
        self.last_block: int | None = None

    # ------------------------------------------------------------------ set-up checks

    def _view(self, to: str, abi: ContractABI, fn: str, *args: Any) -> Any:
        data = "0x" + abi.encode_call(fn, args).hex()
        raw = self.rpc.request("eth_call", [{"to": to, "data": data}, "latest"])
        return abi.decode_output(fn, len(args), bytes.fromhex(str(raw)[2:]))

    def _check_roles(self) -> None:
        """Refuse pokes the roles do not allow, in one sentence each."""
        house = self.client.house
        if self.config.poke_funding_every and not self._view(house, self.abi, "funding_operators", self.me):
            raise InvalidParameter(
                f"account {self.me} lacks the funding role on house {house}, which funding pokes need: "
                "have governance grant it (set_role('funding', ...)) or drop --poke-funding-every"
            )
        if self.config.poke_oracle_every:
            if self.adapter is None:
                raise InvalidParameter("oracle pokes need the oracle adapter's address: give --adapter ADDR")
            if not self._view(house, self.abi, "oracles", self.adapter):
                raise InvalidParameter(
                    f"oracle adapter {self.adapter} lacks the oracle role on house {house}, so its pokes "
                    "cannot push prices: have governance grant it or drop --poke-oracle-every"
                )

    def _gas_feed(self) -> int:
        feeds = {f.feed_id for f in self.params.feeds}
        if self.config.gas_feed_id is not None:
            if self.config.gas_feed_id not in feeds:
                raise InvalidParameter(f"gas feed {self.config.gas_feed_id} is not listed; listed: {sorted(feeds)}")
            return self.config.gas_feed_id
        for c in self.params.collaterals:
            if "ETH" in c.symbol.upper():
                return c.feed_id
        raise InvalidParameter("no listed collateral prices the gas token: give --gas-feed FEED_ID")

    def _journal_actions(self) -> dict[str, Action]:
        """The actions of the journal's pending transactions to the house, by key, decoded from
        their calldata: a restarted keeper counts its in-flight work against the per-block
        liquidation cap when it plans, as the process that sent it did."""
        out = {}
        for e in self.journal.pending():
            if normalize_address(e.to, "journal entry's target") != self.client.house:
                continue  # an oracle poke
            fn, args = self.abi.decode_call(bytes.fromhex(e.data.removeprefix("0x")))
            action = work_action(self.me, fn, args)
            if action is not None:
                out[e.key] = action
        return out

    # ------------------------------------------------------------------ log and counters

    def log(self, event: str, **fields: Any) -> None:
        """One structured log line."""
        line = {"ts": round(time.time(), 3), "event": event, **fields}
        text = json.dumps(line, default=str) if self.config.json_logs else " ".join(f"{k}={v}" for k, v in line.items())
        self.out.write(text + "\n")
        self.out.flush()

    def _rpc_error(self, what: str, exc: ChainError) -> None:
        self.counters["rpc_errors_total"] += 1
        self.log("rpc_error", call=what, error=str(exc))

    def _tx_event(self, event: str, fields: dict[str, Any]) -> None:
        if event == "sent":
            self.counters["txs_sent_total"] += 1
        elif event == "replaced":
            self.counters["txs_replaced_total"] += 1
        elif event == "dropped":
            self.counters["txs_dropped_total"] += 1
        elif event in ("mined", "reverted"):
            self._settled(fields)
            if event == "reverted" and fields.get("reason") in LOST_RACE:
                event = "lost_race"
        self.log(event, **{k: v for k, v in fields.items() if k not in ("data", "hashes")})

    def _settled(self, fields: dict[str, Any]) -> None:
        self.counters["gas_used_total"] += int(fields["gas_used"])
        if fields["status"] == "mined":
            self.counters["txs_mined_total"] += 1
            kind = "pokes_total" if str(fields["key"]).startswith("poke") else "liquidations_total"
            self.counters[kind] += 1
            return
        self.counters["txs_reverted_total"] += 1
        if fields.get("reason") in LOST_RACE:
            self.counters["txs_lost_race_total"] += 1

    def metrics_text(self) -> str:
        """The counters in Prometheus' text exposition format."""
        lines = []
        for name, help_text in COUNTERS.items():
            lines += [
                f"# HELP novation_keeper_{name} {help_text}",
                f"# TYPE novation_keeper_{name} counter",
                f"novation_keeper_{name} {self.counters[name]}",
            ]
        return "\n".join(lines) + "\n"

    def write_metrics(self) -> None:
        """Write :meth:`metrics_text` to ``metrics_path`` (temporary file, then rename)."""
        path = self.config.metrics_path
        if path is None:
            return
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.metrics_text())
        os.replace(tmp, path)

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event, *, max_blocks: int | None = None) -> None:
        """Handle every new block until ``stop`` is set (or ``max_blocks`` were handled)."""
        self.log("start", keeper=self.me, house=self.client.house, chain_id=self.client.chain_id,
                 pending=len(self.journal.pending()), next_nonce=self.sender.next_nonce)  # fmt: skip
        delay = self.config.poll_s
        while not stop.is_set() and (max_blocks is None or self.counters["blocks_total"] < max_blocks):
            try:
                head = self.client.block_number()
                if head == self.last_block:
                    stop.wait(self.config.poll_s)
                    continue
                self.handle_block(head)
                delay = self.config.poll_s
            except ChainError as exc:
                self.counters["block_errors_total"] += 1
                self.log("block_error", error=str(exc))
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        self.write_metrics()
        self.log("stop", **dict(self.counters))

    def handle_block(self, head: int) -> None:
        """Everything the keeper does for block ``head``."""
        self.sender.reconcile(head)
        if head > self._accounts_to:
            self.accounts.update(known_accounts(self.client, self._accounts_to + 1, head))
            self._accounts_to = head
        snap = self.client.snapshot(sorted(self.accounts), block=head)
        pending = self.journal.pending_keys()
        self._sent_actions = {k: a for k, a in self._sent_actions.items() if k in pending}
        work = plan_work(snap, self.me, skip=pending, pending=list(self._sent_actions.values()))
        fees = self.sender.fees() if work or self._poking(head) else (0, 0)
        gas_price_usd = snap.state.feeds[self.gas_feed].price_wad  # USD per 1e18 wei, WAD
        sent = 0
        for item, gas in zip(work, self._estimates([self._data(w) for w in work]), strict=True):
            if gas is None:
                self.counters["skipped_reverting_total"] += 1
                self.log("skipped", key=item.key, why="gas estimate reverted")
                continue
            cost = gas * fees[0] * gas_price_usd // 10**18
            if not self.config.unprofitable and item.reward_wad - cost < self.config.min_profit_wad:
                self.counters["skipped_unprofitable_total"] += 1
                self.log("skipped", key=item.key, why="unprofitable", reward_wad=item.reward_wad, gas_cost_wad=cost)
                continue
            self.sender.send(item.key, self.client.house, self._data(item)[1], gas + GAS_MARGIN, head, fees)
            self._sent_actions[item.key] = item.action
            sent += 1
        sent += self._pokes(head, snap.state.markets, fees)
        self.last_block = head
        self.counters["blocks_total"] += 1
        self.write_metrics()
        self.log("block", block=head, accounts=len(self.accounts), work=len(work), sent=sent,
                 pending=len(self.journal.pending()))  # fmt: skip

    def _data(self, w: Work) -> tuple[str, str]:
        _, fn, args = call_of(w.action)
        return self.client.house, "0x" + self.abi.encode_call(fn, args).hex()

    def _estimates(self, calls: list[tuple[str, str]]) -> list[int | None]:
        """The node's gas estimate of each call from the keeper (None where it reverts)."""
        if not calls:
            return []
        reqs = [("eth_estimateGas", [{"from": self.me, "to": to, "data": data}]) for to, data in calls]
        try:
            return [int(g, 16) for g in self.rpc.batch(reqs)]
        except ProtocolRevert:
            pass  # one of them reverts: ask one by one
        out: list[int | None] = []
        for req in reqs:
            try:
                out.append(int(self.rpc.request(*req), 16))
            except ProtocolRevert:
                out.append(None)
        return out

    def _poking(self, head: int) -> bool:
        f, o = self.config.poke_funding_every, self.config.poke_oracle_every
        return bool(f and head % f == 0) or bool(o and head % o == 0)

    def _pokes(self, head: int, markets: Any, fees: tuple[int, int]) -> int:
        """Funding and oracle pokes due at ``head`` (not already pending); returns how many were sent."""
        calls: list[tuple[str, str, str]] = []
        f, o = self.config.poke_funding_every, self.config.poke_oracle_every
        if f and head % f == 0:
            for m in self.params.market_ids:
                raw = self.abi.encode_call("set_funding_rate", (m, markets[m].funding_rate_per_s_wad))
                calls.append((f"poke_funding:{m}", self.client.house, "0x" + raw.hex()))
        if o and head % o == 0 and self.adapter is not None:
            for feed in self.params.feeds:
                raw = self.adapter_abi.encode_call("poke", (feed.feed_id,))
                calls.append((f"poke_oracle:{feed.feed_id}", self.adapter, "0x" + raw.hex()))
        pending = self.journal.pending_keys()
        calls = [c for c in calls if c[0] not in pending]
        sent = 0
        for (key, to, data), gas in zip(calls, self._estimates([(to, d) for _, to, d in calls]), strict=True):
            if gas is None:
                self.counters["skipped_reverting_total"] += 1
                self.log("skipped", key=key, why="gas estimate reverted")
                continue
            self.sender.send(key, to, data, gas + GAS_MARGIN, head, fees)
            sent += 1
        return sent

    def settled(self) -> list[SentTx]:
        """Every journal entry (for reports)."""
        return [e for _, e in sorted(self.journal.entries.items())]
