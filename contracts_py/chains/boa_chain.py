"""titanoboa backend: py-evm driven in-process without blocks or transactions.

Each :class:`BoaChain` owns a private ``boa.Env`` (never the global ``boa.env``). Transactions are
message calls executed immediately; to keep contract addresses identical to eth-tester's for the
same sequence of actions, the accounts are eth-tester's (private keys 1..10) and every successful
transaction bumps its sender's nonce. There is no mining: the clock (``block.timestamp``) stays
where :meth:`BoaChain.set_next_timestamp` put it until moved again, and :meth:`BoaChain.mine`
only advances the block number (and the clock by one second per block). Gas price is zero.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any, Final

import boa
from boa.contracts.vyper.vyper_contract import VyperContract
from eth.exceptions import Revert
from eth_keys.datatypes import PrivateKey
from vyper.ir import compile_ir

from contracts_py.build import Artifact, Builder
from contracts_py.chains.abi import decode_revert, normalize_address
from contracts_py.chains.base import DEFAULT_DEPLOY_GAS, DEFAULT_TX_GAS, NO_REASON, Chain, Contract, RawLog, TxResult
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert

__all__ = ["ACCOUNT_BALANCE_WEI", "BoaChain", "initcode_source_map"]

#: Ether given to each account, in wei (eth-tester's default: one million ether).
ACCOUNT_BALANCE_WEI: Final = 10**24
_N_ACCOUNTS: Final = 10


def _key(i: int) -> bytes:
    """eth-tester's i-th development key (the integer i, 1..10)."""
    return i.to_bytes(32, "big")


def _account(i: int) -> str:
    return normalize_address(PrivateKey(_key(i)).public_key.to_canonical_address())


class _InitcodeSource:
    """What titanoboa's coverage tracing (``Env._trace_computation``) needs of a deployment: the
    source map of the contract's initcode (program counter -> Vyper AST node), so that the
    constructor's lines count as reached (``novation audit --coverage``)."""

    __slots__ = ("source_map",)

    def __init__(self, source_map: dict[str, Any]) -> None:
        self.source_map = source_map


def initcode_source_map(data: Any) -> dict[str, Any]:
    """The source map (``pc_raw_ast_map``: program counter -> Vyper AST node, among others) of the
    initcode of Vyper ``CompilerData`` ``data``: what the constructor executes."""
    source_map: dict[str, Any] = compile_ir.assembly_to_evm(data.assembly)[1]
    return source_map


@functools.cache
def _traced_sources(artifact: Artifact) -> tuple[_InitcodeSource, Any]:
    """The initcode's source map of ``artifact`` and its Vyper ``CompilerData`` with the runtime
    code's source map, compiled once per process (``artifact`` without its ABI: the key must be
    hashable, and neither map depends on the ABI)."""
    data = Builder().compiler_data(artifact)
    initcode = _InitcodeSource(initcode_source_map(data))
    _, data.source_map = compile_ir.assembly_to_evm(data.assembly_runtime)  # as boa.interpret does
    return initcode, data


