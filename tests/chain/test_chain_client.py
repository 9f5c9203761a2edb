"""The integrator client on eth-tester: every read equals the reference model after a scripted
scenario (fills of signed orders, funding, a liquidation, collateral), health to the wei, Params
rebuilt from the chain, typed events in chain order, the exported ABI decoding every event with
plain web3.py, the manifest, and the refusals (no code, not a house, wrong chain); and, over
hypothesis-drawn campaigns, reads and health at past blocks equal the model's at those blocks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from integrator_scenario import scenario_on
from test_protocol_campaign import CAMPAIGN, _campaign
from test_protocol_harness import USDC, Differential
from web3 import Web3

from contracts_py.build import export_artifacts
from contracts_py.chains import make_chain
from contracts_py.client import AccountHealth, NovationClient
from contracts_py.manifest import load_manifest, manifest_of
from protocol import events as ev
from protocol.actions import Action, AdvanceTime, Deposit
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import ChainError, InvalidParameter, ProtocolRevert
from protocol.funding import accrued_state
from protocol.margin import Health
from protocol.state import Account


@pytest.fixture(scope="module")
def scenario() -> Iterator[tuple[Differential, list[str]]]:
    with scenario_on("eth-tester") as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def isolate() -> None:
    """The scenario's chain is read only here (overrides tests/chain's snapshot isolation)."""


def _client(d: Differential) -> NovationClient:
    return NovationClient(d.chain_system.chain.w3, d.core.address)  # type: ignore[attr-defined]


def test_reads_equal_the_model(scenario: tuple[Differential, list[str]]) -> None:
    d, traders = scenario
    client = _client(d)
    model = d.model.state
    assert client.params_from_chain() == d.params
    assert client.market_ids() == d.params.market_ids
    assert client.feed_ids() == [f.feed_id for f in d.params.feeds]
    assert client.asset_ids() == [c.asset_id for c in d.params.collaterals]
    block = client.block_number()
    snap = client.snapshot(traders, block=block)
    assert snap.timestamp_s == model.now_s
    for name in ("insurance_fund", "fee_pool", "funding_pool", "loss_pool", "uncovered_loss", "paused", "feeds"):
        assert getattr(snap.state, name) == getattr(model, name), name
    assert snap.state.markets == {m: model.markets[m] for m in snap.state.markets}
    batched = client.accounts(traders, block=block, chunk=2)
    for a in traders:
        want = model.accounts[a]
        want_key = (want.balance, {k: v for k, v in want.collateral.items() if v}, want.positions, want.realized_pnl)
        for got in (batched[a], client.account(a, block=block)):
            assert (got.balance, got.collateral, got.positions, got.realized_pnl) == want_key
    assert client.insurance_fund(block=block) == model.insurance_fund
    assert client.open_interest(0, block=block) == (model.markets[0].oi_long, model.markets[0].oi_short)


def test_health_equals_the_model_to_the_wei(scenario: tuple[Differential, list[str]]) -> None:
    d, traders = scenario
    client = _client(d)
    healths = client.healths(traders)
    assert any(h.maintenance > 0 for h in healths.values())
    for a in traders:
        assert healths[a].margin == d.model.health(a)
        assert healths[a].liquidation == d.model.liquidation_health(a)
        assert healths[a].liquidatable == d.model.liquidation_health(a).liquidatable
    # the margin core's screen over the same (accrued) state agrees on every decision
    from protocol.margin_core import MarginBook, evaluate

    state = accrued_state(d.model.state, d.params)
    book = MarginBook.from_state(state, d.params)
    batch = evaluate(book, {f: s.price_wad for f, s in state.feeds.items()})
    assert book.labels is not None
    for row, a in enumerate(book.labels):
        if a in healths:
            assert bool(batch.meets_initial[row]) == healths[a].meets_initial


def test_events_typed_in_chain_order(scenario: tuple[Differential, list[str]]) -> None:
    d, _ = scenario
    client = _client(d)
    found = client.events(0)
    keys = [(e.block, e.tx_index, e.log_index) for e in found]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    kinds = {e.kind for e in found}
    assert {"Deposited", "FillSettled", "OrderFilled", "Liquidated", "PriceAccepted", "FundingRateSet"} <= kinds
    assert all(isinstance(e.event, ev.Event) for e in found)
    liquidated = client.events(0, kinds=["Liquidated"])
    assert [e.kind for e in liquidated] == ["Liquidated"]
    assert set(client.event_kinds) >= {"Liquidated", "CollateralLiquidated", "Deleveraged"}
    frame = found.to_dataframe()
    assert len(frame) == len(found)
    assert list(frame.columns[:5]) == ["block", "tx_index", "log_index", "tx_hash", "kind"]
    head = client.block_number()
    with pytest.raises(InvalidParameter, match="past the head"):
        client.events(0, head + 5)
    with pytest.raises(InvalidParameter, match="unknown event kinds"):
        client.events(0, kinds=["Nope"])


def test_exported_abi_decodes_every_event_with_plain_web3(
    scenario: tuple[Differential, list[str]], tmp_path: Path
) -> None:
    d, _ = scenario
    (path,) = export_artifacts(tmp_path, ["clearing_house.vy"])
    abi = json.loads(path.read_text())["abi"]
    names = {e["name"] for e in abi if e["type"] == "event"}
    assert {"Liquidated", "CollateralLiquidated", "Deleveraged", "FillSettled", "BadDebtSettled"} <= names
    w3: Web3 = d.chain_system.chain.w3  # type: ignore[attr-defined]
    house = w3.eth.contract(address=Web3.to_checksum_address(d.core.address), abi=abi)
    liquidated = house.events.Liquidated().get_logs(from_block=0)
    assert len(liquidated) == 1
    assert liquidated[0]["args"]["keeper"].lower() == d.actors.keeper
    seen = set()
    for entry in abi:
        if entry["type"] == "event":
            for log in getattr(house.events, entry["name"])().get_logs(from_block=0):
                seen.add(log["event"])
    assert seen == {e.kind for e in _client(d).events(0)}


def test_manifest_round_trip_and_attach(scenario: tuple[Differential, list[str]], tmp_path: Path) -> None:
    d, _ = scenario
    manifest = manifest_of(d.chain_system, d.params)
    path = manifest.write(tmp_path / "deployment.json")
    back = load_manifest(path)
    assert back == manifest
    assert back.house == d.core.address
    assert back.params == d.params
    assert back.contracts["clearing_house"].block is not None
    client = NovationClient.from_manifest(d.chain_system.chain.w3, path)  # type: ignore[attr-defined]
    assert client.lens == manifest.lens
    assert client.accounts([d.actors.keeper]) == _client(d).accounts([d.actors.keeper])


def test_refusals(scenario: tuple[Differential, list[str]]) -> None:
    d, _ = scenario
    w3 = d.chain_system.chain.w3  # type: ignore[attr-defined]
    with pytest.raises(ChainError, match="has no code"):
        NovationClient(w3, "0x" + "33" * 20)
    with pytest.raises(ChainError, match="is not a Novation clearing house"):
        NovationClient(w3, d.chain_system.tokens[0].address)
    with pytest.raises(ChainError, match="but the deployment is on chain 5"):
        NovationClient(w3, d.core.address, chain_id=5)
    with pytest.raises(InvalidParameter, match="house address"):
        NovationClient(w3, "0x12")


# ---------------------------------------------------------------------- drawn campaigns

#: Campaign steps per example, and how many sealed blocks of it are read back.
CAMPAIGN_STEPS = 10
BLOCKS_READ = 3


@pytest.fixture(scope="module")
def campaign_deployment() -> Iterator[Differential]:
    """A default-parameter deployment on eth-tester (blocks of several transactions), reverted per example."""
    with make_chain("eth-tester") as chain:
        yield Differential.on_chain(chain)


def _health(fn: Callable[[str], Health], account: str) -> Health | None:
    try:
        return fn(account)
    except ProtocolRevert:  # a price it needs is untrusted: the client answers None
        return None


@settings(CAMPAIGN, max_examples=3)
@given(data=st.data())
def test_reads_and_health_at_past_blocks_equal_the_model(
    campaign_deployment: Differential, data: st.DataObject
) -> None:
    """A drawn campaign runs on the contracts and the model; the model is kept as it stood at the
    end of each block holding a successful transaction; afterwards the client reads a few of those
    blocks (``block=``) and every read and every health equals that model's, to the wei."""
    d = campaign_deployment
    at_block: dict[int, ClearingHouse] = {}  # chain block -> the model at its end
    plain_apply = d.apply

    def recording(action: Any, **kw: Any) -> Any:
        got = plain_apply(action, compare=False)  # events and reverts compared; reads checked below
        if isinstance(got, list) and not isinstance(action, AdvanceTime):
            at_block[d.house.block_base + d.model.state.block] = copy.deepcopy(d.model)
        return got

    def opening(d: Differential) -> list[Action]:
        """Every trader funded with a drawn amount, two drawn fills: positions to be healthy or not."""
        t, matcher = d.actors.traders, d.actors.matcher
        deposits = [Deposit(a, 0, data.draw(st.integers(2_000, 100_000), label="deposit") * USDC) for a in t[1:]]
        sizes = [data.draw(st.integers(WAD // 10, 3 * WAD), label="size") * s for s in (1, -1)]
        return [
            *deposits,
            d.signer.fill(matcher, t[0], t[1], 0, sizes[0], 60_000 * WAD, 0, 0),
            d.signer.fill(matcher, t[2], t[3], 1, 10 * sizes[1], 3_000 * WAD, 0, 0),
        ]

    d.apply = recording  # type: ignore[method-assign]
    try:
        _campaign(d, data, CAMPAIGN_STEPS, opening)
    finally:
        d.apply = plain_apply  # type: ignore[method-assign]
    d.chain_system.chain.set_automine(True)  # seal the last block
    client = _client(d)
    blocks = sorted(at_block)
    chosen = data.draw(
        st.lists(st.sampled_from(blocks), min_size=1, max_size=BLOCKS_READ, unique=True), label="blocks read"
    )
    accounts = list(d.actors.all)
    assert client.params_from_chain(block=blocks[0]) == d.params
    for block in chosen:
        model = at_block[block]
        snap = client.snapshot(accounts, block=block)
        assert snap.timestamp_s == model.state.now_s
        for name in ("insurance_fund", "paused", "feeds", "markets"):
            assert getattr(snap.state, name) == getattr(model.state, name), (block, name)
        healths = client.healths(accounts, block=block)
        for a in accounts:
            want, got = model.state.accounts.get(a) or Account(), snap.state.accounts.get(a) or Account()
            assert (got.balance, got.collateral, got.positions, got.realized_pnl) == (
                want.balance,
                {k: v for k, v in want.collateral.items() if v},
                want.positions,
                want.realized_pnl,
            ), (block, a)
            assert healths[a] == AccountHealth(a, _health(model.health, a), _health(model.liquidation_health, a)), (
                block,
                a,
            )
