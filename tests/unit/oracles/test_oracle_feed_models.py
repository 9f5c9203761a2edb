"""Feed models: push-rule properties with fixed seeds, failure modes, mark-price models."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracles.feed_models import (
    FeedUpdate,
    PricePath,
    apply_stale,
    ema_series,
    half_life_decay_wad,
    inject_spike,
    latest_visible,
    median_wad,
    push_feed,
    random_walk_path,
    random_windows,
    twap_wad,
    with_latency,
)
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.oracle.rounds import RoundData, compose_round_id

HEARTBEAT = 3_600
DEVIATION = WAD // 200  # 0.5 %


def walk(seed: int, n_steps: int = 2_000, sigma: float = 0.002) -> PricePath:
    rng = np.random.default_rng(seed)
    return random_walk_path(
        rng,
        start_price_wad=2_000 * WAD,
        start_s=1_000,
        step_s=60,
        n_steps=n_steps,
        sigma_per_step=sigma,
    )


def deviates(a: int, b: int) -> bool:
    return abs(a - b) * WAD >= DEVIATION * b


def test_random_walk_is_reproducible_from_its_seed() -> None:
    assert walk(7) == walk(7)
    assert walk(7) != walk(8)
    path = walk(7, n_steps=3)
    assert path.times_s == (1_000, 1_060, 1_120, 1_180)
    assert path.prices_wad[0] == 2_000 * WAD


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0005, 0.002, 0.01]))
def test_push_feed_respects_heartbeat_and_deviation_rule(seed: int, sigma: float) -> None:
    path = walk(seed, n_steps=600, sigma=sigma)
    rounds = push_feed(path, deviation_wad=DEVIATION, heartbeat_s=HEARTBEAT)
    answers = [p // 10**10 for p in path.prices_wad]
    assert rounds[0].updated_at == path.times_s[0]
    for prev, cur in pairwise(rounds):
        gap = cur.updated_at - prev.updated_at
        assert 0 < gap <= HEARTBEAT
        assert gap == HEARTBEAT or deviates(cur.answer, prev.answer)
        assert cur.round_id == prev.round_id + 1
    # After every sample, the feed's latest answer is within the deviation threshold of it.
    k = 0
    for t, a in zip(path.times_s, answers, strict=True):
        while k + 1 < len(rounds) and rounds[k + 1].updated_at <= t:
            k += 1
        assert not deviates(a, rounds[k].answer) or rounds[k].updated_at == t
    assert rounds[-1].updated_at > path.times_s[-1] - HEARTBEAT


def test_push_feed_known_sequence() -> None:
    prices = (100 * WAD, 100 * WAD, 101 * WAD, 101 * WAD, 101 * WAD)
    path = PricePath((0, 1_000, 2_000, 5_000, 9_000), prices)
    rounds = push_feed(path, deviation_wad=WAD // 100, heartbeat_s=HEARTBEAT)
    assert [(r.updated_at, r.answer) for r in rounds] == [
        (0, 100 * 10**8),
        (2_000, 101 * 10**8),  # exactly 1 %: deviation rule is inclusive
        (5_600, 101 * 10**8),  # heartbeat, price prevailing since 5000
    ]  # the next heartbeat (9200) falls after the path's last sample (9000)
    assert rounds[0].round_id == compose_round_id(1, 1)


def test_outage_suppresses_rounds_and_resumes_at_window_end() -> None:
    path = walk(3, n_steps=600)
    rounds = push_feed(path, deviation_wad=DEVIATION, heartbeat_s=HEARTBEAT, outages=((10_000, 20_000),))
    assert not any(10_000 <= r.updated_at < 20_000 for r in rounds)
    after = next(r for r in rounds if r.updated_at >= 20_000)
    assert after.updated_at == 20_000
    assert after.answer == path.price_at(20_000) // 10**10


def test_latency_delays_visibility_in_order() -> None:
    rounds = push_feed(walk(5, n_steps=300), deviation_wad=DEVIATION, heartbeat_s=HEARTBEAT)
    updates = with_latency(rounds, np.random.default_rng(11), min_delay_s=5, max_delay_s=120)
    assert updates == with_latency(rounds, np.random.default_rng(11), min_delay_s=5, max_delay_s=120)
    for u, v in pairwise(updates):
        assert u.visible_at_s <= v.visible_at_s
    assert all(u.visible_at_s >= u.round.updated_at + 5 for u in updates)
    fixed = with_latency(rounds, np.random.default_rng(0), min_delay_s=30, max_delay_s=30)
    first = fixed[0].round
    assert latest_visible(fixed, first.updated_at + 29) is None
    assert latest_visible(fixed, first.updated_at + 30) == first


def test_latest_visible_returns_last_landed_round() -> None:
    a, b = RoundData(1, 5, 0, 0, 1), RoundData(2, 6, 10, 10, 2)
    updates = (FeedUpdate(a, 3), FeedUpdate(b, 13))
    assert latest_visible(updates, 12) == a
    assert latest_visible(updates, 13) == b


def test_stale_window_carries_answer_over() -> None:
    rounds = tuple(RoundData(i, 100 + i, 10 * i, 10 * i, i) for i in range(1, 6))
    stale = apply_stale(rounds, ((25, 45),))
    assert [r.answer for r in stale] == [101, 102, 102, 102, 105]
    assert [r.answered_in_round for r in stale] == [1, 2, 2, 2, 5]
    assert [r.is_stale_round for r in stale] == [False, False, True, True, False]


def test_spike_changes_exactly_one_round() -> None:
    rounds = tuple(RoundData(i, 1_000_000, i, i, i) for i in range(1, 4))
    spiked = inject_spike(rounds, index=1, size_wad=-3 * WAD // 10)
    assert [r.answer for r in spiked] == [1_000_000, 700_000, 1_000_000]
    up = inject_spike(rounds, index=0, size_wad=WAD // 3)
    assert up[0].answer == 1_333_333
    with pytest.raises(InvalidParameter, match="size_wad"):
        inject_spike(rounds, index=0, size_wad=-WAD)
    with pytest.raises(InvalidParameter, match=r"index must be in \[0, 2\]"):
        inject_spike(rounds, index=3, size_wad=1)


def test_random_windows_are_reproducible_and_inside_bounds() -> None:
    w = random_windows(np.random.default_rng(1), start_s=0, end_s=86_400, count=5, duration_s=600)
    assert w == random_windows(np.random.default_rng(1), start_s=0, end_s=86_400, count=5, duration_s=600)
    assert all(s >= 0 and e == s + 600 and e <= 86_400 for s, e in w)
    assert [s for s, _ in w] == sorted(s for s, _ in w)


# --- mark price ------------------------------------------------------------------------------


def test_half_life_decay_exact_points() -> None:
    assert half_life_decay_wad(0, 3_600) == WAD
    assert half_life_decay_wad(3_600, 3_600) == WAD // 2
    assert half_life_decay_wad(7_200, 3_600) == WAD // 4
    assert half_life_decay_wad(1_800, 3_600) == 707_106_781_186_547_524


def test_ema_moves_half_way_after_one_half_life() -> None:
    path = PricePath((0, 3_600, 7_200), (100 * WAD, 200 * WAD, 200 * WAD))
    assert ema_series(path, 3_600) == (100 * WAD, 150 * WAD, 175 * WAD)


@given(st.lists(st.integers(1, 10**24), min_size=1, max_size=50), st.integers(1, 10**6))
def test_ema_stays_within_price_range(prices: list[int], half_life: int) -> None:
    path = PricePath(tuple(range(0, 60 * len(prices), 60)), tuple(prices))
    ema = ema_series(path, half_life)
    assert all(min(prices) <= e <= max(prices) for e in ema)


def test_twap_is_time_weighted_and_exact() -> None:
    path = PricePath((0, 100, 400), (10 * WAD, 20 * WAD, 40 * WAD))
    assert twap_wad(path, 400, 400) == (10 * 100 + 20 * 300) * WAD // 400
    assert twap_wad(path, 500, 200) == (20 * 100 + 40 * 100) * WAD // 200
    assert twap_wad(path, 50, 50) == 10 * WAD
    assert twap_wad(PricePath((0, 1), (1, 2)), 3, 3) == 1  # (1*1 + 2*2) // 3, rounded DOWN
    with pytest.raises(InvalidParameter, match="starts before the path's first sample"):
        twap_wad(path, 100, 101)


def test_median_of_sources() -> None:
    assert median_wad([3 * WAD, 1 * WAD, 2 * WAD]) == 2 * WAD
    assert median_wad([1, 2]) == 1
    assert median_wad([5 * WAD, 1 * WAD, 2 * WAD, 4 * WAD]) == 3 * WAD
    with pytest.raises(InvalidParameter, match="at least one price"):
        median_wad([])
    with pytest.raises(InvalidParameter, match=r"prices_wad\[1\]"):
        median_wad([1, 0])


def test_price_path_validation() -> None:
    with pytest.raises(InvalidParameter, match="strictly increase"):
        PricePath((0, 0), (1, 1))
    with pytest.raises(InvalidParameter, match=r"prices_wad\[0\] must be an integer >= 1"):
        PricePath((0,), (0,))
