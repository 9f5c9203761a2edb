"""What one simulated path produces: exact integer metrics and per-step series for plots.

Metrics are integers: money in USD WAD (``*_wad``), counts, seconds, and 0/1 flags. Series are
float64 per grid point (``steps + 1`` values) and exist only for plots and reports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from protocol.params import Params

__all__ = [
    "ASSET_BAD_DEBT_PREFIX",
    "BAD_DEBT_CAUSES",
    "COLLATERAL_SERIES_PREFIX",
    "FEED_SERIES_PREFIX",
    "MARKET_BAD_DEBT_PREFIX",
    "MARKET_SERIES_PREFIX",
    "METRICS",
    "SERIES",
    "MetricKind",
    "PathResult",
    "asset_bad_debt",
    "collateral_series",
    "feed_series",
    "market_bad_debt",
    "market_series",
    "study_metrics",
]


class MetricKind(Enum):
    """How a metric is stored and aggregated."""

    #: USD WAD integer (stored exactly as decimal128(38, 18) USD).
    WAD = "wad"
    #: A non-negative count.
    COUNT = "count"
    #: Seconds.
    SECONDS = "seconds"
    #: 0 or 1; its mean over paths is a probability.
    FLAG = "flag"


#: Causes a path's bad debt is split by (``bad_debt_<cause>_wad``; the method is
#: :meth:`simulator.engine._PathRun.attribute`).
BAD_DEBT_CAUSES = ("collateral", "gap", "latency", "block_cap", "gas", "untrusted", "other")

#: Every metric of a path, with its kind and meaning.
METRICS: dict[str, tuple[MetricKind, str]] = {
    "bad_debt_wad": (MetricKind.WAD, "negative balances of bankrupt accounts settled by the protocol (USD)"),
    "bad_debt_collateral_wad": (
        MetricKind.WAD,
        "bad debt the fall of the account's collateral prices since the path began explains (USD)",
    ),
    "bad_debt_gap_wad": (MetricKind.WAD, "bad debt an account already had when first flagged: the price gap (USD)"),
    "bad_debt_latency_wad": (MetricKind.WAD, "bad debt built up while the keeper was landing (USD)"),
    "bad_debt_block_cap_wad": (MetricKind.WAD, "bad debt built up while the block's liquidation cap held it (USD)"),
    "bad_debt_gas_wad": (MetricKind.WAD, "bad debt built up while the block's gas budget held it (USD)"),
    "bad_debt_untrusted_wad": (MetricKind.WAD, "bad debt built up while a price it needed was not trusted (USD)"),
    "bad_debt_other_wad": (MetricKind.WAD, "bad debt built up while the keeper's margin or ADL held it (USD)"),
    "bad_debt_no_market_wad": (
        MetricKind.WAD,
        "bad debt settled with no position left that no losing close explains (funding, fees) (USD)",
    ),
    "insurance_fund_start_wad": (MetricKind.WAD, "insurance fund after set-up (USD)"),
    "insurance_fund_min_wad": (MetricKind.WAD, "lowest insurance fund over the path (USD)"),
    "insurance_fund_end_wad": (MetricKind.WAD, "insurance fund at the end (USD)"),
    "insurance_fund_drawdown_wad": (MetricKind.WAD, "largest fall of the fund from a running peak (USD)"),
    "insurance_fund_depleted": (MetricKind.FLAG, "the fund reached zero while covering bad debt"),
    "socialized_loss_wad": (MetricKind.WAD, "bad debt spread over open interest or deleveraged (USD)"),
    "socialized_loss_events": (MetricKind.COUNT, "socialized-loss or deleveraging events"),
    "uncovered_loss_wad": (MetricKind.WAD, "bad debt nobody could absorb (USD)"),
    "liquidations": (MetricKind.COUNT, "position liquidation transactions"),
    "collateral_liquidations": (MetricKind.COUNT, "collateral purchases from accounts with a negative balance"),
    "deleveragings": (MetricKind.COUNT, "auto-deleveraging transactions (ADL method)"),
    "accounts_liquidated": (MetricKind.COUNT, "distinct accounts liquidated or deleveraged at least once"),
    "liquidated_notional_wad": (MetricKind.WAD, "notional closed by liquidations at the oracle price (USD)"),
    "keeper_rewards_wad": (MetricKind.WAD, "penalty shares paid to keepers (USD)"),
    "keeper_gas_cost_wad": (
        MetricKind.WAD,
        "what the keepers' and the collateral liquidator's gas cost at keepers.gas_price_gwei and "
        "keepers.gas_token_usd (USD, rounded up)",
    ),
    "deferred_liquidations": (
        MetricKind.COUNT,
        "keeper actions postponed (summed over blocks) by the gas budget, the block cap or an untrusted price",
    ),
    "deferred_gas": (MetricKind.COUNT, "deferred keeper actions: the block's gas budget was spent"),
    "deferred_block_cap": (MetricKind.COUNT, "deferred keeper actions: the block's liquidation cap was spent"),
    "deferred_keeper": (
        MetricKind.COUNT,
        "deferred keeper actions: the keeper's or liquidator's own margin",
    ),
    "deferred_untrusted": (MetricKind.COUNT, "deferred keeper actions: a price the account needs was not trusted"),
    "deferred_counterparty": (MetricKind.COUNT, "deferred deleveragings: nobody in profit on the other side"),
    "keeper_waits": (MetricKind.COUNT, "account-blocks between an account's flagging and its keeper landing (latency)"),
    "keeper_gas": (MetricKind.COUNT, "gas the keepers and the collateral liquidator spent"),
    "backlog_peak": (MetricKind.COUNT, "most accounts flagged but not yet served at the end of one block"),
    "backlog_clear_s": (MetricKind.SECONDS, "longest time the backlog stayed non-empty"),
    "liquidations_block_peak": (MetricKind.COUNT, "most liquidation transactions in one block"),
    "liquidation_impact_max_bps": (MetricKind.COUNT, "largest price impact of liquidation sales on any feed (bps)"),
    "reduce_only_s": (MetricKind.SECONDS, "time some traded market's price was not trusted (reduce-only)"),
    "oracle_updates": (MetricKind.COUNT, "price readings accepted by the protocol"),
    "oracle_rejections": (MetricKind.COUNT, "price readings rejected by the guards"),
}

#: Per-step series of a path (float64, ``steps + 1`` values).
SERIES: dict[str, str] = {
    "market_price": "lead market's outside price including liquidation impact (USD)",
    "oracle_price": "lead market's last price accepted by the protocol (USD)",
    "insurance_fund": "insurance fund (USD)",
    "bad_debt": "cumulative bad debt (USD)",
    "liquidated_notional": "cumulative liquidated notional (USD)",
    "trusted": "1 while the lead market's price is trusted, else 0",
    "liquidations": "cumulative liquidation transactions",
    "backlog": "accounts flagged but not yet served by a keeper at the end of the block",
    "impact_bps": "price impact of liquidation sales on the lead market (bps, negative: pushed down)",
}
#: Prefix of the per-feed series: ``feed_price_<feed_id>``, every feed's outside price (USD).
FEED_SERIES_PREFIX = "feed_price_"
#: Prefix of the per-market series: ``market_notional_<market_id>``, cumulative liquidated notional (USD).
MARKET_SERIES_PREFIX = "market_notional_"
#: Prefix of the per-collateral series: ``collateral_proceeds_<asset_id>``, cumulative proceeds of
#: the collateral the liquidator bought (USD).
COLLATERAL_SERIES_PREFIX = "collateral_proceeds_"
_PREFIXES = (FEED_SERIES_PREFIX, MARKET_SERIES_PREFIX, COLLATERAL_SERIES_PREFIX)


def feed_series(feed_id: int) -> str:
    """Name of feed ``feed_id``'s outside-price series."""
    return f"{FEED_SERIES_PREFIX}{feed_id}"


