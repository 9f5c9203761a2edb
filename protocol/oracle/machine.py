"""Primary/fallback price adapter (Liquity v1 ``PriceFeed``) and a one-hop delayed price (OSM).

Functional style: :func:`step` takes the adapter state, one guard :class:`~protocol.oracle.guards.Verdict`
per source and returns the new state, the trusted price (or None) and the events, so a run can be
replayed and compared event by event with the contract.

Each source's verdict is first classified (:func:`classify`):

* ``BROKEN``: any guard other than staleness and the move guard failed;
* ``FROZEN``: only the heartbeat guard (and possibly the move guard) failed;
* ``JUMPED``: only the move guard failed: the price moved more than ``max_move_wad`` from the
  last good price. As in Liquity, the primary's jump is accepted only when the fallback confirms
  it (both within ``max_price_difference_wad``); a fallback that jumped counts as broken;
* ``WORKING``: no guard failed.

:func:`step` then follows Liquity v1's five states. A trusted price updates the last good price;
when no source is trusted the result's ``price_wad`` is None and callers put the market
reduce-only (the last good price stays available in the state for reports).

BOTH_UNTRUSTED is left on the sources' own consecutive agreement, never against the last good
price frozen while untrusted (F-02). Each source keeps a :class:`Track`: its last live reading and
the number of consecutive *new* readings (a later observation time) that stayed within its
``max_move_wad`` of the one before; a broken or stale reading resets the count. From
BOTH_UNTRUSTED the adapter returns

* to PRIMARY_WORKING (primary) when both sources agree with their own previous reading and with
  each other within ``max_price_difference_wad`` (Liquity's rule, against the previous round);
* to USING_PRIMARY_FALLBACK_UNTRUSTED (primary) once the primary has ``recovery_readings``
  consecutive agreeing readings, whatever the fallback says (the primary wins, as in
  PRIMARY_WORKING); a feed without a fallback recovers this way;
* to USING_FALLBACK_PRIMARY_UNTRUSTED (fallback) once the fallback has ``recovery_readings`` of
  them while the primary has none.

The verdicts must be computed with ``state.last_good_price_wad`` as their move reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

from protocol.constants import WAD
from protocol.errors import InvalidParameter, OracleError
from protocol.oracle.guards import REASON_MOVE, REASON_STALE, Verdict, is_within_relative

__all__ = [
    "MAX_PRICE_DIFFERENCE_LIMIT_WAD",
    "MAX_RECOVERY_READINGS",
    "AdapterState",
    "Health",
    "LastGoodPriceUpdated",
    "PriceEvent",
    "Source",
    "SourceReading",
    "Status",
    "StatusChanged",
    "StepResult",
    "Track",
    "classify",
    "initial_state",
    "step",
    "track",
]

#: Upper bound of ``max_price_difference_wad`` (Liquity uses 5 %); 100 %.
MAX_PRICE_DIFFERENCE_LIMIT_WAD: Final = WAD
#: Upper bound of ``recovery_readings``.
MAX_RECOVERY_READINGS: Final = 100


class Status(Enum):
    """Which source the adapter trusts (Liquity v1 ``PriceFeed.Status``)."""

    PRIMARY_WORKING = "primary_working"
    USING_FALLBACK_PRIMARY_UNTRUSTED = "using_fallback_primary_untrusted"
    BOTH_UNTRUSTED = "both_untrusted"
    USING_FALLBACK_PRIMARY_FROZEN = "using_fallback_primary_frozen"
    USING_PRIMARY_FALLBACK_UNTRUSTED = "using_primary_fallback_untrusted"


class Health(Enum):
    """Classification of one source's reading."""

    WORKING = "working"
    JUMPED = "jumped"
    FROZEN = "frozen"
    BROKEN = "broken"


class Source(Enum):
    """The source a trusted price came from."""

    PRIMARY = "primary"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class SourceReading:
    """A classified reading: health and WAD price (None when the answer was not positive)."""

    health: Health
    price_wad: int | None


def classify(verdict: Verdict) -> SourceReading:
    """Classify a guard verdict into WORKING / JUMPED / FROZEN / BROKEN (see module doc)."""
    failures = set(verdict.failures)
    hard = failures - {REASON_STALE, REASON_MOVE}
    if hard or verdict.price_wad is None:
        health = Health.BROKEN
    elif REASON_STALE in failures:
        health = Health.FROZEN
    elif REASON_MOVE in failures:
        health = Health.JUMPED
    else:
        health = Health.WORKING
    return SourceReading(health, verdict.price_wad)


@dataclass(frozen=True, slots=True)
class Track:
    """One source's own history (F-02): its last live reading (WAD price and observation time;
    price 0 = none yet) and how many consecutive new readings agreed with the one before."""

    price_wad: int = 0
    at_s: int = 0
    agreeing: int = 0


