"""F-12 (medium): a switch to the fallback regressed the pushed timestamp, and the market went
reduce-only although a trusted fallback price existed.

Before the fix the adapter pushed the fallback's price with the fallback's own observation time.
When that time was older than the primary's last pushed round (a fallback updating less often),
the core rejected the reading as out of order and made the market reduce-only, although the
adapter trusted the fallback. Now pushed timestamps strictly increase: an observation no later
than the last pushed one is not pushed (the core keeps the newer reading it holds), and the
fallback's next, newer round is.

Runs on titanoboa and on the reference model in lock step (``oracle_attack``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracle_attack import E8, Desk, deploy_desk

from contracts_py.chains import make_chain
from protocol import events as ev
from protocol.constants import WAD
from protocol.oracle.machine import Source, Status
from protocol.oracle.oracle_adapter import SOURCE_CODES, status_code
from protocol.oracle_adapter import is_trusted
from protocol.scenarios import BTC_FEED, BTC_PERP


@pytest.fixture(scope="module")
def desk() -> Iterator[Desk]:
    with make_chain("boa") as chain:
        yield deploy_desk(chain, fallback=True)


def test_a_switch_to_an_older_fallback_keeps_the_market_trusted(desk: Desk) -> None:
    assert desk.fallback is not None
    run = desk.start()
    a = desk.actors
    run.external(desk.fallback, "publish", 60_000 * E8)  # the fallback's round is the older one
    run.advance(10)
    run.external(desk.primary, "publish", 60_010 * E8)
    assert run.poke().pushed_price_wad == 60_010 * WAD
    desk.open_book(run, 60_010, trader_usdc=60_000, size_wad=WAD)

    run.external(desk.primary, "publish", 0)  # the primary breaks
    record = run.poke()
    assert (record.status, record.source) == (
        status_code(Status.USING_FALLBACK_PRIMARY_UNTRUSTED),
        SOURCE_CODES[Source.FALLBACK],
    )
    model = run.model.state
    assert is_trusted(model.feeds[BTC_FEED], desk.params.feed(BTC_FEED), model.now_s)
    # not reduce-only: the trader may add to the position
    add = desk.signer.fill(a["matcher"], a["market_maker"], a["trader"], BTC_PERP, WAD // 10, 60_010 * WAD)
    assert any(isinstance(e, ev.FillSettled) for e in run.apply(add))

    run.advance(60)
    run.external(desk.fallback, "publish", 60_020 * E8)  # the fallback's next round goes through
    assert run.poke().pushed_price_wad == 60_020 * WAD
    assert run.model.state.feeds[BTC_FEED].price_wad == 60_020 * WAD
    assert run.differences([a["trader"], a["market_maker"]], [BTC_PERP]) == []
