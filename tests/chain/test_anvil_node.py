"""anvil specifics: start/stop, attaching to a URL, a missing binary, the batch fast path."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from chain_helpers import Mocks

from contracts_py.build import Artifact
from contracts_py.chains import UNTRACED, AnvilChain, BatchCall, Chain, make_chain
from contracts_py.chains.anvil_process import RpcClient, find_anvil, free_port
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


@pytest.fixture(params=[False, True], ids=["signed", "impersonated"])
def sending(chain: Chain, request: pytest.FixtureRequest) -> Iterator[AnvilChain]:
    """The module's anvil, sending batches signed here or from impersonated senders."""
    assert isinstance(chain, AnvilChain)
    chain.impersonate = request.param
    try:
        yield chain
    finally:
        chain.impersonate = False


def test_send_blocks_mines_each_block_at_its_time_in_order(sending: AnvilChain, mocks: Mocks) -> None:
    chain, usdc = sending, mocks.usdc
    block, now = chain.block_number(), chain.timestamp()
    results = chain.send_blocks(
        [
            (
                now + 10,
                [
                    BatchCall(usdc, "transfer", (mocks.keeper, 100), sender=mocks.trader),
                    BatchCall(usdc, "transfer", (mocks.keeper, 101), sender=mocks.trader),
                    BatchCall(usdc, "transfer", (mocks.liquidator, 150), sender=mocks.keeper),  # sees both
                    BatchCall(usdc, "transfer", (mocks.liquidator, 10**12), sender=mocks.keeper),
                ],
            ),
            (now + 11, []),
            (now + 15, [BatchCall(usdc, "transfer", (mocks.liquidator, 5), sender=mocks.trader)]),
        ],
        window=2,
    )
    assert [(r.block_number, r.success, r.reason) for r in results] == [
        (block + 1, True, None),
        (block + 1, True, None),
        (block + 1, True, None),
        (block + 1, False, "erc20: insufficient balance"),
        (block + 3, True, None),
    ]
    assert [r.events[0]["value"] for r in results if r.success] == [100, 101, 150, 5]
    mined = [chain.w3.eth.get_block(block + k) for k in (1, 2, 3)]
    assert [b["timestamp"] for b in mined] == [now + 10, now + 11, now + 15]
    assert [["0x" + bytes(h).hex() for h in b["transactions"]] for b in mined] == [
        [r.tx_hash for r in results[:4]],
        [],
        [results[4].tx_hash],
    ]
    assert chain.call(usdc, "balanceOf", mocks.keeper) == 51
    assert chain.call(usdc, "balanceOf", mocks.liquidator) == 155
    assert chain.transact(usdc, "transfer", mocks.keeper, 1, sender=mocks.trader).block_number == block + 4


def test_impersonated_batches_need_no_key(chain: Chain, mocks: Mocks) -> None:
    assert isinstance(chain, AnvilChain)
    stranger = "0x" + "42" * 20
    chain._rpc("anvil_setBalance", stranger, hex(10**20))
    chain.transact(mocks.usdc, "mint", stranger, 1_000)
    call = BatchCall(mocks.usdc, "transfer", (mocks.keeper, 7), sender=stranger)
    with pytest.raises(ChainError, match="no signing key"):
        chain.send_blocks([(chain.timestamp() + 1, [call])])
    chain.impersonate = True
    try:
        (result,) = chain.send_blocks([(chain.timestamp() + 1, [call])])
        (again,) = chain.send_batch([call])
    finally:
        chain.impersonate = False
    assert (result.success, again.success) == (True, True)
    assert chain.call(mocks.usdc, "balanceOf", mocks.keeper) == 14


