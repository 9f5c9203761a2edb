"""A whole campaign: many sequences, across worker processes, within a time budget.

:func:`run_campaign` splits ``actions`` into sequences of ``sequence_length`` actions; sequence
``i`` draws from child ``i`` of ``SeedSequence(seed)``. With ``workers > 1`` each worker process
runs every ``workers``-th sequence on its own target (its own chain). The campaign stops at the
first violation or when ``time_s`` runs out (sequences under way finish). ``progress(n)`` is
called with the actions each finished sequence ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final

import numpy as np

from contracts_py.audit.actors import kind_weights
from contracts_py.audit.campaign import CHAINS, CampaignStats, Violation, generate_sequence, open_target, planted
from protocol.actions import Action
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.params import Params, SocializedLossMethod, load_params
from protocol.scenarios import default_params

__all__ = ["CampaignConfig", "CampaignResult", "run_campaign"]


#: Open-interest notional (USD WAD) where the initial fraction of a market with open-interest
#: scaling starts growing, and where it reaches 100 %, under the ``coverage`` profile on the
#: default parameters: a campaign's open interest stays far below the default 5M USD, so the
#: scaling would never be reached.
COVERAGE_OI_CAPS: Final = (50_000 * WAD, 5_000_000 * WAD)


def _coverage_params(params: Params) -> Params:
    """``params`` with :data:`COVERAGE_OI_CAPS` for every market that scales its initial fraction."""
    lower, upper = COVERAGE_OI_CAPS
    markets = tuple(
        replace(m, oi_cap_lower_wad=lower, oi_cap_upper_wad=upper) if m.oi_cap_upper_wad else m for m in params.markets
    )
    return replace(params, markets=markets)


@dataclass(frozen=True)
class CampaignConfig:
    """What to run: ``actions`` protocol actions in sequences of ``sequence_length``, ``per_block``
    per block, on ``chain`` (one of :data:`~contracts_py.audit.campaign.CHAINS`), from
    ``SeedSequence(seed)`` (None: fresh entropy, reported), within ``time_s`` seconds (None: no
    limit), over ``workers`` processes; ``params_path`` (None: the default parameters); ``plant``
    a planted invariant (test hook); ``trace_sources``: titanoboa maps executed code to source
    lines (:mod:`contracts_py.audit.coverage`); ``profile``: the action kinds' weights
    (:data:`~contracts_py.audit.actors.PROFILES`); ``loss_method``: the parameters' socialized
    loss method replaced (a :class:`~protocol.params.SocializedLossMethod` value; None: as the parameters say)."""

    actions: int = 10_000
    sequence_length: int = 500
    per_block: int = 20
    chain: str = "model"
    seed: int | None = None
    time_s: float | None = None
    workers: int = 1
    params_path: Path | None = None
    plant: str | None = None
    trace_sources: bool = False
    profile: str = "default"
    loss_method: str | None = None

    def __post_init__(self) -> None:
        for name in ("actions", "sequence_length", "per_block", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameter(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.chain not in CHAINS:
            raise InvalidParameter(f"--chain {self.chain!r} is unknown; choose one of {', '.join(CHAINS)}")
        if self.time_s is not None and not self.time_s > 0:
            raise InvalidParameter(f"--time must be a positive number of seconds, got {self.time_s!r}")
        planted(self.plant)
        kind_weights(self.profile)
        methods = [m.value for m in SocializedLossMethod]
        if self.loss_method is not None and self.loss_method not in methods:
            raise InvalidParameter(f"loss method {self.loss_method!r} is unknown; choose one of {', '.join(methods)}")

    def params(self) -> Params:
        """The campaign's parameters: ``params_path``'s, or the default ones (under the
        ``coverage`` profile with :data:`COVERAGE_OI_CAPS`); the loss method replaced if asked."""
        if self.params_path is not None:
            params = load_params(self.params_path)
        elif self.profile == "coverage":
            params = _coverage_params(default_params())
        else:
            params = default_params()
        if self.loss_method is None:
            return params
        method = SocializedLossMethod(self.loss_method)
        return replace(params, protocol=replace(params.protocol, socialized_loss_method=method))


@dataclass
class CampaignResult:
    """Counts, wall time, the seed's entropy, and the first violation with its sequence's log."""

    config: CampaignConfig
    entropy: int
    stats: CampaignStats = field(default_factory=CampaignStats)
    seconds: float = 0.0
    violation: Violation | None = None
    violation_sequence: int | None = None
    violation_log: list[Action] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Protocol actions per second of campaign, invariants included, the set-up of the
        targets (node start-up, compilation, deployment; :attr:`CampaignStats.setup_s`, spread
        over the workers) left out, as fuzzers count their calls per second."""
        running = self.seconds - self.stats.setup_s / self.config.workers
        return self.stats.actions / running if running > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the seed's entropy included, to run it again)."""
        c = self.config
        return {
            "chain": c.chain,
            "seed_entropy": self.entropy,
            "sequence_length": c.sequence_length,
            "per_block": c.per_block,
            "workers": c.workers,
            "profile": c.profile,
            "seconds": round(self.seconds, 3),
            "actions_per_s": round(self.rate, 1),
            "actions_per_s_with_setup": round(self.stats.actions / self.seconds, 1) if self.seconds > 0 else 0.0,
            **self.stats.to_dict(),
            "violation": None if self.violation is None else self.violation.to_dict(),
            "violation_sequence": self.violation_sequence,
        }


