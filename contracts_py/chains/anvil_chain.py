"""anvil backend: a real node (the pinned ``@foundry-rs/anvil``) over JSON-RPC.

:class:`AnvilChain` either starts its own node on a free loopback port (``--hardfork prague
--silent``; stopped on :meth:`AnvilChain.close`, on context exit and at interpreter exit) or
attaches to ``rpc_url``; raw JSON-RPC goes over a keep-alive connection per thread. Two fast
paths give every transaction an explicit nonce and send many in one JSON-RPC batch request:
:meth:`AnvilChain.send_batch` (one batch, usually one block; about 2,000 ERC20 transfers/s here,
~20x one transaction at a time) and :meth:`AnvilChain.send_blocks` (given blocks at given
timestamps, pipelined). Transactions are signed locally, or, with ``impersonate=True``, sent
unsigned from impersonated senders.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_utils.crypto import keccak
from web3 import Web3

from contracts_py.build import Builder
from contracts_py.chains.abi import normalize_address
from contracts_py.chains.anvil_process import AnvilProcess, RpcClient, find_anvil, rpc_request
from contracts_py.chains.base import (
    CALL_TRACER,
    DEFAULT_DEPLOY_GAS,
    DEFAULT_TX_GAS,
    NO_REASON,
    UNTRACED,
    BatchCall,
    RawLog,
    TxResult,
    trace_revert_reason,
)
from contracts_py.chains.signing import Signer
from contracts_py.chains.web3_chain import Web3Chain
from protocol.errors import ChainError, InvalidParameter

__all__ = ["DEV_MNEMONIC", "AnvilChain"]

#: anvil's default dev-account mnemonic (public test keys; never hold real value).
DEV_MNEMONIC: Final = "test test test test test test test test test test test junk"
_N_DEV_ACCOUNTS: Final = 10
_PRIORITY_FEE_WEI: Final = 10**9
#: Reads per multicall ``eth_call`` (``MAX_CALLS`` of ``contracts/multicall.vy``).
MULTICALL_CALLS: Final = 256
#: Where a state override places the multicall's code for a read (nothing is deployed there).
_VIRTUAL_MULTICALL: Final = "0x" + "4e" * 19 + "02"
#: Sender and gas of every read.
_READER: Final = "0x" + "00" * 20
_READ_GAS: Final = 30_000_000
#: ``aggregate((address,bytes)[])`` of the multicall.
_AGGREGATE_SELECTOR: Final = keccak(text="aggregate((address,bytes)[])")[:4]
#: Distinct read sets whose multicall request is kept.
_MULTICALL_CACHE: Final = 64
#: Distinct answers whose decoded value is kept (see :meth:`AnvilChain._decoded`).
_DECODED_CACHE: Final = 100_000


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
    ``impersonate``: send the transactions of :meth:`send_batch` and :meth:`send_blocks` unsigned
    from impersonated senders (``anvil_impersonateAccount``) instead of signing them here: the
    same transactions (sender, nonce, gas, fees, data) without the signing in Python and the
    signature recovery in the node, for any sender, no key needed (about twice as fast).
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
        impersonate: bool = False,
        gas_limit: int = DEFAULT_TX_GAS,
        deploy_gas_limit: int = DEFAULT_DEPLOY_GAS,
    ) -> None:
        self.process: AnvilProcess | None = None
        self.impersonate = bool(impersonate)
        self._impersonated: set[str] = set()
        self._multicall_runtime: str | None = None
        self._multicall_requests: dict[tuple[Any, ...], dict[str, str]] = {}
        self._decoded_answers: dict[tuple[str, str, int, bytes], Any] = {}
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
        self._client = RpcClient(self.url)
        self._explicit_keys = [bytes.fromhex(k[2:] if isinstance(k, str) else k.hex()) for k in private_keys or ()]
        self._signers: dict[str, Signer] | None = None
        try:
            w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 120}))
            super().__init__(w3, gas_limit=gas_limit, deploy_gas_limit=deploy_gas_limit)
        except BaseException:
            self.close()
            raise

    # --- raw JSON-RPC --------------------------------------------------------------------------

    def _rpc(self, method: str, *params: Any) -> Any:
        answer = self._client.request({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in answer:
            raise ChainError(f"anvil: {method} failed: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def _rpc_batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        if not calls:
            return []
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        answers = self._client.request(payload)
        if not isinstance(answers, list):
            raise ChainError(f"anvil: batch request failed: {answers!r}")
        return sorted(answers, key=lambda a: int(a["id"]))

    # --- backend primitives ---------------------------------------------------------------------

    def _failure_reason(self, tx_hash: str) -> str | None:
        try:
            trace = self._rpc("debug_traceTransaction", tx_hash, CALL_TRACER)
        except ChainError:
            return None
        return trace_revert_reason(trace)

    def _take_snapshot(self) -> Any:
        return self._rpc("evm_snapshot")

    def _revert_to(self, handle: Any) -> None:
        if self._rpc("evm_revert", handle) is not True:
            raise ChainError(f"anvil: evm_revert({handle}) refused: the snapshot no longer exists")

    def _latest(self, field: str) -> int:
        """``field`` of the latest block, by the raw client (web3's middleware stack sends three
        requests per read)."""
        return int(self._rpc("eth_getBlockByNumber", "latest", False)[field], 16)

    def timestamp(self) -> int:
        return self._latest("timestamp")

    def block_number(self) -> int:
        return self._latest("number")

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

    def set_balances(self, addresses: Sequence[str], wei: int) -> None:
        """Give every address ``wei`` of ether (``anvil_setBalance``, one batch), e.g. impersonated
        senders that must pay for gas."""
        if isinstance(wei, bool) or not isinstance(wei, int) or wei < 0:
            raise InvalidParameter(f"wei must be a non-negative integer, got {wei!r}")
        targets = [normalize_address(a) for a in addresses]
        answers = self._rpc_batch([("anvil_setBalance", [a, hex(wei)]) for a in targets])
        refused = [a["error"] for a in answers if "error" in a]
        if refused:
            raise ChainError(f"anvil: anvil_setBalance refused for {len(refused)} addresses: {refused[0]}")

    def close(self) -> None:
        self._client.close()
        if self.process is not None:
            self.process.stop()
        super().close()

    # --- batch fast path ------------------------------------------------------------------------

    def _known_keys(self) -> dict[str, bytes]:
        keys = _dev_keys() if self.process is not None else {}
        for k in self._explicit_keys:
            keys[normalize_address(Account.from_key(k).address)] = k
        return keys

    def account_keys(self) -> dict[str, bytes]:
        """anvil's development keys (for a node started here) and the ``private_keys`` given."""
        keys = self._known_keys()
        if not keys:
            raise ChainError("anvil: no keys known for an attached node; pass private_keys=")
        return keys

    def _signer(self, sender: str) -> Signer:
        if self._signers is None:
            self._signers = {address: Signer(k) for address, k in self._known_keys().items()}
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
        self._impersonate(distinct)
        txs = [
            self._batch_tx(c, sender, nonces, i, n, max_fee)
            for i, (c, sender) in enumerate(zip(calls, senders, strict=True))
        ]
        # Queue everything, then build blocks from the full pool: anvil orders a block by fee
        # (ties grouped by sender), so strictly decreasing fees reproduce the list order.
        self._rpc("evm_setAutomine", False)
        try:
            sent = self._rpc_batch(txs)
            errors = [a["error"] for a in sent if "error" in a]
            if errors:
                self._rpc("anvil_dropAllTransactions")
                raise ChainError(f"anvil: {len(errors)} of {n} batch transactions were refused: {errors[0]}")
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
            traces = self._rpc_batch([("debug_traceTransaction", [h, CALL_TRACER]) for h in failed])
            reasons = {
                h: trace_revert_reason(t.get("result")) or NO_REASON for h, t in zip(failed, traces, strict=True)
            }
        return [self._batch_result(h, r, reasons.get(h)) for h, r in zip(hashes, receipts, strict=True)]

    def call_many(self, calls: Sequence[BatchCall], *, block: int | None = None) -> list[Any]:
        """Decoded values of the read-only ``calls`` at ``block`` (default: the latest block; anvil
        keeps past blocks' states), from one ``eth_call`` per :data:`MULTICALL_CALLS` calls: the
        multicall contract (``contracts/multicall.vy``) placed by a state override answers them
        all from one state (one request instead of one ``eth_call`` each). The request of a set
        of calls read again (a campaign reads the same set after every block) is encoded once."""
        return self.call_many_at(calls, [block])[0]

    def call_many_at(self, calls: Sequence[BatchCall], blocks: Sequence[int | None]) -> list[list[Any]]:
        """:meth:`call_many` of the same ``calls`` at each of ``blocks`` (None: the latest), all
        the ``eth_call`` in one JSON-RPC batch request: one list of decoded values per block."""
        parts = [calls[lo : lo + MULTICALL_CALLS] for lo in range(0, len(calls), MULTICALL_CALLS)]
        requests = [self._multicall_request(part) for part in parts]
        override = {_VIRTUAL_MULTICALL: {"code": self._multicall_code()}}
        tags = ["latest" if b is None else hex(b) for b in blocks]
        answers = iter(self._rpc_batch([("eth_call", [r, tag, override]) for tag in tags for r in requests]))
        out: list[list[Any]] = []
        for tag in tags:
            values: list[Any] = []
            for part in parts:
                answer = next(answers)
                if "error" in answer:
                    raise ChainError(f"anvil: eth_call at {tag} failed: {answer['error'].get('message', answer)}")
                raw = str(answer["result"])
                for c, data in zip(part, _decode_bytes_array(bytes.fromhex(raw[2:]), len(part)), strict=True):
                    if not data:
                        raise ChainError(f"anvil: eth_call {c.contract.name}.{c.fn_name} at {tag} reverted")
                    values.append(self._decoded(c, data))
            out.append(values)
        return out

    def _decoded(self, call: BatchCall, data: bytes) -> Any:
        """``call``'s answer ``data`` decoded, or the value decoded from the same bytes before.

        Decoding is a function of the function's ABI and the bytes, and decoded values are
        immutable (ints, strings, bytes, tuples), so a value read again unchanged (most of a
        campaign's per-block reads) is looked up instead of decoded again.
        """
        key = (call.contract.address, call.fn_name, len(call.args), data)
        value = self._decoded_answers.get(key, _MISSING)
        if value is _MISSING:
            value = call.contract.abi.decode_output(call.fn_name, len(call.args), data)
            if len(self._decoded_answers) >= _DECODED_CACHE:
                self._decoded_answers.clear()
            self._decoded_answers[key] = value
        return value

    def _multicall_request(self, part: Sequence[BatchCall]) -> dict[str, str]:
        """The ``eth_call`` request of ``aggregate(part)`` (cached by the calls it makes)."""
        key = tuple((c.contract.address, c.fn_name, tuple(c.args)) for c in part)
        request = self._multicall_requests.get(key)
        if request is None:
            items = [(c.contract.address, c.contract.abi.encode_call(c.fn_name, c.args)) for c in part]
            data = _AGGREGATE_SELECTOR + _encode_calls(items)
            request = {"from": _READER, "to": _VIRTUAL_MULTICALL, "data": "0x" + data.hex(), "gas": hex(_READ_GAS)}
            if len(self._multicall_requests) >= _MULTICALL_CACHE:
                self._multicall_requests.clear()
            self._multicall_requests[key] = request
        return request

    def _multicall_code(self) -> str:
        """The multicall's runtime code (compiled once per chain, from the build cache)."""
        if self._multicall_runtime is None:
            self._multicall_runtime = "0x" + Builder().build("multicall").runtime_bytecode.hex()
        return self._multicall_runtime

    def _impersonate(self, senders: Sequence[str]) -> None:
        """With ``impersonate``: let the node accept unsigned transactions from ``senders``."""
        if not self.impersonate:
            return
        new = [s for s in senders if s not in self._impersonated]
        for s, a in zip(new, self._rpc_batch([("anvil_impersonateAccount", [s]) for s in new]), strict=True):
            if "error" in a:
                raise ChainError(f"anvil: cannot impersonate {s}: {a['error'].get('message', a['error'])}")
            self._impersonated.add(s)

    def _batch_tx(
        self, c: BatchCall, sender: str, nonces: dict[str, int], i: int, n: int, max_fee: int
    ) -> tuple[str, list[Any]]:
        """The JSON-RPC call that sends the ``i``-th of ``n`` batch calls with the sender's next
        nonce (advanced here): signed here, or unsigned from an impersonated sender.

        Fees strictly decrease along the list, so anvil's fee-ordered block builder keeps the
        list order.
        """
        nonce = nonces[sender]
        nonces[sender] += 1
        gas = c.gas or self.gas_limit
        data = c.contract.abi.encode_call(c.fn_name, c.args)
        if self.impersonate:
            tx = {
                "from": sender,
                "to": c.contract.address,
                "nonce": hex(nonce),
                "gas": hex(gas),
                "maxFeePerGas": hex(max_fee - i),
                "maxPriorityFeePerGas": hex(_PRIORITY_FEE_WEI + n - i),
                "value": hex(c.value),
                "input": "0x" + data.hex(),
            }
            return "eth_sendTransaction", [tx]
        raw = self._signer(sender).sign_eip1559(
            chain_id=self.chain_id,
            nonce=nonce,
            max_priority_fee_per_gas=_PRIORITY_FEE_WEI + n - i,
            max_fee_per_gas=max_fee - i,
            gas=gas,
            to=bytes.fromhex(c.contract.address[2:]),
            value=c.value,
            data=data,
        )
        return "eth_sendRawTransaction", ["0x" + raw.hex()]

    def send_blocks(
        self,
        blocks: Sequence[tuple[int, Sequence[BatchCall]]],
        *,
        window: int = 25,
        trace: Sequence[bool] | None = None,
    ) -> list[TxResult]:
        """Mine ``blocks`` as the next blocks: ``blocks[j] = (timestamp_s, calls)`` becomes chain
        block ``latest + 1 + j`` with ``block.timestamp == timestamp_s``, holding exactly ``calls``
        in order. Returns one result per call, in order.

        Timestamps must increase strictly from after the latest block's. The transactions get
        explicit nonces and fees strictly decreasing along the whole list (anvil's fee-ordered
        block builder keeps the list order, across senders too), and are signed here unless the
        chain impersonates. A helper thread, for each block, queues its transactions in one
        JSON-RPC batch with automine off and mines them with ``evm_mine(timestamp_s)``, and every
        ``window`` blocks fetches their receipts in one batch, while this thread prepares the
        next blocks and decodes the receipts already back (anvil and Python work on both cores).
        Every block is checked to hold exactly its transactions, in order (ChainError otherwise,
        e.g. when the block gas limit cannot hold them; the blocks mined by then stay, transactions
        still queued are dropped, automine is back on). A reverted transaction is mined with
        status 0 (its effects undone) and gets ``success=False`` and its reason, as in
        :meth:`send_batch`, found by a ``debug_traceTransaction`` each; ``trace`` (one flag per
        call, in order) limits that to the flagged calls, the others' reverts get the reason
        :data:`~contracts_py.chains.base.UNTRACED` (a caller that knows why they revert saves
        the traces).
        """
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise InvalidParameter(f"window must be a positive integer of blocks, got {window!r}")
        stamps = [ts for ts, _ in blocks]
        for ts in stamps:
            if isinstance(ts, bool) or not isinstance(ts, int):
                raise InvalidParameter(f"block timestamps must be integers of Unix seconds, got {ts!r}")
        if any(b <= a for a, b in itertools.pairwise(stamps)):
            raise InvalidParameter(f"block timestamps must increase strictly, got {stamps}")
        if trace is not None and len(trace) != sum(len(calls) for _, calls in blocks):
            raise InvalidParameter(f"trace needs one flag per call, got {len(trace)}")
        if not blocks:
            return []
        if not self._automine:
            raise ChainError("anvil: send_blocks needs automine on (it mines the blocks itself)")
        senders = [self._sender(c.sender) for _, block_calls in blocks for c in block_calls]
        distinct = sorted(set(senders))
        # automine off, the nonces and the latest block in one round trip (independent requests)
        answers = self._rpc_batch(
            [("evm_setAutomine", [False])]
            + [("eth_getTransactionCount", [s, "pending"]) for s in distinct]
            + [("eth_getBlockByNumber", ["latest", False])]
        )
        restored = threading.Event()  # automine is back on (the last receipts' round trip sets it)
        try:
            return self._send_blocks(blocks, trace, senders, distinct, answers, window, restored)
        finally:
            if not restored.is_set():
                self._rpc("evm_setAutomine", True)

    def _send_blocks(
        self,
        blocks: Sequence[tuple[int, Sequence[BatchCall]]],
        trace: Sequence[bool] | None,
        senders: list[str],
        distinct: list[str],
        answers: list[dict[str, Any]],
        window: int,
        restored: threading.Event,
    ) -> list[TxResult]:
        """:meth:`send_blocks` once automine is off: ``answers`` to its first round trip (automine
        off, each of the ``distinct`` senders' nonce, the latest block); sets ``restored`` when
        the last receipts' round trip turned automine back on."""
        errors = [a["error"] for a in answers if "error" in a]
        if errors:
            raise ChainError(f"anvil: send_blocks could not start: {errors[0]}")
        stamps = [ts for ts, _ in blocks]
        nonces = {s: int(a["result"], 16) for s, a in zip(distinct, answers[1:], strict=False)}
        latest = answers[-1]["result"]
        first_block, latest_ts = int(latest["number"], 16) + 1, int(latest["timestamp"], 16)
        if stamps[0] <= latest_ts:
            raise InvalidParameter(
                f"the first block's timestamp {stamps[0]} must be after the latest block's {latest_ts}"
            )
        self._impersonate(distinct)
        n = len(senders)
        max_fee = 2 * int(latest.get("baseFeePerGas", "0x0"), 16) + _PRIORITY_FEE_WEI + n
        todo: queue.Queue[tuple[int, list[tuple[str, list[Any]]]] | None] = queue.Queue()
        # per window: (transaction hashes the node gave, receipts the node mined) of each block
        done: queue.Queue[list[tuple[list[str], list[dict[str, Any]]]] | BaseException] = queue.Queue()

        stop = threading.Event()

        def node_side() -> None:  # helper thread: the only one talking to the node meanwhile
            try:
                sent: list[list[str]] = []  # node's hashes of each block since the last receipts
                for j in range(len(blocks)):
                    item = todo.get()
                    if item is None or stop.is_set():  # the caller gave up
                        return
                    ts, txs = item
                    answers = self._rpc_batch(txs)
                    errors = [a["error"] for a in answers if "error" in a]
                    if errors:
                        raise ChainError(f"anvil: {len(errors)} batch transactions were refused: {errors[0]}")
                    sent.append([str(a["result"]) for a in answers])
                    self._rpc("evm_mine", ts)
                    last = j == len(blocks) - 1
                    if len(sent) == window or last:
                        lo = first_block + j + 1 - len(sent)
                        mined = self._rpc_batch(
                            [("eth_getBlockReceipts", [hex(b)]) for b in range(lo, j + 1 + first_block)]
                            + ([("evm_setAutomine", [True])] if last else [])
                        )
                        if last and "error" not in mined.pop():
                            restored.set()
                        done.put([(h, a.get("result") or []) for h, a in zip(sent, mined, strict=True)])
                        sent = []
            except BaseException as exc:  # handed to the caller's thread
                done.put(exc)
            finally:
                self._client.close()  # this thread's connection

        worker = threading.Thread(target=node_side, name="anvil-send-blocks", daemon=True)
        worker.start()
        results: list[TxResult] = []
        finished = False
        try:
            i = 0
            for ts, block_calls in blocks:  # prepared block by block: the helper starts on the first at once
                txs = []
                for c in block_calls:
                    txs.append(self._batch_tx(c, senders[i], nonces, i, n, max_fee))
                    i += 1
                todo.put((ts, txs))
            j = 0  # next block to check
            while j < len(blocks):
                got = done.get()
                if isinstance(got, BaseException):
                    raise got
                for hashes, receipts in got:
                    if [str(r["transactionHash"]) for r in receipts] != hashes:
                        raise ChainError(
                            f"anvil block {first_block + j} holds {len(receipts)} transaction(s), not the "
                            f"{len(hashes)} sent for it in order: raise the node's block gas limit (--gas-limit) "
                            "or send fewer transactions per block"
                        )
                    results += [self._batch_result(h, r, None) for h, r in zip(hashes, receipts, strict=True)]
                    j += 1
            finished = True
        finally:
            stop.set()
            todo.put(None)
            worker.join()
            if not finished:
                self._rpc("anvil_dropAllTransactions")
        failed = [k for k, r in enumerate(results) if not r.success and (trace is None or trace[k])]
        results = [
            r if r.success or trace is None or trace[k] else replace(r, reason=UNTRACED) for k, r in enumerate(results)
        ]
        if failed:
            traces = self._rpc_batch([("debug_traceTransaction", [results[k].tx_hash, CALL_TRACER]) for k in failed])
            for k, t in zip(failed, traces, strict=True):
                r = results[k]
                results[k] = replace(r, reason=trace_revert_reason(t.get("result")) or NO_REASON)
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


