"""The one interface every chain backend implements.

A :class:`Chain` deploys :class:`~contracts_py.build.Artifact` objects, calls and transacts with
ABI-encoded arguments, and decodes results the same way on every backend (lower-case hex
addresses, ints, tuples, flat event dicts ``{"event": name, ...}``). Semantics shared by all
backends:

* **reverts**: a reverting ``deploy``/``transact``/``call`` raises
  :class:`~protocol.errors.ProtocolRevert` with the contract's exact reason string and changes
  nothing (no block, no nonce). A revert without reason data gets :data:`NO_REASON`.
  Infrastructure failures (dead node, out of gas, undecodable data) raise ChainError.
* **snapshots**: :meth:`Chain.snapshot` returns an id; :meth:`Chain.revert` restores the state
  (balances, storage, block clock) and the id stays usable for further reverts; snapshots taken
  after it become invalid.
* **time**: :meth:`Chain.set_next_timestamp` makes the next transaction execute at exactly that
  Unix time (seconds); :meth:`Chain.advance_time` is ``set_next_timestamp(timestamp() + s)``.
* **batches**: :meth:`Chain.send_batch` runs many transactions and never raises on a revert: each
  :class:`TxResult` says whether it succeeded and why not. Anvil sends the whole batch in one
  JSON-RPC request (explicit nonces; signed locally, or unsigned from impersonated senders);
  reverted batch transactions are mined there with status 0.
* **automine off**: eth-tester executes each transaction into the pending block at once (final
  results, :attr:`Chain.pending_block_results`); anvil queues it until :meth:`Chain.mine`.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, NamedTuple

from contracts_py.build import Artifact
from contracts_py.chains.abi import ContractABI, decode_revert, normalize_address
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert

__all__ = [
    "CALL_TRACER",
    "DEFAULT_DEPLOY_GAS",
    "DEFAULT_TX_GAS",
    "NO_REASON",
    "UNTRACED",
    "BatchCall",
    "Chain",
    "Contract",
    "RawLog",
    "TxResult",
    "trace_revert_reason",
]

#: Reason given to a revert that carries no ``Error(string)`` data (e.g. a Vyper overflow).
NO_REASON: Final = "evm: revert without reason"
#: Reason of a revert whose reason was not looked up (``AnvilChain.send_blocks(trace=...)``).
UNTRACED: Final = "evm: revert, reason not traced"
#: Tracer options of ``debug_traceTransaction`` whose answer :func:`trace_revert_reason` reads.
CALL_TRACER: Final = {"tracer": "callTracer"}
#: Gas limit of each transaction when none is given (RPC backends send a fixed limit).
DEFAULT_TX_GAS: Final = 8_000_000
#: Gas limit of a deployment (a 24 KiB contract needs about 5.5M for its code deposit alone).
DEFAULT_DEPLOY_GAS: Final = 16_000_000


class RawLog(NamedTuple):
    """A log as a backend returns it: emitter, topics (32-byte each) and data."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class Contract:
    """A deployed contract: its name, lower-case address, ABI codec and deployment result
    (None for a handle made with :meth:`Chain.at`)."""

    name: str
    address: str
    abi: ContractABI = field(repr=False, compare=False)
    deployment: TxResult | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class TxResult:
    """Outcome of one transaction.

    ``events`` are flat dicts in emission order and ``emitters`` the address of each;
    ``gas_used`` in gas units; ``block_number`` is None while the transaction is queued (automine
    off on a node; eth-tester executes it into the pending block at once and names that block).
    ``success`` is False only in :meth:`Chain.send_batch` results, with the revert ``reason``.
    ``contract_address`` is set for deployments.
    """

    tx_hash: str | None
    block_number: int | None
    gas_used: int
    events: tuple[dict[str, Any], ...] = ()
    emitters: tuple[str, ...] = ()
    success: bool = True
    reason: str | None = None
    contract_address: str | None = None

    def events_named(self, name: str) -> list[dict[str, Any]]:
        """The events called ``name``, in order."""
        return [e for e in self.events if e["event"] == name]


@dataclass(frozen=True)
class BatchCall:
    """One transaction of a batch: ``contract.fn_name(*args)`` from ``sender`` with ``value`` wei."""

    contract: Contract
    fn_name: str
    args: tuple[Any, ...] = ()
    sender: str | None = None
    value: int = 0
    gas: int | None = None


