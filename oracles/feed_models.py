"""Feed models for simulation: Chainlink-style push feeds with their failure modes, mark prices.

Everything random takes a ``numpy.random.Generator`` argument (never the global RNG), so a run is
reproducible from its seed. Anything the protocol consumes is an exact integer: prices in WAD,
feed answers in feed units, times in seconds.

* :func:`push_feed`: a new round when the price moved by at least ``deviation_wad`` (relative to
  the last answer) or ``heartbeat_s`` elapsed, with optional outage windows (no rounds);
* :func:`with_latency` / :func:`latest_visible`: rounds become readable ``delay`` seconds later;
* :func:`apply_stale`: rounds inside windows carry the last answer over (``answeredInRound`` old);
* :func:`inject_spike`: one round multiplied by ``1 + size``;
* :func:`ema_series`, :func:`twap_wad`, :func:`median_wad`: mark-price models.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext

import numpy as np

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.oracle.rounds import RoundData, compose_round_id
from protocol.units import Rounding, from_wad, mul_div, smul_div

__all__ = [
    "FeedUpdate",
    "PricePath",
    "Window",
    "apply_stale",
    "deviates",
    "ema_series",
    "half_life_decay_wad",
    "inject_spike",
    "latest_visible",
    "median_wad",
    "push_feed",
    "random_walk_path",
    "random_windows",
    "twap_wad",
    "with_latency",
]

#: A half-open time interval ``[start_s, end_s)`` in seconds.
Window = tuple[int, int]


def _require_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidParameter(f"{name} must be an integer >= {low}, got {value!r}")


def _check_windows(windows: Sequence[Window]) -> None:
    for start, end in windows:
        _require_int("window start_s", start, 0)
        if isinstance(end, bool) or not isinstance(end, int) or end <= start:
            raise InvalidParameter(f"window ({start}, {end!r}) must have an integer end_s > start_s")


@dataclass(frozen=True, slots=True)
class PricePath:
    """A reference price path: strictly increasing sample times (s) and positive WAD prices.

    The price holds from each sample time until the next one.
    """

    times_s: tuple[int, ...]
    prices_wad: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.times_s or len(self.times_s) != len(self.prices_wad):
            raise InvalidParameter(
                f"PricePath needs as many prices as times (at least one), got "
                f"{len(self.times_s)} times and {len(self.prices_wad)} prices"
            )
        for i, (t, p) in enumerate(zip(self.times_s, self.prices_wad, strict=True)):
            _require_int(f"PricePath.times_s[{i}]", t, 0)
            _require_int(f"PricePath.prices_wad[{i}]", p, 1)
            if i and t <= self.times_s[i - 1]:
                raise InvalidParameter(f"PricePath.times_s must strictly increase; index {i} has {t}")

    def price_at(self, t_s: int) -> int:
        """The price prevailing at ``t_s`` (the last sample at or before it), WAD."""
        i = bisect_right(self.times_s, t_s) - 1
        if i < 0:
            raise InvalidParameter(f"t_s={t_s} is before the path starts at {self.times_s[0]}")
        return self.prices_wad[i]


def random_walk_path(
    rng: np.random.Generator,
    *,
    start_price_wad: int,
    start_s: int,
    step_s: int,
    n_steps: int,
    sigma_per_step: float,
) -> PricePath:
    """Geometric random walk with log-returns ``N(0, sigma_per_step**2)`` sampled every ``step_s``.

    Floats are used only to draw the multiplicative factors; each factor is converted exactly
    (``float.as_integer_ratio``) and applied to the WAD start price rounding DOWN.
    """
    _require_int("start_price_wad", start_price_wad, 1)
    _require_int("start_s", start_s, 0)
    _require_int("step_s", step_s, 1)
    _require_int("n_steps", n_steps, 0)
    if not 0.0 <= sigma_per_step < 1.0:
        raise InvalidParameter(f"sigma_per_step must be in [0, 1), got {sigma_per_step!r}")
    factors = np.exp(np.cumsum(rng.standard_normal(n_steps) * sigma_per_step))
    prices = [start_price_wad]
    for f in factors.tolist():
        num, den = float(f).as_integer_ratio()
        prices.append(max(1, mul_div(start_price_wad, num, den, Rounding.DOWN)))
    times = tuple(start_s + k * step_s for k in range(n_steps + 1))
    return PricePath(times, tuple(prices))


def random_windows(
    rng: np.random.Generator, *, start_s: int, end_s: int, count: int, duration_s: int
) -> tuple[Window, ...]:
    """``count`` windows of ``duration_s``, starts uniform in ``[start_s, end_s - duration_s]``."""
    _require_int("count", count, 0)
    _require_int("duration_s", duration_s, 1)
    _require_int("start_s", start_s, 0)
    _require_int("end_s", end_s, start_s + duration_s)
    starts = sorted(rng.integers(start_s, end_s - duration_s, size=count, endpoint=True).tolist())
    return tuple((s, s + duration_s) for s in starts)


def deviates(answer: int, last_answer: int, deviation_wad: int) -> bool:
    """``|answer - last| / last >= deviation``, exactly; any change counts when ``last <= 0``."""
    if last_answer <= 0:
        return answer != last_answer
    return abs(answer - last_answer) * WAD >= deviation_wad * last_answer


def _first_up(t_s: int, outages: Sequence[Window]) -> int:
    """The earliest time at or after ``t_s`` outside every outage window."""
    moved = True
    while moved:
        moved = False
        for start, end in outages:
            if start <= t_s < end:
                t_s, moved = end, True
    return t_s


def push_feed(
    path: PricePath,
    *,
    deviation_wad: int,
    heartbeat_s: int,
    decimals: int = 8,
    phase_id: int = 1,
    outages: Sequence[Window] = (),
) -> tuple[RoundData, ...]:
    """Chainlink-style push rounds over ``path`` (answers in feed units, rounded DOWN from WAD).

    The first round is at the path's start (or the end of an outage covering it). Then, at each
    sample time, a round is published if the answer moved by at least ``deviation_wad`` relative
    to the last round's answer; if none did within ``heartbeat_s``, a round is published exactly
    ``heartbeat_s`` after the last one with the prevailing price. Nothing is published inside an
    outage window; an overdue heartbeat round is published when the window ends. No round is
    published after the path's last sample time.
    """
    _require_int("deviation_wad", deviation_wad, 1)
    _require_int("heartbeat_s", heartbeat_s, 1)
    _check_windows(outages)
    answers = [from_wad(p, decimals, Rounding.DOWN) for p in path.prices_wad]
    times, end = path.times_s, path.times_s[-1]
    rounds: list[RoundData] = []

    def publish(t_s: int, answer: int) -> None:
        rid = compose_round_id(phase_id, len(rounds) + 1)
        rounds.append(RoundData(rid, answer, t_s, t_s, rid))

    def answer_at(t_s: int) -> int:
        return answers[bisect_right(times, t_s) - 1]

    t = _first_up(times[0], outages)
    if t > end:
        return ()
    publish(t, answer_at(t))
    i = bisect_right(times, t)
    while True:
        last = rounds[-1]
        deadline = last.updated_at + heartbeat_s
        deviated = False
        while i < len(times) and times[i] <= deadline:
            up = _first_up(times[i], outages) == times[i]
            i += 1
            if up and deviates(answers[i - 1], last.answer, deviation_wad):
                publish(times[i - 1], answers[i - 1])
                deviated = True
                break
        if deviated:
            continue
        t = _first_up(deadline, outages)
        if t > end:
            return tuple(rounds)
        publish(t, answer_at(t))
        i = bisect_right(times, t)


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """A round and the time (s) from which readers can see it."""

    round: RoundData
    visible_at_s: int


def with_latency(
    rounds: Sequence[RoundData], rng: np.random.Generator, *, min_delay_s: int, max_delay_s: int
) -> tuple[FeedUpdate, ...]:
    """Each round becomes visible ``delay`` seconds after ``updated_at``, ``delay`` uniform in
    ``[min_delay_s, max_delay_s]``; rounds land in order, so visibility never goes backwards."""
    _require_int("min_delay_s", min_delay_s, 0)
    _require_int("max_delay_s", max_delay_s, min_delay_s)
    delays = rng.integers(min_delay_s, max_delay_s, size=len(rounds), endpoint=True).tolist()
    updates: list[FeedUpdate] = []
    for rd, d in zip(rounds, delays, strict=True):
        visible = rd.updated_at + int(d)
        if updates:
            visible = max(visible, updates[-1].visible_at_s)
        updates.append(FeedUpdate(rd, visible))
    return tuple(updates)


def latest_visible(updates: Sequence[FeedUpdate], now_s: int) -> RoundData | None:
    """The round ``latestRoundData`` returns at ``now_s``, or None before the first is visible."""
    i = bisect_right([u.visible_at_s for u in updates], now_s) - 1
    return updates[i].round if i >= 0 else None


def apply_stale(rounds: Sequence[RoundData], windows: Sequence[Window]) -> tuple[RoundData, ...]:
    """Rounds updated inside a window repeat the last answer from before it (stale rounds).

    Their ``answered_in_round`` points at the round that computed the carried answer, as in
    Chainlink's historical stale rounds.
    """
    _check_windows(windows)
    out: list[RoundData] = []
    source: RoundData | None = None
    for rd in rounds:
        inside = any(s <= rd.updated_at < e for s, e in windows)
        if inside and source is not None:
            out.append(RoundData(rd.round_id, source.answer, rd.started_at, rd.updated_at, source.round_id))
        else:
            out.append(rd)
            source = rd
    return tuple(out)


def inject_spike(rounds: Sequence[RoundData], *, index: int, size_wad: int) -> tuple[RoundData, ...]:
    """Round ``index`` reports ``answer * (1 + size_wad / WAD)`` (rounded toward -inf); the
    following rounds are untouched, so the spike lasts one round. ``size_wad > -WAD``."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(rounds):
        raise InvalidParameter(f"index must be in [0, {len(rounds) - 1}], got {index!r}")
    _require_int("size_wad", size_wad, -WAD + 1)
    rd = rounds[index]
    spiked = smul_div(rd.answer, WAD + size_wad, WAD, Rounding.FLOOR)
    new = RoundData(rd.round_id, spiked, rd.started_at, rd.updated_at, rd.answered_in_round)
    return (*rounds[:index], new, *rounds[index + 1 :])


