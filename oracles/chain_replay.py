"""Replay price rounds on chain through the OracleAdapter and mirror every poke in the model.

* :class:`ReferenceAdapter` is the Python twin of ``OracleAdapter.poke`` built from
  :mod:`oracles.guards` and :mod:`oracles.adapter` (guards -> Liquity state machine -> OSM ->
  push decision). :meth:`ReferenceAdapter.poke` returns a :class:`PokeRecord`;
  :func:`chain_poke_record` extracts the same record from the contract's events and storage,
  so a differential test compares the two with ``==`` (bit-exact, reasons included).
* :func:`read_source` reads what the adapter reads (``latestRoundData``/``decimals``/``phaseId``
  or a Pyth price and EMA) through the :class:`~contracts_py.chains.Chain` interface.
* :class:`ChainFeedReplay` pushes rounds (from :func:`oracles.replay.push_rounds` or
  :func:`oracles.history.load_chainlink_rounds`) into AggregatorV3 mocks with time travel
  (``set_next_timestamp``), pokes the adapter, applies the same readings to the reference and
  asserts both agree; the caller gets each poke's record (and its pushed price) to drive the
  protocol model.

Push rule (as in the contract): a trusted step pushes the released price (the trusted price, or
the OSM's released value when a delay is set) with its observation time; an untrusted step
pushes a zero price at the block time, which the core rejects, making the market reduce-only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from contracts_py.chain_house import ChainClearingHouse
from contracts_py.chains import Chain, Contract, TxResult
from contracts_py.oracle_deploy import FeedSpec, SourceKind, SourceSpec
from oracles.adapter import (
    AdapterState,
    Health,
    OsmState,
    Source,
    Status,
    StepResult,
    classify,
    initial_state,
    osm_can_poke,
    osm_poke,
    step,
)
from oracles.guards import GuardStatus, Verdict, check_pyth, check_round
from oracles.replay import ReplayReport
from oracles.rounds import PythPrice, RoundData
from protocol import events as ev
from protocol.actions import Action, AdvanceTime, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.errors import InvalidParameter, NovationError, ProtocolRevert
from protocol.invariants import check_state, check_transition
from protocol.keeper import keeper_actions

__all__ = [
    "ChainFeedReplay",
    "PokeRecord",
    "ProtocolChainReplay",
    "ProtocolReplayReport",
    "ReferenceAdapter",
    "SourceRead",
    "SourceRecord",
    "chain_poke_record",
    "read_sequencer",
    "read_source",
    "shift_rounds",
    "status_code",
    "verdict_masks",
]

STATUS_CODES: dict[Status, int] = {s: i for i, s in enumerate(Status)}
HEALTH_CODES: dict[Health, int] = {h: i for i, h in enumerate(Health)}
SOURCE_CODES: dict[Source | None, int] = {None: 0, Source.PRIMARY: 1, Source.FALLBACK: 2}
N_GUARDS = 12


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
    """Everything one poke decides, comparable between the contract and the reference."""

    primary: SourceRecord
    fallback: SourceRecord
    status: int
    source: int
    last_good_price_wad: int
    released_price_wad: int
    released_at: int
    pushed: bool
    pushed_price_wad: int
    osm: tuple[int, int, int, int, int, bool]


@dataclass(frozen=True, slots=True)
class SourceRead:
    """What the adapter reads from one source: a Chainlink round with the feed's decimals and
    current phase, a Pyth price, or nothing (unset source)."""

    round: RoundData | None = None
    decimals: int = 8
    phase_id: int = 1
    pyth: PythPrice | None = None


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


class ReferenceAdapter:
    """Python twin of one feed of the OracleAdapter contract."""

    def __init__(self, spec: FeedSpec) -> None:
        self.spec = spec
        self.state: AdapterState = initial_state(spec.max_price_difference_wad)
        self.osm = OsmState(None, None, None)

    def verdict(self, source: SourceSpec, read: SourceRead, sequencer: RoundData | None, now_s: int) -> Verdict:
        """Guards of one source, against the current last good price."""
        last = self.state.last_good_price_wad
        grace = self.spec.grace_s
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
        pv = self.verdict(self.spec.primary, primary, sequencer, now_s)
        fv = self.verdict(self.spec.fallback, fallback, sequencer, now_s)
        result: StepResult = step(self.state, pv, fv)
        self.state = result.state
        price = result.price_wad
        at = 0
        if result.source is Source.PRIMARY:
            at = pv.updated_at_s
        elif result.source is Source.FALLBACK:
            at = fv.updated_at_s
        released, released_at = price or 0, at
        delay = self.spec.osm_delay_s
        if delay:
            if price is not None and osm_can_poke(self.osm, now_s, delay):
                self.osm = osm_poke(self.osm, price, now_s, delay)
            cur = self.osm.current
            released, released_at = (cur.price_wad, cur.observed_at_s) if cur else (0, 0)
        pushed, pushed_price = True, 0
        if price is not None:
            if released:
                pushed_price = released
            else:
                pushed = False
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
            _osm_tuple(self.osm),
        )

    @staticmethod
    def health(verdict: Verdict) -> int:
        """The contract's health code of a verdict."""
        return HEALTH_CODES[classify(verdict).health]


