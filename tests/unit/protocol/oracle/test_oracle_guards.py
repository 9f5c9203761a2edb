"""Oracle guards at their boundaries, config validation and verdicts."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import WAD
from protocol.errors import InvalidParameter, OracleError
from protocol.oracle.guards import (
    REASON_CONFIDENCE,
    REASON_EMA_DEVIATION,
    REASON_FUTURE,
    REASON_MOVE,
    REASON_NON_POSITIVE,
    REASON_OLD_PHASE,
    REASON_ROUND_ID_ZERO,
    REASON_SEQUENCER_DOWN,
    REASON_SEQUENCER_GRACE,
    REASON_SEQUENCER_INVALID,
    REASON_STALE,
    REASON_STALE_ROUND,
    FeedConfig,
    GuardStatus,
    Verdict,
    check_pyth,
    check_round,
    is_conf_within,
    is_fresh,
    is_not_future,
    is_sequencer_grace_over,
    is_within_relative,
    require_price,
)
from protocol.oracle.rounds import PythPrice, RoundData, compose_round_id

NOW = 1_700_000_000
HEARTBEAT = 3_600
PHASE = 2
RID = compose_round_id(PHASE, 500)
CFG = FeedConfig(decimals=8, heartbeat_s=HEARTBEAT, max_move_wad=WAD // 2)
ONE_USD_FEED = 100_000_000  # 1.00000000 at 8 decimals


def rd(
    answer: int = ONE_USD_FEED,
    updated_at: int = NOW,
    round_id: int = RID,
    answered_in_round: int | None = None,
) -> RoundData:
    answered = round_id if answered_in_round is None else answered_in_round
    return RoundData(round_id, answer, updated_at, updated_at, answered)


def read(rnd: RoundData, config: FeedConfig = CFG, **kw: object) -> Verdict:
    return check_round(config, rnd, now_s=NOW, current_phase_id=PHASE, **kw)  # type: ignore[arg-type]


def status_of(verdict: Verdict, guard: str) -> GuardStatus:
    return next(r.status for r in verdict.results if r.guard == guard)


# --- staleness, future, round id, phase, answer ---------------------------------------------


def test_exactly_heartbeat_old_passes_one_second_more_fails() -> None:
    assert read(rd(updated_at=NOW - HEARTBEAT)).ok is True
    v = read(rd(updated_at=NOW - HEARTBEAT - 1))
    assert v.failures == (REASON_STALE,)
    assert is_fresh(NOW - HEARTBEAT, NOW, HEARTBEAT) is True
    assert is_fresh(NOW - HEARTBEAT - 1, NOW, HEARTBEAT) is False


def test_timestamp_equal_to_now_passes_one_second_in_future_fails() -> None:
    assert read(rd(updated_at=NOW)).ok is True
    assert read(rd(updated_at=NOW + 1)).failure == REASON_FUTURE
    assert is_not_future(NOW + 1, NOW) is False


def test_round_id_zero_fails() -> None:
    v = read(rd(round_id=0))
    assert v.failure == REASON_ROUND_ID_ZERO
    assert read(rd(round_id=compose_round_id(PHASE, 1))).ok is True


def test_round_of_previous_phase_fails_even_when_fresh() -> None:
    v = read(rd(round_id=compose_round_id(PHASE - 1, 10_000)))
    assert v.failures == (REASON_OLD_PHASE,)


@pytest.mark.parametrize("answer", [0, -1, -(10**8)])
def test_non_positive_answer_fails_and_has_no_price(answer: int) -> None:
    v = read(rd(answer=answer))
    assert v.failure == REASON_NON_POSITIVE
    assert v.price_wad is None
    assert status_of(v, "move") is GuardStatus.SKIPPED


def test_smallest_positive_answer_passes() -> None:
    v = read(rd(answer=1))
    assert (v.ok, v.price_wad) == (True, 10**10)


def test_carried_over_answer_fails_as_stale_round() -> None:
    v = read(rd(answered_in_round=RID - 1))
    assert v.failures == (REASON_STALE_ROUND,)


def test_empty_round_fails_every_applicable_guard_in_contract_order() -> None:
    # The ETH/USD proxy's last row in sajanrajdev/ape-chainlink-fetcher: phase 6, round 0.
    v = check_round(CFG, RoundData(6 << 64, 0, 0, 0, 0), now_s=NOW, current_phase_id=6)
    assert v.failures == (REASON_NON_POSITIVE, REASON_STALE, REASON_STALE_ROUND)
    assert v.failure == REASON_NON_POSITIVE


# --- move vs last good price, deviation from EMA ---------------------------------------------


def test_move_exactly_at_limit_passes_one_wei_beyond_fails() -> None:
    last = 2_000 * WAD
    cfg = FeedConfig(decimals=18, heartbeat_s=HEARTBEAT, max_move_wad=WAD // 10)  # 10 %
    limit_up, limit_down = 2_200 * WAD, 1_800 * WAD
    assert read(rd(answer=limit_up), cfg, last_good_price_wad=last).ok is True
    assert read(rd(answer=limit_down), cfg, last_good_price_wad=last).ok is True
    up = read(rd(answer=limit_up + 1), cfg, last_good_price_wad=last)
    down = read(rd(answer=limit_down - 1), cfg, last_good_price_wad=last)
    assert up.failures == (REASON_MOVE,)
    assert down.failures == (REASON_MOVE,)


def test_move_guard_skipped_without_last_good_price() -> None:
    v = read(rd(answer=10 * ONE_USD_FEED))
    assert (v.ok, status_of(v, "move")) == (True, GuardStatus.SKIPPED)


def test_ema_deviation_boundary() -> None:
    cfg = FeedConfig(decimals=18, heartbeat_s=HEARTBEAT, max_move_wad=WAD, max_ema_deviation_wad=WAD // 20)
    ema = 1_000 * WAD
    assert read(rd(answer=1_050 * WAD), cfg, ema_price_wad=ema).ok is True
    assert read(rd(answer=950 * WAD), cfg, ema_price_wad=ema).ok is True
    v = read(rd(answer=1_050 * WAD + 1), cfg, ema_price_wad=ema)
    assert v.failures == (REASON_EMA_DEVIATION,)
    assert status_of(read(rd(answer=1), cfg), "ema_deviation") is GuardStatus.SKIPPED


@given(st.integers(1, 10**30), st.integers(1, 10**30), st.integers(1, WAD))
def test_relative_check_equals_exact_rational_comparison(value: int, ref: int, limit: int) -> None:
    exact = Fraction(abs(value - ref), ref) <= Fraction(limit, WAD)
    assert is_within_relative(value, ref, limit) is exact


# --- Pyth confidence and EMA -----------------------------------------------------------------


def pyth(price: int, conf: int, ema: int | None = None, publish_time: int = NOW) -> PythPrice:
    return PythPrice(price, conf, -8, publish_time, price if ema is None else ema, conf)


def test_pyth_confidence_exactly_at_limit_passes_one_unit_more_fails() -> None:
    cfg = FeedConfig(decimals=8, heartbeat_s=60, max_move_wad=WAD, max_conf_ratio_wad=WAD // 100)
    assert check_pyth(cfg, pyth(6_000_000_000_000, 60_000_000_000), now_s=NOW).ok is True
    v = check_pyth(cfg, pyth(6_000_000_000_000, 60_000_000_001), now_s=NOW)
    assert v.failures == (REASON_CONFIDENCE,)
    assert is_conf_within(1, 100, WAD // 100) is True
    assert is_conf_within(2, 100, WAD // 100) is False


def test_pyth_price_converts_exactly_and_uses_own_ema() -> None:
    cfg = FeedConfig(decimals=8, heartbeat_s=60, max_move_wad=WAD, max_ema_deviation_wad=WAD // 10)
    ok = check_pyth(cfg, pyth(110_000_000, 0, ema=100_000_000), now_s=NOW)
    assert (ok.ok, ok.price_wad) == (True, 1_100_000_000_000_000_000)
    bad = check_pyth(cfg, pyth(110_000_001, 0, ema=100_000_000), now_s=NOW)
    assert bad.failures == (REASON_EMA_DEVIATION,)
    negative_ema = check_pyth(cfg, pyth(110_000_000, 0, ema=-1), now_s=NOW)
    assert negative_ema.failures == (REASON_EMA_DEVIATION,)


def test_pyth_staleness_and_future() -> None:
    cfg = FeedConfig(decimals=8, heartbeat_s=60, max_move_wad=WAD)
    assert check_pyth(cfg, pyth(1, 0, publish_time=NOW - 60), now_s=NOW).ok is True
    assert check_pyth(cfg, pyth(1, 0, publish_time=NOW - 61), now_s=NOW).failure == REASON_STALE
    assert check_pyth(cfg, pyth(1, 0, publish_time=NOW + 1), now_s=NOW).failure == REASON_FUTURE


# --- L2 sequencer ----------------------------------------------------------------------------

SEQ_CFG = FeedConfig(decimals=8, heartbeat_s=HEARTBEAT, max_move_wad=WAD, sequencer_grace_s=3_600)


def seq(answer: int, started_at: int) -> RoundData:
    return RoundData(1, answer, started_at, started_at, 1)


def test_sequencer_up_after_grace_passes() -> None:
    assert read(rd(), SEQ_CFG, sequencer=seq(0, NOW - 3_601)).ok is True


def test_sequencer_exactly_grace_after_restart_fails() -> None:
    v = read(rd(), SEQ_CFG, sequencer=seq(0, NOW - 3_600))
    assert v.failures == (REASON_SEQUENCER_GRACE,)
    assert is_sequencer_grace_over(NOW - 3_600, NOW, 3_600) is False
    assert is_sequencer_grace_over(NOW - 3_601, NOW, 3_600) is True


def test_sequencer_down_fails_first() -> None:
    v = read(rd(updated_at=NOW - HEARTBEAT - 1), SEQ_CFG, sequencer=seq(1, NOW - 10_000))
    assert v.failures == (REASON_SEQUENCER_DOWN, REASON_STALE)
    assert status_of(v, "sequencer_grace") is GuardStatus.SKIPPED


@pytest.mark.parametrize(("answer", "started_at"), [(2, NOW - 10_000), (0, 0), (0, NOW + 1)])
def test_sequencer_status_invalid(answer: int, started_at: int) -> None:
    v = read(rd(), SEQ_CFG, sequencer=seq(answer, started_at))
    assert v.failures == (REASON_SEQUENCER_INVALID,)


def test_sequencer_status_required_exactly_when_configured() -> None:
    with pytest.raises(InvalidParameter, match="sequencer status is required"):
        read(rd(), SEQ_CFG)
    with pytest.raises(InvalidParameter, match="sequencer_grace_s is None"):
        read(rd(), CFG, sequencer=seq(0, NOW - 10_000))


# --- verdicts and errors ---------------------------------------------------------------------


def test_verdict_lists_every_guard_in_contract_order() -> None:
    v = read(rd())
    assert [r.guard for r in v.results] == [
        "sequencer_status",
        "sequencer_up",
        "sequencer_grace",
        "round_id",
        "phase",
        "answer_positive",
        "not_future",
        "heartbeat",
        "answered_in_round",
        "confidence",
        "ema_deviation",
        "move",
        "source_call",
    ]
    assert all(r.reason.startswith("oracle: ") for r in v.results)
    assert (v.price_wad, v.updated_at_s) == (WAD, NOW)


def test_require_price_returns_price_or_raises_first_reason() -> None:
    assert require_price(read(rd())) == WAD
    with pytest.raises(OracleError, match=r"^oracle: future timestamp$"):
        require_price(read(rd(updated_at=NOW + 1)))
    with pytest.raises(OracleError, match=r"^oracle: round id zero$"):
        require_price(read(rd(round_id=0, answer=0)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decimals": 19}, r"FeedConfig.decimals must be an integer in \[0, 18\], got 19"),
        ({"heartbeat_s": 0}, r"FeedConfig.heartbeat_s must be an integer in \[1, 604800\], got 0"),
        ({"max_move_wad": WAD + 1}, r"FeedConfig.max_move_wad must be an integer in \[1, 10{18}\]"),
        ({"max_move_wad": 0.5}, r"FeedConfig.max_move_wad .* got 0.5"),
        ({"max_ema_deviation_wad": 0}, r"max_ema_deviation_wad .* or None, got 0"),
        ({"max_conf_ratio_wad": True}, r"max_conf_ratio_wad .* got True"),
        ({"sequencer_grace_s": -1}, r"sequencer_grace_s must be an integer in \[0, 86400\]"),
    ],
)
def test_feed_config_rejects_bad_fields(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"decimals": 8, "heartbeat_s": 3_600, "max_move_wad": WAD // 2}
    with pytest.raises(InvalidParameter, match=message):
        FeedConfig(**(base | kwargs))  # type: ignore[arg-type]


def test_check_round_rejects_bad_context() -> None:
    with pytest.raises(InvalidParameter, match="current_phase_id"):
        check_round(CFG, rd(), now_s=NOW, current_phase_id=0)
    with pytest.raises(InvalidParameter, match="last_good_price_wad"):
        check_round(CFG, rd(), now_s=NOW, current_phase_id=PHASE, last_good_price_wad=0)
