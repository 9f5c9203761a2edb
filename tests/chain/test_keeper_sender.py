"""The keeper's transaction sender on anvil (issue 18): a stuck transaction replaced under the same
nonce with raised fees; a restart on the journal with that transaction pending sends nothing twice;
the reason of a reverted transaction read from the node's trace, or, on a node that does not
trace, from the call replayed before its block (a lost race to an earlier transaction of it).

A transaction gets stuck for real: with automine off it waits in the pool while the block gas limit
is below its gas, so the mined blocks cannot hold it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from contracts_py.build import Builder
from contracts_py.chains import Contract
from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.keeper import Journal, KeystoreWallet, TxSender
from contracts_py.keeper.transactions import BEATEN_IN_BLOCK, FEE_BUMP_WAD, LOST_RACE
from contracts_py.rpc import HttpRpc, Rpc
from protocol.errors import ChainError

GAS = 100_000
TOKENS = 10**18


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[AnvilChain, Contract]]:
    chain = AnvilChain()  # fails naming `make anvil` when there is no anvil
    try:
        token = chain.deploy(Builder().build("testing/erc20"), "USD Coin", "USDC", 6)
        chain.transact(token, "mint", chain.accounts[5], TOKENS)
        yield chain, token
    finally:
        chain.close()


@pytest.fixture
def by_hand(node: tuple[AnvilChain, Contract]) -> Iterator[AnvilChain]:
    """The node as deployed, automine off, restored after the test."""
    c = node[0]
    snap = c.snapshot()
    c.set_automine(False)
    yield c
    c._rpc("anvil_setBlockGasLimit", hex(30_000_000))
    c.set_automine(True)
    c.revert(snap)


def _wallet(chain: AnvilChain, tmp: Path) -> KeystoreWallet:
    path = tmp / "key.json"
    key = chain.account_keys()[chain.accounts[5]]
    path.write_text(json.dumps(Account.encrypt(key, "pw", kdf="pbkdf2", iterations=1000)))
    return KeystoreWallet(path, "pw")


def _transfer(token: Contract, to: str, amount: int) -> str:
    return "0x" + token.abi.encode_call("transfer", (to, amount)).hex()


def _mine(chain: AnvilChain, n: int = 1) -> int:
    for _ in range(n):
        chain._rpc("evm_mine")
    return chain.block_number()


def _sender(chain: AnvilChain, wallet: KeystoreWallet, journal: Path, rpc: Rpc | None = None) -> TxSender:
    return TxSender(rpc or HttpRpc(chain.url), wallet, chain.chain_id, Journal(journal), replace_after_blocks=2)


def test_stuck_transaction_replaced_with_the_same_nonce_and_higher_fees_and_a_restart_sends_nothing_twice(
    node: tuple[AnvilChain, Contract], by_hand: AnvilChain, tmp_path: Path
) -> None:
    chain, token = by_hand, node[1]
    wallet, journal = _wallet(chain, tmp_path), tmp_path / "journal.json"
    sender = _sender(chain, wallet, journal)
    head = chain.block_number()
    fees = sender.fees()
    sent = sender.send("pay:0", token.address, _transfer(token, chain.accounts[6], 1), GAS, head, fees)
    first_hash = sent.hashes[0]
    chain._rpc("anvil_setBlockGasLimit", hex(GAS - 1))  # the pending transaction no longer fits a block
    head = _mine(chain, 2)
    assert chain._rpc("eth_getTransactionReceipt", first_hash) is None
    assert chain._rpc("txpool_status")["pending"] == "0x1"  # stuck in the pool

    # the keeper is killed here and restarted on its journal
    del sender
    restarted = _sender(chain, wallet, journal)
    assert restarted.next_nonce == sent.nonce + 1  # the journaled nonce is not handed out again
    assert restarted.journal.pending_keys() == {"pay:0"}  # the work is not planned again
    chain._rpc("anvil_setBlockGasLimit", hex(30_000_000))
    assert restarted.reconcile(head) == []  # stuck for 2 blocks: replaced, not settled
    (entry,) = restarted.journal.pending()
    assert (entry.nonce, entry.replacements, len(entry.hashes)) == (sent.nonce, 1, 2)
    bump = 10**18 + FEE_BUMP_WAD
    assert entry.max_fee * 10**18 >= fees[0] * bump
    assert entry.priority_fee * 10**18 >= fees[1] * bump
    assert chain._rpc("txpool_status")["pending"] == "0x1"  # the replacement took the original's place

    head = _mine(chain)
    (settled,) = restarted.reconcile(head)
    assert settled.status == "mined"
    assert settled.mined_block == head
    assert chain._rpc("eth_getTransactionReceipt", first_hash) is None
    assert int(chain._rpc("eth_getTransactionReceipt", entry.hashes[1])["status"], 16) == 1
    assert int(chain._rpc("eth_getTransactionCount", wallet.address, "latest"), 16) == sent.nonce + 1
    assert chain.call(token, "balanceOf", chain.accounts[6]) == 1  # paid once
    on_disk = Journal(journal).entries[sent.nonce]
    assert (on_disk.status, on_disk.replacements) == ("mined", 1)


class NoTraceRpc(Rpc):
    """A node that does not serve ``debug_traceTransaction`` (most public RPC providers)."""

    def __init__(self, inner: Rpc) -> None:
        self.inner, self.name = inner, inner.name
        self.trace_calls = 0

    def request(self, method: str, params: Sequence[Any]) -> Any:
        if method == "debug_traceTransaction":
            self.trace_calls += 1
            raise ChainError(f"{self.name} answered {method} with an error: the method does not exist")
        return self.inner.request(method, params)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        return [self.request(m, p) for m, p in calls]


@pytest.mark.parametrize("traces", [True, False], ids=["trace", "replay"])
def test_revert_reasons_of_a_lost_race_and_of_a_plain_revert(
    node: tuple[AnvilChain, Contract], by_hand: AnvilChain, tmp_path: Path, traces: bool
) -> None:
    """Two transfers of the whole balance in one block: the second loses to the first (a lost race);
    then a transfer that reverts whatever came before it."""
    chain, token = by_hand, node[1]
    wallet = _wallet(chain, tmp_path)
    no_trace = NoTraceRpc(HttpRpc(chain.url))
    rpc = HttpRpc(chain.url) if traces else no_trace
    sender = _sender(chain, wallet, tmp_path / "journal.json", rpc)
    head, fees = chain.block_number(), sender.fees()
    everything = _transfer(token, chain.accounts[6], TOKENS)
    sender.send("first", token.address, everything, GAS, head, fees)
    sender.send("second", token.address, everything, GAS, head, fees)
    first, second = sorted(sender.reconcile(_mine(chain)), key=lambda e: e.nonce)
    assert (first.status, second.status) == ("mined", "reverted")
    assert first.mined_block == second.mined_block
    # the trace gives the reason the block's state gave; replayed before the block, the transfer passes
    assert second.reason == ("erc20: insufficient balance" if traces else BEATEN_IN_BLOCK)
    assert (second.reason in LOST_RACE) is not traces  # an ERC20's reason is no keeper's lost race

    sender.send("third", token.address, everything, GAS, chain.block_number(), sender.fees())
    (third,) = sender.reconcile(_mine(chain))
    assert (third.status, third.reason) == ("reverted", "erc20: insufficient balance")
    if not traces:
        assert no_trace.trace_calls == 1  # asked once; replayed from then on
