"""Oracle guards: small pure predicates on integers, and one verdict per reading.

Each ``is_*`` predicate mirrors one ``assert`` of the Vyper adapter; its failure reason is the
``REASON_*`` constant next to it. All thresholds that are ratios are WAD fractions
(``10**18`` = 100 %), every comparison is exact integer cross-multiplication and every boundary
is inclusive on the passing side (a reading exactly ``heartbeat_s`` old passes, one second more
fails; a move exactly ``max_move_wad`` passes, one wei more fails).

:func:`check_round` (Chainlink) and :func:`check_pyth` (Pyth) run every guard in contract order
and return a :class:`Verdict` listing each guard's outcome; :func:`check_failed_call` is the
verdict of a source whose call reverted or returned malformed data (F-11: a broken source, not a
reverted poke); :func:`require_price` turns a verdict into a WAD price or raises
:class:`~protocol.errors.OracleError` with the first failure reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from protocol.constants import MAX_DECIMALS, WAD
from protocol.errors import InvalidParameter, OracleError
from protocol.oracle.rounds import MAX_PHASE_ID, PythPrice, RoundData, feed_to_wad, phase_of

__all__ = [
    "MAX_GRACE_S",
    "MAX_HEARTBEAT_S",
    "MAX_RATIO_WAD",
    "REASON_CALL_FAILED",
    "REASON_CONFIDENCE",
    "REASON_EMA_DEVIATION",
    "REASON_FUTURE",
    "REASON_MOVE",
    "REASON_NON_POSITIVE",
    "REASON_OLD_PHASE",
    "REASON_ROUND_ID_ZERO",
    "REASON_SEQUENCER_DOWN",
    "REASON_SEQUENCER_GRACE",
    "REASON_SEQUENCER_INVALID",
    "REASON_STALE",
    "REASON_STALE_ROUND",
    "SEQUENCER_DOWN",
    "SEQUENCER_UP",
    "FeedConfig",
    "GuardResult",
    "GuardStatus",
    "Verdict",
    "check_failed_call",
    "check_pyth",
    "check_round",
    "is_answer_positive",
    "is_conf_within",
    "is_current_phase",
    "is_fresh",
    "is_not_future",
    "is_round_answered",
    "is_round_id_set",
    "is_sequencer_grace_over",
    "is_sequencer_status_valid",
    "is_sequencer_up",
    "is_within_relative",
    "require_price",
]

#: Longest heartbeat a feed config may declare (7 days).
MAX_HEARTBEAT_S: Final = 7 * 86_400
#: Longest sequencer grace period (1 day).
MAX_GRACE_S: Final = 86_400
#: Largest relative threshold (move, EMA deviation, confidence ratio): 100 %.
MAX_RATIO_WAD: Final = WAD

REASON_SEQUENCER_INVALID: Final = "oracle: sequencer status invalid"
REASON_SEQUENCER_DOWN: Final = "oracle: sequencer down"
REASON_SEQUENCER_GRACE: Final = "oracle: sequencer grace period"
REASON_ROUND_ID_ZERO: Final = "oracle: round id zero"
REASON_OLD_PHASE: Final = "oracle: old phase"
REASON_NON_POSITIVE: Final = "oracle: non-positive answer"
REASON_FUTURE: Final = "oracle: future timestamp"
REASON_STALE: Final = "oracle: stale"
REASON_STALE_ROUND: Final = "oracle: stale round"
REASON_CONFIDENCE: Final = "oracle: confidence too wide"
REASON_EMA_DEVIATION: Final = "oracle: deviates from ema"
REASON_MOVE: Final = "oracle: move too large"
REASON_CALL_FAILED: Final = "oracle: source call failed"

#: Sequencer uptime feed answers (Chainlink L2 sequencer feeds).
SEQUENCER_UP: Final = 0
SEQUENCER_DOWN: Final = 1


# --- predicates (one per contract assert) --------------------------------------------------


def is_answer_positive(answer: int) -> bool:
    """``answer > 0`` (feed units or WAD: the sign is the same)."""
    return answer > 0


def is_round_id_set(round_id: int) -> bool:
    """``round_id > 0``: round 0 is the empty round of a fresh or broken aggregator."""
    return round_id > 0


def is_current_phase(round_id: int, current_phase_id: int) -> bool:
    """The round was produced by the proxy's current aggregator phase."""
    return phase_of(round_id) == current_phase_id


