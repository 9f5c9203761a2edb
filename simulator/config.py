"""A stress study's configuration: price model, traders, keepers, liquidity, oracle, protocol.

A study file is TOML with one table per section below; every key is optional and defaults to
the values here. Simulation inputs (volatilities, leverage distributions, depths) are floats;
protocol parameters (``[protocol]``) are exact decimals converted to WAD once, here, so what the
simulator runs is exactly what the contracts would be deployed with. Every bad key or value
raises :class:`~protocol.errors.InvalidParameter` with one sentence naming ``section.key``.

Sweeps address fields by dotted names, e.g. ``protocol.initial_margin_fraction`` or
``keepers.latency_blocks`` (:meth:`StudyConfig.override`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any, Final

import numpy as np

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.params import (
    CollateralParams,
    FeedParams,
    MarketParams,
    Params,
    SocializedLossMethod,
    decimal_to_wad,
    load_params,
)
from protocol.scenarios import BTC_PERP, default_params

__all__ = [
    "FEED_MODELS",
    "MAX_PATHS",
    "FeedPath",
    "FundingConfig",
    "KeeperConfig",
    "LiquidityConfig",
    "OracleConfig",
    "PriceConfig",
    "ProtocolConfig",
    "StudyConfig",
    "TraderConfig",
    "load_study",
]

PRICE_MODELS = ("gbm", "merton", "garch", "bridge", "historical")
#: Protocol fields that are not exact decimals.
_PROTOCOL_PLAIN = ("params", "markets", "socialized_loss_method")

#: Most paths a study may have (``run.paths``).
MAX_PATHS: Final = 10**7


def _number(where: str, value: object, lo: float, hi: float, *, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise InvalidParameter(f"{where} must be {kind}, got {value!r}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidParameter(f"{where} = {value!r} is out of range [{lo:g}, {hi:g}]")


def _check_csv(where: str, value: object) -> None:
    """A kline CSV path: empty (none) or a file that exists now, so a study fails before it runs."""
    if not isinstance(value, str):
        raise InvalidParameter(f"{where} must be a path string, got {value!r}")
    if value and not Path(value).is_file():
        raise InvalidParameter(f"{where} = {value!r}: no such file; give the path of an existing kline CSV")


@dataclass(frozen=True)
class RunConfig:
    """Size and seed of the study."""

    name: str = "stress"
    #: Monte Carlo paths.
    paths: int = 64
    #: Grid steps per path (one block per step).
    steps: int = 720
    #: Seconds per step.
    step_s: int = 60
    #: Root seed: ``SeedSequence(seed)`` spawns the book's seed and one seed per path.
    seed: int = 20200312
    #: Trader accounts in the book.
    accounts: int = 1_000

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidParameter(f"run.name must be a non-empty string, got {self.name!r}")
        _number("run.paths", self.paths, 1, MAX_PATHS, integer=True)
        _number("run.steps", self.steps, 1, 10**7, integer=True)
        _number("run.step_s", self.step_s, 1, 86_400, integer=True)
        _number("run.seed", self.seed, 0, 2**128 - 1, integer=True)
        _number("run.accounts", self.accounts, 2, 10**8, integer=True)


#: How a non-lead feed moves: with the lead, or mean-reverting (stablecoins).
FEED_MODELS = ("follow", "ou")


@dataclass(frozen=True)
class FeedPath:
    """A feed other than the lead's, starting at ``spot`` (USD per base unit).

    * ``model = "follow"``: its log returns follow the lead's with ``price.correlation`` at
      annualised volatility ``sigma`` (:func:`simulator.paths.correlated_follower`);
    * ``model = "ou"``: an Ornstein-Uhlenbeck level around ``spot`` (a stablecoin), reverting at
      ``reversion_per_day`` with ``sigma`` in USD per square-root year
      (:func:`simulator.paths.ornstein_uhlenbeck`);
    * ``csv``: when ``price.model`` is ``historical``, that recorded kline series instead
      (``spot``, ``sigma`` then serve a synthetic fall-back of the same study).
    """

    symbol: str
    spot: float
    sigma: float
    csv: str = ""
    model: str = "follow"
    reversion_per_day: float = 24.0

    def __post_init__(self) -> None:
        where = f"price.feeds.{self.symbol!r}"
        _number(f"{where}.spot", self.spot, 1e-9, 1e12)
        _number(f"{where}.sigma", self.sigma, 0.0, 20.0)
        _number(f"{where}.reversion_per_day", self.reversion_per_day, 1e-6, 1e6)
        object.__setattr__(self, "spot", float(self.spot))
        object.__setattr__(self, "sigma", float(self.sigma))
        object.__setattr__(self, "reversion_per_day", float(self.reversion_per_day))
        _check_csv(f"{where}.csv", self.csv)
        if self.model not in FEED_MODELS:
            raise InvalidParameter(f"{where}.model = {self.model!r}; allowed: {list(FEED_MODELS)}")


_FEED_KEYS = {f.name for f in dataclasses.fields(FeedPath)} - {"symbol"}
_FEED_DEFAULTS = {f.name: f.default for f in dataclasses.fields(FeedPath) if f.default is not dataclasses.MISSING}


def _feed_paths(raw: object) -> tuple[FeedPath, ...]:
    """``{"ETH/USD": {"spot": 3000.0, "sigma": 1.0}, ...}`` (the TOML form) as FeedPaths."""
    if isinstance(raw, tuple) and all(isinstance(f, FeedPath) for f in raw):
        return raw
    if not isinstance(raw, Mapping):
        raise InvalidParameter(
            'price.feeds must be a table of feed symbol -> {spot, sigma}, e.g. price.feeds."ETH/USD" = '
            f"{{ spot = 3000.0, sigma = 1.0 }}; got {raw!r}"
        )
    out = []
    for symbol, table in raw.items():
        if not isinstance(table, Mapping) or not {"spot", "sigma"} <= set(table) <= _FEED_KEYS:
            raise InvalidParameter(
                f"price.feeds.{symbol!r} must be a table of spot and sigma (optionally "
                f"{sorted(_FEED_KEYS - {'spot', 'sigma'})}), got {table!r}"
            )
        out.append(FeedPath(str(symbol), **table))
    return tuple(out)


@dataclass(frozen=True)
class PriceConfig:
    """Reference price paths (USD per base unit) before liquidation impact.

    The **lead** feed (that of ``protocol.markets[0]``) follows ``model``; every other feed the
    book needs (other markets' feeds, the collateral asset's feed) is listed in ``feeds`` and
    follows the lead's log returns scaled by its volatility ratio, with correlation
    ``correlation`` (1: the lead's returns exactly scaled, as for a historical replay of one
    asset standing in for several).
    """

    #: One of gbm, merton, garch, bridge, historical.
    model: str = "merton"
    spot: float = 30_000.0
    #: Annualised volatility (gbm, merton, bridge).
    sigma: float = 0.8
    #: Annualised drift (gbm, merton).
    mu: float = 0.0
    #: Merton jumps: intensity per year, mean and std of the log jump.
    jumps_per_year: float = 50.0
    jump_mean: float = -0.04
    jump_std: float = 0.06
    #: GARCH(1,1) per-step variance parameters.
    garch_omega: float = 1e-7
    garch_alpha: float = 0.08
    garch_beta: float = 0.9
    #: Brownian bridge: log shock reached at the last step (e.g. log(0.6) for -40 %).
    shock: float = -0.5
    #: Historical: a kline CSV (Binance layout); closes are replayed at ``run.step_s``
    #: (bars resampled by taking every bar's close), scaled by ``vol_scale`` around ``spot``
    #: when ``vol_scale != 1``.
    csv: str = ""
    vol_scale: float = 1.0
    #: Correlation of every other feed's log returns with the lead's.
    correlation: float = 0.8
    #: The other feeds: ``price.feeds."ETH/USD" = { spot = 3000.0, sigma = 1.0 }``.
    feeds: tuple[FeedPath, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "feeds", _feed_paths(self.feeds))
        symbols = [f.symbol for f in self.feeds]
        if len(set(symbols)) != len(symbols):
            raise InvalidParameter(f"price.feeds lists a feed twice: {symbols}")
        _number("price.correlation", self.correlation, -1.0, 1.0)
        if self.model not in PRICE_MODELS:
            raise InvalidParameter(f"price.model = {self.model!r}; allowed: {list(PRICE_MODELS)}")
        _number("price.spot", self.spot, 1e-9, 1e12)
        _number("price.sigma", self.sigma, 0.0, 20.0)
        _number("price.mu", self.mu, -10.0, 10.0)
        _number("price.jumps_per_year", self.jumps_per_year, 0.0, 1e6)
        _number("price.jump_mean", self.jump_mean, -5.0, 5.0)
        _number("price.jump_std", self.jump_std, 0.0, 5.0)
        _number("price.garch_omega", self.garch_omega, 0.0, 1.0)
        _number("price.garch_alpha", self.garch_alpha, 0.0, 1.0)
        _number("price.garch_beta", self.garch_beta, 0.0, 1.0)
        if self.garch_alpha + self.garch_beta >= 1.0:
            raise InvalidParameter("price.garch_alpha + price.garch_beta must be below 1 (stationary variance)")
        _number("price.shock", self.shock, -10.0, 10.0)
        _number("price.vol_scale", self.vol_scale, 1e-6, 100.0)
        _check_csv("price.csv", self.csv)
        if self.model == "historical" and not self.csv:
            raise InvalidParameter("price.csv must name a kline CSV file when price.model = 'historical'")


@dataclass(frozen=True)
class TraderConfig:
    """The book: cross-margined traders opened at the start against a market maker."""

    #: Log-normal leverage: median and log-standard deviation; capped below the initial margin.
    leverage_median: float = 4.0
    leverage_sigma: float = 0.7
    #: Log-normal collateral (USD): median and log-standard deviation.
    collateral_median_usd: float = 10_000.0
    collateral_sigma: float = 1.2
    #: Share of traders that are long.
    long_fraction: float = 0.6
    #: Highest leverage as a share of the market's cap ``1 / initial fraction``.
    max_leverage_share: float = 0.95
    #: Market maker's collateral as a multiple of the book's net notional.
    market_maker_capital: float = 0.5
    #: Cross-margin: each trader opens in one traded market drawn uniformly, and in every other
    #: traded market with this probability; its leverage is spread evenly over its positions
    #: and each side is drawn with ``long_fraction``.
    cross_market_probability: float = 0.5
    #: Share of each trader's collateral value deposited as ``collateral_asset_id`` (valued at
    #: its oracle price; its haircut lowers the leverage it backs); the rest is settlement token.
    collateral_asset_share: float = 0.0
    collateral_asset_id: int = 1

    def __post_init__(self) -> None:
        _number("traders.leverage_median", self.leverage_median, 1e-3, 1e3)
        _number("traders.leverage_sigma", self.leverage_sigma, 0.0, 5.0)
        _number("traders.collateral_median_usd", self.collateral_median_usd, 1.0, 1e10)
        _number("traders.collateral_sigma", self.collateral_sigma, 0.0, 5.0)
        _number("traders.long_fraction", self.long_fraction, 0.0, 1.0)
        _number("traders.max_leverage_share", self.max_leverage_share, 1e-3, 0.999)
        _number("traders.market_maker_capital", self.market_maker_capital, 0.01, 1e3)
        _number("traders.cross_market_probability", self.cross_market_probability, 0.0, 1.0)
        _number("traders.collateral_asset_share", self.collateral_asset_share, 0.0, 1.0)
        _number("traders.collateral_asset_id", self.collateral_asset_id, 1, 2**32 - 1, integer=True)


@dataclass(frozen=True)
class KeeperConfig:
    """Liquidation keepers: a delay and a gas budget per block shared by every keeper transaction
    (position liquidations, deleveragings, collateral purchases)."""

    #: Blocks between seeing an account below maintenance and the liquidation landing.
    latency_blocks: int = 1
    #: Extra random delay: each liquidation waits ``Poisson(jitter_blocks)`` more blocks.
    jitter_blocks: float = 0.5
    #: Gas the keepers spend per block, and gas per transaction kind (see tests/chain/gas_snapshot.json).
    gas_budget_per_block: int = 3_000_000
    gas_per_liquidation: int = 300_000
    gas_per_deleverage: int = 320_000
    gas_per_collateral_liquidation: int = 120_000
    #: The keeper's own collateral (USD): it takes over liquidated positions and must keep
    #: meeting initial margin to take more.
    capital_usd: float = 2e8
    #: The collateral liquidator's settlement balance (USD): it pays for the collateral it buys.
    liquidator_capital_usd: float = 5e7
    #: What the keepers' gas costs: gas price (gwei) and the gas token's price (USD per ETH).
    #: Only the keepers' cost in USD (``keeper_gas_cost_wad``) reads them.
    gas_price_gwei: float = 20.0
    gas_token_usd: float = 3_000.0

    def __post_init__(self) -> None:
        _number("keepers.latency_blocks", self.latency_blocks, 0, 10**6, integer=True)
        _number("keepers.jitter_blocks", self.jitter_blocks, 0.0, 1e6)
        _number("keepers.gas_budget_per_block", self.gas_budget_per_block, 1, 10**10, integer=True)
        _number("keepers.gas_per_liquidation", self.gas_per_liquidation, 1, 10**8, integer=True)
        _number("keepers.gas_per_deleverage", self.gas_per_deleverage, 1, 10**8, integer=True)
        _number("keepers.gas_per_collateral_liquidation", self.gas_per_collateral_liquidation, 1, 10**8, integer=True)
        _number("keepers.capital_usd", self.capital_usd, 0.0, 1e15)
        _number("keepers.liquidator_capital_usd", self.liquidator_capital_usd, 0.0, 1e15)
        _number("keepers.gas_price_gwei", self.gas_price_gwei, 0.0, 1e6)
        _number("keepers.gas_token_usd", self.gas_token_usd, 0.0, 1e9)
        largest = max(self.gas_per_liquidation, self.gas_per_deleverage, self.gas_per_collateral_liquidation)
        if self.gas_budget_per_block < largest:
            raise InvalidParameter(
                f"keepers.gas_budget_per_block = {self.gas_budget_per_block} must cover the costliest keeper "
                f"transaction ({largest} gas)"
            )

    def gas_cost_wad(self, gas: int) -> int:
        """USD WAD ``gas`` costs at ``gas_price_gwei`` and ``gas_token_usd``: ``gas * gwei * 1e-9``
        ETH at the token's price, rounded UP (the keepers' cost is not understated); each float
        read by its shortest decimal form."""
        if isinstance(gas, bool) or not isinstance(gas, int) or gas < 0:
            raise InvalidParameter(f"gas must be a non-negative integer, got {gas!r}")
        with localcontext() as ctx:
            ctx.prec = 80  # exact for every value the ranges allow
            gwei, usd = Decimal(str(self.gas_price_gwei)), Decimal(str(self.gas_token_usd))
            return math.ceil(Decimal(gas) * gwei * usd * 10**9)


@dataclass(frozen=True)
class LiquidityConfig:
    """Price impact of keepers unwinding liquidated positions on the outside market."""

    #: Notional (USD) that moves the log price by 1 (linear impact ``notional / depth``).
    depth_usd: float = 2e9
    #: Half-life of the impact, in steps (the outside market refills).
    half_life_steps: float = 20.0

    def __post_init__(self) -> None:
        _number("liquidity.depth_usd", self.depth_usd, 1.0, 1e18)
        _number("liquidity.half_life_steps", self.half_life_steps, 1e-3, 1e9)


@dataclass(frozen=True)
class OracleConfig:
    """The push feed in front of the protocol (deviation / heartbeat rule, latency, outages)."""

    #: The feed publishes when the price moved this much since its last publication ...
    deviation_bps: float = 50.0
    #: ... or this long after it (s).
    heartbeat_s: int = 3_600
    #: Steps between a publication and the protocol receiving it.
    latency_steps: int = 0
    #: Outages: starts per day and mean length (steps); nothing is published during one.
    outages_per_day: float = 0.5
    outage_mean_steps: float = 30.0

    def __post_init__(self) -> None:
        _number("oracle.deviation_bps", self.deviation_bps, 0.0, 10_000.0)
        _number("oracle.heartbeat_s", self.heartbeat_s, 1, 10**7, integer=True)
        _number("oracle.latency_steps", self.latency_steps, 0, 10**6, integer=True)
        _number("oracle.outages_per_day", self.outages_per_day, 0.0, 1e4)
        _number("oracle.outage_mean_steps", self.outage_mean_steps, 0.0, 1e7)


@dataclass(frozen=True)
class FundingConfig:
    """The perp's premium over the index: an Ornstein-Uhlenbeck basis sets the funding rate."""

    #: Stationary standard deviation of the premium (fraction of the price) and its
    #: mean-reversion speed per day; rate = premium / interval, reset every ``interval_steps``.
    premium_sigma: float = 0.001
    premium_speed_per_day: float = 24.0
    interval_steps: int = 60
    #: Seconds over which the premium is charged (8 h, like most venues).
    premium_period_s: int = 28_800

    def __post_init__(self) -> None:
        _number("funding.premium_sigma", self.premium_sigma, 0.0, 1.0)
        _number("funding.premium_speed_per_day", self.premium_speed_per_day, 0.0, 1e6)
        _number("funding.interval_steps", self.interval_steps, 1, 10**7, integer=True)
        _number("funding.premium_period_s", self.premium_period_s, 1, 10**8, integer=True)


