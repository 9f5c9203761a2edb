"""The Chain interface behaves the same on eth-tester, titanoboa and anvil."""

from __future__ import annotations

import pytest
from chain_helpers import TRADER_USDC, TRADER_WETH, Mocks

from contracts_py.build import Artifact
from contracts_py.chains import NO_REASON, BatchCall, Chain
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert

ZERO = "0x" + "00" * 20


def test_accounts_are_distinct_funded_lowercase(chain: Chain) -> None:
    accounts = chain.accounts
    assert len(accounts) == 10
    assert len(set(accounts)) == 10
    assert all(a == a.lower() and len(a) == 42 for a in accounts)
    assert chain.get_balance(accounts[0]) > 10**18


def test_deployed_runtime_code_is_the_artifact(chain: Chain, mocks: Mocks, artifacts: dict[str, Artifact]) -> None:
    assert chain.get_code(mocks.usdc.address) == artifacts["erc20"].runtime_bytecode
    assert chain.get_code(mocks.feed.address) == artifacts["aggregator_v3"].runtime_bytecode
    assert chain.get_code(mocks.trader) == b""


def test_tokens_with_6_and_18_decimals(chain: Chain, mocks: Mocks) -> None:
    assert chain.call(mocks.usdc, "decimals") == 6
    assert chain.call(mocks.weth, "decimals") == 18
    assert chain.call(mocks.usdc, "symbol") == "USDC"
    assert chain.call(mocks.weth, "balanceOf", mocks.trader) == TRADER_WETH
    assert chain.call(mocks.usdc, "totalSupply") == TRADER_USDC


def test_transfer_moves_exact_amounts_and_decodes_events(chain: Chain, mocks: Mocks) -> None:
    result = chain.transact(mocks.usdc, "transfer", mocks.keeper, 1_234_567, sender=mocks.trader)
    assert result.success
    assert result.gas_used > 21_000
    assert result.events == (
        {"event": "Transfer", "sender": mocks.trader, "receiver": mocks.keeper, "value": 1_234_567},
    )
    assert result.emitters == (mocks.usdc.address,)
    assert chain.call(mocks.usdc, "balanceOf", mocks.trader) == TRADER_USDC - 1_234_567
    assert chain.call(mocks.usdc, "balanceOf", mocks.keeper) == 1_234_567


def test_transfer_from_spends_allowance(chain: Chain, mocks: Mocks) -> None:
    approve = chain.transact(mocks.weth, "approve", mocks.keeper, 10**18, sender=mocks.trader)
    assert approve.events_named("Approval") == [
        {"event": "Approval", "owner": mocks.trader, "spender": mocks.keeper, "value": 10**18}
    ]
    chain.transact(mocks.weth, "transferFrom", mocks.trader, mocks.liquidator, 4 * 10**17, sender=mocks.keeper)
    assert chain.call(mocks.weth, "allowance", mocks.trader, mocks.keeper) == 6 * 10**17
    assert chain.call(mocks.weth, "balanceOf", mocks.liquidator) == 4 * 10**17
    with pytest.raises(ProtocolRevert) as exc:
        chain.transact(mocks.weth, "transferFrom", mocks.trader, mocks.liquidator, 7 * 10**17, sender=mocks.keeper)
    assert exc.value.reason == "erc20: insufficient allowance"


def test_transact_revert_maps_to_protocol_revert_and_changes_nothing(chain: Chain, mocks: Mocks) -> None:
    block = chain.block_number()
    with pytest.raises(ProtocolRevert) as exc:
        chain.transact(mocks.usdc, "transfer", mocks.keeper, TRADER_USDC + 1, sender=mocks.trader)
    assert exc.value.reason == "erc20: insufficient balance"
    assert exc.value.module == "erc20"
    assert chain.block_number() == block
    assert chain.call(mocks.usdc, "balanceOf", mocks.trader) == TRADER_USDC


def test_call_revert_maps_to_protocol_revert(chain: Chain, mocks: Mocks) -> None:
    with pytest.raises(ProtocolRevert) as exc:
        chain.call(mocks.feed, "getRoundData", 12345)
    assert exc.value.reason == "aggregator_v3: no data present"


def test_revert_without_reason_gets_the_no_reason_marker(chain: Chain, mocks: Mocks) -> None:
    # Vyper's checked arithmetic reverts without data: totalSupply (> 0) + max overflows
    with pytest.raises(ProtocolRevert) as exc:
        chain.transact(mocks.usdc, "mint", mocks.keeper, 2**256 - 1)
    assert exc.value.reason == NO_REASON


def test_deploy_revert_maps_to_protocol_revert(chain: Chain, artifacts: dict[str, Artifact]) -> None:
    with pytest.raises(ProtocolRevert) as exc:
        chain.deploy(artifacts["erc20"], "Bad", "BAD", 19)
    assert exc.value.reason == "erc20: decimals above 18"


