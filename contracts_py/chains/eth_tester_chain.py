"""The embedded default chain: eth-tester with the py-evm backend, reached through web3.py.

In-process and dependency-free; each transaction is mined in its own block (automine) unless
:meth:`EthTesterChain.set_automine` turns that off: then every transaction executes at once into
the pending block (its result and events are final, several per sender allowed) and
:meth:`EthTesterChain.mine` seals the block. Snapshots are block hashes and stay valid after a
revert. Accounts are eth-tester's ten funded keys (private keys 1..10).
"""

from __future__ import annotations

from typing import Any

from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.constants import ZERO_ADDRESS_HEX
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts_py.chains.abi import normalize_address
from contracts_py.chains.base import DEFAULT_DEPLOY_GAS, DEFAULT_TX_GAS, RawLog, TxResult
from contracts_py.chains.web3_chain import Web3Chain
from protocol.errors import ChainError, InvalidParameter

__all__ = ["DEFAULT_BLOCK_GAS_LIMIT", "EthTesterChain"]

#: Block gas limit of the genesis block (gas units); room for a deployment plus transactions.
DEFAULT_BLOCK_GAS_LIMIT = 60_000_000


class _BlockBuildingTester(EthereumTester):  # type: ignore[misc]  # eth-tester is untyped
    """EthereumTester whose automatic mining can be held.

    eth-tester's own "automine off" keeps transactions outside the state until the next block
    (a second transaction of a sender replaces the first, and none sees another's effects).
    While ``hold`` is set this one instead skips the block sealing that follows each sent
    transaction: py-evm has already executed the transaction into the pending block, so
    transactions build the block one after another and ``mine_blocks`` seals it.
    """

    hold = False

    def mine_block(self, coinbase: str = ZERO_ADDRESS_HEX) -> Any:
        if self.hold:
            return None
        return super().mine_block(coinbase)


class EthTesterChain(Web3Chain):
    """eth-tester + py-evm (Prague rules) behind web3.py; ``gas_limit`` is per transaction."""

    name = "eth-tester"
    pending_block_results = True
    _snapshot_consumed = False

    def __init__(
        self,
        *,
        gas_limit: int = DEFAULT_TX_GAS,
        deploy_gas_limit: int = DEFAULT_DEPLOY_GAS,
        block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
    ) -> None:
        genesis = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": block_gas_limit})
        self._backend = PyEVMBackend(genesis_parameters=genesis)
        self.tester = _BlockBuildingTester(self._backend)
        super().__init__(
            Web3(EthereumTesterProvider(self.tester)), gas_limit=gas_limit, deploy_gas_limit=deploy_gas_limit
        )

    def account_keys(self) -> dict[str, bytes]:
        """eth-tester's development keys (1..10)."""
        return {
            normalize_address(k.public_key.to_canonical_address()): k.to_bytes() for k in self._backend.account_keys
        }

    def _pending_transactions(self) -> int:
        return len(self._backend.chain.get_block().transactions)

    def _take_snapshot(self) -> Any:
        pending = self._pending_transactions()
        if pending:
            raise ChainError(
                f"eth-tester: the pending block holds {pending} transaction(s) a snapshot would not keep: mine() first"
            )
        return self.tester.take_snapshot()

    def _revert_to(self, handle: Any) -> None:
        self.tester.revert_to_snapshot(handle)

    def set_next_timestamp(self, timestamp_s: int) -> None:
        self._check_next_timestamp(timestamp_s)
        chain = self._backend.chain
        if chain.get_block().transactions:
            raise ChainError("eth-tester: mine the pending transactions before setting the next block's timestamp")
        # the pending block's header is where the next transaction executes
        chain.header = chain.header.copy(timestamp=timestamp_s)

    def mine(self, blocks: int = 1) -> None:
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise InvalidParameter(f"blocks must be a positive integer, got {blocks!r}")
        self.tester.mine_blocks(blocks)

    def set_automine(self, enabled: bool) -> None:
        """Off: each transaction executes at once into the pending block (its result is final and
        names that block); :meth:`mine` seals it. On again: a non-empty pending block is sealed."""
        if enabled and self._pending_transactions():
            self.tester.mine_blocks(1)
        self.tester.hold = not enabled
        self._automine = bool(enabled)

    # --- transactions into the held pending block -------------------------------------------------

    def _send(self, tx: dict[str, Any]) -> tuple[TxResult, list[RawLog]]:
        if self._automine:
            return super()._send(tx)
        # eth-tester fills a missing nonce from the latest sealed block, not the pending one
        return super()._send({**tx, "nonce": self.tester.get_nonce(tx["from"], "pending")})

    def _unmined(self, tx_hash: str, gas: int) -> tuple[TxResult, list[RawLog]]:
        # web3's eth-tester provider reports no receipt for a pending block: ask the tester
        try:
            r = self.tester.get_transaction_receipt(tx_hash)
        except Exception as exc:
            raise self._infra_error(f"get the receipt of {tx_hash}", exc) from None
        if int(r["status"]) != 1:
            raise ChainError(
                f"eth-tester: transaction {tx_hash} failed after a successful dry run (gas limit {gas}), most likely "
                "out of gas; pass a larger gas= or gas_limit="
            )
        logs = [
            RawLog(str(lg["address"]), tuple(_hex_bytes(t) for t in lg["topics"]), _hex_bytes(lg["data"]))
            for lg in r["logs"]
        ]
        block = int(self._backend.chain.get_block().number)
        return TxResult(tx_hash, block, int(r["gas_used"])), logs


def _hex_bytes(value: str) -> bytes:
    """Bytes of eth-tester's 0x-hex output."""
    return bytes.fromhex(value[2:])
