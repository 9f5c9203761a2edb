"""The liquidity add-on: closing a large position moves the price against it.

Depth ``D`` (USD) is the notional that moves the log price by 1, the quantity the simulator's
liquidity model uses (``liquidity.depth_usd``). From market data it is estimated by the
square-root law linearised at one bar's volume: a bar's USD volume ``V`` moves the price by
about one bar's volatility ``sigma``, so ``D = V / sigma`` (mean USD volume and log-return
standard deviation over the lookback). Unwinding notional ``Q`` evenly through depth ``D``
costs on average half the impact, so the add-on per unit of notional is ``Q / (2 D)``, linear
in the position size.

The protocol's open-interest scaling reproduces it exactly: with ``oi_cap_lower = 0`` and
``oi_cap_upper = 2 D (1 - imf)``, the effective initial fraction ``imf + (1 - imf) OI / upper``
is ``imf + OI / (2 D)``, the add-on of a position as large as the whole open interest.
"""

from __future__ import annotations

import numpy as np

from methodology.series import PriceSeries
from protocol.errors import InvalidParameter

__all__ = ["SIZES_USD", "addon", "depth_usd", "oi_cap_upper_usd"]

#: Position sizes (USD notional) tabulated in the report.
SIZES_USD = (1e5, 1e6, 1e7, 1e8, 1e9)


def depth_usd(series: PriceSeries, lookback: int) -> float:
    """``D = mean USD volume per bar / standard deviation of log returns`` over the last
    ``lookback`` bars."""
    if not 2 <= lookback <= len(series) - 1:
        raise InvalidParameter(f"the depth needs a lookback of 2 .. {len(series) - 1} bars, got {lookback}")
    closes = series.closes[-lookback - 1 :]
    usd_volume = float(np.mean(series.volumes[-lookback:] * closes[1:]))
    sigma = float(np.std(np.diff(np.log(closes)), ddof=1))
    if not usd_volume > 0 or not sigma > 0:
        raise InvalidParameter(f"{series.source}: no volume or no price change in the last {lookback} bars")
    return usd_volume / sigma


def addon(notional_usd: float, depth: float) -> float:
    """The add-on fraction of notional for closing ``notional_usd`` through ``depth`` USD."""
    if not notional_usd >= 0 or not depth > 0:
        raise InvalidParameter(f"need notional >= 0 and depth > 0, got {notional_usd!r}, {depth!r}")
    return notional_usd / (2.0 * depth)


def oi_cap_upper_usd(depth: float, initial_fraction: float) -> float:
    """The ``oi_cap_upper`` (with ``oi_cap_lower = 0``) whose scaling equals the add-on."""
    if not depth > 0 or not 0 < initial_fraction < 1:
        raise InvalidParameter(f"need depth > 0 and an initial fraction in (0, 1), got {depth!r}, {initial_fraction!r}")
    return 2.0 * depth * (1.0 - initial_fraction)