class BoaChain(Chain):
    """titanoboa's py-evm, Prague rules; quickest snapshots of the three backends."""

    name = "boa"
    _snapshot_consumed = True

    def __init__(
        self,
        *,
        gas_limit: int = DEFAULT_TX_GAS,
        deploy_gas_limit: int = DEFAULT_DEPLOY_GAS,
        trace_sources: bool = False,
    ) -> None:
        super().__init__(gas_limit=gas_limit, deploy_gas_limit=deploy_gas_limit)
        self.env = boa.Env()
        #: Register every deployed contract with titanoboa together with its Vyper source (compiled
        #: again for the source map), so that titanoboa's coverage.py plugin maps each executed
        #: instruction to a source line (``novation audit --coverage``); slower deployments.
        self.trace_sources = trace_sources
        #: The deployment being traced (``trace_sources``): its initcode's source map.
        self._initcode: _InitcodeSource | None = None
        self._accounts = tuple(_account(i) for i in range(1, _N_ACCOUNTS + 1))
        for a in self._accounts:
            self.env.set_balance(a, ACCOUNT_BALANCE_WEI)

    @property
    def accounts(self) -> tuple[str, ...]:
        return self._accounts

    @property
    def chain_id(self) -> int:
        return int(self.env.evm.patch.chain_id)

    def account_keys(self) -> dict[str, bytes]:
        """eth-tester's development keys 1..10 (the same accounts)."""
        return {_account(i): _key(i) for i in range(1, _N_ACCOUNTS + 1)}

    # --- execution -----------------------------------------------------------------------------

    def _raise_error(self, computation: Any, what: str) -> None:
        err = computation.error
        if isinstance(err, Revert):
            raise ProtocolRevert(decode_revert(bytes(computation.output)) or NO_REASON)
        raise ChainError(f"boa: {what} failed: {type(err).__name__} {err}".rstrip())

    @staticmethod
    def _logs(computation: Any) -> list[RawLog]:
        return [
            RawLog(normalize_address(address), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
            for _, address, topics, data in computation.get_raw_log_entries()
        ]

    def _bump_nonce(self, sender: str) -> None:
        self.env.evm.vm.state.increment_nonce(bytes.fromhex(sender[2:]))

    def _deploy(self, initcode: bytes, sender: str, value: int) -> tuple[TxResult, list[RawLog]]:
        state = self.env.evm.vm.state
        raw_sender = bytes.fromhex(sender[2:])
        nonce = state.get_nonce(raw_sender)
        address, computation = self.env.deploy(
            sender=sender, gas=self.deploy_gas_limit, value=value, bytecode=initcode, contract=self._initcode
        )
        if computation.is_error:
            state.set_nonce(raw_sender, nonce)  # boa bumps the nonce even when creation fails
            self._raise_error(computation, "deployment")
        result = TxResult(
            None,
            self.block_number(),
            computation.get_gas_used(),
            contract_address=normalize_address(address.canonical_address),
        )
        return result, self._logs(computation)

    def _call(self, to: str, data: bytes, sender: str) -> bytes:
        computation = self.env.execute_code(
            to_address=to,
            sender=sender,
            gas=self.gas_limit,
            data=data,
            is_modifying=True,
            simulate=True,
            contract=self.env.lookup_contract(to) if self.trace_sources else None,
        )
        if computation.is_error:
            self._raise_error(computation, "call")
        return bytes(computation.output)

    def deploy(self, artifact: Artifact, *args: Any, sender: str | None = None, value: int = 0) -> Contract:
        """As :meth:`Chain.deploy <contracts_py.chains.base.Chain.deploy>`; with ``trace_sources``
        the constructor's execution is mapped to its source lines and the contract is registered
        with titanoboa with its source (see ``trace_sources``)."""
        if not self.trace_sources:
            return super().deploy(artifact, *args, sender=sender, value=value)
        initcode, data = _traced_sources(replace(artifact, abi=()))
        self._initcode = initcode
        try:
            contract = super().deploy(artifact, *args, sender=sender, value=value)
        finally:
            self._initcode = None
        traced = VyperContract(
            data, env=self.env, override_address=contract.address, skip_initcode=True, filename=data.contract_path
        )
        self.env.register_contract(contract.address, traced)
        return contract

    def _transact(self, to: str, data: bytes, sender: str, value: int, gas: int) -> tuple[TxResult, list[RawLog]]:
        computation = self.env.execute_code(
            to_address=to,
            sender=sender,
            gas=gas,
            value=value,
            data=data,
            contract=self.env.lookup_contract(to) if self.trace_sources else None,
        )
        if computation.is_error:
            self._raise_error(computation, "transaction")
        self._bump_nonce(sender)
        return TxResult(None, self.block_number(), computation.get_gas_used()), self._logs(computation)

    # --- snapshots and time --------------------------------------------------------------------

    def _take_snapshot(self) -> Any:
        patch = self.env.evm.patch
        return self.env.evm.snapshot(), patch.timestamp, patch.block_number

    def _revert_to(self, handle: Any) -> None:
        state_snapshot, timestamp_s, block_number = handle
        try:
            self.env.evm.revert(state_snapshot)
        except Exception as exc:  # py-evm discards a journal checkpoint once reverted
            raise ChainError(f"boa: snapshot no longer valid: {type(exc).__name__} {exc}") from None
        self.env.evm.patch.timestamp = timestamp_s
        self.env.evm.patch.block_number = block_number

    def set_next_timestamp(self, timestamp_s: int) -> None:
        self._check_next_timestamp(timestamp_s)
        self.env.timestamp = timestamp_s

    def timestamp(self) -> int:
        return int(self.env.timestamp)

    def block_number(self) -> int:
        return int(self.env.evm.patch.block_number)

    def mine(self, blocks: int = 1) -> None:
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise InvalidParameter(f"blocks must be a positive integer, got {blocks!r}")
        self.env.evm.patch.block_number += blocks
        self.env.evm.patch.timestamp += blocks

    def get_balance(self, address: str) -> int:
        return int(self.env.get_balance(normalize_address(address)))

    def get_code(self, address: str) -> bytes:
        return bytes(self.env.get_code(normalize_address(address)))