@dataclass(frozen=True)
class ProtocolConfig:
    """The protocol under test: a parameter file (default: the built-in parameters) with overrides.

    ``markets`` are the perpetuals the book trades, cross-margined (the first is the lead: its
    feed follows ``price.model``). Margin overrides apply to every traded market, ``max_move``
    to every feed the book uses. Overrides are exact decimals (WAD fractions / USD) or None to
    keep the file's value.
    """

    #: TOML parameter file (:func:`protocol.params.load_params`); empty for the built-in set.
    params: str = ""
    markets: tuple[int, ...] = (BTC_PERP,)
    initial_margin_fraction: Decimal | None = None
    maintenance_share: Decimal | None = None
    liquidation_penalty: Decimal | None = None
    liquidation_spread: Decimal | None = None
    max_liquidation_notional_per_block: Decimal | None = None
    socialized_loss_method: str | None = None
    #: The feeds' guard: largest accepted move between two readings (fraction).
    max_move: Decimal | None = None
    #: Insurance fund seeded by governance at the start (USD).
    insurance_fund_usd: Decimal = Decimal(1_000_000)

    def __post_init__(self) -> None:
        if not isinstance(self.params, str):
            raise InvalidParameter(f"protocol.params must be a path string, got {self.params!r}")
        markets = self.markets
        if not isinstance(markets, list | tuple) or not markets:
            raise InvalidParameter(
                f"protocol.markets must be a non-empty list of market ids, e.g. [0, 1]; got {markets!r}"
            )
        for m in markets:
            _number("protocol.markets[]", m, 0, 2**32 - 1, integer=True)
        if len(set(markets)) != len(markets):
            raise InvalidParameter(f"protocol.markets lists a market twice: {list(markets)}")
        object.__setattr__(self, "markets", tuple(markets))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _PROTOCOL_PLAIN or value is None:
                continue
            wad = _wad(f"protocol.{f.name}", value)  # validates the decimal
            if wad < 0:
                raise InvalidParameter(f"protocol.{f.name} must not be negative, got {value}")
            object.__setattr__(self, f.name, Decimal(wad) / WAD)
        if self.socialized_loss_method is not None:
            allowed = [m.value for m in SocializedLossMethod]
            if self.socialized_loss_method not in allowed:
                raise InvalidParameter(
                    f"protocol.socialized_loss_method = {self.socialized_loss_method!r}; allowed: {allowed}"
                )

    def build(self) -> Params:
        """The validated protocol parameters with the overrides applied."""
        base = load_params(self.params) if self.params else default_params()
        for market_id in self.markets:
            try:
                mp = base.market(market_id)
            except InvalidParameter:
                raise InvalidParameter(f"protocol.markets: {market_id} is not a market of the parameters") from None
            if mp.is_option:
                raise InvalidParameter(f"protocol.markets: {market_id} is an option; the simulator runs perpetuals")

        def wad(name: str) -> int | None:
            value = getattr(self, name)
            return None if value is None else _wad(f"protocol.{name}", value)

        market_changes: dict[str, Any] = {
            k: v
            for k, v in (
                ("initial_margin_fraction_wad", wad("initial_margin_fraction")),
                ("maintenance_share_wad", wad("maintenance_share")),
            )
            if v is not None
        }
        proto_changes: dict[str, Any] = {
            k: v
            for k, v in (
                ("liquidation_penalty_wad", wad("liquidation_penalty")),
                ("liquidation_spread_wad", wad("liquidation_spread")),
                ("max_liquidation_notional_per_block_wad", wad("max_liquidation_notional_per_block")),
            )
            if v is not None
        }
        if self.socialized_loss_method is not None:
            proto_changes["socialized_loss_method"] = SocializedLossMethod(self.socialized_loss_method)
        max_move = wad("max_move")
        try:
            markets: tuple[MarketParams, ...] = tuple(
                dataclasses.replace(m, **market_changes) if m.market_id in self.markets else m for m in base.markets
            )
            feeds: tuple[FeedParams, ...] = tuple(
                dataclasses.replace(f, max_move_wad=max_move) if max_move is not None else f for f in base.feeds
            )
            return dataclasses.replace(
                base,
                protocol=dataclasses.replace(base.protocol, **proto_changes),
                markets=markets,
                feeds=feeds,
            )
        except InvalidParameter as exc:
            raise InvalidParameter(f"protocol overrides: {exc}") from None