def test_token_without_return_value(chain: Chain, mocks: Mocks) -> None:
    out = chain.call(mocks.usdt, "transfer", mocks.keeper, 10, sender=mocks.trader)
    assert out is None
    chain.transact(mocks.usdt, "transfer", mocks.keeper, 10, sender=mocks.trader)
    assert chain.call(mocks.usdt, "balanceOf", mocks.keeper) == 10
    with pytest.raises(ProtocolRevert) as exc:
        chain.transact(mocks.usdt, "transfer", mocks.trader, 11, sender=mocks.keeper)
    assert exc.value.reason == "erc20_no_return: insufficient balance"


def test_bad_arguments_are_invalid_parameters(chain: Chain, mocks: Mocks) -> None:
    with pytest.raises(InvalidParameter, match="no function"):
        chain.call(mocks.usdc, "balance_of", mocks.trader)
    with pytest.raises(InvalidParameter, match="takes"):
        chain.call(mocks.usdc, "balanceOf")
    with pytest.raises(InvalidParameter, match="bad arguments"):
        chain.transact(mocks.usdc, "transfer", mocks.keeper, -1)


def test_snapshot_ids_are_reusable_and_later_ones_dropped(chain: Chain, mocks: Mocks) -> None:
    sid = chain.snapshot()
    for amount in (7, 9):
        chain.transact(mocks.usdc, "transfer", mocks.keeper, amount, sender=mocks.trader)
        assert chain.call(mocks.usdc, "balanceOf", mocks.keeper) == amount
        later = chain.snapshot()
        chain.revert(sid)
        assert chain.call(mocks.usdc, "balanceOf", mocks.keeper) == 0
        with pytest.raises(ChainError, match="unknown snapshot"):
            chain.revert(later)
    with chain.anchor():
        chain.transact(mocks.usdc, "mint", mocks.keeper, 3)
    assert chain.call(mocks.usdc, "balanceOf", mocks.keeper) == 0


def test_snapshot_restores_the_clock(chain: Chain, mocks: Mocks) -> None:
    t0 = chain.timestamp()
    sid = chain.snapshot()
    chain.set_next_timestamp(t0 + 10_000)
    chain.transact(mocks.feed, "publish", 1)
    assert chain.timestamp() == t0 + 10_000
    chain.revert(sid)
    assert chain.timestamp() == t0


def test_set_next_timestamp_is_exact(chain: Chain, mocks: Mocks) -> None:
    target = chain.timestamp() + 86_400
    chain.set_next_timestamp(target)
    result = chain.transact(mocks.feed, "publish", 3_000 * 10**8)
    assert result.events[0]["updated_at"] == target
    assert chain.timestamp() == target
    chain.advance_time(3_600)
    chain.transact(mocks.feed, "publish", 3_001 * 10**8)
    round_id, answer, started_at, updated_at, answered_in_round = chain.call(mocks.feed, "latestRoundData")
    assert (round_id, answer, started_at, updated_at) == ((1 << 64) | 2, 3_001 * 10**8, target + 3_600, target + 3_600)
    assert answered_in_round == round_id
    with pytest.raises(InvalidParameter, match="cannot go back in time"):
        chain.set_next_timestamp(target)


def test_mine_advances_block_number(chain: Chain) -> None:
    before = chain.block_number()
    chain.mine(3)
    assert chain.block_number() == before + 3


def test_aggregator_rounds_and_phases(chain: Chain, mocks: Mocks) -> None:
    assert chain.call(mocks.feed, "latestRoundData") == (0, 0, 0, 0, 0)
    assert chain.call(mocks.feed, "description") == "ETH / USD"
    assert chain.call(mocks.feed, "phaseId") == 1
    chain.transact(mocks.feed, "push_answer", 2_000 * 10**8, 1_700_000_000)
    chain.transact(mocks.feed, "set_phase", 2)
    pushed = chain.transact(mocks.feed, "push_answer", 2_100 * 10**8, 1_700_000_060)
    new_round = (2 << 64) | 1
    assert pushed.events == (
        {
            "event": "RoundSet",
            "round_id": new_round,
            "answer": 2_100 * 10**8,
            "started_at": 1_700_000_060,
            "updated_at": 1_700_000_060,
            "answered_in_round": new_round,
        },
    )
    assert chain.call(mocks.feed, "getRoundData", (1 << 64) | 1) == (
        (1 << 64) | 1,
        2_000 * 10**8,
        1_700_000_000,
        1_700_000_000,
        (1 << 64) | 1,
    )
    # a stale, non-positive round set verbatim
    chain.transact(mocks.feed, "set_round", new_round + 1, -5, 10, 11, new_round)
    assert chain.call(mocks.feed, "latestRoundData") == (new_round + 1, -5, 10, 11, new_round)
    with pytest.raises(ProtocolRevert) as exc:
        chain.transact(mocks.feed, "set_phase", 0)
    assert exc.value.reason == "aggregator_v3: phase zero"


