"""Price vectors: validation and the per-market, per-asset scalars the screen multiplies by.

A price vector maps ``feed_id -> price_wad`` (USD per base unit, exact WAD integer), the same
shape :func:`protocol.margin.account_health` takes. Effective margin fractions depend on the
price through open interest, so they are recomputed exactly per vector with the model's own
:func:`~protocol.margin.initial_fraction` and :func:`~protocol.margin.maintenance_fraction`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.constants import INT256_MAX, WAD
from protocol.errors import InvalidParameter
from protocol.margin import initial_fraction, maintenance_fraction
from protocol.params import CollateralParams, MarketParams
from protocol.state import MarketState

__all__ = ["PriceScalars", "price_scalars", "validate_prices"]

_WAD2 = WAD * WAD


def _needed_feeds(perpetuals: Sequence[MarketParams], collaterals: Sequence[CollateralParams]) -> dict[int, str]:
    needed: dict[int, str] = {}
    for mp in perpetuals:
        needed.setdefault(mp.feed_id, f"market {mp.market_id} ({mp.symbol})")
    for cp in collaterals:
        needed.setdefault(cp.feed_id, f"collateral asset {cp.asset_id} ({cp.symbol})")
    return needed


def _coerce_price(feed_id: int, who: str, value: object) -> int:
    where = f"prices[{feed_id}] (feed of {who})"
    if isinstance(value, bool | np.bool_):
        raise InvalidParameter(f"{where} is a boolean; pass the price as an exact WAD integer")
    if isinstance(value, float | np.floating):
        what = "NaN" if math.isnan(value) else f"the float {value!r}"
        raise InvalidParameter(
            f"{where} is {what}; prices are exact WAD integers (USD per base unit * 10**18), "
            "convert with protocol.units.to_wad"
        )
    if not isinstance(value, int | np.integer):
        raise InvalidParameter(f"{where} must be an integer WAD price, got {type(value).__name__} {value!r}")
    price = int(value)
    if price <= 0:
        raise InvalidParameter(f"{where} = {price} must be positive (the oracle never accepts a price <= 0)")
    if price > INT256_MAX:
        raise InvalidParameter(f"{where} = {price} exceeds int256")
    return price


def validate_prices(
    perpetuals: Sequence[MarketParams], collaterals: Sequence[CollateralParams], prices: object
) -> dict[int, int]:
    """Every feed the book's markets and collateral assets use, as exact positive ``int`` WAD.

    Raises InvalidParameter naming the feed for a missing, NaN, float, zero or negative price.
    Extra feeds are ignored.
    """
    if not isinstance(prices, Mapping):
        raise InvalidParameter(f"prices must be a mapping feed_id -> price_wad, got {type(prices).__name__}")
    checked: dict[int, int] = {}
    for feed_id, who in _needed_feeds(perpetuals, collaterals).items():
        if feed_id not in prices:
            raise InvalidParameter(
                f"prices has no entry for feed {feed_id}, needed by {who}; "
                "pass a price for every feed of the book's markets and collateral assets"
            )
        checked[feed_id] = _coerce_price(feed_id, who, prices[feed_id])
    return checked


@dataclass(frozen=True, eq=False)
class PriceScalars:
    """Per-market and per-asset float64 scalars at one price vector (each rounded once).

    Markets and assets are in the book's column order.
    """

    #: ``(p - F - L_long) / W``: USD per unit of long size (price less funding and loss indices).
    q_long: NDArray[np.float64]
    #: ``(p - F + L_short) / W``: USD per unit of (negative) short size.
    q_short: NDArray[np.float64]
    #: ``p * imf / W**2`` and ``p * mmf / W**2``: requirement in USD per base unit of ``|size|``.
    im_rate: NDArray[np.float64]
    mm_rate: NDArray[np.float64]
    #: ``p * (W - haircut) / W**2``: counted USD per base unit of collateral.
    value_rate: NDArray[np.float64]
    #: Per-account value cap of each asset, USD.
    value_cap: NDArray[np.float64]
    #: The exact effective fractions (WAD), ``market_id -> (initial, maintenance)``.
    fractions: dict[int, tuple[int, int]]


def price_scalars(
    perpetuals: Sequence[MarketParams],
    collaterals: Sequence[CollateralParams],
    markets: Mapping[int, MarketState],
    prices: Mapping[int, int],
) -> PriceScalars:
    """The scalars of ``prices`` (already validated by :func:`validate_prices`)."""
    m, c = len(perpetuals), len(collaterals)
    q_long, q_short = np.empty(m), np.empty(m)
    im_rate, mm_rate = np.empty(m), np.empty(m)
    fractions: dict[int, tuple[int, int]] = {}
    for j, mp in enumerate(perpetuals):
        ms = markets[mp.market_id]
        p = prices[mp.feed_id]
        imf = initial_fraction(mp, ms, p)
        mmf = maintenance_fraction(mp)
        fractions[mp.market_id] = (imf, mmf)
        q_long[j] = (p - ms.funding_index - ms.loss_index_long) / WAD
        q_short[j] = (p - ms.funding_index + ms.loss_index_short) / WAD
        im_rate[j] = p * imf / _WAD2
        mm_rate[j] = p * mmf / _WAD2
    value_rate, value_cap = np.empty(c), np.empty(c)
    for k, cp in enumerate(collaterals):
        value_rate[k] = prices[cp.feed_id] * (WAD - cp.haircut_wad) / _WAD2
        value_cap[k] = cp.value_cap_wad / WAD
    return PriceScalars(q_long, q_short, im_rate, mm_rate, value_rate, value_cap, fractions)
