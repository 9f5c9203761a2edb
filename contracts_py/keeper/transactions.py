"""The keeper's transactions: its own nonces, a journal on disk, replacement, retries.

Every transaction is written to the :class:`Journal` (atomically: a temporary file renamed over
the old one) *before* it is sent, under a key naming its work (``liquidate:ACCOUNT:MARKET``). A
key with a pending entry is never sent again, so a keeper killed at any moment and restarted
resumes without double sending: it reconciles the journal with the chain first
(:meth:`TxSender.reconcile`).

Reconciling a pending entry, each block:

* a receipt for one of its hashes: mined (status 1) or reverted (status 0, the reason read from
  the node's trace of the transaction, else from the call replayed before its block:
  :meth:`TxSender._revert_reason`);
* no receipt, but the account's mined nonce is past the entry's: the nonce went into a block under
  a hash the keeper does not know (an answer lost on a flaky RPC, for unsigned transactions): the
  blocks since it was sent are searched for it;
* neither, after ``replace_after_blocks`` blocks: stuck (or dropped by the node): sent again
  with the same nonce and fees raised by ``FEE_BUMP`` (nodes replace a pending transaction
  for at least a 10 % raise).

:class:`RetryingRpc` retries a failed JSON-RPC call (an unreachable node, a timeout, an error
answer) with exponential backoff; a revert is an answer, not retried.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from contracts_py.chains.base import CALL_TRACER, trace_revert_reason
from contracts_py.keeper.wallet import Wallet
from contracts_py.rpc import Rpc
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert

__all__ = ["BEATEN_IN_BLOCK", "FEE_BUMP_WAD", "LOST_RACE", "Journal", "RetryingRpc", "SentTx", "TxSender"]

#: Fee raise of a replacement (WAD fraction: 12.5 %, above the 10 % nodes require).
FEE_BUMP_WAD: Final = 125 * 10**15
#: Reason of a reverted transaction whose call passes on the state before its block (read where
#: the node does not trace): an earlier transaction of the same block took the work.
BEATEN_IN_BLOCK: Final = "lost race: passes before its block, reverted after earlier transactions in it"
#: Revert reasons meaning someone else got there first (normal among competing keepers).
LOST_RACE: Final = frozenset(
    {
        BEATEN_IN_BLOCK,
        "liquidation: account healthy",
        "liquidation: no position",
        "liquidation: balance not negative",
        "liquidation: size exceeds position",
        "liquidation: closes more than needed",
        "liquidation: block cap reached",
        "liquidation: amount exceeds collateral",
        "liquidation: sells more than needed",
    }
)


class RetryingRpc(Rpc):
    """``inner`` with up to ``attempts`` tries per call, sleeping ``base_delay_s * 2**k`` (at most
    ``max_delay_s``) between them; ``on_error`` sees every failure (for counters and logs)."""

    def __init__(
        self,
        inner: Rpc,
        *,
        attempts: int = 6,
        base_delay_s: float = 0.05,
        max_delay_s: float = 2.0,
        on_error: Callable[[str, ChainError], None] | None = None,
    ) -> None:
        if attempts < 1 or base_delay_s < 0 or max_delay_s < base_delay_s:
            raise InvalidParameter("retries need attempts >= 1 and 0 <= base delay <= max delay")
        self.inner, self.name = inner, inner.name
        self.attempts, self.base_delay_s, self.max_delay_s = attempts, base_delay_s, max_delay_s
        self.on_error = on_error

    def _retry(self, what: str, fn: Callable[[], Any]) -> Any:
        for k in range(self.attempts):
            try:
                return fn()
            except ProtocolRevert:
                raise
            except ChainError as exc:
                if self.on_error is not None:
                    self.on_error(what, exc)
                if k == self.attempts - 1:
                    raise
                time.sleep(min(self.base_delay_s * 2**k, self.max_delay_s))
        raise AssertionError("unreachable")

    def request(self, method: str, params: Sequence[Any]) -> Any:
        return self._retry(method, lambda: self.inner.request(method, params))

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        return list(self._retry("batch", lambda: self.inner.batch(calls)))

    def close(self) -> None:
        self.inner.close()


@dataclass
class SentTx:
    """One nonce's transaction (and its replacements) as the journal keeps it; fees in wei."""

    key: str
    nonce: int
    to: str
    data: str
    gas: int
    max_fee: int
    priority_fee: int
    sent_block: int
    hashes: list[str] = field(default_factory=list)
    #: pending, mined, reverted or dropped (the nonce went to a transaction not found)
    status: str = "pending"
    reason: str | None = None
    mined_block: int | None = None
    gas_used: int = 0
    replacements: int = 0