def half_life_decay_wad(dt_s: int, half_life_s: int) -> int:
    """``floor(WAD * 2**(-dt_s / half_life_s))`` with 60-digit decimals (deterministic)."""
    _require_int("dt_s", dt_s, 0)
    _require_int("half_life_s", half_life_s, 1)
    with localcontext() as ctx:
        ctx.prec = 60
        factor = Decimal(2) ** (Decimal(-dt_s) / Decimal(half_life_s))
        return int((factor * WAD).to_integral_value(rounding=ROUND_FLOOR))


def ema_series(path: PricePath, half_life_s: int) -> tuple[int, ...]:
    """Time-decayed EMA of the path at each sample, WAD.

    ``ema_0 = p_0``; ``ema_i = p_i + (ema_{i-1} - p_i) * decay(t_i - t_{i-1})`` rounded toward
    -inf, with ``decay`` from :func:`half_life_decay_wad`.
    """
    out = [path.prices_wad[0]]
    for i in range(1, len(path.times_s)):
        decay = half_life_decay_wad(path.times_s[i] - path.times_s[i - 1], half_life_s)
        p = path.prices_wad[i]
        out.append(p + smul_div(out[-1] - p, decay, WAD, Rounding.FLOOR))
    return tuple(out)


def twap_wad(path: PricePath, at_s: int, window_s: int) -> int:
    """Time-weighted average price over ``[at_s - window_s, at_s]``, WAD rounded DOWN.

    The price is a step function (each sample holds until the next). The window must start at or
    after the path's first sample.
    """
    _require_int("window_s", window_s, 1)
    start = at_s - window_s
    if start < path.times_s[0]:
        raise InvalidParameter(f"TWAP window [{start}, {at_s}] starts before the path's first sample {path.times_s[0]}")
    total = 0
    i = bisect_right(path.times_s, start) - 1
    while i < len(path.times_s) and path.times_s[i] < at_s:
        seg_start = max(path.times_s[i], start)
        seg_end = min(path.times_s[i + 1], at_s) if i + 1 < len(path.times_s) else at_s
        total += path.prices_wad[i] * (seg_end - seg_start)
        i += 1
    return total // window_s


def median_wad(prices_wad: Sequence[int]) -> int:
    """Median of positive WAD prices; an even count takes the middle two's mean rounded DOWN."""
    if not prices_wad:
        raise InvalidParameter("median_wad needs at least one price")
    for i, p in enumerate(prices_wad):
        _require_int(f"prices_wad[{i}]", p, 1)
    s = sorted(prices_wad)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) // 2