# --- reading and comparing the chain ----------------------------------------------------------


def read_source(chain: Chain, contract: Contract | None, source: SourceSpec) -> SourceRead:
    """What the adapter will read from ``source`` (``contract`` is its feed handle)."""
    if source.kind is SourceKind.NONE or contract is None:
        return SourceRead()
    if source.kind is SourceKind.CHAINLINK:
        rid, answer, started, updated, air = chain.call(contract, "latestRoundData")
        return SourceRead(
            round=RoundData(rid, answer, started, updated, air),
            decimals=chain.call(contract, "decimals"),
            phase_id=chain.call(contract, "phaseId"),
        )
    price, conf, expo, publish = chain.call(contract, "getPriceUnsafe", source.pyth_id)
    ema, ema_conf, _, _ = chain.call(contract, "getEmaPriceUnsafe", source.pyth_id)
    return SourceRead(pyth=PythPrice(price, conf, expo, publish, ema, ema_conf))


def read_sequencer(chain: Chain, contract: Contract | None) -> RoundData | None:
    """The uptime feed's latest round (None without a sequencer feed)."""
    if contract is None:
        return None
    rid, answer, started, updated, air = chain.call(contract, "latestRoundData")
    return RoundData(rid, answer, started, updated, air)


def _struct(value: Any) -> tuple[Any, ...]:
    return tuple(value.values()) if isinstance(value, dict) else tuple(value)


def chain_poke_record(chain: Chain, adapter: Contract, feed_id: int, result: TxResult) -> PokeRecord:
    """The :class:`PokeRecord` of a ``poke`` transaction (events plus the stored state)."""
    checked = [e for e in result.events_named("SourceChecked") if e["feed_id"] == feed_id]
    poked = [e for e in result.events_named("Poked") if e["feed_id"] == feed_id]
    if len(checked) != 2 or len(poked) != 1:
        raise NovationError(f"poke of feed {feed_id} logged {len(checked)} SourceChecked and {len(poked)} Poked events")
    recs = [SourceRecord(e["failed"], e["skipped"], e["price_wad"], e["updated_at"], e["reason"]) for e in checked]
    st = _struct(chain.call(adapter, "states", feed_id))
    p = poked[0]
    return PokeRecord(
        recs[0],
        recs[1],
        st[0],
        p["source"],
        st[1],
        p["released_price_wad"],
        p["released_at"],
        p["pushed"],
        p["pushed_price_wad"],
        (st[2], st[3], st[4], st[5], st[6], st[7]),
    )