_SECTIONS: dict[str, type[Any]] = {
    "run": RunConfig,
    "price": PriceConfig,
    "traders": TraderConfig,
    "keepers": KeeperConfig,
    "liquidity": LiquidityConfig,
    "oracle": OracleConfig,
    "funding": FundingConfig,
    "protocol": ProtocolConfig,
}


def _section(name: str, raw: object) -> Any:
    cls = _SECTIONS[name]
    if not isinstance(raw, Mapping):
        raise InvalidParameter(f"[{name}] must be a table, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise InvalidParameter(f"{name}.{key} is not a known field; allowed: {sorted(fields)}")
        default = fields[key].default
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # 30000 for 30000.0
        if name == "protocol" and key not in _PROTOCOL_PLAIN:
            value = None if value is None else _decimal(f"protocol.{key}", value)
        kwargs[key] = value
    return cls(**kwargs)


def _plain(value: object) -> Any:
    """A field's TOML/JSON form: decimals as strings, feed paths as ``{symbol: {spot, sigma}}``."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple) and all(isinstance(f, FeedPath) for f in value):  # () is price.feeds: {}
        return {
            f.symbol: {k: getattr(f, k) for k in sorted(_FEED_KEYS) if getattr(f, k) != _FEED_DEFAULTS.get(k)}
            | {"spot": f.spot, "sigma": f.sigma}
            for f in value
        }
    if isinstance(value, tuple):
        return list(value)
    return value


def _wad(where: str, value: object) -> int:
    return decimal_to_wad(where, str(value) if isinstance(value, Decimal) else value)


def _decimal(where: str, value: object) -> Decimal:
    return Decimal(_wad(where, value)) / WAD


@dataclass(frozen=True)
class StudyConfig:
    """Everything a study needs; frozen, comparable, serialisable (:meth:`to_dict`)."""

    run: RunConfig = field(default_factory=RunConfig)
    price: PriceConfig = field(default_factory=PriceConfig)
    traders: TraderConfig = field(default_factory=TraderConfig)
    keepers: KeeperConfig = field(default_factory=KeeperConfig)
    liquidity: LiquidityConfig = field(default_factory=LiquidityConfig)
    oracle: OracleConfig = field(default_factory=OracleConfig)
    funding: FundingConfig = field(default_factory=FundingConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise InvalidParameter(f"StudyConfig.{name} must be a {cls.__name__}")
        pp = self.book_params().protocol  # the overrides form valid parameters, price.feeds cover the book
        if pp.socialized_loss_method is SocializedLossMethod.ADL and self.run.step_s > 2 * pp.adl_window_s:
            # one block per step: a proposal made at one step must reach its execution window
            # [deadline, deadline + adl_window_s] at a later step before it expires
            raise InvalidParameter(
                f"run.step_s = {self.run.step_s} exceeds twice the ADL window ({pp.adl_window_s} s): every "
                "deleveraging proposal would expire between two steps; shorten run.step_s or raise "
                "adl_window_s in the protocol parameters"
            )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> StudyConfig:
        """Build from a mapping shaped like the TOML file."""
        if not isinstance(raw, Mapping):
            raise InvalidParameter(f"a study must be a table of sections, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(_SECTIONS))
        if unknown:
            raise InvalidParameter(f"unknown sections {unknown}; allowed: {sorted(_SECTIONS)}")
        return cls(**{name: _section(name, value) for name, value in raw.items()})

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain JSON-able mapping (decimals as strings) that :meth:`from_dict` reads back."""
        out: dict[str, dict[str, Any]] = {}
        for name in _SECTIONS:
            section = getattr(self, name)
            out[name] = {
                f.name: _plain(v) for f in dataclasses.fields(section) if (v := getattr(section, f.name)) is not None
            }
        return out

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` without ``run.paths`` (identifies a
        study for resuming and extending: path ``i`` is seeded by ``SeedSequence(run.seed,
        spawn_key=(1, i))`` whatever the total, so 16 paths are the first 16 of 1,000)."""
        raw = self.to_dict()
        raw["run"] = {k: v for k, v in raw["run"].items() if k != "paths"}
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def override(self, changes: Mapping[str, object]) -> StudyConfig:
        """A copy with ``{"section.field": value}`` changes (sweeps); names are checked."""
        raw = self.to_dict()
        for dotted, value in changes.items():
            section, _, key = str(dotted).partition(".")
            if section not in _SECTIONS or not key:
                raise InvalidParameter(
                    f"sweep key {dotted!r} must be 'section.field' with a section in {sorted(_SECTIONS)}"
                )
            names = {f.name for f in dataclasses.fields(_SECTIONS[section])}
            if key not in names:
                raise InvalidParameter(
                    f"sweep key {dotted!r}: {section} has no field {key!r}; allowed: {sorted(names)}"
                )
            raw[section][key] = str(value) if isinstance(value, Decimal) else value
        return StudyConfig.from_dict(raw)

    def book_seed(self) -> np.random.SeedSequence:
        """Seed of the trader book (shared by every path): spawn key ``(0,)`` of ``run.seed``."""
        return np.random.SeedSequence(self.run.seed, spawn_key=(0,))

    def path_seed(self, path_index: int) -> np.random.SeedSequence:
        """Seed of path ``path_index``: ``SeedSequence(run.seed, spawn_key=(1,)).spawn(n)[path_index]``."""
        if isinstance(path_index, bool) or not isinstance(path_index, int) or not 0 <= path_index < self.run.paths:
            raise InvalidParameter(f"path_index must be an integer in [0, {self.run.paths}), got {path_index!r}")
        return np.random.SeedSequence(self.run.seed, spawn_key=(1, path_index))

    @property
    def params(self) -> Params:
        """The protocol parameters the study runs."""
        return self.protocol.build()

    def book_params(self) -> Params:
        """:attr:`params` restricted to what the book uses: the traded markets, the feeds they
        and the deposited collateral asset read (the lead's first), and that asset."""
        params = self.params
        markets = tuple(params.market(m) for m in self.protocol.markets)
        feed_ids = list(dict.fromkeys(mp.feed_id for mp in markets))
        collaterals: tuple[CollateralParams, ...] = ()
        tc = self.traders
        if tc.collateral_asset_share > 0:
            try:
                cp = params.collateral(tc.collateral_asset_id)
            except InvalidParameter:
                raise InvalidParameter(
                    f"traders.collateral_asset_id = {tc.collateral_asset_id} is not a collateral asset of the "
                    f"parameters (assets: {[c.asset_id for c in params.collaterals]})"
                ) from None
            collaterals = (cp,)
            feed_ids += [cp.feed_id] if cp.feed_id not in feed_ids else []
        feeds = tuple(params.feed(f) for f in feed_ids)
        given = {f.symbol for f in self.price.feeds}
        needed = {fp.symbol for fp in feeds[1:]}
        if needed - given:
            missing = sorted(needed - given)
            raise InvalidParameter(
                f"price.feeds has no path for {missing} (read by the traded markets or the collateral asset); add "
                f'e.g. price.feeds."{missing[0]}" = {{ spot = 3000.0, sigma = 1.0 }}'
            )
        if given - needed:
            raise InvalidParameter(
                f"price.feeds lists {sorted(given - needed)}, which the book does not read (lead feed: "
                f"{feeds[0].symbol}; others: {sorted(needed) or 'none'})"
            )
        return dataclasses.replace(params, markets=markets, feeds=feeds, collaterals=collaterals)

    def feed_path(self, symbol: str) -> FeedPath:
        """The ``price.feeds`` entry of a non-lead feed."""
        for f in self.price.feeds:
            if f.symbol == symbol:
                return f
        raise InvalidParameter(f"price.feeds has no entry for {symbol!r}")


def load_study(path: str | Path, overrides: Mapping[str, object] | None = None) -> StudyConfig:
    """Load and validate a study TOML file; errors name the file and ``section.key``.

    ``overrides`` (``{"section.field": value}``) are applied to the file's tables *before*
    validation, so a field the file leaves to be filled in (e.g. the ``price.csv`` of a replay)
    can be supplied; :meth:`StudyConfig.override` changes an already valid study.
    """
    p = Path(path)
    if overrides is not None and not isinstance(overrides, Mapping):
        raise InvalidParameter(f"overrides must be a mapping 'section.field' -> value, got {type(overrides).__name__}")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameter(f"cannot read study file {p}: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameter(f"study file {p} is not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        section, _, name = str(key).partition(".")
        table = raw.setdefault(section, {})
        if not isinstance(table, dict) or not name:
            raise InvalidParameter(f"{p}: override {key!r} must be 'section.field' with [{section}] a table")
        table[name] = value
    try:
        return StudyConfig.from_dict(raw)
    except InvalidParameter as exc:
        raise InvalidParameter(f"{p}: {exc}") from None
