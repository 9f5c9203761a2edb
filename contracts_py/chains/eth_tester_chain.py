"""The embedded default chain: eth-tester with the py-evm backend, reached through web3.py.

In-process and dependency-free; each transaction is mined in its own block (automine) unless
:meth:`EthTesterChain.set_automine` turns that off. Snapshots are block hashes and stay valid
after a revert. Accounts are eth-tester's ten funded keys (private keys 1..10).
"""

from __future__ import annotations

from typing import Any

from eth_tester import EthereumTester, PyEVMBackend
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from contracts_py.chains.base import DEFAULT_DEPLOY_GAS, DEFAULT_TX_GAS
from contracts_py.chains.web3_chain import Web3Chain
from protocol.errors import ChainError, InvalidParameter

__all__ = ["DEFAULT_BLOCK_GAS_LIMIT", "EthTesterChain"]

#: Block gas limit of the genesis block (gas units); room for a deployment plus transactions.
DEFAULT_BLOCK_GAS_LIMIT = 60_000_000


class EthTesterChain(Web3Chain):
    """eth-tester + py-evm (Prague rules) behind web3.py; ``gas_limit`` is per transaction."""

    name = "eth-tester"
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
        self.tester = EthereumTester(self._backend)
        super().__init__(
            Web3(EthereumTesterProvider(self.tester)), gas_limit=gas_limit, deploy_gas_limit=deploy_gas_limit
        )

    def _take_snapshot(self) -> Any:
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
        """Off: transactions queue in the pending block until :meth:`mine` (one per sender)."""
        if enabled:
            self.tester.enable_auto_mine_transactions()
        else:
            self.tester.disable_auto_mine_transactions()
        self._automine = bool(enabled)
