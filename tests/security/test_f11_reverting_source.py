"""F-11 (medium): a source whose call reverts made every ``poke`` revert, even with a healthy primary.

Before the fix the adapter called its sources with reverting static calls: a fallback that reverted
(a paused or deprecated aggregator, a Pyth id that was removed) or returned nothing (an address
without code) stopped every poke, so the healthy primary's prices never reached the core, the
market went stale and reduce-only, and nothing could be liquidated. Now sources are called with
``raw_call(..., revert_on_failure=False)``: a revert or malformed return data fails the
``source_call`` guard and the source counts as broken.

The whole-protocol attack runs on titanoboa and on the reference model in lock step
(``oracle_attack``); the broken-source kinds run on the adapter alone against its Python twin.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracle_attack import E8, Desk, chainlink, deploy_desk

from contracts_py.chains import Chain, make_chain
from contracts_py.oracle_deploy import deploy_oracle_adapter, oracle_artifacts
from contracts_py.oracle_replay import ChainFeedReplay
from protocol import events as ev
from protocol.actions import Liquidate
from protocol.constants import WAD
from protocol.oracle.guards import REASON_CALL_FAILED
from protocol.oracle.machine import Status
from protocol.oracle.oracle_adapter import FeedSpec, SourceKind, SourceSpec, status_code
from protocol.scenarios import BTC_PERP

PYTH_ID = b"\x33" * 32


@pytest.fixture(scope="module")
def desk() -> Iterator[Desk]:
    with make_chain("boa") as chain:
        yield deploy_desk(chain, fallback=True)


def test_a_reverting_fallback_no_longer_stops_the_primary(desk: Desk) -> None:
    """The fallback aggregator reverts for two hours of a falling market; the primary's rounds
    keep reaching the core and the keeper liquidates the 9x long that goes under."""
    assert desk.fallback is not None
    run = desk.start_trading(trader_usdc=7_000)
    a = desk.actors
    run.external(desk.fallback, "set_reverting", True)
    price = 60_000
    for _ in range(12):  # -5 % every ten minutes
        run.advance(600)
        price = price * 95 // 100
        run.external(desk.primary, "publish", price * E8)
        record = run.poke()
        assert record.fallback.reason == REASON_CALL_FAILED
        assert record.pushed_price_wad == price * WAD
    assert record.status == status_code(Status.USING_PRIMARY_FALLBACK_UNTRUSTED)
    events = run.apply(Liquidate(a["keeper"], a["trader"], BTC_PERP, WAD))
    assert any(isinstance(e, ev.Liquidated) for e in events)
    assert run.differences([a["trader"], a["keeper"], a["market_maker"]], [BTC_PERP]) == []


@pytest.fixture(scope="module")
def sources() -> Iterator[tuple[Chain, dict[str, ChainFeedReplay], int]]:
    """One adapter pushing into a recording sink; a healthy Chainlink primary in every feed and a
    broken second source of each kind (a sequencer feed that reverts in the last)."""
    with make_chain("boa") as chain:
        arts = oracle_artifacts()
        sink = chain.deploy(arts.sink)
        primary = chain.deploy(arts.aggregator, 8, "BTC / USD")
        reverting = chain.deploy(arts.aggregator, 8, "BTC / USD (reverting)")
        pyth = chain.deploy(arts.pyth)
        sequencer = chain.deploy(arts.aggregator, 0, "sequencer uptime")
        no_code = chain.at(arts.aggregator, chain.accounts[9])
        chain.transact(reverting, "set_reverting", True)
        chain.transact(pyth, "set_reverting", True)
        chain.transact(sequencer, "set_reverting", True)
        py = SourceSpec(SourceKind.PYTH, pyth.address, PYTH_ID, heartbeat_s=3_600, max_move_wad=WAD // 10)
        feeds = {
            "reverting aggregator": (1, FeedSpec(chainlink(primary.address), chainlink(reverting.address)), reverting),
            "address without code": (2, FeedSpec(chainlink(primary.address), chainlink(no_code.address)), no_code),
            "reverting pyth": (3, FeedSpec(chainlink(primary.address), py), pyth),
            "reverting sequencer": (4, FeedSpec(chainlink(primary.address), sequencer=sequencer.address), None),
        }
        adapter = deploy_oracle_adapter(chain, sink.address, {i: spec for i, spec, _ in feeds.values()}, artifacts=arts)
        replays = {
            name: ChainFeedReplay(chain, adapter, i, spec, primary, second, sequencer if spec.sequencer else None)
            for name, (i, spec, second) in feeds.items()
        }
        chain.set_next_timestamp(chain.timestamp() + 1)
        chain.transact(primary, "publish", 60_000 * E8)
        yield chain, replays, chain.snapshot()


@pytest.mark.parametrize("kind", ["reverting aggregator", "address without code", "reverting pyth"])
def test_a_broken_second_source_is_broken_not_fatal(
    sources: tuple[Chain, dict[str, ChainFeedReplay], int], kind: str
) -> None:
    chain, replays, snapshot = sources
    chain.revert(snapshot)
    replay = replays[kind]
    record, _ = replay.poke(chain.timestamp() + 1)  # bit-exact with the Python twin
    assert (record.fallback.reason, record.pushed_price_wad) == (REASON_CALL_FAILED, 60_000 * WAD)
    assert record.status == status_code(Status.USING_PRIMARY_FALLBACK_UNTRUSTED)


def test_an_unreadable_sequencer_feed_trusts_nothing_without_reverting(
    sources: tuple[Chain, dict[str, ChainFeedReplay], int],
) -> None:
    chain, replays, snapshot = sources
    chain.revert(snapshot)
    record, _ = replays["reverting sequencer"].poke(chain.timestamp() + 1)
    assert record.primary.reason == "oracle: sequencer status invalid"
    assert (record.pushed, record.pushed_price_wad) == (True, 0)  # a zero: the market goes reduce-only