def test_send_blocks_checks_its_input_and_the_blocks(chain: Chain, mocks: Mocks) -> None:
    assert isinstance(chain, AnvilChain)
    now = chain.timestamp()
    call = BatchCall(mocks.usdc, "transfer", (mocks.keeper, 1), sender=mocks.trader)
    assert chain.send_blocks([]) == []
    with pytest.raises(InvalidParameter, match="increase strictly"):
        chain.send_blocks([(now + 5, [call]), (now + 5, [call])])
    with pytest.raises(InvalidParameter, match="after the latest block"):
        chain.send_blocks([(now, [call])])
    assert chain._rpc("anvil_getAutomine") is True  # turned off in the first round trip, back on
    with pytest.raises(InvalidParameter, match="window"):
        chain.send_blocks([(now + 1, [call])], window=0)
    block = chain.block_number()
    heavy = BatchCall(mocks.usdc, "transfer", (mocks.keeper, 1), sender=mocks.trader, gas=29_990_000)
    with pytest.raises(ChainError, match=r"holds 1 transaction\(s\), not the 2"):  # 30M per block
        chain.send_blocks([(now + 1, [heavy, heavy]), (now + 2, [call])])
    assert int(chain._rpc("txpool_status")["pending"], 16) == 0  # the leftover was dropped
    assert chain._rpc("anvil_getAutomine") is True
    after = chain.block_number()
    assert after > block
    assert chain.transact(mocks.usdc, "transfer", mocks.keeper, 1, sender=mocks.trader).block_number == after + 1


def test_send_blocks_traces_only_the_flagged_reverts(chain: Chain, mocks: Mocks) -> None:
    assert isinstance(chain, AnvilChain)
    too_much = BatchCall(mocks.usdc, "transfer", (mocks.keeper, 10**30), sender=mocks.trader)
    ok = BatchCall(mocks.usdc, "transfer", (mocks.keeper, 1), sender=mocks.trader)
    results = chain.send_blocks([(chain.timestamp() + 1, [too_much, too_much, ok])], trace=[False, True, False])
    assert [(r.success, r.reason) for r in results] == [
        (False, UNTRACED),
        (False, "erc20: insufficient balance"),
        (True, None),
    ]
    with pytest.raises(InvalidParameter, match="one flag per call"):
        chain.send_blocks([(chain.timestamp() + 1, [ok])], trace=[])


def test_call_many_answers_many_reads_from_one_block_in_few_calls(
    chain: Chain, mocks: Mocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(chain, AnvilChain)
    block = chain.block_number()
    before = chain.call(mocks.usdc, "balanceOf", mocks.keeper)
    chain.transact(mocks.usdc, "transfer", mocks.keeper, 3, sender=mocks.trader)
    reads = [BatchCall(mocks.usdc, "balanceOf", (mocks.keeper,)), BatchCall(mocks.feed, "latestRoundData")] * 200
    sent: list[str] = []
    request = chain._client.request
    monkeypatch.setattr(chain._client, "request", lambda payload: sent.append(str(payload)) or request(payload))
    old, new = chain.call_many(reads, block=block), chain.call_many(reads)
    assert len(sent) == 2  # 400 reads: two multicall eth_call each, in one batch request
    assert len(old) == len(new) == 400
    assert chain.call_many_at(reads, [block, None]) == [old, new]  # both blocks: one request
    assert len(sent) == 3
    assert [old[0], new[0]] == [before, before + 3]
    assert old[1] == new[-1] == chain.call(mocks.feed, "latestRoundData")
    write = BatchCall(mocks.usdc, "transfer", (mocks.keeper, 1))  # a static call cannot write: reverts
    with pytest.raises(ChainError, match=r"eth_call .*transfer at latest reverted"):
        chain.call_many([reads[0], write])


def test_rpc_client_reuses_and_renews_its_connection(chain: Chain) -> None:
    assert isinstance(chain, AnvilChain)
    client = RpcClient(chain.url)
    ask = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    assert client.request(ask)["result"] == hex(chain.chain_id)
    conn = client._local.conn
    assert client.request([ask, ask])[1]["result"] == hex(chain.chain_id)
    assert client._local.conn is conn  # kept alive
    conn.sock.shutdown(socket.SHUT_RDWR)  # as if the node had dropped the idle connection
    assert client.request(ask)["result"] == hex(chain.chain_id)
    assert client._local.conn is not conn
    client.close()
    with pytest.raises(ChainError, match="is the node running"):
        RpcClient(f"http://127.0.0.1:{free_port()}").request(ask)
    with pytest.raises(ChainError, match="not an http"):
        RpcClient("ws://127.0.0.1:8545")
