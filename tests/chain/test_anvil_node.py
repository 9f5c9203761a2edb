"""anvil specifics: start/stop, attaching to a URL, a missing binary, the batch fast path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_helpers import Mocks

from contracts_py.build import Artifact
from contracts_py.chains import AnvilChain, BatchCall, Chain, make_chain
from contracts_py.chains.anvil_process import find_anvil, free_port
from protocol.errors import ChainError, InvalidParameter


@pytest.fixture(scope="module", params=["anvil"])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """Only anvil in this module (overrides the all-backends fixture)."""
    with make_chain(request.param) as c:
        yield c


def test_node_runs_prague_on_loopback_and_stops_on_close() -> None:
    with AnvilChain() as node:
        assert node.process is not None
        assert node.process.running
        assert node.url.startswith("http://127.0.0.1:")
        assert node.w3.provider.make_request("anvil_nodeInfo", [])["result"]["hardFork"].lower() == "prague"
        process = node.process
    assert not process.running


def test_attach_to_a_running_node(chain: Chain, mocks: Mocks, artifacts: dict[str, Artifact]) -> None:
    assert isinstance(chain, AnvilChain)
    attached = AnvilChain(chain.url)
    try:
        assert attached.process is None
        assert attached.accounts == chain.accounts
        usdc = attached.at(artifacts["erc20"], mocks.usdc.address)
        assert attached.call(usdc, "decimals") == 6
    finally:
        attached.close()
    assert chain.call(mocks.usdc, "decimals") == 6  # closing an attached chain leaves the node alone


def test_dead_rpc_url_is_a_chain_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainError, match=r"cannot reach the JSON-RPC endpoint .*is the node running"):
        AnvilChain(url)


def test_missing_binary_is_a_clear_chain_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("contracts_py.chains.anvil_process.TOOLS_DIR", tmp_path)
    with pytest.raises(ChainError, match="make anvil"):
        find_anvil()
    with pytest.raises(ChainError, match="does not exist"):
        AnvilChain(anvil_path=str(tmp_path / "anvil"))


def test_unknown_backend_name() -> None:
    with pytest.raises(InvalidParameter, match="eth-tester, boa, anvil"):
        make_chain("ganache")


def test_batch_lands_in_one_block_in_list_order_across_senders(chain: Chain, mocks: Mocks) -> None:
    senders = chain.accounts[1:5]
    for s in senders:
        chain.transact(mocks.usdc, "mint", s, 10**9)
    calls = [
        BatchCall(mocks.usdc, "transfer", (chain.accounts[9], i + 1), sender=senders[(i * 3) % 4]) for i in range(120)
    ]
    results = chain.send_batch(calls)
    assert all(r.success for r in results)
    assert [r.events[0]["value"] for r in results] == list(range(1, 121))
    assert {r.block_number for r in results} == {chain.block_number()}
    receipts = [chain.w3.eth.get_transaction_receipt(r.tx_hash) for r in results]  # type: ignore[attr-defined]
    assert [int(r["transactionIndex"]) for r in receipts] == list(range(120))
    assert chain.call(mocks.usdc, "balanceOf", chain.accounts[9]) == 120 * 121 // 2


def test_batch_reports_reverts_mined_with_status_zero(
    chain: Chain, mocks: Mocks, artifacts: dict[str, Artifact]
) -> None:
    calls = [
        BatchCall(mocks.feed, "publish", (100,)),
        BatchCall(mocks.feed, "set_phase", (0,)),
        BatchCall(mocks.feed, "publish", (101,)),
    ]
    results = chain.send_batch(calls)
    assert [(r.success, r.reason) for r in results] == [
        (True, None),
        (False, "aggregator_v3: phase zero"),
        (True, None),
    ]
    assert chain.call(mocks.feed, "latestRoundData")[:2] == ((1 << 64) | 2, 101)
