"""The feed adapter: guarded primary/fallback sources pushed into the core, and its reference twin.

Mirrors ``contracts_py/contracts/oracle/oracle_adapter.vy``. A feed is described by a
:class:`FeedSpec` (primary and optional fallback :class:`SourceSpec`, optional L2 sequencer uptime
feed, Liquity's maximum price difference and an optional OSM delay). :class:`ReferenceAdapter` is
the Python twin of the contract's ``poke``: guards (:mod:`protocol.oracle.guards`) -> Liquity
state machine (:mod:`protocol.oracle.machine`) -> OSM -> push decision; :meth:`ReferenceAdapter.poke`
returns a :class:`PokeRecord` that a differential test compares with the one read from the
contract's events and storage, with ``==`` (bit-exact, reasons included).

Push rule (as in the contract, docs/SPEC.md §3): a trusted step pushes the released price (the
trusted price, or the OSM's released value when a delay is set) with its observation time, but
only what the core has not got yet: timestamps pushed strictly increase, so a reading observed no
later than the last pushed one (the same round again, or a fallback observed before the
primary's last pushed round, F-12) is not pushed. After a zero push the released price is pushed
again, stamped one second after the last pushed timestamp if it is not newer (never later than
now), so trust returns at once. An untrusted step pushes a zero price at the block time, which
the core rejects, making the market reduce-only. A source whose call reverts or returns
malformed data is a broken source (F-11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from protocol.constants import WAD
from protocol.errors import InvalidParameter, OracleError
from protocol.oracle.guards import (
    MAX_GRACE_S,
    MAX_HEARTBEAT_S,
    FeedConfig,
    GuardStatus,
    Verdict,
    check_failed_call,
    check_pyth,
    check_round,
)
from protocol.oracle.machine import (
    MAX_RECOVERY_READINGS,
    AdapterState,
    Health,
    Source,
    Status,
    StepResult,
    Track,
    classify,
    initial_state,
    step,
)
from protocol.oracle.rounds import PythPrice, RoundData

__all__ = [
    "NO_SOURCE",
    "REASON_OSM_NOT_PASSED",
    "ZERO_ADDRESS",
    "FeedSpec",
    "OsmState",
    "OsmValue",
    "PokeRecord",
    "ReferenceAdapter",
    "SourceKind",
    "SourceRead",
    "SourceRecord",
    "SourceSpec",
    "osm_can_poke",
    "osm_poke",
    "status_code",
    "verdict_masks",
]

ZERO_ADDRESS: Final = "0x" + "00" * 20
ZERO_ID: Final = b"\x00" * 32
REASON_OSM_NOT_PASSED: Final = "oracle: osm delay not passed"


class SourceKind(Enum):
    """What a source reads; the value is the contract's ``kind`` code."""

    NONE = 0
    CHAINLINK = 1
    PYTH = 2


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One price source and its guard thresholds (ratios are WAD fractions, None = guard off)."""

    kind: SourceKind
    feed: str = ZERO_ADDRESS
    pyth_id: bytes = ZERO_ID
    heartbeat_s: int = 3_600
    max_move_wad: int = WAD // 2
    max_ema_deviation_wad: int | None = None
    max_conf_ratio_wad: int | None = None

    def __post_init__(self) -> None:
        if self.kind is SourceKind.NONE:
            return
        if len(self.pyth_id) != 32:
            raise InvalidParameter(f"pyth_id must be 32 bytes, got {len(self.pyth_id)}")
        # FeedConfig validates every threshold with the same bounds as the contract.
        self.config(0, None)

    def config(self, decimals: int, sequencer_grace_s: int | None) -> FeedConfig:
        """The reference model's guard configuration of this source."""
        return FeedConfig(
            decimals=decimals,
            heartbeat_s=self.heartbeat_s,
            max_move_wad=self.max_move_wad,
            max_ema_deviation_wad=self.max_ema_deviation_wad,
            max_conf_ratio_wad=self.max_conf_ratio_wad,
            sequencer_grace_s=sequencer_grace_s,
        )