class Journal:
    """The keeper's sent transactions by nonce, persisted at ``path`` (JSON, written atomically)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: dict[int, SentTx] = {}
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text())
                self.entries = {int(e["nonce"]): SentTx(**e) for e in raw["transactions"]}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InvalidParameter(f"journal {self.path} is not a keeper journal ({exc})") from None

    def save(self) -> None:
        """Write every entry: to a temporary file, flushed, then renamed over the journal."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        body = {"transactions": [dataclasses.asdict(e) for _, e in sorted(self.entries.items())]}
        with tmp.open("w") as f:
            json.dump(body, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def pending(self) -> list[SentTx]:
        """Entries not settled yet, by nonce."""
        return [e for _, e in sorted(self.entries.items()) if e.status == "pending"]

    def pending_keys(self) -> set[str]:
        """Keys of the pending entries: work not to send again."""
        return {e.key for e in self.pending()}


class TxSender:
    """Sends the keeper's transactions with nonces it assigns itself.

    ``notify(event, fields)`` hears of every send, replacement and settlement (logs, counters).
    """

    def __init__(
        self,
        rpc: Rpc,
        wallet: Wallet,
        chain_id: int,
        journal: Journal,
        *,
        replace_after_blocks: int = 3,
        notify: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        if replace_after_blocks < 1:
            raise InvalidParameter(f"replace_after_blocks must be >= 1, got {replace_after_blocks}")
        self.rpc, self.wallet, self.chain_id = rpc, wallet, chain_id
        self.journal, self.replace_after_blocks = journal, replace_after_blocks
        self.notify = notify or (lambda _event, _fields: None)
        chain_next = int(self.rpc.request("eth_getTransactionCount", [wallet.address, "pending"]), 16)
        self.next_nonce = max([chain_next, *(n + 1 for n in journal.entries)])
        self._traces = True  # the node answers debug_traceTransaction (until it fails to)

    def fees(self) -> tuple[int, int]:
        """(maxFeePerGas, maxPriorityFeePerGas) in wei for a transaction sent now."""
        block, tip = self.rpc.batch([("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])])
        priority = int(tip, 16)
        return 2 * int(block.get("baseFeePerGas", "0x0"), 16) + priority, priority

    def _tx(self, e: SentTx) -> dict[str, int | str]:
        return {
            "chainId": self.chain_id,
            "nonce": e.nonce,
            "to": e.to,
            "data": e.data,
            "gas": e.gas,
            "maxFeePerGas": e.max_fee,
            "maxPriorityFeePerGas": e.priority_fee,
        }

    def _broadcast(self, e: SentTx) -> None:
        """Journal ``e`` (with its hash when known), then send it; a lost answer leaves it pending."""
        tx = self._tx(e)
        known = self.wallet.known_hash(tx)
        if known is not None and known not in e.hashes:
            e.hashes.append(known)
        self.journal.save()
        try:
            h = self.wallet.send(self.rpc, tx).lower()
        except ProtocolRevert as exc:  # a node that simulates before accepting
            e.status, e.reason = "reverted", str(exc)
            self.journal.save()
            return
        except ChainError as exc:
            self.notify("send_error", {"key": e.key, "nonce": e.nonce, "error": str(exc)})
            return
        if h not in e.hashes:
            e.hashes.append(h)
            self.journal.save()

    def send(self, key: str, to: str, data: str, gas: int, head: int, fees: tuple[int, int]) -> SentTx:
        """Send ``data`` to ``to`` (the house, or an oracle adapter) under ``key`` with the next nonce."""
        e = SentTx(key, self.next_nonce, to, data, gas, fees[0], fees[1], head)
        self.next_nonce += 1
        self.journal.entries[e.nonce] = e
        self._broadcast(e)
        self.notify("sent", {"key": key, "nonce": e.nonce, "gas": gas, "max_fee_wei": e.max_fee})
        return e

    def reconcile(self, head: int) -> list[SentTx]:
        """Settle what the chain settled by ``head``; replace what is stuck. Returns the entries
        settled now."""
        pending = self.journal.pending()
        if not pending:
            return []
        mined_nonce = int(self.rpc.request("eth_getTransactionCount", [self.wallet.address, hex(head)]), 16)
        hashes = [h for e in pending for h in e.hashes]
        receipts = dict(zip(hashes, self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes]), strict=True))
        settled = []
        for e in pending:
            receipt = next((r for h in e.hashes if (r := receipts.get(h)) is not None), None)
            if receipt is None and e.nonce < mined_nonce:
                receipt = self._find(e, head)
                if receipt is None:
                    e.status = "dropped"
                    settled.append(e)
                    continue
            if receipt is not None:
                self._settle(e, receipt)
                settled.append(e)
            elif head - e.sent_block >= self.replace_after_blocks:
                self._replace(e, head)
        self.journal.save()
        for e in settled:
            self.notify(e.status, dataclasses.asdict(e))
        return settled

    def _find(self, e: SentTx, head: int) -> dict[str, Any] | None:
        """The receipt of the keeper's transaction with ``e``'s nonce, searched in the blocks
        mined since ``e`` was first sent."""
        blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(b), True]) for b in range(e.sent_block, head + 1)])
        for block in blocks:
            for tx in (block or {}).get("transactions", []):
                if str(tx.get("from", "")).lower() == self.wallet.address and int(tx["nonce"], 16) == e.nonce:
                    e.hashes.append(str(tx["hash"]).lower())
                    return dict(self.rpc.request("eth_getTransactionReceipt", [tx["hash"]]))
        return None

    def _settle(self, e: SentTx, receipt: dict[str, Any]) -> None:
        e.mined_block = int(receipt["blockNumber"], 16)
        e.gas_used = int(receipt["gasUsed"], 16)
        if int(receipt["status"], 16) == 1:
            e.status = "mined"
            return
        e.status = "reverted"
        e.reason = self._revert_reason(e, str(receipt["transactionHash"]), e.mined_block)

    def _revert_reason(self, e: SentTx, tx_hash: str, block: int) -> str:
        """Why ``e``, mined as ``tx_hash`` in ``block``, reverted: the reason in the node's trace of it
        (``debug_traceTransaction``: anvil, geth, reth, erigon); where the node does not trace,
        the call replayed on the state before its block: a revert there gives the reason, a call
        that passes there was beaten by an earlier transaction of its block
        (:data:`BEATEN_IN_BLOCK`, a lost race). Re-running the call *at* its block would not do:
        that is the state after the block, and a node may answer it under other block values."""
        if self._traces:
            try:
                reason = trace_revert_reason(self.rpc.request("debug_traceTransaction", [tx_hash, CALL_TRACER]))
            except ChainError:
                self._traces = False  # not served (the retries are spent): replay from now on
            else:
                if reason is not None:
                    return reason
        call = {"from": self.wallet.address, "to": e.to, "data": e.data, "gas": hex(e.gas)}
        try:
            self.rpc.request("eth_call", [call, hex(block - 1)])
        except ProtocolRevert as exc:
            return str(exc)
        except ChainError as exc:
            return f"reverted (reason unavailable: {exc})"
        return BEATEN_IN_BLOCK

    def _replace(self, e: SentTx, head: int) -> None:
        """Send ``e`` again with the same nonce and fees raised by :data:`FEE_BUMP_WAD`."""
        now_fee, now_tip = self.fees()
        bump = 10**18 + FEE_BUMP_WAD
        e.max_fee = max(-(-e.max_fee * bump // 10**18) + 1, now_fee)
        e.priority_fee = max(-(-e.priority_fee * bump // 10**18) + 1, now_tip)
        e.max_fee = max(e.max_fee, e.priority_fee)
        e.sent_block, e.replacements = head, e.replacements + 1
        self._broadcast(e)
        self.notify("replaced", {"key": e.key, "nonce": e.nonce, "max_fee_wei": e.max_fee})
