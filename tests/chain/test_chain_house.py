"""ChainClearingHouse: clock rules, batch fast path, reads, and the integrator artifacts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_protocol_harness import USDC, Differential

from contracts_py.build import Artifact, export_artifacts
from contracts_py.chain_house import ChainClearingHouse
from contracts_py.chains import make_chain
from contracts_py.deploy import DEPLOYED_CONTRACTS
from protocol.actions import AdvanceTime, Deposit, Liquidate, PushPrice, SettleExpired, Withdraw
from protocol.constants import WAD
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert
from protocol.events import TimeAdvanced
from protocol.scenarios import default_params
from protocol.state import Account

#: A low per-block liquidation cap, so that two liquidations in one block reach it.
BLOCK_CAP_WAD = 3_000 * WAD


@pytest.fixture(scope="module", params=["eth-tester", "anvil"])
def node(request: pytest.FixtureRequest) -> Iterator[Differential]:
    """A deployment on a backend that mines blocks (default node settings)."""
    with make_chain(request.param) as chain:
        yield Differential.on_chain(chain, default_params(max_liquidation_notional_per_block_wad=BLOCK_CAP_WAD))


def book(d: Differential) -> list:
    """Three model blocks: a busy one (a refused withdrawal in the middle), one after four empty
    blocks with two liquidations (the second over the block cap), and the next one."""
    a = d.actors
    maker, long = a.traders[0], a.traders[1]
    t = d.now + 1
    return [
        AdvanceTime(1, 1),
        PushPrice(a.oracle, 0, 60_000 * WAD, t),
        PushPrice(a.oracle, 1, 3_000 * WAD, t),
        Deposit(maker, 0, 1_000_000 * USDC),
        Deposit(a.keeper, 0, 200_000 * USDC),
        Deposit(long, 0, 7_000 * USDC),
        Withdraw(long, 0, 10**9 * USDC),  # reverts: insufficient balance
        d.signer.fill(a.matcher, maker, long, 0, WAD, 60_000 * WAD, 0, 0),
        AdvanceTime(60, 5),
        PushPrice(a.oracle, 0, 54_500 * WAD, t + 60),
        Liquidate(a.keeper, long, 0, WAD // 25),
        Liquidate(a.keeper, long, 0, WAD // 25),  # reverts: block cap reached
        AdvanceTime(1, 1),
        Liquidate(a.keeper, long, 0, WAD // 25),
    ]


def model_outcome(d: Differential, action) -> list | str:
    """The model's events for ``action`` (without TimeAdvanced), or its revert reason."""
    try:
        return [e for e in d.model.apply(action) if not isinstance(e, TimeAdvanced)]
    except ProtocolRevert as exc:
        return exc.reason


def tx_blocks(d: Differential, first: int, last: int) -> list[int]:
    """Transactions in each chain block ``first..last``."""
    w3 = d.chain_system.chain.w3  # type: ignore[attr-defined]
    return [len(w3.eth.get_block(b)["transactions"]) for b in range(first, last + 1)]


def test_clock_rules(node):
    d = node
    d.reset()
    keeper = d.actors.keeper
    with pytest.raises(ChainError, match="already sealed"):
        d.house.apply(Deposit(keeper, 0, USDC))  # model block 0 is the latest chain block
    d.house.apply(AdvanceTime(1, 1))
    d.house.apply(Deposit(keeper, 0, USDC))
    if d.chain_system.chain.name == "anvil":  # events only from sealed blocks: one transaction per block
        with pytest.raises(ChainError, match="apply_batch"):
            d.house.apply(Deposit(keeper, 0, USDC))
    else:  # eth-tester keeps the block open for the model block's next transactions
        first = d.house.last_tx
        d.house.apply(Deposit(keeper, 0, 2 * USDC))
        assert first is not None
        assert d.house.last_tx is not None
        assert d.house.last_tx.block_number == first.block_number == d.house.block_base + 1
        d.house.apply(AdvanceTime(5, 0))
        with pytest.raises(ChainError, match="one timestamp"):
            d.house.apply(Deposit(keeper, 0, USDC))
    with pytest.raises(InvalidParameter, match="perpetual markets only"):
        d.house.apply(SettleExpired(keeper, keeper, 0))


def apply_each(d: Differential, actions: list) -> list:
    """``house.apply`` one by one, a revert as its ProtocolRevert."""
    out = []
    for a in actions:
        try:
            out.append(d.house.apply(a))
        except ProtocolRevert as exc:
            out.append(exc)
    return out


def test_blocks_of_several_transactions_equal_the_model(node):
    """Every action's events or revert reason, the per-block liquidation cap and the whole state
    equal the model's; each model block is one chain block holding its transactions. Batched on
    both backends, and one at a time on eth-tester (anvil seals a block per apply)."""
    d = node
    sends = [lambda actions: d.house.apply_batch(actions)]
    if d.chain_system.chain.name == "eth-tester":
        sends.append(lambda actions: apply_each(d, actions))
    for send in sends:
        d.reset()
        actions = book(d)
        outcomes = send(actions)
        for action, got in zip(actions, outcomes, strict=True):
            assert (got.reason if isinstance(got, ProtocolRevert) else got) == model_outcome(d, action), action
        d.addresses |= set(d.actors.all)
        d.compare_state()
        assert d.house.state(d.addresses).block_liquidated_wad == d.model.state.block_liquidated_wad > 0
        base = d.house.block_base
        d.house.apply(AdvanceTime(1, 1))  # seals eth-tester's open block
        reverted = 1 if d.chain_system.chain.name == "anvil" else 0  # anvil mines it with status 0
        assert tx_blocks(d, base + 1, base + 7) == [6 + reverted, 0, 0, 0, 0, 2 + reverted, 1]


def test_house_refuses_a_system_of_another_chain(node):
    with make_chain("boa") as other, pytest.raises(InvalidParameter, match="another chain"):
        ChainClearingHouse(other, node.chain_system)


def test_differences_name_what_differs_and_refuse_bad_arguments(node):
    d = node
    d.reset()
    model = d.model.snapshot()
    assert d.house.differences(model, d.actors.all) == []
    model.insurance_fund += 1
    model.accounts[d.actors.keeper] = Account(balance=5)
    assert d.house.differences(model, [d.actors.keeper]) == [
        f"account {d.actors.keeper}: chain (0, 0, {{}}, {{}}) != model (5, 0, {{}}, {{}})",
        "insurance_fund: chain 0 != model 1",
    ]
    with pytest.raises(InvalidParameter, match="model must be a ProtocolState"):
        d.house.differences(d.model, [])
    with pytest.raises(InvalidParameter, match=r"market_ids \[9\]"):
        d.house.differences(model, [], [9])


def test_exported_artifacts_load(tmp_path):
    paths = export_artifacts(tmp_path, [f"{n}.vy" for n in DEPLOYED_CONTRACTS])
    assert sorted(p.name for p in paths) == [
        "adl_engine.json",
        "clearing_house.json",
        "erc20.json",
        "lens.json",
        "liquidation_engine.json",
        "trading_engine.json",
    ]
    for p in paths:
        data = json.loads(p.read_text())
        artifact = Artifact.from_json({**data, "sourcePath": ""})
        assert artifact.bytecode
        assert artifact.runtime_bytecode
        assert any(f.get("name") == "fill" for f in artifact.abi) == (p.stem in ("clearing_house", "trading_engine"))
