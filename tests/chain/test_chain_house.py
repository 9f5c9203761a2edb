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
from protocol.actions import AdvanceTime, Deposit, Fill, PushPrice, SettleExpired, Withdraw
from protocol.constants import WAD
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert
from protocol.events import TimeAdvanced


@pytest.fixture(scope="module", params=["eth-tester", "anvil"])
def node(request: pytest.FixtureRequest) -> Iterator[Differential]:
    """A deployment on an automining backend (anvil: one transaction per block for batches)."""
    kwargs = (
        {"extra_args": ["--gas-limit", "8000000"], "deploy_gas_limit": 8_000_000} if request.param == "anvil" else {}
    )
    with make_chain(request.param, **kwargs) as chain:
        d = Differential.on_chain(chain)
        if request.param == "anvil":
            chain.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])  # type: ignore[attr-defined]
        yield d


def book(d: Differential) -> list:
    a = d.actors
    maker, taker = a.traders[0], a.traders[1]
    t = d.now + 1
    return [
        PushPrice(a.oracle, 0, 60_000 * WAD, t),
        PushPrice(a.oracle, 1, 3_000 * WAD, t + 1),
        Deposit(maker, 0, 1_000_000 * USDC),
        Deposit(taker, 0, 10_000 * USDC),
        Withdraw(taker, 0, 10**9 * USDC),  # reverts: insufficient balance
        Fill(a.matcher, maker, taker, 0, WAD // 10, 60_000 * WAD, 0, 0),
    ]


def model_outcome(d: Differential, action) -> list | str:
    """The model's events for ``action`` (without TimeAdvanced), or its revert reason."""
    try:
        return [e for e in d.model.apply(action) if not isinstance(e, TimeAdvanced)]
    except ProtocolRevert as exc:
        return exc.reason


def test_automining_needs_a_block_per_transaction(node):
    d = node
    d.reset()
    with pytest.raises(ChainError, match="own block"):
        d.house.apply(Deposit(d.actors.keeper, 0, USDC))
    d.house.apply(AdvanceTime(1, 1))
    d.house.apply(Deposit(d.actors.keeper, 0, USDC))
    with pytest.raises(ChainError, match="own block"):
        d.house.apply(Deposit(d.actors.keeper, 0, USDC))
    with pytest.raises(InvalidParameter, match="perpetual markets only"):
        d.house.apply(SettleExpired(d.actors.keeper, d.actors.keeper, 0))


def test_apply_batch_equals_the_model(node):
    """One block and one second per transaction; on anvil the whole run is one send_batch."""
    d = node
    d.reset()
    actions = []
    for a in book(d):
        actions += [AdvanceTime(1, 1), a]
    outcomes = d.house.apply_batch(actions)
    for action, got in zip(actions, outcomes, strict=True):
        assert (got.reason if isinstance(got, ProtocolRevert) else got) == model_outcome(d, action)
    d.addresses |= set(d.actors.all)
    d.compare_state()
    assert d.house.account(d.actors.traders[1]).positions[0].size == WAD // 10


def test_house_refuses_a_system_of_another_chain(node):
    with make_chain("boa") as other, pytest.raises(InvalidParameter, match="another chain"):
        ChainClearingHouse(other, node.chain_system)


def test_exported_artifacts_load(tmp_path):
    paths = export_artifacts(tmp_path, [f"{n}.vy" for n in DEPLOYED_CONTRACTS])
    assert sorted(p.name for p in paths) == ["clearing_house.json", "erc20.json", "liquidation_engine.json"]
    for p in paths:
        data = json.loads(p.read_text())
        artifact = Artifact.from_json({**data, "sourcePath": ""})
        assert artifact.bytecode
        assert artifact.runtime_bytecode
        assert any(f.get("name") == "fill" for f in artifact.abi) == (p.stem == "clearing_house")
