"""F-02 (high): the oracle adapter could lock forever in BOTH_UNTRUSTED.

Before the fix BOTH_UNTRUSTED was left only when the fallback passed its move guard against a last
good price frozen while untrusted. After a move larger than ``max_move`` (even one both sources
agreed on) the feed never recovered, and a feed without a fallback locked on its first broken
reading, which anyone could poke at that moment. Every poke then pushed 0: the market stayed
reduce-only and a bankrupt account could not be liquidated until the owner reconfigured.

Each attack runs on titanoboa and on the reference model in lock step (``oracle_attack``): the
adapter's pokes are bit-exact with the Python twin and the core's events equal the model's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracle_attack import Desk, deploy_desk

from contracts_py.chains import make_chain
from protocol import events as ev
from protocol.actions import Liquidate
from protocol.constants import WAD
from protocol.oracle.machine import Status
from protocol.oracle.oracle_adapter import status_code
from protocol.oracle_adapter import is_trusted
from protocol.scenarios import BTC_FEED, BTC_PERP

HOUR = 3_600
BOTH_UNTRUSTED = status_code(Status.BOTH_UNTRUSTED)


@pytest.fixture(scope="module")
def two_sources() -> Iterator[Desk]:
    with make_chain("boa") as chain:
        yield deploy_desk(chain, fallback=True)


@pytest.fixture(scope="module")
def one_source() -> Iterator[Desk]:
    with make_chain("boa") as chain:
        yield deploy_desk(chain, fallback=False)


def test_a_move_both_sources_agree_on_no_longer_locks_the_feed(two_sources: Desk) -> None:
    """BTC falls 40 % in one round on both sources (each source's move guard is 10 %); the feed
    recovers at the next agreeing round instead of staying locked through 24 h of them, and the
    bankrupt 9x long is liquidated."""
    desk = two_sources
    run = desk.start_trading(trader_usdc=7_000)
    a = desk.actors

    desk.publish(run, 36_000)  # -40 %: both sources jumped, the fallback counts as broken
    assert run.poke().status == BOTH_UNTRUSTED
    recovered_after = None
    for hour in range(1, 25):  # a day of fresh rounds both sources agree on
        run.advance(HOUR)
        desk.publish(run, 36_000 + hour, fallback_usd=36_000 - hour)
        record = run.poke()
        if record.status != BOTH_UNTRUSTED:
            recovered_after = hour
            break
    assert recovered_after == 1  # the first round that agrees with the one before, on both sources
    assert record.pushed_price_wad == 36_001 * WAD
    model = run.model.state
    assert is_trusted(model.feeds[BTC_FEED], desk.params.feed(BTC_FEED), model.now_s)

    events = run.apply(Liquidate(a["keeper"], a["trader"], BTC_PERP, WAD))  # bankrupt: closed whole
    assert any(isinstance(e, ev.Liquidated) for e in events)
    assert run.differences([a["trader"], a["keeper"], a["market_maker"]], [BTC_PERP]) == []


def test_one_broken_reading_no_longer_locks_a_feed_without_fallback(one_source: Desk) -> None:
    """The single source publishes one zero answer and an attacker pokes at that moment; the feed
    comes back after ``recovery_readings`` (3) good rounds instead of never."""
    desk = one_source
    run = desk.start_trading(trader_usdc=7_000)
    a = desk.actors

    run.external(desk.primary, "publish", 0)  # one broken round
    assert run.poke().status == BOTH_UNTRUSTED  # poked by anyone, at that moment
    statuses = []
    for minute in range(1, 6):
        run.advance(60)
        desk.publish(run, 60_000 + minute)
        statuses.append(run.poke().status)
    assert statuses[:2] == [BOTH_UNTRUSTED, BOTH_UNTRUSTED]
    assert BOTH_UNTRUSTED not in statuses[2:]  # recovered at the third good round
    model = run.model.state
    assert is_trusted(model.feeds[BTC_FEED], desk.params.feed(BTC_FEED), model.now_s)
    assert model.feeds[BTC_FEED].price_wad == 60_005 * WAD

    # the market is no longer reduce-only: the trader adds to the position
    events = run.apply(
        desk.signer.fill(a["matcher"], a["market_maker"], a["trader"], BTC_PERP, WAD // 100, 60_005 * WAD)
    )
    assert any(isinstance(e, ev.FillSettled) for e in events)
    assert run.differences([a["trader"], a["market_maker"]], [BTC_PERP]) == []