NO_SOURCE: Final = SourceSpec(SourceKind.NONE)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed of the adapter: sources, sequencer, similarity threshold, OSM delay (0 = off) and
    the consecutive agreeing readings a source needs to lead the feed out of BOTH_UNTRUSTED."""

    primary: SourceSpec
    fallback: SourceSpec = field(default=NO_SOURCE)
    sequencer: str | None = None
    sequencer_grace_s: int = 3_600
    max_price_difference_wad: int = 5 * WAD // 100
    osm_delay_s: int = 0
    recovery_readings: int = 3

    def __post_init__(self) -> None:
        if self.primary.kind is SourceKind.NONE:
            raise InvalidParameter("FeedSpec.primary must be a Chainlink or Pyth source")
        if not 0 <= self.sequencer_grace_s <= MAX_GRACE_S:
            raise InvalidParameter(f"sequencer_grace_s must be in [0, {MAX_GRACE_S}]")
        if not 0 <= self.max_price_difference_wad <= WAD:
            raise InvalidParameter(f"max_price_difference_wad must be in [0, {WAD}]")
        if not 0 <= self.osm_delay_s <= MAX_HEARTBEAT_S:
            raise InvalidParameter(f"osm_delay_s must be in [0, {MAX_HEARTBEAT_S}]")
        if not 1 <= self.recovery_readings <= MAX_RECOVERY_READINGS:
            raise InvalidParameter(f"recovery_readings must be in [1, {MAX_RECOVERY_READINGS}]")

    @property
    def grace_s(self) -> int | None:
        """Sequencer grace of the guard config: None when no uptime feed is read."""
        return None if self.sequencer is None else self.sequencer_grace_s


# --- OSM: one-hop delayed price --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OsmValue:
    """A price observed by the OSM: WAD price and the time (s) it was observed."""

    price_wad: int
    observed_at_s: int


@dataclass(frozen=True, slots=True)
class OsmState:
    """MakerDAO OSM state: the released value, the queued value and the last poke time (s)."""

    current: OsmValue | None
    queued: OsmValue | None
    last_poke_s: int | None


def osm_can_poke(state: OsmState, now_s: int, delay_s: int) -> bool:
    """True when ``delay_s`` seconds have passed since the last poke (or there was none)."""
    return state.last_poke_s is None or state.last_poke_s + delay_s <= now_s


def osm_poke(state: OsmState, value: OsmValue | None, now_s: int, delay_s: int) -> OsmState:
    """Release the queued value and queue ``value`` (a trusted price and its observation time).

    The released ``current`` value was therefore queued at the previous poke, at least
    ``delay_s`` seconds ago, and keeps its own observation time (F-14: the core's heartbeat
    judges the age of the price itself, not of its queueing). As in Maker's OSM, an untrusted
    reading (``value`` None) leaves the state unchanged. Unlike Maker, poke times are not
    aligned to hop boundaries. Raises OracleError(``"oracle: osm delay not passed"``) when called
    earlier than ``delay_s`` after the last poke.
    """
    if isinstance(delay_s, bool) or not isinstance(delay_s, int) or delay_s <= 0:
        raise InvalidParameter(f"delay_s must be a positive integer, got {delay_s!r}")
    if value is not None and (value.price_wad <= 0 or not 0 <= value.observed_at_s <= now_s):
        raise InvalidParameter(f"value must have a positive price observed by now_s={now_s}, got {value}")
    if not osm_can_poke(state, now_s, delay_s):
        raise OracleError(REASON_OSM_NOT_PASSED)
    if value is None:
        return state
    return OsmState(state.queued, value, now_s)


# --- the reference twin of poke ------------------------------------------------------------


STATUS_CODES: dict[Status, int] = {s: i for i, s in enumerate(Status)}
HEALTH_CODES: dict[Health, int] = {h: i for i, h in enumerate(Health)}
SOURCE_CODES: dict[Source | None, int] = {None: 0, Source.PRIMARY: 1, Source.FALLBACK: 2}
N_GUARDS = 13


def status_code(status: Status) -> int:
    """The contract's status code (0 PRIMARY_WORKING ... 4 USING_PRIMARY_FALLBACK_UNTRUSTED)."""
    return STATUS_CODES[status]


def verdict_masks(verdict: Verdict) -> tuple[int, int]:
    """``(failed, skipped)`` bit masks (bit i = guard i in contract order); a verdict without
    results (an unset source) has every guard skipped, as on chain."""
    if not verdict.results:
        return 0, (1 << N_GUARDS) - 1
    if len(verdict.results) != N_GUARDS:
        raise InvalidParameter(f"a verdict has {N_GUARDS} guard results, got {len(verdict.results)}")
    failed = skipped = 0
    for i, r in enumerate(verdict.results):
        failed |= (r.status is GuardStatus.FAILED) << i
        skipped |= (r.status is GuardStatus.SKIPPED) << i
    return failed, skipped


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One source's verdict as the contract logs it (``SourceChecked``)."""

    failed: int
    skipped: int
    price_wad: int
    updated_at: int
    reason: str

    @classmethod
    def of(cls, verdict: Verdict) -> SourceRecord:
        """The record of a Python verdict."""
        failed, skipped = verdict_masks(verdict)
        return cls(failed, skipped, verdict.price_wad or 0, verdict.updated_at_s, verdict.failure or "")


@dataclass(frozen=True, slots=True)
class PokeRecord:
    """Everything one poke decides, comparable between the contract and the reference.

    ``pushed_at`` is the timestamp sent with the push (0 when nothing was pushed); ``tracks`` the
    stored primary and fallback :class:`~protocol.oracle.machine.Track` as ``(price, at,
    agreeing)``; ``push_state`` the stored ``(last pushed timestamp, zero pushed since)``.
    """

    primary: SourceRecord
    fallback: SourceRecord
    status: int
    source: int
    last_good_price_wad: int
    released_price_wad: int
    released_at: int
    pushed: bool
    pushed_price_wad: int
    pushed_at: int
    osm: tuple[int, int, int, int, int, bool]
    tracks: tuple[tuple[int, int, int], tuple[int, int, int]]
    push_state: tuple[int, bool]


