"""anvil backend: a real node (the pinned ``@foundry-rs/anvil``) over JSON-RPC.

:class:`AnvilChain` either starts its own node on a free loopback port (``--hardfork prague
--silent``; stopped on :meth:`AnvilChain.close`, on context exit and at interpreter exit) or
attaches to ``rpc_url``. Its fast path, :meth:`AnvilChain.send_batch`, signs the transactions
locally with explicit nonces, sends them in one JSON-RPC batch request and collects the receipts
in a second one (about 2,000 ERC20 transfers/s here, ~20x one transaction at a time).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import Any, Final

from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from web3 import Web3

from contracts_py.chains.abi import decode_revert, normalize_address
from contracts_py.chains.anvil_process import AnvilProcess, find_anvil, rpc_request
from contracts_py.chains.base import (
    DEFAULT_DEPLOY_GAS,
    DEFAULT_TX_GAS,
    NO_REASON,
    BatchCall,
    RawLog,
    TxResult,
)
from contracts_py.chains.signing import Signer
from contracts_py.chains.web3_chain import Web3Chain
from protocol.errors import ChainError, InvalidParameter

__all__ = ["DEV_MNEMONIC", "AnvilChain"]

#: anvil's default dev-account mnemonic (public test keys; never hold real value).
DEV_MNEMONIC: Final = "test test test test test test test test test test test junk"
_N_DEV_ACCOUNTS: Final = 10
_PRIORITY_FEE_WEI: Final = 10**9


def _dev_keys() -> dict[str, bytes]:
    seed = seed_from_mnemonic(DEV_MNEMONIC, "")
    keys: dict[str, bytes] = {}
    for i in range(_N_DEV_ACCOUNTS):
        key = key_from_seed(seed, f"m/44'/60'/0'/0/{i}")
        keys[normalize_address(Account.from_key(key).address)] = key
    return keys


class AnvilChain(Web3Chain):
    """A started or attached anvil node.

    ``rpc_url``: attach to this node instead of starting one (it must answer ``eth_chainId``).
    ``anvil_path``: the binary (default: see :func:`~contracts_py.chains.anvil_process.find_anvil`).
    ``extra_args``: more anvil flags (e.g. ``["--code-size-limit", "40000"]``).
    ``private_keys``: signing keys for :meth:`send_batch` on an attached node (the default dev
    keys are known for a node started here).
    """

    name = "anvil"
    _snapshot_consumed = True

    def __init__(
        self,
        rpc_url: str | None = None,
        *,
        anvil_path: str | None = None,
        hardfork: str = "prague",
        extra_args: Sequence[str] = (),
        startup_timeout_s: float = 30.0,
        private_keys: Sequence[str | bytes] | None = None,
        gas_limit: int = DEFAULT_TX_GAS,
        deploy_gas_limit: int = DEFAULT_DEPLOY_GAS,
    ) -> None:
        self.process: AnvilProcess | None = None
        if rpc_url is None:
            self.process = AnvilProcess(
                find_anvil(anvil_path), hardfork=hardfork, extra_args=extra_args, startup_timeout_s=startup_timeout_s
            )
            self.url = self.process.url
        else:
            self.url = rpc_url
            answer = rpc_request(
                rpc_url, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout_s=5
            )
            if not isinstance(answer, dict) or "result" not in answer:
                raise ChainError(f"{rpc_url} is not an Ethereum JSON-RPC node (eth_chainId answered {answer!r})")
        self._explicit_keys = [bytes.fromhex(k[2:] if isinstance(k, str) else k.hex()) for k in private_keys or ()]
        self._signers: dict[str, Signer] | None = None
        try:
            w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 120}))
            super().__init__(w3, gas_limit=gas_limit, deploy_gas_limit=deploy_gas_limit)
            self.chain_id = int(self._rpc("eth_chainId"), 16)
        except BaseException:
            self.close()
            raise

    # --- raw JSON-RPC --------------------------------------------------------------------------

    def _rpc(self, method: str, *params: Any) -> Any:
        answer = rpc_request(self.url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in answer:
            raise ChainError(f"anvil: {method} failed: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def _rpc_batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        if not calls:
            return []
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers = rpc_request(self.url, payload)
        if not isinstance(answers, list):
            raise ChainError(f"anvil: batch request failed: {answers!r}")
        return sorted(answers, key=lambda a: int(a["id"]))

    # --- backend primitives ---------------------------------------------------------------------

    def _failure_reason(self, tx_hash: str) -> str | None:
        try:
            trace = self._rpc("debug_traceTransaction", tx_hash, {"tracer": "callTracer"})
        except ChainError:
            return None
        return _trace_reason(trace)

    def _take_snapshot(self) -> Any:
        return self._rpc("evm_snapshot")

    def _revert_to(self, handle: Any) -> None:
        if self._rpc("evm_revert", handle) is not True:
            raise ChainError(f"anvil: evm_revert({handle}) refused: the snapshot no longer exists")

    def set_next_timestamp(self, timestamp_s: int) -> None:
        self._check_next_timestamp(timestamp_s)
        self._rpc("evm_setNextBlockTimestamp", timestamp_s)

    def mine(self, blocks: int = 1) -> None:
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise InvalidParameter(f"blocks must be a positive integer, got {blocks!r}")
        self._rpc("anvil_mine", hex(blocks))

    def set_automine(self, enabled: bool) -> None:
        self._rpc("evm_setAutomine", bool(enabled))
        self._automine = bool(enabled)

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
        super().close()

    # --- batch fast path ------------------------------------------------------------------------

    def _signer(self, sender: str) -> Signer:
        if self._signers is None:
            keys = _dev_keys() if self.process is not None else {}
            for k in self._explicit_keys:
                keys[normalize_address(Account.from_key(k).address)] = k
            self._signers = {address: Signer(k) for address, k in keys.items()}
        signer = self._signers.get(sender)
        if signer is None:
            raise ChainError(
                f"anvil: no signing key for {sender}; pass private_keys= when attaching to a node with other accounts"
            )
        return signer

    def send_batch(self, calls: Sequence[BatchCall]) -> list[TxResult]:
        """Sign all ``calls`` locally, send them in one JSON-RPC batch, then fetch all receipts.

        Automine is paused while the batch is queued; then blocks are mined until the pool is
        empty, so the whole batch usually lands in one block (same ``block.timestamp``) and runs
        exactly in list order, across senders too (explicit nonces, strictly decreasing fees).
        There is no dry run: a reverted transaction is mined with status 0 and its
        :class:`TxResult` has ``success=False`` and the reason (from ``debug_traceTransaction``).
        """
        if not calls:
            return []
        if not self._automine:
            raise ChainError("anvil: send_batch needs automine on (it mines the batch itself)")
        senders = [self._sender(c.sender) for c in calls]
        distinct = sorted(set(senders))
        answers = self._rpc_batch(
            [("eth_getTransactionCount", [s, "pending"]) for s in distinct]
            + [("eth_getBlockByNumber", ["latest", False])]
        )
        nonces = {s: int(a["result"], 16) for s, a in zip(distinct, answers, strict=False)}
        base_fee = int(answers[-1]["result"].get("baseFeePerGas", "0x0"), 16)
        n = len(calls)
        max_fee = 2 * base_fee + _PRIORITY_FEE_WEI + n
        raws: list[str] = []
        for i, (c, sender) in enumerate(zip(calls, senders, strict=True)):
            raws.append(self._sign_ordered(c, sender, nonces, i, n, max_fee))
        # Queue everything, then build blocks from the full pool: anvil orders a block by fee
        # (ties grouped by sender), so strictly decreasing fees reproduce the list order.
        self._rpc("evm_setAutomine", False)
        try:
            sent = self._rpc_batch([("eth_sendRawTransaction", [raw]) for raw in raws])
            errors = [a["error"] for a in sent if "error" in a]
            if errors:
                self._rpc("anvil_dropAllTransactions")
                raise ChainError(f"anvil: {len(errors)} of {len(raws)} batch transactions were refused: {errors[0]}")
            for _ in range(n):
                self._rpc("evm_mine")
                if int(self._rpc("txpool_status")["pending"], 16) == 0:
                    break
        finally:
            self._rpc("evm_setAutomine", True)
        hashes = [str(a["result"]) for a in sent]
        receipts = [a.get("result") for a in self._rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes])]
        failed = [h for h, r in zip(hashes, receipts, strict=True) if r is not None and int(r["status"], 16) != 1]
        reasons: dict[str, str] = {}
        if failed:
            traces = self._rpc_batch([("debug_traceTransaction", [h, {"tracer": "callTracer"}]) for h in failed])
            reasons = {h: _trace_reason(t.get("result")) or NO_REASON for h, t in zip(failed, traces, strict=True)}
        return [self._batch_result(h, r, reasons.get(h)) for h, r in zip(hashes, receipts, strict=True)]

    def _sign_ordered(
        self, c: BatchCall, sender: str, nonces: dict[str, int], i: int, n: int, max_fee: int
    ) -> str:
        """Sign the ``i``-th of ``n`` batch calls with the sender's next nonce (advanced here).

        Fees strictly decrease along the list, so anvil's fee-ordered block builder keeps the
        list order.
        """
        raw = self._signer(sender).sign_eip1559(
            chain_id=self.chain_id,
            nonce=nonces[sender],
            max_priority_fee_per_gas=_PRIORITY_FEE_WEI + n - i,
            max_fee_per_gas=max_fee - i,
            gas=c.gas or self.gas_limit,
            to=bytes.fromhex(c.contract.address[2:]),
            value=c.value,
            data=c.contract.abi.encode_call(c.fn_name, c.args),
        )
        nonces[sender] += 1
        return "0x" + raw.hex()

    def send_batch_blocks(self, calls: Sequence[BatchCall], *, chunk: int = 200) -> list[TxResult]:
        """Like :meth:`send_batch`, but each transaction in its own block and pipelined.

        Needs a node started with a block gas limit equal to the transaction gas limit
        (``--gas-limit 8000000`` with the default ``gas_limit``), so no block holds two
        transactions, and ``anvil_setBlockTimestampInterval 1``. The transactions are signed
        locally (explicit nonces, strictly decreasing fees) and, ``chunk`` at a time, queued in one
        JSON-RPC batch with automine off, mined with one ``anvil_mine(len(chunk))`` and their
        receipts fetched in one batch, by a helper thread, while this thread signs the next
        chunks and decodes the receipts already back (anvil and Python work on both cores).
        Transaction ``k`` lands in block ``latest + 1 + k``, one second after the block before
        (the first at the timestamp :meth:`set_next_timestamp` set, if any); both are checked
        (ChainError otherwise). A reverted transaction is mined with status 0 (its block empty of
        effects) and gets ``success=False`` and its reason, as in :meth:`send_batch`.
        """
        if not calls:
            return []
        if not self._automine:
            raise ChainError("anvil: send_batch_blocks needs automine on (it mines the batch itself)")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise InvalidParameter(f"chunk must be a positive integer, got {chunk!r}")
        senders = [self._sender(c.sender) for c in calls]
        distinct = sorted(set(senders))
        answers = self._rpc_batch(
            [("eth_getTransactionCount", [s, "pending"]) for s in distinct]
            + [("eth_getBlockByNumber", ["latest", False])]
        )
        nonces = {s: int(a["result"], 16) for s, a in zip(distinct, answers, strict=False)}
        latest = answers[-1]["result"]
        first_block, last_ts = int(latest["number"], 16) + 1, int(latest["timestamp"], 16)
        base_fee = int(latest.get("baseFeePerGas", "0x0"), 16)
        n = len(calls)
        max_fee = 2 * base_fee + _PRIORITY_FEE_WEI + n
        todo: queue.Queue[list[str] | None] = queue.Queue()
        done: queue.Queue[tuple[list[str], list[dict[str, Any] | None]] | BaseException] = queue.Queue()

        def node_side() -> None:  # helper thread: the only one talking to the node meanwhile
            try:
                while (raws := todo.get()) is not None:
                    sent = self._rpc_batch([("eth_sendRawTransaction", [raw]) for raw in raws])
                    errors = [a["error"] for a in sent if "error" in a]
                    if errors:
                        raise ChainError(f"anvil: {len(errors)} batch transactions were refused: {errors[0]}")
                    self._rpc("anvil_mine", hex(len(raws)))
                    hashes = [str(a["result"]) for a in sent]
                    receipts = self._rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes])
                    done.put((hashes, [a.get("result") for a in receipts]))
            except BaseException as exc:  # handed to the caller's thread
                done.put(exc)

        self._rpc("evm_setAutomine", False)
        worker = threading.Thread(target=node_side, name="anvil-send-batch-blocks", daemon=True)
        worker.start()
        hashes: list[str] = []
        receipts: list[dict[str, Any] | None] = []
        finished = False
        try:
            for lo in range(0, n, chunk):
                raws = []
                for i in range(lo, min(lo + chunk, n)):
                    raws.append(self._sign_ordered(calls[i], senders[i], nonces, i, n, max_fee))
                todo.put(raws)
            todo.put(None)
            results: list[TxResult] = []
            while len(hashes) < n:
                got = done.get()
                if isinstance(got, BaseException):
                    raise got
                for h, r in zip(*got, strict=True):
                    k = len(hashes)
                    hashes.append(h)
                    receipts.append(r)
                    if r is None or int(r["blockNumber"], 16) != first_block + k:
                        raise ChainError(
                            f"anvil put batch transaction {k} into block {r and int(r['blockNumber'], 16)}, expected "
                            f"{first_block + k}: start anvil with a block gas limit equal to the transaction gas limit"
                        )
                    results.append(self._batch_result(h, r, None))
            finished = True
        finally:
            todo.put(None)
            worker.join()
            if not finished:
                self._rpc("anvil_dropAllTransactions")
            self._rpc("evm_setAutomine", True)
        ends = self._rpc_batch([("eth_getBlockByNumber", [hex(b), False]) for b in (first_block, first_block + n - 1)])
        first_ts, end_ts = (int(a["result"]["timestamp"], 16) for a in ends)
        if end_ts - first_ts != n - 1 or first_ts <= last_ts:
            raise ChainError(
                f"anvil: the {n} blocks of the batch span timestamps {first_ts}..{end_ts}, not one second apart: "
                "set anvil_setBlockTimestampInterval 1"
            )
        failed = [k for k, r in enumerate(receipts) if r is not None and int(r["status"], 16) != 1]
        if failed:
            traces = self._rpc_batch(
                [("debug_traceTransaction", [hashes[k], {"tracer": "callTracer"}]) for k in failed]
            )
            for k, t in zip(failed, traces, strict=True):
                reason = _trace_reason(t.get("result")) or NO_REASON
                results[k] = self._batch_result(hashes[k], receipts[k], reason)
        return results

    def _batch_result(self, tx_hash: str, receipt: dict[str, Any] | None, reason: str | None) -> TxResult:
        if receipt is None:
            raise ChainError(f"anvil: no receipt for batch transaction {tx_hash}")
        logs = [
            RawLog(
                lg["address"],
                tuple(bytes.fromhex(t[2:]) for t in lg["topics"]),
                bytes.fromhex(lg["data"][2:]),
            )
            for lg in receipt["logs"]
        ]
        ok = int(receipt["status"], 16) == 1
        result = TxResult(
            tx_hash, int(receipt["blockNumber"], 16), int(receipt["gasUsed"], 16), success=ok, reason=reason
        )
        return self._with_events(result, logs)


def _trace_reason(trace: Any) -> str | None:
    if not isinstance(trace, dict):
        return None
    output = trace.get("output")
    if isinstance(output, str) and output.startswith("0x"):
        try:
            reason = decode_revert(bytes.fromhex(output[2:]))
        except ValueError:
            reason = None
        if reason is not None:
            return reason
    if trace.get("error"):
        return NO_REASON if "revert" in str(trace["error"]).lower() else None
    return None