def test_reentrant_token_calls_back_and_bubbles_reasons(
    chain: Chain, mocks: Mocks, artifacts: dict[str, Artifact]
) -> None:
    evil = chain.deploy(artifacts["reentrant_token"], 18)
    chain.transact(evil, "mint", mocks.trader, 100)
    # a successful re-entry (the callback mints USDC to the keeper) is recorded
    callback = mocks.usdc.abi.encode_call("mint", (mocks.keeper, 5))
    chain.transact(evil, "arm", mocks.usdc.address, callback, False)
    result = chain.transact(evil, "transfer", mocks.keeper, 1, sender=mocks.trader)
    assert [e["event"] for e in result.events] == ["Transfer", "ReentryAttempted", "Transfer"]
    assert result.emitters == (mocks.usdc.address, evil.address, evil.address)
    assert chain.call(mocks.usdc, "balanceOf", mocks.keeper) == 5
    assert chain.call(evil, "armed") is False
    # a failing re-entry with bubbling reverts the transfer with the target's reason
    failing = mocks.feed.abi.encode_call("getRoundData", (777,))
    chain.transact(evil, "arm", mocks.feed.address, failing, True)
    with pytest.raises(ProtocolRevert) as exc:
        chain.transact(evil, "transfer", mocks.keeper, 1, sender=mocks.trader)
    assert exc.value.reason == "aggregator_v3: no data present"
    assert chain.call(evil, "balanceOf", mocks.keeper) == 1


def test_send_batch_runs_in_order_and_reports_reverts(chain: Chain, mocks: Mocks) -> None:
    chain.transact(mocks.usdc, "transfer", mocks.keeper, 1_000, sender=mocks.trader)
    calls = [
        BatchCall(mocks.usdc, "transfer", (mocks.liquidator, 100 + i), sender=mocks.trader if i % 2 else mocks.keeper)
        for i in range(6)
    ]
    calls.insert(3, BatchCall(mocks.usdc, "transfer", (mocks.trader, 10**12), sender=mocks.keeper))
    results = chain.send_batch(calls)
    assert [r.success for r in results] == [True, True, True, False, True, True, True]
    assert results[3].reason == "erc20: insufficient balance"
    assert results[3].events == ()
    values = [r.events[0]["value"] for r in results if r.success]
    assert values == [100, 101, 102, 103, 104, 105]
    keeper_sent = 100 + 102 + 104
    assert chain.call(mocks.usdc, "balanceOf", mocks.keeper) == 1_000 - keeper_sent
    assert chain.call(mocks.usdc, "balanceOf", mocks.liquidator) == sum(values)


def test_automine_off_queues_until_mined(chain: Chain, mocks: Mocks) -> None:
    if chain.name == "boa":
        with pytest.raises(ChainError, match="automine"):
            chain.set_automine(False)
        return
    block = chain.block_number()
    chain.set_automine(False)
    try:
        pending = chain.transact(mocks.usdc, "transfer", mocks.keeper, 42, sender=mocks.trader)
        if chain.pending_block_results:  # eth-tester: executed into the pending block at once
            assert pending.block_number == block + 1
            assert pending.events[0]["value"] == 42
        else:
            assert pending.block_number is None
        assert chain.block_number() == block
        chain.mine()
    finally:
        chain.set_automine(True)
    assert pending.tx_hash is not None
    mined = chain.receipt(pending.tx_hash)
    assert mined.block_number == block + 1
    assert mined.events[0]["value"] == 42


def test_pending_block_holds_several_transactions_of_a_sender(chain: Chain, mocks: Mocks) -> None:
    """eth-tester with automine off builds one block: each transaction sees the ones before it,
    a dry-run revert leaves the block as it was, set_automine(True) seals it."""
    if not chain.pending_block_results:
        return
    block = chain.block_number()
    chain.set_next_timestamp(chain.timestamp() + 7)
    chain.set_automine(False)
    try:
        first = chain.transact(mocks.usdc, "transfer", mocks.keeper, 40, sender=mocks.trader)
        second = chain.transact(mocks.usdc, "transfer", mocks.keeper, 2, sender=mocks.trader)
        back = chain.transact(mocks.usdc, "transfer", mocks.liquidator, 42, sender=mocks.keeper)
        with pytest.raises(ProtocolRevert, match="erc20: insufficient balance"):
            chain.transact(mocks.usdc, "transfer", mocks.liquidator, 1, sender=mocks.keeper)
        assert chain.call(mocks.usdc, "balanceOf", mocks.liquidator) == 42  # reads see the pending block
        with pytest.raises(ChainError, match="mine"):
            chain.snapshot()
        with pytest.raises(ChainError, match="mine"):
            chain.set_next_timestamp(chain.timestamp() + 100)
    finally:
        chain.set_automine(True)
    assert {first.block_number, second.block_number, back.block_number} == {block + 1}
    assert chain.block_number() == block + 1
    sealed = chain.w3.eth.get_block(block + 1)  # type: ignore[attr-defined]
    assert [bytes(h).hex() for h in sealed["transactions"]] == [
        r.tx_hash.removeprefix("0x") for r in (first, second, back) if r.tx_hash
    ]
    assert chain.receipt(str(back.tx_hash)).events[0]["value"] == 42
    chain.set_automine(True)  # an empty pending block is not sealed
    assert chain.block_number() == block + 1