def track(t: Track, verdict: Verdict, max_move_wad: int) -> Track:
    """``t`` after one more reading of its source.

    A broken or stale reading resets the count (the last live reading is kept); a reading no
    later than the last live one changes nothing; a new live reading is counted when it is
    within ``max_move_wad`` of the last live one (exactly, as the move guard; the first one
    always is) and restarts the count at 0 otherwise.
    """
    if classify(verdict).health in (Health.BROKEN, Health.FROZEN) or verdict.price_wad is None:
        return Track(t.price_wad, t.at_s, 0)
    if t.price_wad and verdict.updated_at_s <= t.at_s:
        return t
    agrees = not t.price_wad or is_within_relative(verdict.price_wad, t.price_wad, max_move_wad)
    return Track(verdict.price_wad, verdict.updated_at_s, t.agreeing + 1 if agrees else 0)


def _check_bounded(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(f"{name} must be an integer in [{low}, {high}], got {value!r}")


@dataclass(frozen=True, slots=True)
class AdapterState:
    """Adapter state: trust status, the last good price (WAD, None before the first one), the
    similarity threshold and recovery count it runs with, and each source's :class:`Track`."""

    status: Status
    last_good_price_wad: int | None
    max_price_difference_wad: int
    recovery_readings: int = 3
    primary: Track = Track()
    fallback: Track = Track()

    def __post_init__(self) -> None:
        _check_bounded("max_price_difference_wad", self.max_price_difference_wad, 0, MAX_PRICE_DIFFERENCE_LIMIT_WAD)
        _check_bounded("recovery_readings", self.recovery_readings, 1, MAX_RECOVERY_READINGS)
        last = self.last_good_price_wad
        if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last <= 0):
            raise InvalidParameter(f"last_good_price_wad must be a positive integer or None, got {last!r}")


