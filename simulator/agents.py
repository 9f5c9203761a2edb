"""The actors around the protocol in a simulation: traders, the price, the oracle feed,
keepers and the outside market's liquidity.

Everything random draws from a :class:`numpy.random.Generator` handed in by the engine (one
per concern, spawned from the path's seed), so a path is reproducible in any process. Floats
are simulation inputs only; whatever reaches the protocol is converted to WAD once, here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from oracles.feed_models import deviates
from oracles.history import load_klines
from oracles.replay import kline_path
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.params import Params
from simulator import paths
from simulator.config import StudyConfig

__all__ = [
    "Impact",
    "PushFeed",
    "TraderOrder",
    "lead_price_path",
    "outages",
    "premium_path",
    "price_paths",
    "starting_prices",
    "trader_orders",
]

SECONDS_PER_DAY = 86_400
#: Lowest simulated price (USD): the protocol refuses a zero price.
_MIN_PRICE_USD = 1e-9


@dataclass(frozen=True)
class TraderOrder:
    """One trader's opening: settlement-token units and collateral-asset token units deposited,
    and the signed sizes (base units, WAD) it opens per market."""

    deposit_units: int
    collateral_units: int
    sizes: tuple[tuple[int, int], ...]


def trader_orders(
    config: StudyConfig, params: Params, spots_wad: Mapping[int, int], rng: np.random.Generator
) -> list[TraderOrder]:
    """The book's traders over the markets of ``params`` (the book's parameters).

    Log-normal collateral (USD) and leverage; each trader opens in one market drawn uniformly
    and in each other market with ``traders.cross_market_probability``, its notional (collateral
    value after haircut x leverage) spread evenly, each side long with ``long_fraction``.
    Leverage is capped at ``max_leverage_share`` of ``1 / (mean initial fraction of its markets)``
    (below 1 where the fractions exceed 100 % of notional).
    ``traders.collateral_asset_share`` of the collateral value is deposited as the book's
    collateral asset at its spot price.
    """
    tc, n = config.traders, config.run.accounts
    decimals = params.protocol.settlement_decimals
    markets = params.markets
    collateral = tc.collateral_median_usd * np.exp(tc.collateral_sigma * rng.standard_normal(n))
    leverage = tc.leverage_median * np.exp(tc.leverage_sigma * rng.standard_normal(n))
    side = np.where(rng.random(n) < tc.long_fraction, 1, -1)
    held = np.zeros((n, len(markets)), dtype=np.bool_)
    sides = np.ones((n, len(markets)), dtype=np.int64)
    if len(markets) == 1:
        held[:, 0], sides[:, 0] = True, side
    else:
        held = rng.random((n, len(markets))) < tc.cross_market_probability
        held[np.arange(n), rng.integers(len(markets), size=n)] = True
        sides = np.where(rng.random((n, len(markets))) < tc.long_fraction, 1, -1)
    imf = np.asarray([mp.initial_margin_fraction_wad / WAD for mp in markets])
    mean_imf = (held * imf).sum(axis=1) / held.sum(axis=1)
    leverage = np.minimum(leverage, tc.max_leverage_share / mean_imf)
    share = tc.collateral_asset_share
    asset = params.collaterals[0] if share > 0 else None
    backing = collateral * (1.0 - share)
    asset_units = np.zeros(n)
    if asset is not None:
        asset_price = spots_wad[asset.feed_id] / WAD
        asset_units = collateral * share / asset_price
        backing = backing + collateral * share * (1.0 - asset.haircut_wad / WAD)
    spots = np.asarray([spots_wad[mp.feed_id] / WAD for mp in markets])
    per_market = backing * leverage / held.sum(axis=1)
    orders = []
    for i in range(n):
        sizes = tuple(
            (mp.market_id, int(sides[i, j]) * max(int(per_market[i] / spots[j] * WAD), 1))
            for j, mp in enumerate(markets)
            if held[i, j]
        )
        units = max(int(float(collateral[i] * (1.0 - share)) * 10**decimals), 1)
        extra = int(float(asset_units[i]) * 10**asset.decimals) if asset is not None else 0
        orders.append(TraderOrder(units, extra, sizes))
    return orders


def _historical(config: StudyConfig, csv: str, where: str) -> tuple[NDArray[np.float64], int]:
    """A kline CSV as a log-linear path on the study's grid (intrabar extremes included), scaled
    by ``price.vol_scale``, and the open time of its first bar (ms)."""
    klines = load_klines(csv)
    if len(klines) < 2:
        raise InvalidParameter(f"{where} {csv} needs at least two bars")
    bar_s = (klines[1].open_time_ms - klines[0].open_time_ms) // 1000
    intrabar = kline_path(klines, bar_s)
    times = np.asarray(intrabar.times_s, dtype=np.float64) - intrabar.times_s[0]
    prices = np.asarray([p / WAD for p in intrabar.prices_wad], dtype=np.float64)
    step_s, steps = config.run.step_s, config.run.steps
    available = int(times[-1]) // step_s
    if steps > available:
        raise InvalidParameter(
            f"{where} {csv} covers {available} steps of run.step_s = {step_s} s; "
            f"lower run.steps (now {steps}) or run.step_s"
        )
    grid = np.arange(steps + 1, dtype=np.float64) * step_s
    out: NDArray[np.float64] = np.exp(np.interp(grid, times, np.log(prices)))
    if config.price.vol_scale != 1.0:
        scaled = paths.scale_returns(
            paths.PathSet(out[None, :, None], step_s, "historical", None), vol_ratio=config.price.vol_scale, spot=out[0]
        )
        out = scaled.prices[0, :, 0]
    return out, klines[0].open_time_ms


def lead_price_path(config: StudyConfig, seed: np.random.SeedSequence) -> NDArray[np.float64]:
    """The lead feed's reference price (USD per base unit) at the ``run.steps + 1`` grid points,
    before impact."""
    pc, run = config.price, config.run
    grid = {"n_paths": 1, "n_steps": run.steps, "dt_s": run.step_s}
    if pc.model == "historical":
        return _historical(config, pc.csv, "price.csv")[0]
    if pc.model == "gbm":
        ps = paths.correlated_gbm(seed, **grid, spot=[pc.spot], sigma=[pc.sigma], mu=[pc.mu])
    elif pc.model == "merton":
        ps = paths.merton_jump_diffusion(
            seed,
            **grid,
            spot=pc.spot,
            sigma=pc.sigma,
            jumps_per_year=pc.jumps_per_year,
            jump_mean=pc.jump_mean,
            jump_std=pc.jump_std,
            mu=pc.mu,
        )
    elif pc.model == "garch":
        ps = paths.garch11(seed, **grid, spot=pc.spot, omega=pc.garch_omega, alpha=pc.garch_alpha, beta=pc.garch_beta)
    else:
        ps = paths.brownian_bridge(seed, **grid, spot=pc.spot, sigma=pc.sigma, shock=pc.shock)
    return np.ascontiguousarray(ps.prices[0, :, 0])


def price_paths(config: StudyConfig, params: Params, seed: np.random.SeedSequence) -> dict[int, NDArray[np.float64]]:
    """Reference prices of every feed of ``params`` (the book's; lead first).

    The lead follows :func:`lead_price_path`. Every other feed replays its own
    ``price.feeds.<symbol>.csv`` when the lead is historical and one is given (the two CSVs must
    start at the same bar); otherwise it is mean-reverting around its ``spot`` (``model =
    "ou"``, floored at 1e-9 USD) or a :func:`~simulator.paths.correlated_follower` of
    the lead with its ``spot``, ``sigma`` and ``price.correlation`` (seeds spawned from ``seed``).
    """
    lead_feed, *others = params.feeds
    lead = lead_price_path(config, seed)
    out = {lead_feed.feed_id: lead}
    if not others:
        return out
    lead_set = paths.PathSet(lead[None, :, None], config.run.step_s, config.price.model, None)
    historical = config.price.model == "historical"
    lead_start = load_klines(config.price.csv)[0].open_time_ms if historical else 0
    for fp, child in zip(others, seed.spawn(len(others)), strict=True):
        follow = config.feed_path(fp.symbol)
        if historical and follow.csv:
            own, start_ms = _historical(config, follow.csv, f"price.feeds.{fp.symbol!r}.csv")
            if start_ms != lead_start:
                raise InvalidParameter(
                    f"price.feeds.{fp.symbol!r}.csv starts at {start_ms} ms, price.csv at {lead_start} ms: replay "
                    "windows must start at the same bar"
                )
            out[fp.feed_id] = own
            continue
        if follow.model == "ou":
            run = config.run
            ps = paths.ornstein_uhlenbeck(
                child, n_paths=1, n_steps=run.steps, dt_s=run.step_s, start=follow.spot, mean=follow.spot,
                speed_per_year=follow.reversion_per_day * 365.0, sigma=follow.sigma,
            )  # fmt: skip
            out[fp.feed_id] = np.maximum(ps.prices[0, :, 0], _MIN_PRICE_USD)
        else:
            ps = paths.correlated_follower(
                child, lead_set, spot=follow.spot, sigma=follow.sigma, corr=config.price.correlation
            )
            out[fp.feed_id] = np.ascontiguousarray(ps.prices[0, :, 0])
    return out


def starting_prices(config: StudyConfig, params: Params) -> dict[int, float]:
    """Each feed's price (USD) at the first grid point: a replayed CSV's first close, else the
    configured ``spot``."""
    historical = config.price.model == "historical"
    lead, *others = params.feeds
    out = {
        lead.feed_id: float(lead_price_path(config, np.random.SeedSequence(0))[0]) if historical else config.price.spot
    }
    for fp in others:
        follow = config.feed_path(fp.symbol)
        where = f"price.feeds.{fp.symbol!r}.csv"
        out[fp.feed_id] = (
            float(_historical(config, follow.csv, where)[0][0]) if historical and follow.csv else follow.spot
        )
    return out


def outages(config: StudyConfig, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Steps during which the feed publishes nothing: Poisson starts, geometric lengths."""
    oc, run = config.oracle, config.run
    down = np.zeros(run.steps + 1, dtype=np.bool_)
    rate = oc.outages_per_day * run.step_s / SECONDS_PER_DAY
    if rate == 0.0 or oc.outage_mean_steps == 0.0:
        return down
    starts = np.flatnonzero(rng.random(run.steps + 1) < min(rate, 1.0))
    lengths = rng.geometric(1.0 / max(oc.outage_mean_steps, 1.0), size=starts.size)
    for s, n in zip(starts.tolist(), lengths.tolist(), strict=True):
        down[s : s + n] = True
    return down


def premium_path(config: StudyConfig, rng: np.random.Generator) -> NDArray[np.float64]:
    """The perp's premium over the index (fraction of the price), an exact-discretised OU process."""
    fc, run = config.funding, config.run
    out = np.zeros(run.steps + 1)
    if fc.premium_sigma == 0.0:
        return out
    k = fc.premium_speed_per_day * run.step_s / SECONDS_PER_DAY
    a = math.exp(-k)
    shock = fc.premium_sigma * math.sqrt(1.0 - a * a)
    z = rng.standard_normal(run.steps + 1)
    out[0] = fc.premium_sigma * z[0]
    for i in range(1, run.steps + 1):
        out[i] = a * out[i - 1] + shock * z[i]
    return out


@dataclass
class PushFeed:
    """A Chainlink-style push feed: it publishes when the price moved ``deviation`` since its last
    publication or ``heartbeat`` after it, unless down; the protocol receives a publication
    ``latency_steps`` later, with the publication's timestamp."""

    deviation_wad: int
    heartbeat_s: int
    latency_steps: int
    last_answer: int = 0
    last_published_s: int = -(2**62)
    _in_flight: deque[tuple[int, int, int]] = field(default_factory=deque)

    @classmethod
    def from_config(cls, config: StudyConfig) -> PushFeed:
        """The feed of ``config.oracle``."""
        oc = config.oracle
        return cls(int(oc.deviation_bps * WAD) // 10_000, oc.heartbeat_s, oc.latency_steps)

    def observe(self, step: int, t_s: int, price_wad: int, *, down: bool) -> None:
        """The feed sees ``price_wad`` at ``t_s`` and publishes if its rule says so."""
        if down:
            return
        due = t_s - self.last_published_s >= self.heartbeat_s
        if due or deviates(price_wad, self.last_answer, self.deviation_wad):
            self.last_answer, self.last_published_s = price_wad, t_s
            self._in_flight.append((step + self.latency_steps, price_wad, t_s))

    def arrivals(self, step: int) -> list[tuple[int, int]]:
        """Publications ``(price_wad, timestamp_s)`` the protocol receives at ``step``, oldest first."""
        out = []
        while self._in_flight and self._in_flight[0][0] <= step:
            _, price, t_s = self._in_flight.popleft()
            out.append((price, t_s))
        return out


@dataclass
class Impact:
    """Log-price impact of keepers unwinding liquidated positions outside, decaying geometrically.

    Selling ``n`` USD (a liquidated long) lowers the log price by ``n / depth_usd``.
    """

    depth_usd: float
    decay: float
    level: float = 0.0

    @classmethod
    def from_config(cls, config: StudyConfig) -> Impact:
        """The impact of ``config.liquidity``."""
        lc = config.liquidity
        return cls(lc.depth_usd, 0.5 ** (1.0 / lc.half_life_steps))

    def step(self) -> float:
        """Decay one step; the multiplicative price factor now."""
        self.level *= self.decay
        return math.exp(self.level)

    def trade(self, signed_notional_usd: float) -> None:
        """Someone bought (+) or sold (-) ``|signed_notional_usd]`` outside."""
        self.level += signed_notional_usd / self.depth_usd