def market_series(market_id: int) -> str:
    """Name of market ``market_id``'s cumulative liquidated-notional series."""
    return f"{MARKET_SERIES_PREFIX}{market_id}"


def collateral_series(asset_id: int) -> str:
    """Name of collateral asset ``asset_id``'s cumulative liquidation-proceeds series."""
    return f"{COLLATERAL_SERIES_PREFIX}{asset_id}"


def _is_keyed_series(name: str) -> bool:
    return any(name.startswith(p) and name.removeprefix(p).isdigit() for p in _PREFIXES)


#: Prefix of the per-market bad-debt metrics: ``bad_debt_market_<market_id>_wad``, the bad debt
#: settled at that market's bankrupt closes (F-15 ``ShortfallSettled``) plus its share of what an
#: account's collateral sale left (``BadDebtSettled``), split by the losses the account's closes
#: realized in each market. With ``bad_debt_no_market_wad`` they sum to ``bad_debt_wad`` exactly.
MARKET_BAD_DEBT_PREFIX = "bad_debt_market_"
#: Prefix of the per-collateral-asset bad-debt metrics: ``bad_debt_asset_<asset_id>_wad``, the
#: part of ``bad_debt_collateral_wad`` (the collateral-price-fall cause) owed to that asset's fall;
#: they sum to it exactly.
ASSET_BAD_DEBT_PREFIX = "bad_debt_asset_"
_KEYED_METRICS = re.compile(f"(?:{MARKET_BAD_DEBT_PREFIX}|{ASSET_BAD_DEBT_PREFIX})[0-9]+_wad")


