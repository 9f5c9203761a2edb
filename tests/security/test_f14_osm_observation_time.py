"""F-14 (low): the OSM pushed the released price with its queue time.

Before the fix the one-hop delay (OSM) queued a trusted price with the time it was queued, not the
time the source observed it. A round observed at ``t0`` and queued 3,500 s later was released one
hop (3,600 s) after that and pushed stamped ``t0 + 3,500``: the core, with a 3,600 s heartbeat,
trusted a price 7,100 s old, and anyone could trade and be liquidated against it. Now the OSM keeps
the observation time and the core's heartbeat judges the age of the price itself.

Runs on titanoboa and on the reference model in lock step (``oracle_attack``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracle_attack import E8, Desk, deploy_desk

from contracts_py.chains import make_chain
from protocol.constants import WAD
from protocol.errors import ProtocolRevert
from protocol.oracle_adapter import trusted_prices
from protocol.scenarios import BTC_FEED, BTC_PERP

HOP = 3_600  # the OSM delay, equal to the core's heartbeat


@pytest.fixture(scope="module")
def desk() -> Iterator[Desk]:
    with make_chain("boa") as chain:
        yield deploy_desk(chain, fallback=False, osm_delay_s=HOP)


def test_a_released_price_keeps_its_observation_time(desk: Desk) -> None:
    run = desk.start()
    a = desk.actors
    run.external(desk.primary, "publish", 60_000 * E8)
    observed = run.now_s  # the round's updatedAt (its block's time)
    run.advance(3_500 - 1)
    assert run.poke().pushed is False  # queued 3,500 s after it was observed; nothing released yet
    run.advance(HOP - 2)
    run.external(desk.primary, "publish", 60_100 * E8)  # a fresh round keeps the feed trusted
    record = run.poke()  # one hop after the queueing: the 60,000 round is released
    assert run.now_s == observed + 7_100
    assert (record.released_price_wad, record.released_at) == (60_000 * WAD, observed)

    # the core judges the price's own age (7,100 s > 3,600 s heartbeat): rejected, nothing trades on it
    assert run.model.state.feeds[BTC_FEED].valid is False
    assert BTC_FEED not in trusted_prices(run.model.state, desk.params)
    with pytest.raises(ProtocolRevert, match=r"^clearing: market reduce-only$"):
        desk.open_book(run, 60_000, trader_usdc=7_000, size_wad=WAD)
    assert run.differences([a["trader"], a["market_maker"]], [BTC_PERP]) == []