@dataclass
class ChainFeedReplay:
    """One adapter feed on a chain and its reference twin, poked in lock-step.

    ``primary``/``fallback``/``sequencer`` are the feed contracts (AggregatorV3 mocks or a Pyth
    mock) the adapter's :class:`FeedSpec` points at; ``keeper`` sends the pokes.
    """

    chain: Chain
    adapter: Contract
    feed_id: int
    spec: FeedSpec
    primary: Contract
    fallback: Contract | None = None
    sequencer: Contract | None = None
    keeper: str | None = None

    def __post_init__(self) -> None:
        self.reference = ReferenceAdapter(self.spec)
        self.records: list[PokeRecord] = []

    def poke(self, at_s: int | None = None) -> tuple[PokeRecord, TxResult]:
        """Poke on chain (at ``at_s`` when given) and in the reference; assert they agree."""
        if at_s is not None:
            self.chain.set_next_timestamp(at_s)
        p = read_source(self.chain, self.primary, self.spec.primary)
        f = read_source(self.chain, self.fallback, self.spec.fallback)
        seq = read_sequencer(self.chain, self.sequencer)
        result = self.chain.transact(self.adapter, "poke", self.feed_id, sender=self.keeper)
        now = self.chain.timestamp() if at_s is None else at_s
        expected = self.reference.poke(p, f, seq, now)
        got = chain_poke_record(self.chain, self.adapter, self.feed_id, result)
        if got != expected:
            raise NovationError(f"adapter poke at {now} differs from the reference:\nchain {got}\nmodel {expected}")
        self.records.append(got)
        return got, result

    def replay(
        self, rounds: Sequence[RoundData], *, mirror_fallback: bool = True
    ) -> Iterator[tuple[RoundData, PokeRecord]]:
        """For each round: publish it (primary, and the fallback when ``mirror_fallback``) in
        one block at ``updated_at``, then poke in the next second; yields each round's record."""
        for rd in rounds:
            self.chain.set_next_timestamp(max(rd.updated_at, self.chain.timestamp() + 1))
            self.chain.transact(self.primary, "push_answer", rd.answer, rd.updated_at)
            if mirror_fallback and self.fallback is not None and self.spec.fallback.kind is SourceKind.CHAINLINK:
                self.chain.transact(self.fallback, "push_answer", rd.answer, rd.updated_at)
            record, _ = self.poke(self.chain.timestamp() + 1)
            yield rd, record


# --- the protocol on chain, driven through the adapter -----------------------------------------


def shift_rounds(rounds: Sequence[RoundData], start_s: int) -> tuple[RoundData, ...]:
    """``rounds`` moved in time so that the first is at ``start_s`` (chains cannot go back in time)."""
    if not rounds:
        return ()
    offset = start_s - rounds[0].updated_at
    return tuple(
        RoundData(r.round_id, r.answer, r.started_at + offset, r.updated_at + offset, r.answered_in_round)
        for r in rounds
    )


@dataclass
class ProtocolReplayReport(ReplayReport):
    """What a protocol replay through the adapter did (model and chain agree on all of it):
    the model replay's counts plus the adapter's pokes."""

    pokes: int = 0
    untrusted_pokes: int = 0


