"""F-03 (medium): repeated pushes in one block ratcheted the price; one invalid reading turned the
move guard off.

Before the fix the core accepted equal timestamps and compared a reading only with the last
accepted price, and only while the feed was trusted: six pushes of +50 % in one block took BTC from
60,000 to 683,437.5 (11.4x), and after a zero reading any price was accepted. Now timestamps must
strictly increase and every reading of a second is bounded against the price accepted before that
second (the allowed move grows over ``move_window_s`` to ``max_move``), whether or not the feed is
trusted.

The attacker holds the core's oracle role (a compromised or buggy pusher: the core's own guards
are what is under test). The attack runs on the reference model and on the contracts, on
titanoboa and in one real anvil block (the fast path's batch).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from oracle_attack import Desk, deploy_desk

from contracts_py.chain_house import ChainClearingHouse
from contracts_py.chains import make_chain
from protocol import events as ev
from protocol.actions import Action, AdvanceTime, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.scenarios import BTC_FEED

P0 = 60_000 * WAD
UP = [P0 * 3**k // 2**k for k in range(1, 7)]  # +50 % six times: 90,000 ... 683,437.5


@pytest.fixture(scope="module", params=["boa", "anvil"])
def desk(request: pytest.FixtureRequest) -> Iterator[Desk]:
    if request.param == "anvil" and shutil.which("anvil") is None:
        pytest.fail("anvil is not on PATH: put tools/node_modules/@foundry-rs/anvil-linux-amd64/bin on PATH")
    with make_chain(request.param) as chain:
        yield deploy_desk(chain, fallback=False)


@dataclass
class Twin:
    """The contracts and the reference model, fed the same actions."""

    house: ChainClearingHouse
    model: ClearingHouse
    oracle: str


def in_one_block(twin: Twin, actions: Sequence[Action]) -> list[list[ev.Event]]:
    """``actions`` on the model and on the chain (anvil: one batch, one block per model block);
    both must give the same events (no action here reverts)."""
    house, model = twin.house, twin.model
    outcomes = house.apply_batch(actions)
    got: list[list[ev.Event]] = []
    for action, outcome in zip(actions, outcomes, strict=True):
        expected = model.apply(action)
        assert not isinstance(outcome, ProtocolRevert), (action, outcome)
        assert outcome == [e for e in expected if not isinstance(e, ev.TimeAdvanced)], action
        got.append(expected)
    return got


@pytest.fixture
def twin(desk: Desk) -> Twin:
    """The deployment with a fresh model; BTC accepted at 60,000 two minutes ago."""
    desk.chain.revert(desk.snapshot)
    house = ChainClearingHouse(desk.chain, desk.system)
    a = desk.actors
    model = house.reference_model(desk.params, a["governance"], matchers=[a["matcher"]], oracles=[a["oracle"]])
    t = Twin(house, model, a["oracle"])
    in_one_block(t, [AdvanceTime(1, 1), PushPrice(t.oracle, BTC_FEED, P0, house.now_s + 1)])
    in_one_block(t, [AdvanceTime(120, 1)])
    return t


def accepted(events: list[list[ev.Event]]) -> list[int]:
    return [e.price_wad for es in events for e in es if isinstance(e, ev.PriceAccepted)]


@pytest.mark.parametrize("stamps", ["equal", "increasing"])
def test_pushes_in_one_block_cannot_ratchet_the_price(twin: Twin, stamps: str) -> None:
    now = twin.house.now_s
    pushes = [
        PushPrice(twin.oracle, BTC_FEED, price, now if stamps == "equal" else now - 5 + k) for k, price in enumerate(UP)
    ]
    events = in_one_block(twin, pushes)
    assert accepted(events) == [UP[0]]  # +50 %, then nothing more in this block
    assert twin.model.state.feeds[BTC_FEED].price_wad == twin.house.feed(BTC_FEED).price_wad == 90_000 * WAD


def test_an_invalid_reading_does_not_switch_the_move_guard_off(twin: Twin) -> None:
    now = twin.house.now_s
    events = in_one_block(
        twin,
        [PushPrice(twin.oracle, BTC_FEED, 0, now - 1), PushPrice(twin.oracle, BTC_FEED, 10 * P0, now)],
    )
    assert accepted(events) == []
    assert [e.reason for es in events for e in es if isinstance(e, ev.PriceRejected)] == [
        "oracle: non-positive answer",
        "oracle: move too large",
    ]
    assert twin.model.state.feeds[BTC_FEED].price_wad == twin.house.feed(BTC_FEED).price_wad == P0
