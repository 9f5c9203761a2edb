"""Replay price rounds on chain through the OracleAdapter and mirror every poke in the model.

* :func:`read_source` reads what the adapter reads (``latestRoundData``/``decimals``/``phaseId``
  or a Pyth price and EMA) through the :class:`~contracts_py.chains.Chain` interface; a call that
  reverts or returns data the ABI type cannot hold is a failed read, as on chain (F-11);
  :func:`chain_poke_record` extracts a poke's :class:`~protocol.oracle.oracle_adapter.PokeRecord`
  from the contract's events and storage, so a differential test compares it with the reference
  twin's (:class:`~protocol.oracle.oracle_adapter.ReferenceAdapter`) with ``==``.
* :class:`ChainFeedReplay` pushes rounds (from :func:`oracles.replay.push_rounds` or
  :func:`oracles.history.load_chainlink_rounds`) into AggregatorV3 mocks with time travel
  (``set_next_timestamp``), pokes the adapter, applies the same readings to the reference and
  asserts both agree; the caller gets each poke's record (and its pushed price) to drive the
  protocol model.
* :class:`ProtocolChainReplay` drives a deployed clearing house from those pokes and its model twin.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from contracts_py.chain_house import ChainClearingHouse
from contracts_py.chains import Chain, Contract, TxResult
from oracles.replay import ReplayReport
from protocol import events as ev
from protocol.actions import Action, AdvanceTime, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.constants import MAX_DECIMALS
from protocol.errors import ChainError, InvalidParameter, NovationError, ProtocolRevert
from protocol.invariants import check_state, check_transition
from protocol.keeper import keeper_actions
from protocol.oracle.oracle_adapter import (
    FeedSpec,
    PokeRecord,
    ReferenceAdapter,
    SourceKind,
    SourceRead,
    SourceRecord,
    SourceSpec,
)
from protocol.oracle.rounds import PythPrice, RoundData

__all__ = [
    "UNREADABLE_SEQUENCER",
    "ChainFeedReplay",
    "ProtocolChainReplay",
    "ProtocolReplayReport",
    "chain_poke_record",
    "read_sequencer",
    "read_source",
    "shift_rounds",
]


# --- reading and comparing the chain ----------------------------------------------------------


def read_source(chain: Chain, contract: Contract | None, source: SourceSpec) -> SourceRead:
    """What the adapter will read from ``source`` (``contract`` is its feed handle); a call that
    reverts or returns malformed data (or decimals above 18) gives a failed read."""
    if source.kind is SourceKind.NONE or contract is None:
        return SourceRead()
    try:
        if source.kind is SourceKind.CHAINLINK:
            rid, answer, started, updated, air = chain.call(contract, "latestRoundData")
            decimals = chain.call(contract, "decimals")
            phase_id = chain.call(contract, "phaseId")
            if decimals > MAX_DECIMALS:
                return SourceRead(failed=True)
            return SourceRead(round=RoundData(rid, answer, started, updated, air), decimals=decimals, phase_id=phase_id)
        price, conf, expo, publish = chain.call(contract, "getPriceUnsafe", source.pyth_id)
        ema, ema_conf, _, _ = chain.call(contract, "getEmaPriceUnsafe", source.pyth_id)
    except (ProtocolRevert, ChainError):
        return SourceRead(failed=True)
    return SourceRead(pyth=PythPrice(price, conf, expo, publish, ema, ema_conf))


#: What the adapter makes of an uptime feed it cannot read: an invalid status (no source trusted).
UNREADABLE_SEQUENCER = RoundData(0, -1, 0, 0, 0)


def read_sequencer(chain: Chain, contract: Contract | None) -> RoundData | None:
    """The uptime feed's latest round (None without a sequencer feed; :data:`UNREADABLE_SEQUENCER`
    when its call reverts or returns malformed data)."""
    if contract is None:
        return None
    try:
        rid, answer, started, updated, air = chain.call(contract, "latestRoundData")
    except (ProtocolRevert, ChainError):
        return UNREADABLE_SEQUENCER
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
    primary, fallback = (tuple(int(v) for v in _struct(t)) for t in (st[8], st[9]))
    if (p["primary_agreeing"], p["fallback_agreeing"]) != (primary[2], fallback[2]):
        raise NovationError(f"poke of feed {feed_id} logged agreeing readings that are not the stored tracks'")
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
        p["pushed_at"],
        (st[2], st[3], st[4], st[5], st[6], st[7]),
        ((primary[0], primary[1], primary[2]), (fallback[0], fallback[1], fallback[2])),
        (st[10], st[11]),
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
            model_events = self._model(PushPrice(f.adapter.address, f.feed_id, got.pushed_price_wad, got.pushed_at))
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
                    self.report.bad_debt_wad += (
                        e.debt_wad if isinstance(e, ev.BadDebtSettled | ev.ShortfallSettled) else 0
                    )
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
