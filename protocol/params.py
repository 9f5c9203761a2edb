"""Frozen, validated parameters of the protocol, its price feeds, markets and collateral assets.

All fractions and prices are WAD integers (``*_wad``); durations are seconds (``*_s``). Every
invalid field raises :class:`~protocol.errors.InvalidParameter` naming the field, the value and
the allowed range. :func:`load_params` reads the same objects from a TOML file in which WAD
fields are written without the ``_wad`` suffix as exact decimal strings (``"0.05"``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from enum import Enum
from pathlib import Path
from typing import Any

from protocol.constants import (
    MAX_ADL_WINDOW_S,
    MAX_COLLATERAL_LIQUIDATION_FEE,
    MAX_COLLATERALS,
    MAX_DECIMALS,
    MAX_FILL_DEVIATION,
    MAX_FUNDING_RATE_PER_S,
    MAX_FUNDING_RATE_RAMP_S,
    MAX_HEARTBEAT_S,
    MAX_INITIAL_MARGIN_FRACTION,
    MAX_LIQUIDATION_GRACE_S,
    MAX_LIQUIDATION_PENALTY,
    MAX_LIQUIDATION_SPREAD,
    MAX_MARKETS,
    MAX_MOVE_WINDOW_S,
    MAX_PRICE_MOVE,
    MIN_ADL_WINDOW_S,
    MIN_FUNDING_RATE_RAMP_S,
    MIN_HEARTBEAT_S,
    MIN_INITIAL_MARGIN_FRACTION,
    MIN_MOVE_WINDOW_S,
    SETTLEMENT_ASSET_ID,
    WAD,
)
from protocol.errors import InvalidParameter

__all__ = [
    "CollateralParams",
    "FeedParams",
    "MarketKind",
    "MarketParams",
    "Params",
    "ProtocolParams",
    "SocializedLossMethod",
    "decimal_to_wad",
    "load_params",
    "params_from_dict",
]


class MarketKind(Enum):
    """What a market trades."""

    PERPETUAL = "perpetual"
    #: European cash-settled call on the feed's price: pays max(S - K, 0) per unit at expiry.
    CALL = "call"
    #: European cash-settled put: pays max(K - S, 0) per unit at expiry.
    PUT = "put"


class SocializedLossMethod(Enum):
    """How a shortfall the insurance fund cannot cover is absorbed."""

    #: Spread over the opposite side's open interest through a per-side loss index (Drift-like).
    PRO_RATA = "pro_rata"
    #: Close the bankrupt position against ranked opposite positions at the bankruptcy price.
    ADL = "adl"


def _wad_text(value: int) -> str:
    """A WAD integer as the exact decimal a parameter file would hold (``500000000000000000`` -> ``0.5``)."""
    text = format(Decimal(value).scaleb(-18), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _check_int(owner: str, name: str, value: object, lo: int, hi: int | None) -> None:
    """Range check of one field. A ``*_wad`` field is named and shown as a parameter file writes
    it (without the suffix, as a decimal), so the message names what the user typed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(f"{owner}.{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        show = _wad_text if name.endswith("_wad") else str
        upper = "no limit" if hi is None else show(hi)
        raise InvalidParameter(
            f"{owner}.{name.removesuffix('_wad')} = {show(value)} is out of range [{show(lo)}, {upper}]"
        )


def _check_str(owner: str, name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(f"{owner}.{name} must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class FeedParams:
    """A price feed the oracle adapter accepts prices for (USD per base unit)."""

    feed_id: int
    symbol: str
    #: A price older than this many seconds is untrusted.
    heartbeat_s: int
    #: Largest accepted move against the last good price, as a WAD fraction (1e18 = 100 %).
    max_move_wad: int
    #: Seconds over which the allowed move grows linearly from 0 to ``max_move_wad`` (the move
    #: bound per unit of time, docs/SPEC.md §3).
    move_window_s: int = 60

    def __post_init__(self) -> None:
        o = f"feed[{self.feed_id}]"
        _check_int(o, "feed_id", self.feed_id, 0, 2**32 - 1)
        _check_str(o, "symbol", self.symbol)
        _check_int(o, "heartbeat_s", self.heartbeat_s, MIN_HEARTBEAT_S, MAX_HEARTBEAT_S)
        _check_int(o, "max_move_wad", self.max_move_wad, 1, MAX_PRICE_MOVE)
        _check_int(o, "move_window_s", self.move_window_s, MIN_MOVE_WINDOW_S, MAX_MOVE_WINDOW_S)


@dataclass(frozen=True)
class MarketParams:
    """A perpetual market: margin fractions and the open-interest scaling of initial margin."""

    market_id: int
    symbol: str
    feed_id: int
    #: Base initial margin fraction (WAD), in [0.1 %, 1000 %]. Leverage cap = 1 / fraction: below 1
    #: for a fraction above 100 % of notional (very volatile markets; docs/SPEC.md §2, §4).
    initial_margin_fraction_wad: int
    #: Maintenance fraction as a share of the (effective) initial fraction (WAD, exclusive bounds).
    maintenance_share_wad: int
    #: Open-interest notional (USD WAD) where the initial fraction starts growing; 0 disables.
    oi_cap_lower_wad: int = 0
    #: Open-interest notional (USD WAD) where the initial fraction reaches 100 %.
    oi_cap_upper_wad: int = 0
    kind: MarketKind = MarketKind.PERPETUAL
    #: Options only: strike (USD per base unit, WAD), expiry (s), implied volatility for margin
    #: (annualised WAD fraction).
    strike_wad: int = 0
    expiry_s: int = 0
    volatility_wad: int = 0
    #: Options only: continuous yield ``q`` of the underlying the option is priced with
    #: (:mod:`protocol.black_scholes`): a dividend, staking or lending yield, or a currency's
    #: foreign rate; annualised, continuously compounded, signed WAD fraction (``0.04`` = 4 %
    #: per year) in [-100 %, 100 %]. 0 prices an underlying that pays nothing.
    dividend_yield_wad: int = 0

    @property
    def is_option(self) -> bool:
        """True for calls and puts."""
        return self.kind is not MarketKind.PERPETUAL

    def __post_init__(self) -> None:
        o = f"market[{self.market_id}]"
        if not isinstance(self.kind, MarketKind):
            raise InvalidParameter(f"{o}.kind must be one of {[k.value for k in MarketKind]}, got {self.kind!r}")
        option_fields = {
            "strike_wad": self.strike_wad,
            "expiry_s": self.expiry_s,
            "volatility_wad": self.volatility_wad,
            "dividend_yield_wad": self.dividend_yield_wad,
        }
        if self.is_option:
            _check_int(o, "strike_wad", self.strike_wad, 1, 10**36)
            _check_int(o, "expiry_s", self.expiry_s, 1, 2**64 - 1)
            _check_int(o, "volatility_wad", self.volatility_wad, WAD // 1000, 10 * WAD)
            _check_int(o, "dividend_yield_wad", self.dividend_yield_wad, -WAD, WAD)
        else:
            for name, value in option_fields.items():
                if value != 0:
                    raise InvalidParameter(f"{o}.{name} = {value!r} applies to options only; a perpetual needs 0")
        _check_int(o, "market_id", self.market_id, 0, MAX_MARKETS - 1)
        _check_str(o, "symbol", self.symbol)
        _check_int(o, "feed_id", self.feed_id, 0, 2**32 - 1)
        _check_int(
            o,
            "initial_margin_fraction_wad",
            self.initial_margin_fraction_wad,
            MIN_INITIAL_MARGIN_FRACTION,
            MAX_INITIAL_MARGIN_FRACTION,
        )
        _check_int(o, "maintenance_share_wad", self.maintenance_share_wad, 1, WAD - 1)
        _check_int(o, "oi_cap_lower_wad", self.oi_cap_lower_wad, 0, None)
        _check_int(o, "oi_cap_upper_wad", self.oi_cap_upper_wad, 0, None)
        scaling = (self.oi_cap_lower_wad, self.oi_cap_upper_wad) != (0, 0)
        if scaling and self.oi_cap_upper_wad <= self.oi_cap_lower_wad:
            raise InvalidParameter(
                f"{o}.oi_cap_upper_wad = {self.oi_cap_upper_wad} must exceed oi_cap_lower_wad = "
                f"{self.oi_cap_lower_wad} (set both to 0 to disable open-interest scaling)"
            )


@dataclass(frozen=True)
class CollateralParams:
    """A non-settlement collateral asset valued by the oracle with a haircut and a cap."""

    asset_id: int
    symbol: str
    decimals: int
    feed_id: int
    #: Fraction of the oracle value not counted toward equity (WAD, < 100 %).
    haircut_wad: int
    #: Discount to the oracle price a collateral liquidator pays (WAD, < 100 %).
    liquidation_discount_wad: int
    #: Largest total deposit across all accounts, in token units.
    deposit_cap: int
    #: Largest value (USD WAD) of this asset counted in one account's equity.
    value_cap_wad: int
    #: Largest holding of one account, in token units (at most ``deposit_cap``): no single
    #: account can fill the global cap and block the others' top-ups.
    account_deposit_cap: int

    def __post_init__(self) -> None:
        o = f"collateral[{self.asset_id}]"
        _check_int(o, "asset_id", self.asset_id, SETTLEMENT_ASSET_ID + 1, MAX_COLLATERALS)
        _check_str(o, "symbol", self.symbol)
        _check_int(o, "decimals", self.decimals, 0, MAX_DECIMALS)
        _check_int(o, "feed_id", self.feed_id, 0, 2**32 - 1)
        _check_int(o, "haircut_wad", self.haircut_wad, 0, WAD - 1)
        _check_int(o, "liquidation_discount_wad", self.liquidation_discount_wad, 0, WAD - 1)
        _check_int(o, "deposit_cap", self.deposit_cap, 1, None)
        _check_int(o, "value_cap_wad", self.value_cap_wad, 1, None)
        _check_int(o, "account_deposit_cap", self.account_deposit_cap, 1, self.deposit_cap)


@dataclass(frozen=True)
class ProtocolParams:
    """Protocol-wide parameters: fees, liquidation, insurance and socialized loss."""

    settlement_decimals: int = 6
    #: Share of every trading fee paid to the insurance fund; the rest goes to the fee pool.
    insurance_fee_share_wad: int = WAD // 2
    #: Liquidation penalty as a fraction of the closed notional at the oracle price.
    liquidation_penalty_wad: int = WAD // 40
    #: Share of the penalty paid to the keeper; the rest goes to the insurance fund.
    keeper_penalty_share_wad: int = WAD // 2
    #: Where between the oracle and the bankruptcy price a liquidation closes (0 = oracle).
    liquidation_spread_wad: int = 0
    #: Largest notional (USD WAD at the oracle) liquidated in one block.
    max_liquidation_notional_per_block_wad: int = 10**6 * WAD
    #: A partial liquidation that would leave less notional than this closes the whole position.
    dust_notional_wad: int = 10 * WAD
    #: Largest distance of a fill price from the oracle price (WAD fraction).
    max_fill_deviation_wad: int = WAD // 20
    #: Largest funding rate magnitude, fraction of the price per second (WAD).
    max_funding_rate_per_s_wad: int = WAD // 86_400 // 100
    #: Rate-of-change limit of the funding rate: seconds a move across ``max_funding_rate_per_s``
    #: takes at the fastest (the rate moves at most ``max * elapsed / ramp`` per update).
    funding_rate_ramp_s: int = 3_600
    #: Seconds after an unpause before liquidations resume (traders may restore their margin).
    liquidation_grace_s: int = 900
    #: ADL proposal queue (F-04, F-10): seconds during which a proposed counterparty list may be
    #: challenged by a higher-ranked one; it executes in the next window, then expires.
    adl_window_s: int = 300
    #: Share of collateral-liquidation proceeds paid to the insurance fund.
    collateral_liquidation_fee_wad: int = WAD // 100
    socialized_loss_method: SocializedLossMethod = SocializedLossMethod.PRO_RATA
    #: Portfolio margin of option accounts: price scan range (fraction of the price) and
    #: volatility scan range (fraction of the implied volatility) of the scenario grid.
    option_price_scan_range_wad: int = 15 * WAD // 100
    option_vol_scan_range_wad: int = WAD // 4
    #: Minimum maintenance charge per unit of short option, as a fraction of the price.
    short_option_minimum_wad: int = WAD // 100
    #: Maintenance share of the portfolio requirement: initial = maintenance / share.
    portfolio_maintenance_share_wad: int = 8 * WAD // 10

    def __post_init__(self) -> None:
        o = "protocol"
        _check_int(o, "settlement_decimals", self.settlement_decimals, 0, MAX_DECIMALS)
        _check_int(o, "insurance_fee_share_wad", self.insurance_fee_share_wad, 0, WAD)
        _check_int(o, "liquidation_penalty_wad", self.liquidation_penalty_wad, 0, MAX_LIQUIDATION_PENALTY)
        _check_int(o, "keeper_penalty_share_wad", self.keeper_penalty_share_wad, 0, WAD)
        _check_int(o, "liquidation_spread_wad", self.liquidation_spread_wad, 0, MAX_LIQUIDATION_SPREAD)
        _check_int(
            o,
            "max_liquidation_notional_per_block_wad",
            self.max_liquidation_notional_per_block_wad,
            1,
            None,
        )
        _check_int(o, "dust_notional_wad", self.dust_notional_wad, 0, None)
        _check_int(o, "max_fill_deviation_wad", self.max_fill_deviation_wad, 1, MAX_FILL_DEVIATION)
        _check_int(o, "max_funding_rate_per_s_wad", self.max_funding_rate_per_s_wad, 0, MAX_FUNDING_RATE_PER_S)
        _check_int(o, "funding_rate_ramp_s", self.funding_rate_ramp_s, MIN_FUNDING_RATE_RAMP_S, MAX_FUNDING_RATE_RAMP_S)
        _check_int(o, "liquidation_grace_s", self.liquidation_grace_s, 0, MAX_LIQUIDATION_GRACE_S)
        _check_int(o, "adl_window_s", self.adl_window_s, MIN_ADL_WINDOW_S, MAX_ADL_WINDOW_S)
        _check_int(
            o, "collateral_liquidation_fee_wad", self.collateral_liquidation_fee_wad, 0, MAX_COLLATERAL_LIQUIDATION_FEE
        )
        # The extreme SPAN scenarios move the price by 3x the scan range: it must stay positive.
        _check_int(o, "option_price_scan_range_wad", self.option_price_scan_range_wad, 1, (WAD - 1) // 3)
        _check_int(o, "option_vol_scan_range_wad", self.option_vol_scan_range_wad, 0, WAD - 1)
        _check_int(o, "short_option_minimum_wad", self.short_option_minimum_wad, 0, WAD)
        _check_int(o, "portfolio_maintenance_share_wad", self.portfolio_maintenance_share_wad, 1, WAD)
        if not isinstance(self.socialized_loss_method, SocializedLossMethod):
            raise InvalidParameter(
                f"protocol.socialized_loss_method must be one of "
                f"{[m.value for m in SocializedLossMethod]}, got {self.socialized_loss_method!r}"
            )


@dataclass(frozen=True)
class Params:
    """Everything needed to deploy the protocol: protocol, feeds, markets, collateral assets."""

    protocol: ProtocolParams
    feeds: tuple[FeedParams, ...]
    markets: tuple[MarketParams, ...]
    collaterals: tuple[CollateralParams, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.protocol, ProtocolParams):
            raise InvalidParameter("params.protocol must be a ProtocolParams")
        for name, items, cls, key in (
            ("feeds", self.feeds, FeedParams, "feed_id"),
            ("markets", self.markets, MarketParams, "market_id"),
            ("collaterals", self.collaterals, CollateralParams, "asset_id"),
        ):
            if not isinstance(items, tuple) or not all(isinstance(i, cls) for i in items):
                raise InvalidParameter(f"params.{name} must be a tuple of {cls.__name__}")
            ids = [getattr(i, key) for i in items]
            if len(set(ids)) != len(ids):
                raise InvalidParameter(f"params.{name} has a repeated {key}: {sorted(ids)}")
        if not self.markets:
            raise InvalidParameter("params.markets is empty: define at least one market")
        if len(self.markets) > MAX_MARKETS:
            raise InvalidParameter(f"params.markets has {len(self.markets)} > {MAX_MARKETS} markets")
        feed_ids = {f.feed_id for f in self.feeds}
        for m in self.markets:
            if m.feed_id not in feed_ids:
                raise InvalidParameter(f"market[{m.market_id}].feed_id = {m.feed_id} names no feed")
        for c in self.collaterals:
            if c.feed_id not in feed_ids:
                raise InvalidParameter(f"collateral[{c.asset_id}].feed_id = {c.feed_id} names no feed")

    def market(self, market_id: int) -> MarketParams:
        """The market with ``market_id``; raises InvalidParameter for an unknown id."""
        for m in self.markets:
            if m.market_id == market_id:
                return m
        raise InvalidParameter(f"unknown market_id {market_id!r}; known: {self.market_ids}")

    def collateral(self, asset_id: int) -> CollateralParams:
        """The collateral asset with ``asset_id``; raises InvalidParameter for an unknown id."""
        for c in self.collaterals:
            if c.asset_id == asset_id:
                return c
        raise InvalidParameter(
            f"unknown collateral asset_id {asset_id!r}; known: {[c.asset_id for c in self.collaterals]}"
        )

    def feed(self, feed_id: int) -> FeedParams:
        """The feed with ``feed_id``; raises InvalidParameter for an unknown id."""
        for f in self.feeds:
            if f.feed_id == feed_id:
                return f
        raise InvalidParameter(f"unknown feed_id {feed_id!r}; known: {[f.feed_id for f in self.feeds]}")

    @property
    def market_ids(self) -> list[int]:
        """Ids of all markets, in declaration order."""
        return [m.market_id for m in self.markets]


# --------------------------------------------------------------------------- TOML loading


def decimal_to_wad(where: str, value: object) -> int:
    """Exact WAD integer of a decimal given as str, int or float (via its shortest repr);
    InvalidParameter naming ``where`` if it is not a finite decimal with at most 18 places."""
    if isinstance(value, bool):
        raise InvalidParameter(f"{where} must be a decimal number, got {value!r}")
    if isinstance(value, int | float | str):
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            raise InvalidParameter(f"{where} must be a decimal number, got {value!r}") from None
        with localcontext() as exact:
            exact.prec = 200  # never round: a value that does not fit exactly is refused below
            scaled = d * WAD
        if not d.is_finite() or scaled != scaled.to_integral_value():
            raise InvalidParameter(f"{where} = {value!r} is not a finite decimal with at most 18 places")
        return int(scaled)
    raise InvalidParameter(f"{where} must be a decimal number, got {value!r}")


def _build(cls: type[Any], where: str, raw: object) -> Any:
    if not isinstance(raw, dict):
        raise InvalidParameter(f"{where} must be a table, got {type(raw).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        name = key if key in fields else f"{key}_wad"
        if name not in fields:
            allowed = sorted(f.removesuffix("_wad") for f in fields)
            raise InvalidParameter(f"{where}.{key} is not a known field; allowed: {allowed}")
        if name.endswith("_wad"):
            kwargs[name] = decimal_to_wad(f"{where}.{key}", value)
        elif name in ("socialized_loss_method", "kind"):
            enum: type[Enum] = SocializedLossMethod if name == "socialized_loss_method" else MarketKind
            try:
                kwargs[name] = enum(value)
            except ValueError:
                allowed_m = [m.value for m in enum]
                raise InvalidParameter(f"{where}.{key} = {value!r}; allowed: {allowed_m}") from None
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InvalidParameter(f"{where}: {exc}") from None


def params_from_dict(raw: dict[str, Any]) -> Params:
    """Build :class:`Params` from a mapping shaped like the TOML file (see :func:`load_params`)."""
    if not isinstance(raw, dict):
        raise InvalidParameter("parameters must be a table with protocol, feed, market, collateral")
    unknown = set(raw) - {"protocol", "feed", "market", "collateral"}
    if unknown:
        raise InvalidParameter(
            f"unknown top-level tables {sorted(unknown)}; allowed: protocol, feed, market, collateral"
        )

    def _list(key: str) -> list[object]:
        value = raw.get(key, [])
        if not isinstance(value, list):
            raise InvalidParameter(f"[[{key}]] must be an array of tables")
        return value

    return Params(
        protocol=_build(ProtocolParams, "protocol", raw.get("protocol", {})),
        feeds=tuple(_build(FeedParams, f"feed[{i}]", r) for i, r in enumerate(_list("feed"))),
        markets=tuple(_build(MarketParams, f"market[{i}]", r) for i, r in enumerate(_list("market"))),
        collaterals=tuple(_build(CollateralParams, f"collateral[{i}]", r) for i, r in enumerate(_list("collateral"))),
    )


def load_params(path: str | Path) -> Params:
    """Load and validate parameters from a TOML file.

    Layout: a ``[protocol]`` table and arrays of tables ``[[feed]]``, ``[[market]]``,
    ``[[collateral]]``. WAD fields drop the ``_wad`` suffix and take exact decimals, e.g.
    ``initial_margin_fraction = "0.05"``.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameter(f"cannot read parameter file {p}: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameter(f"parameter file {p} is not valid TOML: {exc}") from None
    try:
        return params_from_dict(raw)
    except InvalidParameter as exc:
        raise InvalidParameter(f"{p}: {exc}") from None