class ProtocolChainReplay:
    """The reference model and the protocol on a chain (:class:`ChainClearingHouse`), fed by the
    same adapter pokes, with a keeper reacting after every round.

    Every transaction gets its own model block: :meth:`step` advances both clocks by one second
    and one block first (automining backends need it, titanoboa follows the same schedule).
    Each action goes to both sides; reverts and events must be identical and every invariant is
    checked on the model after every action. The adapter must hold the oracle role on both sides
    (``SetRole(governance, "oracle", adapter, True)``).
    """

    def __init__(self, house: ChainClearingHouse, model: ClearingHouse, feed: ChainFeedReplay) -> None:
        if house.now_s != model.state.now_s:
            raise InvalidParameter(f"model clock {model.state.now_s} != chain clock {house.now_s}")
        self.house = house
        self.model = model
        self.feed = feed
        self.report = ProtocolReplayReport()

    @property
    def now_s(self) -> int:
        """Time of the next transaction (both clocks)."""
        return self.house.now_s

    def _model(self, action: Action) -> list[ev.Event]:
        before = self.model.snapshot()
        events = self.model.apply(action)
        violated = check_state(self.model.state, self.model.params) | check_transition(
            before, self.model.state, events, self.model.params
        )
        self.report.invariant_checks += 1
        if violated:
            raise NovationError(f"invariant violated after {action!r}: {violated}")
        return events

    def advance(self, seconds: int, blocks: int = 1) -> None:
        """Move both clocks."""
        action = AdvanceTime(seconds, blocks)
        self._model(action)
        self.house.apply(action)

    def apply(self, action: Action) -> list[ev.Event]:
        """One action on both sides (after a one-second, one-block step); raises ProtocolRevert
        when both refuse it with the same reason, NovationError when they disagree."""
        self.advance(1)
        model_exc = chain_exc = None
        model_events: list[ev.Event] = []
        chain_events: list[ev.Event] = []
        try:
            model_events = self._model(action)
        except ProtocolRevert as exc:
            model_exc = exc
        try:
            chain_events = self.house.apply(action)
        except ProtocolRevert as exc:
            chain_exc = exc
        model_reason = None if model_exc is None else model_exc.reason
        chain_reason = None if chain_exc is None else chain_exc.reason
        if model_reason != chain_reason:
            raise NovationError(f"{action!r}: model reverted {model_reason!r}, chain {chain_reason!r}")
        if model_exc is not None:
            raise model_exc
        self._same_events(action, model_events, chain_events)
        return model_events

    @staticmethod
    def _same_events(what: object, model_events: Sequence[ev.Event], chain_events: Sequence[ev.Event]) -> None:
        expected = [e for e in model_events if not isinstance(e, ev.TimeAdvanced)]
        if list(chain_events) != expected:
            raise NovationError(f"{what!r}: events differ\nchain {list(chain_events)}\nmodel {expected}")

    def external(
        self, contract: Contract, fn: str, *args: Any, sender: str | None = None
    ) -> tuple[TxResult, list[ev.Event]]:
        """A transaction to another contract (a feed, the adapter) in its own model block; the
        receipt and the core's events during it."""
        self.advance(1)
        return self.house.transact(contract, fn, *args, sender=sender)

    def poke(self) -> PokeRecord:
        """Poke the adapter on chain; mirror the pushed price on the model; compare both sides."""
        f = self.feed
        p = read_source(f.chain, f.primary, f.spec.primary)
        fb = read_source(f.chain, f.fallback, f.spec.fallback)
        seq = read_sequencer(f.chain, f.sequencer)
        result, core_events = self.external(f.adapter, "poke", f.feed_id, sender=f.keeper)
        expected = f.reference.poke(p, fb, seq, self.now_s)
        got = chain_poke_record(f.chain, f.adapter, f.feed_id, result)
        if got != expected:
            raise NovationError(f"adapter poke differs from the reference:\nchain {got}\nmodel {expected}")
        f.records.append(got)
        self.report.pokes += 1
        self.report.untrusted_pokes += got.source == 0
        if got.pushed:
            ts = got.released_at if got.pushed_price_wad else self.now_s
            model_events = self._model(PushPrice(f.adapter.address, f.feed_id, got.pushed_price_wad, ts))
            self._same_events("poke", model_events, core_events)
            accepted = any(isinstance(e, ev.PriceAccepted) for e in model_events)
            self.report.accepted += accepted
            self.report.rejected += not accepted
            if accepted:
                low = self.report.min_price_wad
                self.report.min_price_wad = min(low or got.pushed_price_wad, got.pushed_price_wad)
        return got

    def keeper(self, keeper: str, liquidator: str) -> None:
        """The keeper's reaction (computed on the model), sent to both sides."""
        for action in keeper_actions(self.model, keeper, liquidator):
            try:
                for e in self.apply(action):
                    self.report.liquidations += isinstance(e, ev.Liquidated)
                    self.report.bad_debt_wad += e.debt_wad if isinstance(e, ev.BadDebtSettled) else 0
            except ProtocolRevert as exc:
                self.report.keeper_reverts.append(exc.reason)

    def replay(self, rounds: Sequence[RoundData], *, keeper: str, liquidator: str) -> ProtocolReplayReport:
        """For each round: wait for its time, publish it on the primary (and the mirrored
        fallback), poke the adapter, let the keeper act."""
        f = self.feed
        for rd in rounds:
            gap = rd.updated_at - self.now_s
            if gap > 0:
                self.advance(gap)
            self.external(f.primary, "push_answer", rd.answer, rd.updated_at)
            if f.fallback is not None and f.spec.fallback.kind is SourceKind.CHAINLINK:
                self.external(f.fallback, "push_answer", rd.answer, rd.updated_at)
            self.poke()
            self.report.rounds += 1
            self.keeper(keeper, liquidator)
        return self.report

    def differences(self, addresses: Sequence[str], market_ids: Sequence[int] | None = None) -> list[str]:
        """:meth:`ChainClearingHouse.differences <contracts_py.chain_house.ChainClearingHouse.differences>`
        of the model's state (empty when equal); compare the markets the replay trades."""
        return self.house.differences(self.model.state, addresses, market_ids)