def market_bad_debt(market_id: int) -> str:
    """Name of market ``market_id``'s bad-debt metric (USD WAD)."""
    return f"{MARKET_BAD_DEBT_PREFIX}{market_id}_wad"


def asset_bad_debt(asset_id: int) -> str:
    """Name of collateral asset ``asset_id``'s bad-debt metric (USD WAD): the collateral-fall cause's share."""
    return f"{ASSET_BAD_DEBT_PREFIX}{asset_id}_wad"


def study_metrics(params: Params) -> dict[str, tuple[MetricKind, str]]:
    """Every metric a path of a book with ``params`` (:meth:`StudyConfig.book_params`) has:
    :data:`METRICS`, then one bad-debt metric per traded market and per collateral asset."""
    out = dict(METRICS)
    for mp in params.markets:
        out[market_bad_debt(mp.market_id)] = (
            MetricKind.WAD,
            f"bad debt {mp.symbol}'s closes left: settled at its bankrupt closes or its share of a residual (USD)",
        )
    for cp in params.collaterals:
        out[asset_bad_debt(cp.asset_id)] = (MetricKind.WAD, f"bad debt the fall of {cp.symbol} explains (USD)")
    return out


@dataclass(frozen=True, eq=False)
class PathResult:
    """The outcome of one path: its seed, exact metrics and plot series."""

    path_index: int
    #: ``SeedSequence.entropy`` and ``spawn_key`` of the path's seed: ``SeedSequence(entropy,
    #: spawn_key=spawn_key)`` reproduces the path.
    seed_entropy: int
    spawn_key: tuple[int, ...]
    metrics: Mapping[str, int]
    series: Mapping[str, NDArray[np.float64]]

    def __post_init__(self) -> None:
        missing = set(METRICS) - set(self.metrics)
        extra = {n for n in set(self.metrics) - set(METRICS) if not _KEYED_METRICS.fullmatch(n)}
        if missing or extra:
            raise InvalidParameter(
                f"path metrics must be METRICS plus per-market and per-asset bad debt (missing {missing}, "
                f"unexpected {extra})"
            )
        for name, value in self.metrics.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameter(f"metric {name} must be an integer, got {value!r}")
        extra = {n for n in set(self.series) - set(SERIES) if not _is_keyed_series(n)}
        if not set(SERIES) <= set(self.series) or extra:
            raise InvalidParameter(
                f"path series must be {sorted(SERIES)} plus per-feed, -market and -collateral ones {_PREFIXES}, "
                f"got {sorted(self.series)}"
            )

    def seed(self) -> np.random.SeedSequence:
        """The path's seed sequence."""
        return np.random.SeedSequence(self.seed_entropy, spawn_key=self.spawn_key)