def is_not_future(updated_at_s: int, now_s: int) -> bool:
    """``updated_at_s <= now_s``: a timestamp one second in the future fails."""
    return updated_at_s <= now_s


def is_fresh(updated_at_s: int, now_s: int, heartbeat_s: int) -> bool:
    """``now_s - updated_at_s <= heartbeat_s``, written without a subtraction (no underflow)."""
    return now_s <= updated_at_s + heartbeat_s


def is_round_answered(round_id: int, answered_in_round: int) -> bool:
    """``answered_in_round >= round_id``: the answer was computed in this round."""
    return answered_in_round >= round_id


def is_within_relative(value: int, reference: int, max_ratio_wad: int) -> bool:
    """``|value - reference| / reference <= max_ratio_wad / WAD``, exactly (``reference > 0``).

    Cross-multiplied: ``|value - reference| * WAD <= max_ratio_wad * reference``.
    """
    return abs(value - reference) * WAD <= max_ratio_wad * reference


def is_conf_within(conf: int, price: int, max_conf_ratio_wad: int) -> bool:
    """``conf / price <= max_conf_ratio_wad / WAD`` for ``price > 0``, same exponent for both."""
    return conf * WAD <= max_conf_ratio_wad * price


def is_sequencer_status_valid(status_answer: int, status_started_at_s: int, now_s: int) -> bool:
    """The uptime feed answered 0 or 1 and its status change time is set and not in the future."""
    return status_answer in (SEQUENCER_UP, SEQUENCER_DOWN) and 0 < status_started_at_s <= now_s


def is_sequencer_up(status_answer: int) -> bool:
    """Chainlink's uptime feed answers 0 while the sequencer is up."""
    return status_answer == SEQUENCER_UP


def is_sequencer_grace_over(status_started_at_s: int, now_s: int, grace_s: int) -> bool:
    """``now_s - started_at > grace_s``: exactly ``grace_s`` after coming back up still fails."""
    return status_started_at_s + grace_s < now_s


# --- configuration --------------------------------------------------------------------------


def _check_field(field: str, value: object, low: int, high: int, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        allowed = f"an integer in [{low}, {high}]" + (" or None" if optional else "")
        raise InvalidParameter(f"FeedConfig.{field} must be {allowed}, got {value!r}")


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """Validated guard thresholds for one price feed.

    * ``decimals``: feed decimals of Chainlink answers (Pyth records carry their own exponent);
    * ``heartbeat_s``: largest accepted age ``now - updated_at`` in seconds;
    * ``max_move_wad``: largest relative move from the last good price (WAD fraction);
    * ``max_ema_deviation_wad``: largest relative distance from the EMA/TWAP, None = no guard;
    * ``max_conf_ratio_wad``: largest ``conf / price`` for Pyth readings, None = no guard;
    * ``sequencer_grace_s``: grace period after an L2 sequencer comes back up; None on L1, where
      no sequencer status is read.
    """

    decimals: int
    heartbeat_s: int
    max_move_wad: int
    max_ema_deviation_wad: int | None = None
    max_conf_ratio_wad: int | None = None
    sequencer_grace_s: int | None = None

    def __post_init__(self) -> None:
        _check_field("decimals", self.decimals, 0, MAX_DECIMALS)
        _check_field("heartbeat_s", self.heartbeat_s, 1, MAX_HEARTBEAT_S)
        _check_field("max_move_wad", self.max_move_wad, 1, MAX_RATIO_WAD)
        _check_field("max_ema_deviation_wad", self.max_ema_deviation_wad, 1, MAX_RATIO_WAD, optional=True)
        _check_field("max_conf_ratio_wad", self.max_conf_ratio_wad, 1, MAX_RATIO_WAD, optional=True)
        _check_field("sequencer_grace_s", self.sequencer_grace_s, 0, MAX_GRACE_S, optional=True)


# --- verdicts -------------------------------------------------------------------------------


class GuardStatus(Enum):
    """Outcome of one guard on one reading."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not configured, no reference value yet, or its input already failed


@dataclass(frozen=True, slots=True)
class GuardResult:
    """One guard's outcome; ``reason`` is the revert string it fails with."""

    guard: str
    status: GuardStatus
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Every guard's outcome for one reading, in contract order.

    ``price_wad`` is the reading's price in WAD when its answer is positive (whether or not other
    guards passed), else None; ``updated_at_s`` is the reading's timestamp.
    """

    results: tuple[GuardResult, ...]
    price_wad: int | None
    updated_at_s: int

    @property
    def ok(self) -> bool:
        """True when no guard failed."""
        return self.failure is None

    @property
    def failures(self) -> tuple[str, ...]:
        """Reasons of all failed guards, in contract order."""
        return tuple(r.reason for r in self.results if r.status is GuardStatus.FAILED)

    @property
    def failure(self) -> str | None:
        """The first failure reason (the one the contract reverts with), or None."""
        failures = self.failures
        return failures[0] if failures else None


def require_price(verdict: Verdict) -> int:
    """The verdict's WAD price; raises OracleError(first failure reason) if a guard failed."""
    if verdict.failure is not None:
        raise OracleError(verdict.failure)
    if verdict.price_wad is None:  # unreachable: a non-positive answer fails its guard
        raise OracleError(REASON_NON_POSITIVE)
    return verdict.price_wad


