"""Primary/fallback state machine (Liquity v1 PriceFeed) and the OSM delay."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import WAD
from protocol.errors import InvalidParameter, OracleError
from protocol.oracle.guards import FeedConfig, Verdict, check_round
from protocol.oracle.machine import (
    AdapterState,
    Health,
    LastGoodPriceUpdated,
    Source,
    Status,
    StatusChanged,
    Track,
    classify,
    initial_state,
    step,
    track,
)
from protocol.oracle.oracle_adapter import REASON_OSM_NOT_PASSED, OsmState, OsmValue, osm_can_poke, osm_poke
from protocol.oracle.rounds import RoundData, compose_round_id

NOW = 1_700_000_000
HEARTBEAT = 3_600
CFG = FeedConfig(decimals=18, heartbeat_s=HEARTBEAT, max_move_wad=WAD // 10)  # 10 % move
MOVES = (CFG.max_move_wad, CFG.max_move_wad)  # each source's own move threshold
MAX_DIFF = WAD // 20  # 5 % between sources
LAST = 1_000 * WAD
RID = compose_round_id(1, 7)

S = Status
W, J, F, B = Health.WORKING, Health.JUMPED, Health.FROZEN, Health.BROKEN


def make(kind: Health, price_wad: int, last_good: int | None) -> Verdict:
    """A reading that is stale (F), has a zero answer (B) or is otherwise clean (W or J)."""
    updated = NOW - HEARTBEAT - 1 if kind is F else NOW
    answer = 0 if kind is B else price_wad
    rnd = RoundData(RID, answer, updated, updated, RID)
    return check_round(CFG, rnd, now_s=NOW, current_phase_id=1, last_good_price_wad=last_good)


def verdict(health: Health, price_wad: int, last_good: int | None = LAST) -> Verdict:
    """A verdict that the adapter classifies as ``health`` (checked)."""
    v = make(F if health is F else B if health is B else W, price_wad, last_good)
    assert classify(v).health is health
    return v


def state(status: Status, last: int | None = LAST) -> AdapterState:
    return AdapterState(status, last, MAX_DIFF)


def test_classify_by_failure_kind() -> None:
    assert classify(verdict(W, LAST)).health is W
    assert classify(verdict(J, 1_101 * WAD)).health is J
    assert classify(verdict(F, LAST)).health is F
    assert classify(verdict(B, LAST)).price_wad is None
    stale_and_jumped = check_round(
        CFG,
        RoundData(RID, 2_000 * WAD, NOW - HEARTBEAT - 1, NOW - HEARTBEAT - 1, RID),
        now_s=NOW,
        current_phase_id=1,
        last_good_price_wad=LAST,
    )
    assert classify(stale_and_jumped).health is F


# (from status, primary health, primary price, fallback health, fallback price) ->
# (to status, source). Prices in whole USD; LAST = 1000; similar = within 5 %.
CASES = [
    # CASE 1: primary working
    (S.PRIMARY_WORKING, W, 1_010, W, 1_080, S.PRIMARY_WORKING, Source.PRIMARY),
    (S.PRIMARY_WORKING, W, 1_010, F, 1_000, S.PRIMARY_WORKING, Source.PRIMARY),
    (S.PRIMARY_WORKING, W, 1_010, B, 1_000, S.USING_PRIMARY_FALLBACK_UNTRUSTED, Source.PRIMARY),
    (S.PRIMARY_WORKING, B, 1_000, W, 990, S.USING_FALLBACK_PRIMARY_UNTRUSTED, Source.FALLBACK),
    (S.PRIMARY_WORKING, B, 1_000, F, 990, S.USING_FALLBACK_PRIMARY_UNTRUSTED, None),
    (S.PRIMARY_WORKING, B, 1_000, B, 990, S.BOTH_UNTRUSTED, None),
    (S.PRIMARY_WORKING, F, 1_000, W, 990, S.USING_FALLBACK_PRIMARY_FROZEN, Source.FALLBACK),
    (S.PRIMARY_WORKING, F, 1_000, F, 990, S.USING_FALLBACK_PRIMARY_FROZEN, None),
    (S.PRIMARY_WORKING, F, 1_000, B, 990, S.USING_PRIMARY_FALLBACK_UNTRUSTED, None),
    (S.PRIMARY_WORKING, J, 1_500, W, 1_050, S.USING_FALLBACK_PRIMARY_UNTRUSTED, Source.FALLBACK),
    (S.PRIMARY_WORKING, J, 1_105, W, 1_060, S.PRIMARY_WORKING, Source.PRIMARY),
    (S.PRIMARY_WORKING, J, 1_500, F, 1_500, S.USING_FALLBACK_PRIMARY_UNTRUSTED, None),
    (S.PRIMARY_WORKING, J, 1_500, B, 1_500, S.BOTH_UNTRUSTED, None),
    # CASE 2: using fallback, primary untrusted
    (S.USING_FALLBACK_PRIMARY_UNTRUSTED, W, 1_000, W, 1_050, S.PRIMARY_WORKING, Source.PRIMARY),
    (S.USING_FALLBACK_PRIMARY_UNTRUSTED, J, 1_120, W, 1_090, S.PRIMARY_WORKING, Source.PRIMARY),
    (
        S.USING_FALLBACK_PRIMARY_UNTRUSTED,
        W,
        1_000,
        W,
        1_051,
        S.USING_FALLBACK_PRIMARY_UNTRUSTED,
        Source.FALLBACK,
    ),
    (
        S.USING_FALLBACK_PRIMARY_UNTRUSTED,
        W,
        1_000,
        F,
        1_000,
        S.USING_FALLBACK_PRIMARY_UNTRUSTED,
        None,
    ),
    (S.USING_FALLBACK_PRIMARY_UNTRUSTED, W, 1_000, B, 1_000, S.BOTH_UNTRUSTED, None),
    # CASE 3: both untrusted
    (S.BOTH_UNTRUSTED, W, 1_000, W, 1_000, S.PRIMARY_WORKING, Source.PRIMARY),
    (S.BOTH_UNTRUSTED, W, 1_000, W, 1_100, S.BOTH_UNTRUSTED, None),
    (S.BOTH_UNTRUSTED, F, 1_000, W, 1_000, S.BOTH_UNTRUSTED, None),
    (S.BOTH_UNTRUSTED, W, 1_000, F, 1_000, S.BOTH_UNTRUSTED, None),
    # CASE 4: using fallback, primary frozen
    (
        S.USING_FALLBACK_PRIMARY_FROZEN,
        B,
        1_000,
        W,
        1_000,
        S.USING_FALLBACK_PRIMARY_UNTRUSTED,
        Source.FALLBACK,
    ),
    (S.USING_FALLBACK_PRIMARY_FROZEN, B, 1_000, F, 1_000, S.USING_FALLBACK_PRIMARY_UNTRUSTED, None),
    (S.USING_FALLBACK_PRIMARY_FROZEN, B, 1_000, B, 1_000, S.BOTH_UNTRUSTED, None),
    (
        S.USING_FALLBACK_PRIMARY_FROZEN,
        J,
        1_500,
        W,
        1_000,
        S.USING_FALLBACK_PRIMARY_UNTRUSTED,
        Source.FALLBACK,
    ),
    (S.USING_FALLBACK_PRIMARY_FROZEN, J, 1_120, W, 1_090, S.PRIMARY_WORKING, Source.PRIMARY),
    (
        S.USING_FALLBACK_PRIMARY_FROZEN,
        F,
        1_000,
        W,
        990,
        S.USING_FALLBACK_PRIMARY_FROZEN,
        Source.FALLBACK,
    ),
    (S.USING_FALLBACK_PRIMARY_FROZEN, F, 1_000, F, 990, S.USING_FALLBACK_PRIMARY_FROZEN, None),
    (S.USING_FALLBACK_PRIMARY_FROZEN, F, 1_000, B, 990, S.USING_PRIMARY_FALLBACK_UNTRUSTED, None),
    (
        S.USING_FALLBACK_PRIMARY_FROZEN,
        W,
        1_000,
        B,
        990,
        S.USING_PRIMARY_FALLBACK_UNTRUSTED,
        Source.PRIMARY,
    ),
    (S.USING_FALLBACK_PRIMARY_FROZEN, W, 1_000, F, 990, S.USING_FALLBACK_PRIMARY_FROZEN, None),
    (S.USING_FALLBACK_PRIMARY_FROZEN, W, 1_000, W, 1_050, S.PRIMARY_WORKING, Source.PRIMARY),
    (
        S.USING_FALLBACK_PRIMARY_FROZEN,
        W,
        1_000,
        W,
        1_051,
        S.USING_FALLBACK_PRIMARY_UNTRUSTED,
        Source.FALLBACK,
    ),
    # CASE 5: using primary, fallback untrusted
    (S.USING_PRIMARY_FALLBACK_UNTRUSTED, B, 1_000, W, 1_000, S.BOTH_UNTRUSTED, None),
    (
        S.USING_PRIMARY_FALLBACK_UNTRUSTED,
        F,
        1_000,
        W,
        1_000,
        S.USING_PRIMARY_FALLBACK_UNTRUSTED,
        None,
    ),
    (S.USING_PRIMARY_FALLBACK_UNTRUSTED, W, 1_000, W, 1_000, S.PRIMARY_WORKING, Source.PRIMARY),
    (S.USING_PRIMARY_FALLBACK_UNTRUSTED, J, 1_120, W, 1_090, S.PRIMARY_WORKING, Source.PRIMARY),
    (S.USING_PRIMARY_FALLBACK_UNTRUSTED, J, 1_200, B, 1_200, S.BOTH_UNTRUSTED, None),
    (
        S.USING_PRIMARY_FALLBACK_UNTRUSTED,
        W,
        1_000,
        B,
        1_000,
        S.USING_PRIMARY_FALLBACK_UNTRUSTED,
        Source.PRIMARY,
    ),
    (
        S.USING_PRIMARY_FALLBACK_UNTRUSTED,
        W,
        1_000,
        W,
        1_100,
        S.USING_PRIMARY_FALLBACK_UNTRUSTED,
        Source.PRIMARY,
    ),
]


@pytest.mark.parametrize(("start", "ph", "pp", "fh", "fp", "end", "source"), CASES)
def test_transition(
    start: Status, ph: Health, pp: int, fh: Health, fp: int, end: Status, source: Source | None
) -> None:
    result = step(state(start), verdict(ph, pp * WAD), verdict(fh, fp * WAD), MOVES)
    assert result.state.status is end
    assert result.source is source
    expected_price = {Source.PRIMARY: pp * WAD, Source.FALLBACK: fp * WAD, None: None}[source]
    assert result.price_wad == expected_price
    assert result.state.last_good_price_wad == (LAST if expected_price is None else expected_price)


def test_events_record_status_change_and_stored_price() -> None:
    result = step(state(S.PRIMARY_WORKING), verdict(B, LAST), verdict(W, 990 * WAD), MOVES)
    assert result.events == (
        StatusChanged(S.PRIMARY_WORKING, S.USING_FALLBACK_PRIMARY_UNTRUSTED),
        LastGoodPriceUpdated(990 * WAD, Source.FALLBACK),
    )
    quiet = step(result.state, verdict(F, LAST), verdict(F, LAST), MOVES)
    assert (quiet.events, quiet.price_wad, quiet.state.status) == ((), None, result.state.status)
    assert quiet.state.fallback == Track(990 * WAD, NOW, 0)  # stale: the count restarts


def test_first_reading_has_no_move_reference() -> None:
    s0 = initial_state(MAX_DIFF)
    result = step(s0, verdict(W, 30_000 * WAD, None), verdict(W, 1 * WAD, None), MOVES)
    assert (result.price_wad, result.state.status) == (30_000 * WAD, S.PRIMARY_WORKING)
    untrusted = step(s0, verdict(B, LAST, None), verdict(B, LAST, None), MOVES)
    assert (untrusted.price_wad, untrusted.state.last_good_price_wad) == (None, None)


def test_similarity_boundary_is_exact_cross_multiplication() -> None:
    # 1050 vs 1000 is exactly 5 %: similar; 1050 + 1 wei is not.
    back = step(state(S.BOTH_UNTRUSTED), verdict(W, 1_050 * WAD), verdict(W, 1_000 * WAD), MOVES)
    assert back.state.status is S.PRIMARY_WORKING
    stay = step(state(S.BOTH_UNTRUSTED), verdict(W, 1_050 * WAD + 1), verdict(W, 1_000 * WAD), MOVES)
    assert stay.state.status is S.BOTH_UNTRUSTED


def test_adapter_state_validation() -> None:
    with pytest.raises(InvalidParameter, match=r"max_price_difference_wad .* got -1"):
        initial_state(-1)
    with pytest.raises(InvalidParameter, match="last_good_price_wad must be a positive"):
        AdapterState(S.PRIMARY_WORKING, 0, MAX_DIFF)


KIND = st.sampled_from([W, F, B])  # the health actually seen comes from the guards


@given(st.lists(st.tuples(KIND, st.integers(800, 1_300), KIND, st.integers(800, 1_300)), max_size=30))
def test_replay_only_ever_uses_guarded_or_confirmed_prices(
    steps: list[tuple[Health, int, Health, int]],
) -> None:
    s = state(S.PRIMARY_WORKING)
    for p_kind, p_usd, f_kind, f_usd in steps:
        last = s.last_good_price_wad
        pv, fv = make(p_kind, p_usd * WAD, last), make(f_kind, f_usd * WAD, last)
        result = step(s, pv, fv, MOVES)
        assert result == step(s, pv, fv, MOVES)  # deterministic
        assert (result.price_wad is None) == (result.source is None)
        p, f = classify(pv).health, classify(fv).health
        if result.source is Source.FALLBACK:
            assert (f, result.price_wad) == (W, f_usd * WAD)
        if result.source is Source.PRIMARY:
            assert result.price_wad == p_usd * WAD
            confirmed = f is W and abs(p_usd - f_usd) * 20 <= min(p_usd, f_usd)
            # F-02: out of BOTH_UNTRUSTED on the sources' own agreement, a move of the primary
            # against the frozen last good price is trusted once its own track agrees
            recovered = s.status is S.BOTH_UNTRUSTED and result.state.primary.agreeing > 0
            assert p is W or (p is J and (confirmed or recovered))
        if result.price_wad is None:
            assert result.state.last_good_price_wad == last
        s = result.state


# --- OSM ------------------------------------------------------------------------------------

HOP = 3_600


def test_osm_releases_the_value_observed_one_hop_earlier() -> None:
    s = OsmState(None, None, None)
    s = osm_poke(s, OsmValue(100 * WAD, 0), 0, HOP)
    assert (s.current, s.queued) == (None, OsmValue(100 * WAD, 0))
    s = osm_poke(s, OsmValue(110 * WAD, HOP), HOP, HOP)
    assert (s.current, s.queued) == (OsmValue(100 * WAD, 0), OsmValue(110 * WAD, HOP))
    s = osm_poke(s, OsmValue(90 * WAD, 2 * HOP + 5), 2 * HOP + 5, HOP)
    assert s.current == OsmValue(110 * WAD, HOP)
    assert s.last_poke_s == 2 * HOP + 5


def test_osm_poke_exactly_one_hop_later_passes_one_second_earlier_fails() -> None:
    s = osm_poke(OsmState(None, None, None), OsmValue(WAD, 1_000), 1_000, HOP)
    assert osm_can_poke(s, 1_000 + HOP, HOP) is True
    assert osm_can_poke(s, 999 + HOP, HOP) is False
    with pytest.raises(OracleError, match=f"^{REASON_OSM_NOT_PASSED}$"):
        osm_poke(s, OsmValue(2 * WAD, 999 + HOP), 999 + HOP, HOP)


def test_osm_ignores_untrusted_reading() -> None:
    s = osm_poke(OsmState(None, None, None), OsmValue(WAD, 0), 0, HOP)
    assert osm_poke(s, None, HOP, HOP) == s


@given(st.lists(st.tuples(st.integers(0, 3 * HOP), st.integers(1, 10**24)), max_size=40))
def test_osm_released_value_is_always_at_least_one_hop_old(pokes: list[tuple[int, int]]) -> None:
    s, now = OsmState(None, None, None), 0
    for wait, price in pokes:
        now += wait
        if not osm_can_poke(s, now, HOP):
            continue
        s = osm_poke(s, OsmValue(price, now), now, HOP)
        if s.current is not None:
            assert now - s.current.observed_at_s >= HOP


# --- F-02: the sources' own consecutive agreement ------------------------------------------


def reading(price_usd: int, at: int, *, kind: Health = W) -> Verdict:
    """A reading of ``price_usd`` observed at ``at`` (stale for F, zero answer for B), read at NOW."""
    rid = compose_round_id(1, 1 + at % 1_000)
    updated = at if kind is not F else NOW - HEARTBEAT - 1
    answer = 0 if kind is B else price_usd * WAD
    return check_round(CFG, RoundData(rid, answer, updated, updated, rid), now_s=NOW, current_phase_id=1)


def test_track_counts_new_readings_that_agree_with_the_one_before() -> None:
    t = track(Track(), reading(1_000, NOW - 50), WAD // 10)
    assert t == Track(1_000 * WAD, NOW - 50, 1)  # the first reading has nothing to disagree with
    t = track(t, reading(1_100, NOW - 40), WAD // 10)  # +10 % exactly: agrees
    assert t == Track(1_100 * WAD, NOW - 40, 2)
    assert track(t, reading(1_100, NOW - 40), WAD // 10) == t  # the same reading again: nothing new
    assert track(t, reading(1_200, NOW - 45), WAD // 10) == t  # an older one: nothing new
    jumped = track(t, reading(1_211, NOW - 30), WAD // 10)  # +10 % and 1 USD: the count restarts
    assert jumped == Track(1_211 * WAD, NOW - 30, 0)
    assert track(jumped, reading(1_211, NOW - 20, kind=B), WAD // 10) == Track(1_211 * WAD, NOW - 30, 0)
    assert track(t, reading(1_100, 0, kind=F), WAD // 10) == Track(1_100 * WAD, NOW - 40, 0)  # stale resets


def untrusted(primary: Track, fallback: Track, n: int = 3) -> AdapterState:
    return AdapterState(S.BOTH_UNTRUSTED, LAST, MAX_DIFF, n, primary, fallback)


@pytest.mark.parametrize(
    ("p_count", "p_usd", "f_count", "f_usd", "end", "source"),
    [
        # Liquity's rule against the previous reading: both agree with themselves and each other
        (0, 600, 0, 610, S.PRIMARY_WORKING, Source.PRIMARY),
        (0, 600, 0, 631, S.BOTH_UNTRUSTED, None),  # 5.2 % apart: not similar
        # a source with recovery_readings (3) agreeing readings leads out alone
        (1, 600, 0, 631, S.BOTH_UNTRUSTED, None),
        (2, 600, 5, 631, S.USING_PRIMARY_FALLBACK_UNTRUSTED, Source.PRIMARY),  # the primary wins
        (None, 600, 2, 631, S.USING_FALLBACK_PRIMARY_UNTRUSTED, Source.FALLBACK),
        (0, 600, 2, 631, S.BOTH_UNTRUSTED, None),  # the primary is recovering: wait for it
    ],
)
def test_both_untrusted_is_left_on_the_sources_own_agreement(
    p_count: int | None, p_usd: int, f_count: int, f_usd: int, end: Status, source: Source | None
) -> None:
    """The last good price (1,000) is far from both sources (600): it plays no part (F-02)."""
    p_track = Track(600 * WAD, NOW - 100, p_count or 0)
    pv = reading(p_usd, NOW - 10) if p_count is not None else reading(p_usd, NOW - 10, kind=B)
    result = step(untrusted(p_track, Track(f_usd * WAD, NOW - 100, f_count)), pv, reading(f_usd, NOW - 10), MOVES)
    assert (result.state.status, result.source) == (end, source)


def test_recovery_readings_is_validated() -> None:
    with pytest.raises(InvalidParameter, match=r"recovery_readings must be an integer in \[1, 100\], got 0"):
        initial_state(MAX_DIFF, 0)