def initial_state(max_price_difference_wad: int, recovery_readings: int = 3) -> AdapterState:
    """A fresh adapter trusting the primary, with no last good price and no readings yet."""
    return AdapterState(Status.PRIMARY_WORKING, None, max_price_difference_wad, recovery_readings)


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The trust status changed (Liquity's ``PriceFeedStatusChanged``)."""

    old: Status
    new: Status


@dataclass(frozen=True, slots=True)
class LastGoodPriceUpdated:
    """A trusted price was stored (Liquity's ``LastGoodPriceUpdated``); WAD."""

    price_wad: int
    source: Source


PriceEvent = StatusChanged | LastGoodPriceUpdated


@dataclass(frozen=True, slots=True)
class StepResult:
    """Outcome of one :func:`step`: new state, trusted price (WAD) and its source, events."""

    state: AdapterState
    price_wad: int | None
    source: Source | None
    events: tuple[PriceEvent, ...]


def _similar(a: SourceReading, b: SourceReading, max_difference_wad: int) -> bool:
    """Both prices set and ``(max - min) / min <= max_difference_wad``, exactly."""
    if a.price_wad is None or b.price_wad is None:
        return False
    low, high = sorted((a.price_wad, b.price_wad))
    return is_within_relative(high, low, max_difference_wad)


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Both classified readings and the derived predicates Liquity's table branches on."""

    p: Health
    f: Health
    fallback_broken: bool  # a jumped fallback is not trusted either
    fallback_source: Source | None  # FALLBACK when working, None when frozen
    similar: bool  # primary live (working or jumped), fallback working, prices close
    close: bool  # both prices set and within max_price_difference_wad, whatever their health
    p_agreeing: int  # the sources' consecutive agreeing readings (Track.agreeing)
    f_agreeing: int
    recovery_readings: int


_Decision = tuple[Status, Source | None]


def _from_primary_working(x: _Inputs) -> _Decision:
    """Liquity CASE 1 (``chainlinkWorking``)."""
    if x.p is Health.BROKEN:
        if x.fallback_broken:
            return Status.BOTH_UNTRUSTED, None
        return Status.USING_FALLBACK_PRIMARY_UNTRUSTED, x.fallback_source
    if x.p is Health.FROZEN:
        if x.fallback_broken:
            return Status.USING_PRIMARY_FALLBACK_UNTRUSTED, None
        return Status.USING_FALLBACK_PRIMARY_FROZEN, x.fallback_source
    if x.p is Health.JUMPED:
        if x.fallback_broken:
            return Status.BOTH_UNTRUSTED, None
        if x.similar:
            return Status.PRIMARY_WORKING, Source.PRIMARY
        return Status.USING_FALLBACK_PRIMARY_UNTRUSTED, x.fallback_source
    if x.fallback_broken:
        return Status.USING_PRIMARY_FALLBACK_UNTRUSTED, Source.PRIMARY
    return Status.PRIMARY_WORKING, Source.PRIMARY


def _from_using_fallback(x: _Inputs) -> _Decision:
    """Liquity CASE 2 (``usingTellorChainlinkUntrusted``)."""
    if x.similar:
        return Status.PRIMARY_WORKING, Source.PRIMARY
    if x.fallback_broken:
        return Status.BOTH_UNTRUSTED, None
    return Status.USING_FALLBACK_PRIMARY_UNTRUSTED, x.fallback_source


def _from_both_untrusted(x: _Inputs) -> _Decision:
    """Liquity CASE 3 (``bothOraclesUntrusted``), left on the sources' own agreement (F-02)."""
    if x.p_agreeing and x.f_agreeing and x.close:
        return Status.PRIMARY_WORKING, Source.PRIMARY
    if x.p_agreeing >= x.recovery_readings:
        return Status.USING_PRIMARY_FALLBACK_UNTRUSTED, Source.PRIMARY
    if x.f_agreeing >= x.recovery_readings and not x.p_agreeing:
        return Status.USING_FALLBACK_PRIMARY_UNTRUSTED, Source.FALLBACK
    return Status.BOTH_UNTRUSTED, None


def _from_primary_frozen(x: _Inputs) -> _Decision:
    """Liquity CASE 4 (``usingTellorChainlinkFrozen``); an unconfirmed jump counts as broken."""
    if x.p is Health.BROKEN or (x.p is Health.JUMPED and not x.similar):
        if x.fallback_broken:
            return Status.BOTH_UNTRUSTED, None
        return Status.USING_FALLBACK_PRIMARY_UNTRUSTED, x.fallback_source
    if x.p is Health.FROZEN:
        if x.fallback_broken:
            return Status.USING_PRIMARY_FALLBACK_UNTRUSTED, None
        return Status.USING_FALLBACK_PRIMARY_FROZEN, x.fallback_source
    if x.fallback_broken:
        return Status.USING_PRIMARY_FALLBACK_UNTRUSTED, Source.PRIMARY
    if x.f is Health.FROZEN:
        return Status.USING_FALLBACK_PRIMARY_FROZEN, None
    if x.similar:
        return Status.PRIMARY_WORKING, Source.PRIMARY
    return Status.USING_FALLBACK_PRIMARY_UNTRUSTED, Source.FALLBACK


def _from_using_primary(x: _Inputs) -> _Decision:
    """Liquity CASE 5 (``usingChainlinkTellorUntrusted``)."""
    if x.p is Health.BROKEN:
        return Status.BOTH_UNTRUSTED, None
    if x.p is Health.FROZEN:
        return Status.USING_PRIMARY_FALLBACK_UNTRUSTED, None
    if x.similar:
        return Status.PRIMARY_WORKING, Source.PRIMARY
    if x.p is Health.JUMPED:
        return Status.BOTH_UNTRUSTED, None
    return Status.USING_PRIMARY_FALLBACK_UNTRUSTED, Source.PRIMARY


_TRANSITIONS: Final = {
    Status.PRIMARY_WORKING: _from_primary_working,
    Status.USING_FALLBACK_PRIMARY_UNTRUSTED: _from_using_fallback,
    Status.BOTH_UNTRUSTED: _from_both_untrusted,
    Status.USING_FALLBACK_PRIMARY_FROZEN: _from_primary_frozen,
    Status.USING_PRIMARY_FALLBACK_UNTRUSTED: _from_using_primary,
}


def _decide(state: AdapterState, primary: SourceReading, fallback: SourceReading) -> _Decision:
    """Liquity v1 ``fetchPrice`` decision table: the next status and the source to store from.

    "Live and unbroken" is Liquity's: the primary may have jumped (a jump confirmed by a similar
    fallback price is accepted); the fallback must be WORKING. ``state`` carries the sources'
    tracks after this reading.
    """
    p, f = primary.health, fallback.health
    close = _similar(primary, fallback, state.max_price_difference_wad)
    x = _Inputs(
        p=p,
        f=f,
        fallback_broken=f in (Health.BROKEN, Health.JUMPED),
        fallback_source=None if f is Health.FROZEN else Source.FALLBACK,
        similar=p in (Health.WORKING, Health.JUMPED) and f is Health.WORKING and close,
        close=close,
        p_agreeing=state.primary.agreeing,
        f_agreeing=state.fallback.agreeing,
        recovery_readings=state.recovery_readings,
    )
    return _TRANSITIONS[state.status](x)


def step(state: AdapterState, primary: Verdict, fallback: Verdict, max_move_wad: tuple[int, int]) -> StepResult:
    """One ``fetchPrice``: classify both verdicts, track both sources, move the state machine,
    store a trusted price.

    ``max_move_wad`` is each source's own move threshold ``(primary, fallback)``, which its
    :class:`Track` counts agreement with. Returns the trusted WAD price and its source, or
    ``(None, None)`` when neither source is trusted this step (the last good price then stays).
    """
    p, f = classify(primary), classify(fallback)
    tracked = replace(
        state,
        primary=track(state.primary, primary, max_move_wad[0]),
        fallback=track(state.fallback, fallback, max_move_wad[1]),
    )
    new_status, source = _decide(tracked, p, f)
    events: list[PriceEvent] = []
    if new_status is not state.status:
        events.append(StatusChanged(state.status, new_status))
    price_wad: int | None = None
    if source is not None:
        price_wad = (p if source is Source.PRIMARY else f).price_wad
        if price_wad is None:  # unreachable: a stored source is WORKING or a confirmed JUMP
            raise OracleError("oracle: trusted source without price")
        events.append(LastGoodPriceUpdated(price_wad, source))
    last_good = price_wad if price_wad is not None else state.last_good_price_wad
    new_state = replace(tracked, status=new_status, last_good_price_wad=last_good)
    return StepResult(new_state, price_wad, source, tuple(events))
