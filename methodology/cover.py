"""Insurance-fund sizing: Cover-1 and Cover-2 of a book under stress (PFMI 4.4, EMIR Art. 43).

An account's **loss beyond its margin** in a scenario is what its collateral does not cover
once the prices jump to the scenario's: ``max(0, close-out cost - equity at the stressed prices)``,
with the equity the reference model's exact :func:`protocol.margin.account_health` and the
close-out cost each position's liquidity add-on (:mod:`methodology.liquidity`). **Cover-1** is
the largest such loss, **Cover-2** the sum of the two largest.

Scenarios: each historical crash's worst MPOR move of the lead asset, down and up, with the
other assets' moves over the same hours (1-hour bars of the crash window), and hypothetical
shocks. Beside them, the simulator's Monte Carlo study of the same book gives the insurance
fund's value-at-risk (nearest-rank 99 % of bad debt and of the fund's drawdown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from methodology.liquidity import addon
from methodology.series import CrashWindow, align, load_series
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.margin import account_health, notional
from simulator.engine import Book
from simulator.paths import price_to_wad

__all__ = [
    "HYPOTHETICAL",
    "Cover",
    "Scenario",
    "cover",
    "historical_scenarios",
    "simulator_fund_var",
]

#: Hypothetical joint shocks of the two markets' prices (fractions): both down, both up, and
#: the two decouplings.
HYPOTHETICAL: dict[str, tuple[float, float]] = {
    "both down (-30 % / -40 %)": (-0.30, -0.40),
    "both up (+30 % / +40 %)": (0.30, 0.40),
    "lead down, other up (-25 % / +10 %)": (-0.25, 0.10),
    "lead up, other down (+10 % / -25 %)": (0.10, -0.25),
}


@dataclass(frozen=True)
class Scenario:
    """Relative price changes per feed symbol (``{"BTC/USD": -0.35, ...}``)."""

    name: str
    kind: str
    shocks: dict[str, float]


def historical_scenarios(
    crashes: Sequence[CrashWindow], symbols: Sequence[str], feeds: Sequence[str], mpor_s: int
) -> list[Scenario]:
    """Per crash, the worst fall and the worst rise of ``symbols[0]`` over one MPOR on the
    window's 1-hour bars, with every symbol's move over the same hours (feeds named by ``feeds``)."""
    out = []
    for crash in crashes:
        series = align(tuple(load_series(crash.hourly[s], s) for s in symbols))
        h = mpor_s // series[0].bar_s
        if not 1 <= h < len(series[0]):
            raise InvalidParameter(f"an MPOR of {mpor_s} s does not fit the {crash.name} window of hourly bars")
        moves = np.stack([s.closes[h:] / s.closes[:-h] - 1.0 for s in series])
        for label, j in (("down", int(np.argmin(moves[0]))), ("up", int(np.argmax(moves[0])))):
            shocks = {f: float(moves[a, j]) for a, f in enumerate(feeds)}
            out.append(Scenario(f"{crash.name} {label}", "historical", shocks))
    return out


@dataclass(frozen=True)
class Cover:
    """One scenario's Cover-1 and Cover-2 (USD) and the accounts behind them."""

    scenario: str
    kind: str
    shocks: dict[str, float]
    cover1_usd: float
    cover2_usd: float
    largest: list[str]
    accounts_short: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields."""
        return asdict(self)


def cover(book: Book, scenarios: Sequence[Scenario], depth_by_feed: Mapping[int, float]) -> list[Cover]:
    """Cover-1 and Cover-2 of every account of ``book`` in every scenario."""
    params, state = book.params, book.setup_state
    symbol_of = {f.symbol: f.feed_id for f in params.feeds}
    out = []
    for sc in scenarios:
        unknown = set(sc.shocks) - set(symbol_of)
        if unknown or any(not s > -1.0 for s in sc.shocks.values()):
            raise InvalidParameter(f"scenario {sc.name!r}: shocks must be > -1 on the book's feeds {list(symbol_of)}")
        prices = {}
        for f in params.feeds:
            spot = book.spot_wad(f.feed_id)
            prices[f.feed_id] = max(price_to_wad(spot / WAD * (1.0 + sc.shocks.get(f.symbol, 0.0))), 1)
        losses: list[tuple[Fraction, str]] = []
        for address in book.accounts:
            acct = state.accounts[address]
            health = account_health(acct, params, state.markets, prices, now_s=0)
            cost = Fraction(0)
            for market_id, pos in acct.positions.items():
                feed = params.market(market_id).feed_id
                size_usd = notional(pos.size, prices[feed]) / WAD
                cost += Fraction(Decimal(repr(size_usd * addon(size_usd, depth_by_feed[feed]))))
            short = cost - Fraction(health.equity, WAD)
            if short > 0:
                losses.append((short, address))
        losses.sort(reverse=True)
        top = losses[:2]
        out.append(
            Cover(
                sc.name,
                sc.kind,
                dict(sc.shocks),
                float(top[0][0]) if top else 0.0,
                float(sum(v for v, _ in top)),
                [a for _, a in top],
                len(losses),
            )
        )
    return out


def simulator_fund_var(config: Any, out_dir: Path, *, workers: int | None, progress: bool) -> dict[str, float]:
    """Run (or resume) the simulator's study ``config`` into ``out_dir`` and return its insurance
    fund value-at-risk: nearest-rank 99 % of bad debt and of fund drawdown, and P(depleted)."""
    from simulator.runner import run_study
    from simulator.summary import nearest_rank, summarize

    run = run_study(config, out_dir, workers=workers, progress=progress)
    metrics = run.metrics()
    summary = summarize(metrics)
    q = Fraction(99, 100)
    return {
        "paths": int(summary["n_paths"]),
        "bad_debt_p99_usd": float(nearest_rank(list(metrics["bad_debt_wad"]), q)),
        "fund_drawdown_p99_usd": float(nearest_rank(list(metrics["insurance_fund_drawdown_wad"]), q)),
        "bad_debt_p95_usd": float(summary["bad_debt_p95_usd"]),
        "fund_drawdown_p95_usd": float(summary["fund_drawdown_p95_usd"]),
        "p_fund_depleted": float(summary["p_fund_depleted"]),
    }
