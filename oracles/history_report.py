"""Analysis of a Chainlink round history: stale rounds, heartbeat gaps, phase overlaps, depegs.

Three timelines are distinguished, because an upgraded proxy's old aggregator may keep
reporting after the new phase started:

* ``proxy view`` (:func:`current_phase_view`): what a reader of ``latestRoundData`` saw, i.e.
  each phase's rounds up to the first update of the next phase;
* ``per phase``: every phase's own rounds;
* ``overall``: all rounds of all phases merged and sorted by ``updatedAt``.

Times are Unix seconds; answers are in feed units and converted into WAD where a threshold is
compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.oracle.rounds import RoundData, feed_to_wad

__all__ = [
    "DEFAULT_DEPEG_THRESHOLD_WAD",
    "DEFAULT_GAP_THRESHOLD_S",
    "Gap",
    "HistoryReport",
    "PhaseOverlap",
    "PhaseSpan",
    "analyse_history",
    "below_threshold",
    "current_phase_view",
    "heartbeat_gaps",
    "phase_overlaps",
    "phase_spans",
    "stale_rounds",
]

#: Gaps longer than this (strictly) are reported: Chainlink's 24 h heartbeat.
DEFAULT_GAP_THRESHOLD_S: Final = 86_400
#: Answers strictly below this are reported as depegged: 0.97 USD.
DEFAULT_DEPEG_THRESHOLD_WAD: Final = 97 * WAD // 100


@dataclass(frozen=True, slots=True)
class Gap:
    """Time between two consecutive updates; ``before``/``after`` are the bounding rounds."""

    before: RoundData
    after: RoundData

    @property
    def duration_s(self) -> int:
        """Length of the gap in seconds."""
        return self.after.updated_at - self.before.updated_at


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """First and last ``updatedAt`` (s) and round count of one phase."""

    phase_id: int
    first_updated_at: int
    last_updated_at: int
    rounds: int


@dataclass(frozen=True, slots=True)
class PhaseOverlap:
    """Interval [start_s, end_s] during which both phases published rounds."""

    earlier_phase_id: int
    later_phase_id: int
    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class HistoryReport:
    """Everything :func:`analyse_history` found; gap tuples are sorted longest first."""

    rounds: int
    stale: tuple[RoundData, ...]
    phases: tuple[PhaseSpan, ...]
    overlaps: tuple[PhaseOverlap, ...]
    gaps_proxy_view: tuple[Gap, ...]
    gaps_per_phase: tuple[Gap, ...]
    gaps_overall: tuple[Gap, ...]
    min_answer_round: RoundData
    depegged: tuple[RoundData, ...]


def _require_rounds(rounds: Sequence[RoundData]) -> None:
    if not rounds:
        raise InvalidParameter("rounds must not be empty; load a history with load_chainlink_rounds")


def stale_rounds(rounds: Sequence[RoundData]) -> tuple[RoundData, ...]:
    """Rounds whose answer was carried over (``answeredInRound != roundId``)."""
    return tuple(r for r in rounds if r.answered_in_round != r.round_id)


def phase_spans(rounds: Sequence[RoundData]) -> tuple[PhaseSpan, ...]:
    """One span per phase, by increasing phase id."""
    _require_rounds(rounds)
    spans: dict[int, PhaseSpan] = {}
    for r in rounds:
        s = spans.get(r.phase_id)
        if s is None:
            spans[r.phase_id] = PhaseSpan(r.phase_id, r.updated_at, r.updated_at, 1)
        else:
            spans[r.phase_id] = PhaseSpan(
                s.phase_id,
                min(s.first_updated_at, r.updated_at),
                max(s.last_updated_at, r.updated_at),
                s.rounds + 1,
            )
    return tuple(spans[k] for k in sorted(spans))


def phase_overlaps(rounds: Sequence[RoundData]) -> tuple[PhaseOverlap, ...]:
    """Pairs of phases whose update intervals intersect (an old aggregator still reporting)."""
    spans = phase_spans(rounds)
    overlaps = []
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            start, end = (
                max(a.first_updated_at, b.first_updated_at),
                min(a.last_updated_at, b.last_updated_at),
            )
            if start <= end:
                overlaps.append(PhaseOverlap(a.phase_id, b.phase_id, start, end))
    return tuple(overlaps)


def current_phase_view(rounds: Sequence[RoundData]) -> tuple[RoundData, ...]:
    """Rounds a proxy reader saw: each phase's rounds before the next phase's first update."""
    spans = phase_spans(rounds)
    cutoff = {a.phase_id: b.first_updated_at for a, b in pairwise(spans)}
    view = [r for r in rounds if r.phase_id not in cutoff or r.updated_at < cutoff[r.phase_id]]
    return tuple(sorted(view, key=lambda r: (r.updated_at, r.round_id)))


def heartbeat_gaps(rounds: Sequence[RoundData], threshold_s: int = DEFAULT_GAP_THRESHOLD_S) -> tuple[Gap, ...]:
    """Gaps strictly longer than ``threshold_s`` between consecutive rounds, longest first.

    ``rounds`` must be in ``updatedAt`` order (one timeline).
    """
    if isinstance(threshold_s, bool) or not isinstance(threshold_s, int) or threshold_s < 0:
        raise InvalidParameter(f"threshold_s must be a non-negative integer, got {threshold_s!r}")
    gaps = []
    for before, after in pairwise(rounds):
        if after.updated_at < before.updated_at:
            raise InvalidParameter(
                f"rounds must be sorted by updated_at: round {after.round_id} "
                f"({after.updated_at}) follows {before.round_id} ({before.updated_at})"
            )
        if after.updated_at - before.updated_at > threshold_s:
            gaps.append(Gap(before, after))
    return tuple(sorted(gaps, key=lambda g: (-g.duration_s, g.before.updated_at)))


def below_threshold(
    rounds: Sequence[RoundData], decimals: int, threshold_wad: int = DEFAULT_DEPEG_THRESHOLD_WAD
) -> tuple[RoundData, ...]:
    """Rounds whose answer (converted into WAD) is strictly below ``threshold_wad``."""
    return tuple(r for r in rounds if feed_to_wad(r.answer, decimals) < threshold_wad)


def analyse_history(
    rounds: Sequence[RoundData],
    decimals: int,
    *,
    gap_threshold_s: int = DEFAULT_GAP_THRESHOLD_S,
    depeg_threshold_wad: int = DEFAULT_DEPEG_THRESHOLD_WAD,
) -> HistoryReport:
    """Run every analysis on one feed's history (answers with ``decimals``)."""
    _require_rounds(rounds)
    per_phase: list[Gap] = []
    for span in phase_spans(rounds):
        own = sorted((r for r in rounds if r.phase_id == span.phase_id), key=lambda r: r.updated_at)
        per_phase += heartbeat_gaps(own, gap_threshold_s)
    overall = sorted(rounds, key=lambda r: (r.updated_at, r.round_id))
    return HistoryReport(
        rounds=len(rounds),
        stale=stale_rounds(rounds),
        phases=phase_spans(rounds),
        overlaps=phase_overlaps(rounds),
        gaps_proxy_view=heartbeat_gaps(current_phase_view(rounds), gap_threshold_s),
        gaps_per_phase=tuple(sorted(per_phase, key=lambda g: (-g.duration_s, g.before.updated_at))),
        gaps_overall=heartbeat_gaps(overall, gap_threshold_s),
        min_answer_round=min(rounds, key=lambda r: (r.answer, r.updated_at)),
        depegged=below_threshold(rounds, decimals, depeg_threshold_wad),
    )