@dataclass(frozen=True, slots=True)
class SourceRead:
    """What the adapter reads from one source: a Chainlink round with the feed's decimals and
    current phase, a Pyth price, or nothing (unset source). ``failed``: a call reverted or
    returned data that does not decode as its ABI type (the source is broken, F-11)."""

    round: RoundData | None = None
    decimals: int = 8
    phase_id: int = 1
    pyth: PythPrice | None = None
    failed: bool = False


def _osm_tuple(osm: OsmState) -> tuple[int, int, int, int, int, bool]:
    cur, queued = osm.current, osm.queued
    return (
        cur.price_wad if cur else 0,
        cur.observed_at_s if cur else 0,
        queued.price_wad if queued else 0,
        queued.observed_at_s if queued else 0,
        osm.last_poke_s or 0,
        osm.last_poke_s is not None,
    )


def _track_tuple(t: Track) -> tuple[int, int, int]:
    return t.price_wad, t.at_s, t.agreeing


class ReferenceAdapter:
    """Python twin of one feed of the OracleAdapter contract."""

    def __init__(self, spec: FeedSpec) -> None:
        self.spec = spec
        self.state: AdapterState = initial_state(spec.max_price_difference_wad, spec.recovery_readings)
        self.osm = OsmState(None, None, None)
        #: Timestamp of the last price pushed (0: none yet) and whether a zero was pushed since.
        self.pushed_at = 0
        self.zero_pushed = False

    def verdict(self, source: SourceSpec, read: SourceRead, sequencer: RoundData | None, now_s: int) -> Verdict:
        """Guards of one source, against the current last good price."""
        last = self.state.last_good_price_wad
        grace = self.spec.grace_s
        if source.kind is not SourceKind.NONE and read.failed:
            return check_failed_call(source.config(0, grace), now_s=now_s, sequencer=sequencer)
        if source.kind is SourceKind.CHAINLINK:
            if read.round is None:
                raise InvalidParameter("a Chainlink source needs a round")
            return check_round(
                source.config(read.decimals, grace),
                read.round,
                now_s=now_s,
                current_phase_id=read.phase_id,
                last_good_price_wad=last,
                sequencer=sequencer,
            )
        if source.kind is SourceKind.PYTH:
            if read.pyth is None:
                raise InvalidParameter("a Pyth source needs a price")
            return check_pyth(
                source.config(0, grace), read.pyth, now_s=now_s, last_good_price_wad=last, sequencer=sequencer
            )
        return Verdict((), None, 0)

    def poke(self, primary: SourceRead, fallback: SourceRead, sequencer: RoundData | None, now_s: int) -> PokeRecord:
        """One ``poke`` at ``now_s``: guards, state machine, OSM and the push decision."""
        spec = self.spec
        pv = self.verdict(spec.primary, primary, sequencer, now_s)
        fv = self.verdict(spec.fallback, fallback, sequencer, now_s)
        result: StepResult = step(self.state, pv, fv, (spec.primary.max_move_wad, spec.fallback.max_move_wad))
        self.state = result.state
        price = result.price_wad
        at = 0
        if result.source is Source.PRIMARY:
            at = pv.updated_at_s
        elif result.source is Source.FALLBACK:
            at = fv.updated_at_s
        released, released_at = price or 0, at
        delay = spec.osm_delay_s
        if delay:
            if price is not None and osm_can_poke(self.osm, now_s, delay):
                self.osm = osm_poke(self.osm, OsmValue(price, at), now_s, delay)
            cur = self.osm.current
            released, released_at = (cur.price_wad, cur.observed_at_s) if cur else (0, 0)
        pushed, pushed_price, pushed_at = self._push(price is not None, released, released_at, now_s)
        return PokeRecord(
            SourceRecord.of(pv),
            SourceRecord.of(fv),
            status_code(result.state.status),
            SOURCE_CODES[result.source],
            result.state.last_good_price_wad or 0,
            released,
            released_at,
            pushed,
            pushed_price,
            pushed_at,
            _osm_tuple(self.osm),
            (_track_tuple(self.state.primary), _track_tuple(self.state.fallback)),
            (self.pushed_at, self.zero_pushed),
        )

    def _push(self, trusted: bool, released: int, released_at: int, now_s: int) -> tuple[bool, int, int]:
        """The push rule: ``(pushed, price, timestamp)`` sent to the core (``(False, 0, 0)``: none)."""
        if not trusted:
            self.zero_pushed = True
            return True, 0, now_s
        stamp = max(released_at, self.pushed_at + 1)
        if not released or not (released_at > self.pushed_at or self.zero_pushed) or stamp > now_s:
            return False, 0, 0
        self.pushed_at, self.zero_pushed = stamp, False
        return True, released, stamp

    @staticmethod
    def health(verdict: Verdict) -> int:
        """The contract's health code of a verdict."""
        return HEALTH_CODES[classify(verdict).health]