def _result(guard: str, passed: bool | None, reason: str) -> GuardResult:
    if passed is None:
        return GuardResult(guard, GuardStatus.SKIPPED, reason)
    return GuardResult(guard, GuardStatus.PASSED if passed else GuardStatus.FAILED, reason)


def _check_context(name: str, value: object, low: int, *, optional: bool) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        extra = " or None" if optional else ""
        raise InvalidParameter(f"{name} must be an integer >= {low}{extra}, got {value!r}")


def _sequencer_results(config: FeedConfig, sequencer: RoundData | None, now_s: int) -> list[GuardResult]:
    grace_s = config.sequencer_grace_s
    if grace_s is None:
        if sequencer is not None:
            raise InvalidParameter(
                "sequencer was given but FeedConfig.sequencer_grace_s is None; "
                "set a grace period to guard on the sequencer"
            )
        return [
            _result("sequencer_status", None, REASON_SEQUENCER_INVALID),
            _result("sequencer_up", None, REASON_SEQUENCER_DOWN),
            _result("sequencer_grace", None, REASON_SEQUENCER_GRACE),
        ]
    if sequencer is None:
        raise InvalidParameter("sequencer status is required because FeedConfig.sequencer_grace_s is set")
    valid = is_sequencer_status_valid(sequencer.answer, sequencer.started_at, now_s)
    up = is_sequencer_up(sequencer.answer) if valid else None
    grace = is_sequencer_grace_over(sequencer.started_at, now_s, grace_s) if up else None
    return [
        _result("sequencer_status", valid, REASON_SEQUENCER_INVALID),
        _result("sequencer_up", up, REASON_SEQUENCER_DOWN),
        _result("sequencer_grace", grace, REASON_SEQUENCER_GRACE),
    ]


def _price_results(
    config: FeedConfig,
    price_wad: int | None,
    ema_wad: int | None,
    last_good_price_wad: int | None,
) -> list[GuardResult]:
    ema_ok: bool | None = None
    max_dev = config.max_ema_deviation_wad
    if price_wad is not None and ema_wad is not None and max_dev is not None:
        ema_ok = ema_wad > 0 and is_within_relative(price_wad, ema_wad, max_dev)
    move_ok: bool | None = None
    if price_wad is not None and last_good_price_wad is not None:
        move_ok = is_within_relative(price_wad, last_good_price_wad, config.max_move_wad)
    return [
        _result("ema_deviation", ema_ok, REASON_EMA_DEVIATION),
        _result("move", move_ok, REASON_MOVE),
    ]


