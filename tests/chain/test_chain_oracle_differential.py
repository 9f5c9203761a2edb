"""Differential test: hypothesis-generated round sequences through the Vyper OracleAdapter and the
Python guards + state machine (protocol.oracle.guards / protocol.oracle.machine, via
contracts_py.oracle_replay.ReferenceAdapter) give the same verdict masks, reasons, status, trusted
source, last good price, OSM state, released and pushed price at every poke (bit-exact).

Four feeds share one adapter: Chainlink primary with a Pyth fallback; Pyth primary with a Chainlink
fallback, an L2 sequencer feed and a one-hop OSM delay; two Chainlink sources with a short
heartbeat; a Chainlink primary without fallback. Every step moves the clock, rewrites some
sources (moves around every threshold, zero/negative answers, round id zero, other phases, stale
answered-in-round, future and stale timestamps, wide confidence, EMA deviations, sequencer
outages, sources whose calls revert) and pokes every feed. Long run on titanoboa, short run on
eth-tester.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts_py.chains import Chain, Contract, make_chain
from contracts_py.oracle_deploy import feed_setup, oracle_artifacts
from contracts_py.oracle_replay import ChainFeedReplay
from protocol.constants import WAD
from protocol.oracle.oracle_adapter import FeedSpec, SourceKind, SourceSpec
from protocol.oracle.rounds import compose_round_id

PYTH_ID = b"\x22" * 32
BASE = 2_000 * 10**8
MOVES_PER_MILLE = [0, 0, 1, -1, 20, -20, 49, 50, 51, -50, 100, 199, 200, 201, -200, -201, 500, -900]
AGES = [0, 0, 1, 5, 299, 300, 301, 599, 600, 601, 3_599, 3_600, 3_601, -1, -60]


@dataclass
class Feeds:
    chain: Chain
    adapter: Contract
    sink: Contract
    agg_p: Contract
    agg_f: Contract
    pyth: Contract
    seq: Contract
    replays: dict[int, ChainFeedReplay] = field(default_factory=dict)
    # mock bookkeeping (reset per example)
    phase: int = 1
    n_p: int = 0
    n_f: int = 0
    last_p: int = BASE
    last_f: int = BASE
    last_y: int = BASE


def _deploy(chain: Chain) -> tuple[Feeds, dict[int, FeedSpec]]:
    arts = oracle_artifacts()
    sink = chain.deploy(arts.sink)
    agg_p = chain.deploy(arts.aggregator, 8, "P / USD")
    agg_f = chain.deploy(arts.aggregator, 8, "F / USD")
    pyth = chain.deploy(arts.pyth)
    seq = chain.deploy(arts.aggregator, 0, "sequencer")
    py = SourceSpec(
        SourceKind.PYTH,
        pyth.address,
        PYTH_ID,
        heartbeat_s=600,
        max_move_wad=WAD // 5,
        max_ema_deviation_wad=WAD // 20,
        max_conf_ratio_wad=WAD // 50,
    )
    specs = {
        1: FeedSpec(_cl(agg_p.address), py),
        2: FeedSpec(
            py,
            _cl(agg_f.address),
            sequencer=seq.address,
            sequencer_grace_s=300,
            osm_delay_s=600,
        ),
        3: FeedSpec(
            SourceSpec(SourceKind.CHAINLINK, agg_p.address, heartbeat_s=300, max_move_wad=WAD // 10),
            SourceSpec(SourceKind.CHAINLINK, agg_f.address, heartbeat_s=600, max_move_wad=WAD // 10),
            max_price_difference_wad=WAD // 20,
        ),
        4: FeedSpec(_cl(agg_f.address)),
    }
    adapter = chain.deploy(arts.adapter, sink.address)
    for feed_id, spec in specs.items():
        chain.transact(adapter, "set_feed", feed_id, feed_setup(spec))
    return Feeds(chain, adapter, sink, agg_p, agg_f, pyth, seq), specs


def _fresh(f: Feeds, specs: dict[int, FeedSpec]) -> None:
    prim = {1: f.agg_p, 2: f.pyth, 3: f.agg_p, 4: f.agg_f}
    fall = {1: f.pyth, 2: f.agg_f, 3: f.agg_f, 4: None}
    f.replays = {
        i: ChainFeedReplay(f.chain, f.adapter, i, s, prim[i], fall[i], f.seq if s.sequencer else None)
        for i, s in specs.items()
    }
    f.phase, f.n_p, f.n_f, f.last_p, f.last_f, f.last_y = 1, 0, 0, BASE, BASE, BASE


def _cl(address: str) -> SourceSpec:
    """A Chainlink source: one-hour heartbeat, 20 % move guard."""
    return SourceSpec(SourceKind.CHAINLINK, address, heartbeat_s=3_600, max_move_wad=WAD // 5)


@pytest.fixture(scope="module")
def boa_feeds() -> Iterator[tuple[Feeds, dict[int, FeedSpec], int]]:
    with make_chain("boa") as chain:
        feeds, specs = _deploy(chain)
        yield feeds, specs, chain.snapshot()


@pytest.fixture(scope="module")
def eth_tester_feeds() -> Iterator[tuple[Feeds, dict[int, FeedSpec], int]]:
    with make_chain("eth-tester") as chain:
        feeds, specs = _deploy(chain)
        yield feeds, specs, chain.snapshot()


def _tx(f: Feeds, contract: Contract, fn: str, *args: object) -> None:
    f.chain.set_next_timestamp(f.chain.timestamp() + 1)
    f.chain.transact(contract, fn, *args)


def _moved(data: st.DataObject, prev: int) -> int:
    m = data.draw(st.sampled_from(MOVES_PER_MILLE))
    return max(1, prev * (1_000 + m) // 1_000)


def _chainlink(data: st.DataObject, f: Feeds, which: str, now: int) -> None:
    agg = f.agg_p if which == "p" else f.agg_f
    kind = data.draw(st.sampled_from(["keep", "keep", "push", "push", "push", "weird"]), label=f"{which} action")
    if kind == "keep":
        return
    prev = f.last_p if which == "p" else f.last_f
    answer = _moved(data, prev)
    if data.draw(st.integers(0, 15)) == 0:
        answer = data.draw(st.sampled_from([0, -1, -BASE]))
    n = (f.n_p if which == "p" else f.n_f) + 1
    if which == "p":
        f.n_p, f.last_p = n, max(answer, 1)
    else:
        f.n_f, f.last_f = n, max(answer, 1)
    rid = compose_round_id(f.phase if which == "p" else 1, n)
    air = rid
    age = data.draw(st.sampled_from(AGES), label=f"{which} age")
    if kind == "weird":
        weird = data.draw(st.sampled_from(["rid0", "other_phase", "stale_air", "new_phase"]))
        if weird == "rid0":
            rid = air = 0
        elif weird == "other_phase":
            rid = air = compose_round_id((f.phase if which == "p" else 1) + 1, n)
        elif weird == "stale_air":
            air = rid - 1
        elif which == "p":
            f.phase += 1
            _tx(f, agg, "set_phase", f.phase)
            rid = air = compose_round_id(f.phase, 1)
    _tx(f, agg, "set_round", rid, answer, now - age, now - age, air)


def _pyth(data: st.DataObject, f: Feeds, now: int) -> None:
    if data.draw(st.booleans(), label="pyth keep"):
        return
    price = _moved(data, f.last_y)
    f.last_y = price
    if data.draw(st.integers(0, 15)) == 0:
        price = data.draw(st.sampled_from([0, -1]))
    conf = abs(price) * data.draw(st.sampled_from([0, 10, 20, 21, 100])) // 1_000
    ema = abs(price) * (1_000 + data.draw(st.sampled_from([0, 30, 50, 51, -50, -51, -1_000, -2_000]))) // 1_000
    age = data.draw(st.sampled_from(AGES), label="pyth age")
    _tx(f, f.pyth, "set_price", PYTH_ID, price, conf, -8, now - age, ema, 0)


def _sequencer(data: st.DataObject, f: Feeds, now: int) -> None:
    if data.draw(st.integers(0, 3)) != 0:
        return
    status = data.draw(st.sampled_from([0, 0, 1, 2]))
    started = data.draw(st.sampled_from([now - 299, now - 300, now - 301, now - 5_000, now, now + 1, 0]))
    _tx(f, f.seq, "set_round", 1, status, started, started, 1)


def _reverting(data: st.DataObject, f: Feeds) -> None:
    """Now and then a source starts or stops reverting (F-11: a broken source, not a failed poke)."""
    for name, source in (("p", f.agg_p), ("f", f.agg_f), ("pyth", f.pyth)):
        switch = data.draw(st.sampled_from([None, None, None, None, None, True, False]), label=f"{name} reverts")
        if switch is not None:
            _tx(f, source, "set_reverting", switch)


def _run(f: Feeds, specs: dict[int, FeedSpec], snapshot: int, data: st.DataObject, steps: int) -> None:
    f.chain.revert(snapshot)
    _fresh(f, specs)
    # the sequencer has been up for a day
    t0 = f.chain.timestamp() + 10
    _tx(f, f.seq, "set_round", 1, 0, t0 - 86_400, t0 - 86_400, 1)
    priced: dict[int, int] = {}
    for _ in range(data.draw(st.integers(1, steps), label="steps")):
        dt = data.draw(st.sampled_from([1, 2, 30, 299, 300, 301, 600, 601, 3_600, 3_601, 7_200]), label="dt")
        now = f.chain.timestamp() + 10 + dt
        _chainlink(data, f, "p", now)
        _chainlink(data, f, "f", now)
        _pyth(data, f, now)
        _sequencer(data, f, now)
        _reverting(data, f)
        for k, (feed_id, replay) in enumerate(sorted(f.replays.items())):
            record, _ = replay.poke(now + k)  # asserts chain == reference, bit-exact
            if record.pushed:
                assert f.chain.call(f.sink, "last_price_wad", feed_id) == record.pushed_price_wad
                assert f.chain.call(f.sink, "last_timestamp_s", feed_id) == record.pushed_at
                if record.pushed_price_wad:  # prices go out with strictly increasing timestamps
                    assert record.released_at <= record.pushed_at <= now + k
                    assert record.pushed_at > priced.get(feed_id, 0)
                    priced[feed_id] = record.pushed_at
                else:  # an untrusted step pushes zero at the block time
                    assert record.pushed_at == now + k


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_adapter_matches_reference_on_boa(
    boa_feeds: tuple[Feeds, dict[int, FeedSpec], int], data: st.DataObject
) -> None:
    _run(*boa_feeds, data, steps=14)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_adapter_matches_reference_on_eth_tester(
    eth_tester_feeds: tuple[Feeds, dict[int, FeedSpec], int], data: st.DataObject
) -> None:
    _run(*eth_tester_feeds, data, steps=8)


def test_every_status_and_source_is_reached(boa_feeds: tuple[Feeds, dict[int, FeedSpec], int]) -> None:
    """A scripted walk through Liquity's five states on feed 3 (two Chainlink sources), checked
    against the reference at every poke."""
    f, specs, snap = boa_feeds
    f.chain.revert(snap)
    _fresh(f, specs)
    r = f.replays[3]
    seen: set[tuple[int, int]] = set()
    n = {"p": 0, "f": 0}

    def publish(which: str, answer: int, at: int) -> None:
        n[which] += 1
        rid = compose_round_id(1, n[which])
        _tx(f, f.agg_p if which == "p" else f.agg_f, "set_round", rid, answer, at, at, rid)

    t = f.chain.timestamp() + 100
    script = [
        (BASE, BASE),  # both working -> PRIMARY_WORKING, primary
        (BASE * 13 // 10, BASE),  # primary jumped, fallback not similar -> fallback
        (BASE, BASE),  # similar again -> PRIMARY_WORKING
        (None, BASE),  # primary frozen (no new round) -> USING_FALLBACK_PRIMARY_FROZEN
        (BASE, 0),  # fallback broken -> USING_PRIMARY_FALLBACK_UNTRUSTED
        (0, 0),  # both broken -> BOTH_UNTRUSTED
        (BASE, BASE),  # both back and similar -> PRIMARY_WORKING
    ]
    for p_answer, f_answer in script:
        t += 400  # past the primary's 300 s heartbeat when it does not publish
        if p_answer is not None:
            publish("p", p_answer, t)
        publish("f", f_answer, t)
        record, _ = r.poke(t + 5)
        seen.add((record.status, record.source))
    statuses = {s for s, _ in seen}
    assert statuses == {0, 1, 2, 3, 4}, seen
    assert {src for _, src in seen} == {0, 1, 2}