#: Marks a missing cache entry (a decoded value may be None).
_MISSING: Final = object()


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _encode_calls(items: Sequence[tuple[str, bytes]]) -> bytes:
    """ABI encoding of the one argument ``(address target, bytes data)[]`` of the multicall."""
    elements = [
        bytes.fromhex(target[2:]).rjust(32, b"\0") + _word(64) + _word(len(data)) + data + b"\0" * (-len(data) % 32)
        for target, data in items
    ]
    offsets, at = [], 32 * len(elements)
    for e in elements:
        offsets.append(_word(at))
        at += len(e)
    return _word(32) + _word(len(elements)) + b"".join(offsets) + b"".join(elements)


def _decode_bytes_array(raw: bytes, n: int) -> list[bytes]:
    """The ``bytes[]`` the multicall answered (``n`` elements expected)."""
    try:
        base = int.from_bytes(raw[0:32], "big") + 32
        if int.from_bytes(raw[base - 32 : base], "big") != n:
            raise ValueError(f"{n} answers expected")
        out = []
        for k in range(n):
            at = base + int.from_bytes(raw[base + 32 * k : base + 32 * k + 32], "big")
            size = int.from_bytes(raw[at : at + 32], "big")
            if at + 32 + size > len(raw):
                raise ValueError("answer past the end")
            out.append(raw[at + 32 : at + 32 + size])
    except ValueError as exc:
        raise ChainError(f"anvil: the multicall's answer cannot be decoded: {exc}") from None
    return out
