"""The adapter's push rule (docs/SPEC.md §3, reference twin of ``oracle_adapter.vy``): strictly
increasing pushed timestamps (F-12), the OSM's observation time (F-14), failed source calls (F-11)."""

from __future__ import annotations

from protocol.constants import WAD
from protocol.oracle.guards import REASON_CALL_FAILED, check_failed_call
from protocol.oracle.machine import Health
from protocol.oracle.oracle_adapter import (
    N_GUARDS,
    FeedSpec,
    ReferenceAdapter,
    SourceKind,
    SourceRead,
    SourceSpec,
    verdict_masks,
)
from protocol.oracle.rounds import RoundData, compose_round_id

T0 = 1_700_000_000
E8 = 10**8
PRIMARY = SourceSpec(SourceKind.CHAINLINK, "0x" + "01" * 20, heartbeat_s=3_600, max_move_wad=WAD // 10)
FALLBACK = SourceSpec(SourceKind.CHAINLINK, "0x" + "02" * 20, heartbeat_s=3_600, max_move_wad=WAD // 10)
NOTHING = SourceRead()


def rnd(n: int, usd: int, at: int) -> SourceRead:
    rid = compose_round_id(1, n)
    return SourceRead(round=RoundData(rid, usd * E8, at, at, rid))


def test_a_reading_the_core_already_holds_is_not_pushed_again() -> None:
    adapter = ReferenceAdapter(FeedSpec(PRIMARY))
    first = adapter.poke(rnd(1, 60_000, T0), NOTHING, None, T0 + 1)
    assert (first.pushed, first.pushed_price_wad, first.pushed_at) == (True, 60_000 * WAD, T0)
    again = adapter.poke(rnd(1, 60_000, T0), NOTHING, None, T0 + 30)  # no new round
    assert (again.pushed, again.pushed_at, again.push_state) == (False, 0, (T0, False))


def test_a_switch_to_an_older_fallback_does_not_regress_the_timestamp() -> None:
    adapter = ReferenceAdapter(FeedSpec(PRIMARY, FALLBACK))
    adapter.poke(rnd(1, 60_000, T0 + 10), rnd(1, 60_000, T0), None, T0 + 11)
    switched = adapter.poke(rnd(2, 0, T0 + 20), rnd(1, 60_000, T0), None, T0 + 21)
    assert switched.source == 2  # the fallback is trusted ...
    assert (switched.pushed, switched.push_state) == (False, (T0 + 10, False))  # ... the core keeps T0 + 10
    newer = adapter.poke(rnd(2, 0, T0 + 20), rnd(2, 60_020, T0 + 30), None, T0 + 31)
    assert (newer.pushed_price_wad, newer.pushed_at) == (60_020 * WAD, T0 + 30)


def test_after_a_zero_push_the_held_price_is_restamped_one_second_later() -> None:
    """An OSM feed re-releases the value it already pushed; after an untrusted poke it is pushed
    again stamped one second after the last pushed timestamp, so trust returns at once."""
    adapter = ReferenceAdapter(FeedSpec(PRIMARY, osm_delay_s=600))
    adapter.poke(rnd(1, 60_000, T0), NOTHING, None, T0 + 1)  # queued
    released = adapter.poke(rnd(2, 60_100, T0 + 600), NOTHING, None, T0 + 601)
    assert (released.pushed_price_wad, released.pushed_at) == (60_000 * WAD, T0)  # its observation time
    zero = adapter.poke(rnd(3, 0, T0 + 610), NOTHING, None, T0 + 611)
    assert (zero.pushed, zero.pushed_price_wad, zero.pushed_at, zero.push_state) == (True, 0, T0 + 611, (T0, True))
    # broken once, the single source needs recovery_readings (3) agreeing rounds
    for k, at in enumerate((T0 + 620, T0 + 630, T0 + 640)):
        back = adapter.poke(rnd(4 + k, 60_100, at), NOTHING, None, at + 1)
    assert (back.released_price_wad, back.released_at) == (60_000 * WAD, T0)  # the same value again
    assert (back.pushed_price_wad, back.pushed_at, back.push_state) == (60_000 * WAD, T0 + 1, (T0 + 1, False))


def test_the_restamp_is_never_later_than_now() -> None:
    adapter = ReferenceAdapter(FeedSpec(PRIMARY, FALLBACK, recovery_readings=1))
    adapter.poke(rnd(1, 60_000, T0), rnd(1, 60_000, T0 - 10), None, T0)  # pushed at T0
    adapter.poke(rnd(2, 0, T0), rnd(2, 0, T0 - 8), None, T0)  # both broken in the same second: zero
    back = adapter.poke(rnd(2, 0, T0), rnd(3, 60_000, T0 - 5), None, T0)  # the fallback alone is back
    assert (back.source, back.pushed) == (2, False)  # T0 + 1 would lie in the future
    assert back.push_state == (T0, True)


def test_a_failed_call_is_a_broken_source() -> None:
    adapter = ReferenceAdapter(FeedSpec(PRIMARY, FALLBACK))
    record = adapter.poke(rnd(1, 60_000, T0), SourceRead(failed=True), None, T0 + 1)
    assert record.fallback.reason == REASON_CALL_FAILED
    assert record.pushed_price_wad == 60_000 * WAD
    verdict = check_failed_call(FALLBACK.config(8, None), now_s=T0)
    assert verdict_masks(verdict) == (1 << 12, (1 << 12) - 1)  # every guard skipped but source_call
    assert N_GUARDS == 13
    assert ReferenceAdapter.health(verdict) == list(Health).index(Health.BROKEN)