def _run_share(
    config: CampaignConfig,
    entropy: int,
    indexes: list[int],
    deadline: float | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[CampaignStats, int | None, Violation | None, list[Action]]:
    """Sequences ``indexes`` on one target; stops at a violation or the deadline (monotonic).
    ``progress(n)`` after each sequence (in-process runs)."""
    stats = CampaignStats()
    children = np.random.SeedSequence(entropy).spawn(max(indexes) + 1)
    opened = time.monotonic()
    with open_target(config.chain, config.params(), trace_sources=config.trace_sources) as target:
        stats.setup_s = time.monotonic() - opened
        for i in indexes:
            if deadline is not None and time.monotonic() >= deadline:
                break
            log, s, violation = generate_sequence(
                target, children[i], _length(config, i), config.per_block, planted(config.plant), config.profile
            )
            stats.add(s)
            if progress is not None:
                progress(s.actions)
            if violation is not None:
                return stats, i, violation, log
    return stats, None, None, []


def _length(config: CampaignConfig, i: int) -> int:
    return min(config.sequence_length, config.actions - i * config.sequence_length)


def run_campaign(config: CampaignConfig, progress: Callable[[int], None] | None = None) -> CampaignResult:
    """Run the campaign ``config`` describes (see the module docstring)."""
    seed = np.random.SeedSequence(config.seed)
    entropy = int(seed.entropy)  # type: ignore[arg-type]
    result = CampaignResult(config, entropy)
    n_seq = -(-config.actions // config.sequence_length)
    start = time.monotonic()
    deadline = None if config.time_s is None else start + config.time_s
    if config.workers == 1:
        _record(result, _run_share(config, entropy, list(range(n_seq)), deadline, progress))
    else:
        _parallel(config, entropy, n_seq, deadline, result, progress)
    result.seconds = time.monotonic() - start
    return result


def _record(result: CampaignResult, share: tuple[CampaignStats, int | None, Violation | None, list[Action]]) -> None:
    stats, i, violation, log = share
    result.stats.add(stats)
    if violation is not None and result.violation is None:
        result.violation, result.violation_sequence, result.violation_log = violation, i, log


def _parallel(
    config: CampaignConfig,
    entropy: int,
    n_seq: int,
    deadline: float | None,
    result: CampaignResult,
    progress: Callable[[int], None] | None,
) -> None:
    # About four shares per worker (each opens its own target): progress moves, a violation stops the rest.
    size = max(1, n_seq // (4 * config.workers))
    shares = [list(range(lo, min(lo + size, n_seq))) for lo in range(0, n_seq, size)]
    with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(_run_share, config, entropy, share, deadline) for share in shares}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                share_result = fut.result()
                _record(result, share_result)
                if progress is not None:
                    progress(share_result[0].actions)
            if result.violation is not None:
                for fut in pending:
                    fut.cancel()
                return