class Chain(ABC):
    """A local EVM chain with funded, unlocked accounts (``accounts[0]`` is the default sender).

    Use as a context manager or call :meth:`close`. Subclasses implement the ``_``-prefixed
    primitives; everything public is defined here once.
    """

    #: Short backend name used by :func:`contracts_py.chains.make_chain`.
    name: str = "chain"
    #: Whether a transaction sent with automine off returns its final result at once, naming the
    #: pending block it executed into (eth-tester), rather than a queued result without a block
    #: whose receipt exists only after :meth:`mine` (anvil).
    pending_block_results: bool = False
    #: Whether reverting to a backend snapshot consumes it (anvil, titanoboa) or not (eth-tester).
    _snapshot_consumed: bool = True

    def __init__(self, *, gas_limit: int = DEFAULT_TX_GAS, deploy_gas_limit: int = DEFAULT_DEPLOY_GAS) -> None:
        for label, v in (("gas_limit", gas_limit), ("deploy_gas_limit", deploy_gas_limit)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 21_000:
                raise InvalidParameter(f"{label} must be an integer >= 21000 gas, got {v!r}")
        self.gas_limit = gas_limit
        self.deploy_gas_limit = deploy_gas_limit
        self._abis: dict[str, ContractABI] = {}
        self._snapshots: dict[int, Any] = {}
        self._snapshot_ids = itertools.count(1)
        self._closed = False

    # --- primitives (backend specific) ---------------------------------------------------------

    @property
    @abstractmethod
    def accounts(self) -> tuple[str, ...]:
        """Funded accounts, lower-case hex."""

    @property
    @abstractmethod
    def chain_id(self) -> int:
        """The EIP-155 chain id (``chain.id`` in the contracts; part of the order domain)."""

    def account_keys(self) -> dict[str, bytes]:
        """Private keys of the funded development accounts this chain knows, by address: public
        test keys, for signing orders (:class:`protocol.orders.OrderSigner`) as those accounts.

        Raises ChainError when the backend knows none (a node attached without keys)."""
        raise ChainError(f"{self.name} knows no keys of its accounts")

    @abstractmethod
    def _deploy(self, initcode: bytes, sender: str, value: int) -> tuple[TxResult, list[RawLog]]:
        """Create a contract; raise ProtocolRevert on revert (state unchanged)."""

    @abstractmethod
    def _call(self, to: str, data: bytes, sender: str) -> bytes:
        """eth_call against the state the next transaction will see; raise ProtocolRevert."""

    @abstractmethod
    def _transact(self, to: str, data: bytes, sender: str, value: int, gas: int) -> tuple[TxResult, list[RawLog]]:
        """Send one transaction; raise ProtocolRevert on revert (state unchanged)."""

    @abstractmethod
    def _take_snapshot(self) -> Any:
        """Backend snapshot handle."""

    @abstractmethod
    def _revert_to(self, handle: Any) -> None:
        """Restore a backend snapshot."""

    @abstractmethod
    def set_next_timestamp(self, timestamp_s: int) -> None:
        """The next transaction executes with ``block.timestamp == timestamp_s`` (Unix seconds)."""

    @abstractmethod
    def timestamp(self) -> int:
        """Timestamp of the latest block (titanoboa: its clock), Unix seconds."""

    @abstractmethod
    def block_number(self) -> int:
        """Number of the latest block."""

    @abstractmethod
    def mine(self, blocks: int = 1) -> None:
        """Mine ``blocks`` blocks (pending transactions included)."""

    @abstractmethod
    def get_balance(self, address: str) -> int:
        """Ether balance in wei."""

    @abstractmethod
    def get_code(self, address: str) -> bytes:
        """Runtime code at ``address`` (empty for an account without code)."""

    def set_automine(self, enabled: bool) -> None:
        """Mine each transaction immediately (True, the default) or only on :meth:`mine` (see
        :attr:`pending_block_results` for what a transaction returns meanwhile)."""
        raise ChainError(f"{self.name} does not support turning automine off")

    def receipt(self, tx_hash: str) -> TxResult:
        """Result of a transaction sent while automine was off (after :meth:`mine`)."""
        raise ChainError(f"{self.name} has no pending transactions to look up")

    def close(self) -> None:
        """Release the backend (stop a node this chain started). Idempotent."""
        self._closed = True

    # --- public API ----------------------------------------------------------------------------

    def _sender(self, sender: str | None) -> str:
        return self.accounts[0] if sender is None else normalize_address(sender)

    def deploy(self, artifact: Artifact, *args: Any, sender: str | None = None, value: int = 0) -> Contract:
        """Deploy ``artifact`` with constructor ``args``; returns its :class:`Contract` handle."""
        abi = ContractABI(artifact.abi, artifact.name)
        initcode = artifact.bytecode + abi.encode_constructor(args)
        result, logs = self._deploy(initcode, self._sender(sender), _check_value(value))
        if result.contract_address is None:
            raise ChainError(f"deployment of {artifact.name} returned no contract address")
        address = normalize_address(result.contract_address)
        self._abis[address] = abi
        return Contract(artifact.name, address, abi, self._with_events(result, logs))

    def at(self, artifact: Artifact, address: str) -> Contract:
        """Handle for an already deployed contract with ``artifact``'s ABI."""
        addr = normalize_address(address)
        abi = ContractABI(artifact.abi, artifact.name)
        self._abis[addr] = abi
        return Contract(artifact.name, addr, abi)

    def call(self, contract: Contract, fn_name: str, *args: Any, sender: str | None = None) -> Any:
        """Call ``fn_name`` without a transaction; returns the decoded value (tuple if several)."""
        data = contract.abi.encode_call(fn_name, args)
        out = self._call(contract.address, data, self._sender(sender))
        return contract.abi.decode_output(fn_name, len(args), out)

    def call_many(self, calls: Sequence[BatchCall], *, block: int | None = None) -> list[Any]:
        """Decoded values of several read-only ``calls`` (their ``sender`` and ``value`` ignored),
        in order. ``block``: read at that block number (backends that keep past states; anvil)
        instead of the latest state. anvil sends them in one JSON-RPC batch request."""
        if block is not None:
            raise InvalidParameter(f"{self.name} reads the latest state only; call_many(block=...) needs anvil")
        return [self.call(c.contract, c.fn_name, *c.args) for c in calls]

    def transact(
        self,
        contract: Contract,
        fn_name: str,
        *args: Any,
        sender: str | None = None,
        value: int = 0,
        gas: int | None = None,
    ) -> TxResult:
        """Send ``fn_name(*args)`` as a transaction; returns the result with decoded events."""
        data = contract.abi.encode_call(fn_name, args)
        result, logs = self._transact(
            contract.address, data, self._sender(sender), _check_value(value), gas or self.gas_limit
        )
        return self._with_events(result, logs)

    def send_batch(self, calls: Sequence[BatchCall]) -> list[TxResult]:
        """Run ``calls`` in order; a revert does not stop the batch (see :class:`TxResult`)."""
        results: list[TxResult] = []
        for c in calls:
            try:
                results.append(self.transact(c.contract, c.fn_name, *c.args, sender=c.sender, value=c.value, gas=c.gas))
            except ProtocolRevert as exc:
                results.append(TxResult(None, None, 0, success=False, reason=exc.reason))
        return results

    def decode_logs(self, logs: Sequence[RawLog]) -> tuple[tuple[dict[str, Any], ...], tuple[str, ...]]:
        """Decode logs with the ABI of their emitter (or any known ABI with the same topic)."""
        events: list[dict[str, Any]] = []
        emitters: list[str] = []
        for log in logs:
            address = normalize_address(log.address)
            decoded = None
            own = self._abis.get(address)
            if own is not None:
                decoded = own.decode_log(log.topics, log.data)
            if decoded is None:
                decoded = next(
                    (d for abi in self._abis.values() if (d := abi.decode_log(log.topics, log.data)) is not None),
                    None,
                )
            if decoded is None:
                decoded = {"event": None, "topics": log.topics, "data": log.data}
            events.append(decoded)
            emitters.append(address)
        return tuple(events), tuple(emitters)

    def _with_events(self, result: TxResult, logs: Sequence[RawLog]) -> TxResult:
        if not logs:
            return result
        events, emitters = self.decode_logs(logs)
        return TxResult(
            result.tx_hash,
            result.block_number,
            result.gas_used,
            events,
            emitters,
            result.success,
            result.reason,
            result.contract_address,
        )

    # --- snapshots and time --------------------------------------------------------------------

    def snapshot(self) -> int:
        """Record the current state; returns an id for :meth:`revert` (reusable)."""
        sid = next(self._snapshot_ids)
        self._snapshots[sid] = self._take_snapshot()
        return sid

    def revert(self, snapshot_id: int) -> None:
        """Restore the state of ``snapshot_id``; the id stays valid, later snapshots are dropped."""
        handle = self._snapshots.get(snapshot_id)
        if handle is None:
            raise ChainError(
                f"unknown snapshot id {snapshot_id!r} on {self.name}: it was never taken or a revert to an "
                "earlier snapshot discarded it"
            )
        self._revert_to(handle)
        for later in [s for s in self._snapshots if s > snapshot_id]:
            del self._snapshots[later]
        if self._snapshot_consumed:
            self._snapshots[snapshot_id] = self._take_snapshot()

    @contextmanager
    def anchor(self) -> Iterator[None]:
        """Context manager: everything done inside is undone on exit."""
        sid = self.snapshot()
        try:
            yield
        finally:
            self.revert(sid)

    def advance_time(self, seconds: int) -> None:
        """The next transaction executes ``seconds`` after the latest block's timestamp."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
            raise InvalidParameter(f"seconds must be a positive integer, got {seconds!r}")
        self.set_next_timestamp(self.timestamp() + seconds)

    def _check_next_timestamp(self, timestamp_s: int) -> None:
        if isinstance(timestamp_s, bool) or not isinstance(timestamp_s, int):
            raise InvalidParameter(f"timestamp_s must be an integer of Unix seconds, got {timestamp_s!r}")
        latest = self.timestamp()
        if timestamp_s <= latest:
            raise InvalidParameter(
                f"timestamp_s {timestamp_s} must be after the latest block's timestamp {latest}: "
                "chains cannot go back in time (use revert to a snapshot instead)"
            )

    # --- context manager -----------------------------------------------------------------------

    def __enter__(self) -> Chain:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_value(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameter(f"value must be a non-negative integer of wei, got {value!r}")
    return value


def trace_revert_reason(trace: Any) -> str | None:
    """The revert reason in a ``debug_traceTransaction`` answer (:data:`CALL_TRACER`): the
    decoded ``Error(string)``, :data:`NO_REASON` for a revert without one, None when the
    transaction did not revert (or the trace is not a call trace)."""
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