def check_round(
    config: FeedConfig,
    rd: RoundData,
    *,
    now_s: int,
    current_phase_id: int,
    last_good_price_wad: int | None = None,
    ema_price_wad: int | None = None,
    sequencer: RoundData | None = None,
) -> Verdict:
    """Run every guard on one Chainlink round read at ``now_s``.

    ``current_phase_id`` is the proxy's ``phaseId()`` at read time; ``last_good_price_wad`` and
    ``ema_price_wad`` (WAD) are the references for the move and deviation guards, which are
    skipped while None. ``sequencer`` is the L2 uptime feed's latest round, required exactly when
    ``config.sequencer_grace_s`` is set.
    """
    _check_context("now_s", now_s, 0, optional=False)
    _check_context("current_phase_id", current_phase_id, 1, optional=False)
    if current_phase_id > MAX_PHASE_ID:
        raise InvalidParameter(f"current_phase_id must be <= {MAX_PHASE_ID}, got {current_phase_id}")
    _check_context("last_good_price_wad", last_good_price_wad, 1, optional=True)
    _check_context("ema_price_wad", ema_price_wad, 1, optional=True)
    positive = is_answer_positive(rd.answer)
    price_wad = feed_to_wad(rd.answer, config.decimals) if positive else None
    results = _sequencer_results(config, sequencer, now_s)
    results += [
        _result("round_id", is_round_id_set(rd.round_id), REASON_ROUND_ID_ZERO),
        _result("phase", is_current_phase(rd.round_id, current_phase_id), REASON_OLD_PHASE),
        _result("answer_positive", positive, REASON_NON_POSITIVE),
        _result("not_future", is_not_future(rd.updated_at, now_s), REASON_FUTURE),
        _result("heartbeat", is_fresh(rd.updated_at, now_s, config.heartbeat_s), REASON_STALE),
        _result(
            "answered_in_round",
            is_round_answered(rd.round_id, rd.answered_in_round),
            REASON_STALE_ROUND,
        ),
        _result("confidence", None, REASON_CONFIDENCE),
    ]
    results += _price_results(config, price_wad, ema_price_wad, last_good_price_wad)
    results.append(_result("source_call", True, REASON_CALL_FAILED))
    return Verdict(tuple(results), price_wad, rd.updated_at)


def check_pyth(
    config: FeedConfig,
    px: PythPrice,
    *,
    now_s: int,
    last_good_price_wad: int | None = None,
    sequencer: RoundData | None = None,
) -> Verdict:
    """Run every guard on one Pyth price read at ``now_s``.

    The record's own ``ema_price`` is the deviation reference and ``conf`` is checked against
    ``config.max_conf_ratio_wad``; round-id, phase and answered-in-round guards do not apply to
    Pyth and are reported as skipped. ``config.decimals`` is ignored (the record has ``expo``).
    """
    _check_context("now_s", now_s, 0, optional=False)
    _check_context("last_good_price_wad", last_good_price_wad, 1, optional=True)
    positive = is_answer_positive(px.price)
    price_wad = px.to_wad(px.price) if positive else None
    conf_ok: bool | None = None
    if positive and config.max_conf_ratio_wad is not None:
        conf_ok = is_conf_within(px.conf, px.price, config.max_conf_ratio_wad)
    results = _sequencer_results(config, sequencer, now_s)
    results += [
        _result("round_id", None, REASON_ROUND_ID_ZERO),
        _result("phase", None, REASON_OLD_PHASE),
        _result("answer_positive", positive, REASON_NON_POSITIVE),
        _result("not_future", is_not_future(px.publish_time, now_s), REASON_FUTURE),
        _result("heartbeat", is_fresh(px.publish_time, now_s, config.heartbeat_s), REASON_STALE),
        _result("answered_in_round", None, REASON_STALE_ROUND),
        _result("confidence", conf_ok, REASON_CONFIDENCE),
    ]
    results += _price_results(config, price_wad, px.to_wad(px.ema_price), last_good_price_wad)
    results.append(_result("source_call", True, REASON_CALL_FAILED))
    return Verdict(tuple(results), price_wad, px.publish_time)


_SOURCE_GUARDS: Final = (
    ("round_id", REASON_ROUND_ID_ZERO),
    ("phase", REASON_OLD_PHASE),
    ("answer_positive", REASON_NON_POSITIVE),
    ("not_future", REASON_FUTURE),
    ("heartbeat", REASON_STALE),
    ("answered_in_round", REASON_STALE_ROUND),
    ("confidence", REASON_CONFIDENCE),
    ("ema_deviation", REASON_EMA_DEVIATION),
    ("move", REASON_MOVE),
)


def check_failed_call(config: FeedConfig, *, now_s: int, sequencer: RoundData | None = None) -> Verdict:
    """The verdict of a source whose call reverted or returned data that does not decode as its
    ABI type (F-11): the sequencer guards run as usual, every guard on the reading is skipped and
    ``source_call`` fails, so the source counts as broken instead of reverting the poke."""
    _check_context("now_s", now_s, 0, optional=False)
    results = _sequencer_results(config, sequencer, now_s)
    results += [_result(guard, None, reason) for guard, reason in _SOURCE_GUARDS]
    results.append(_result("source_call", False, REASON_CALL_FAILED))
    return Verdict(tuple(results), None, 0)
