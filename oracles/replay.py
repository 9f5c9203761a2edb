"""Replay real price history onto the protocol: klines -> intrabar path -> push-feed rounds ->
oracle readings, with time travel, a reacting keeper and every invariant checked.

The same rounds drive the reference model here and, through the chain backends, the mock
aggregators on a chain. Nothing is resampled with floats: prices stay exact WAD integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from oracles.feed_models import PricePath, push_feed
from oracles.history import Kline
from protocol.actions import Action, AdvanceTime, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.errors import InvalidParameter, NovationError, ProtocolRevert
from protocol.events import BadDebtSettled, Event, Liquidated, ShortfallSettled
from protocol.invariants import check_state, check_transition
from protocol.keeper import keeper_actions
from protocol.oracle.rounds import RoundData, feed_to_wad

__all__ = ["ReplayReport", "kline_path", "push_rounds", "replay_on_model"]


def kline_path(klines: Sequence[Kline], bar_s: int) -> PricePath:
    """An intrabar path through each bar: open, then the extreme against the bar's direction
    first (a falling bar visits its high before its low), then the other extreme, then close.

    Points sit at 0, 1/4, 1/2 and 3/4 of each ``bar_s``-second bar; repeated prices are kept
    (a feed model decides what to publish).
    """
    if not klines:
        raise InvalidParameter("kline_path needs at least one bar")
    if bar_s < 4:
        raise InvalidParameter(f"bar_s must be at least 4 seconds, got {bar_s}")
    times: list[int] = []
    prices: list[int] = []
    for bar in klines:
        t = bar.open_time_ms // 1000
        falling = bar.close_wad < bar.open_wad
        first, second = (bar.high_wad, bar.low_wad) if falling else (bar.low_wad, bar.high_wad)
        for k, price in enumerate((bar.open_wad, first, second, bar.close_wad)):
            times.append(t + k * bar_s // 4)
            prices.append(price)
    return PricePath(tuple(times), tuple(prices))


@dataclass
class ReplayReport:
    """What a replay did to the protocol."""

    rounds: int = 0
    accepted: int = 0
    rejected: int = 0
    min_price_wad: int = 0
    liquidations: int = 0
    bad_debt_wad: int = 0
    invariant_checks: int = 0
    keeper_reverts: list[str] = field(default_factory=list)


def _apply(house: ClearingHouse, action: Action, report: ReplayReport) -> list[Event]:
    before = house.snapshot()
    events = house.apply(action)
    violated = check_state(house.state, house.params) | check_transition(before, house.state, events, house.params)
    report.invariant_checks += 1
    if violated:
        raise NovationError(f"invariant violated during replay after {action!r}: {violated}")
    return events


def replay_on_model(
    house: ClearingHouse,
    rounds: Sequence[RoundData],
    *,
    feed_id: int,
    oracle: str,
    keeper: str,
    liquidator: str,
    decimals: int = 8,
) -> ReplayReport:
    """Push ``rounds`` into ``house`` at their timestamps; after each, the keeper acts.

    The house clock must not be ahead of the first round. Each round advances time to its
    ``updated_at`` (one block per round) and becomes a ``PushPrice``; invariants are checked
    after every action. Raises NovationError on the first violated invariant.
    """
    report = ReplayReport()
    for rd in rounds:
        gap = rd.updated_at - house.state.now_s
        if gap < 0:
            raise InvalidParameter(f"round {rd.round_id} at {rd.updated_at} is before the clock {house.state.now_s}")
        _apply(house, AdvanceTime(gap, 1), report)
        price = feed_to_wad(rd.answer, decimals)
        events = _apply(house, PushPrice(oracle, feed_id, price, rd.updated_at), report)
        report.rounds += 1
        accepted = any(type(ev).__name__ == "PriceAccepted" for ev in events)
        report.accepted += accepted
        report.rejected += not accepted
        if accepted:
            report.min_price_wad = min(report.min_price_wad or price, price)
        for action in keeper_actions(house, keeper, liquidator):
            try:
                for ev in _apply(house, action, report):
                    report.liquidations += isinstance(ev, Liquidated)
                    report.bad_debt_wad += ev.debt_wad if isinstance(ev, BadDebtSettled | ShortfallSettled) else 0
            except ProtocolRevert as exc:
                report.keeper_reverts.append(exc.reason)
    return report


def push_rounds(klines: Sequence[Kline], *, bar_s: int, deviation_wad: int, heartbeat_s: int) -> tuple[RoundData, ...]:
    """Chainlink-style rounds (8 decimals) a push feed would publish over ``klines``."""
    return push_feed(kline_path(klines, bar_s), deviation_wad=deviation_wad, heartbeat_s=heartbeat_s)
