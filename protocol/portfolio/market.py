"""Per-underlying market data and risk parameters of the scenario engine.

Index ``u`` of every array is the underlying's id in :attr:`PositionBook.underlying
<protocol.portfolio.book.PositionBook.underlying>`. Units: ``spot`` USD per unit of the
underlying; ``price_scan_range`` a fraction of the spot (0.15 = 15 %); the volatility ranges
are volatility points (0.05 = five points) for :attr:`~protocol.portfolio.scenarios.VolShift.ABSOLUTE`
grids and fractions of the option's implied volatility for ``RELATIVE`` ones;
``short_option_minimum`` a fraction of the spot charged per unit of short option (SPAN's short
option minimum expressed scale-free: CME sets it in USD per contract); ``rate`` continuously
compounded per year, shared by all underlyings (one settlement currency).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from protocol.portfolio._validate import check_positive, check_scalar, float_array, same_shape

__all__ = ["Underlyings"]

_FIELDS = ("spot", "price_scan_range", "vol_scan_up", "vol_scan_down", "short_option_minimum")


@dataclass(frozen=True, eq=False)
class Underlyings:
    """Spot prices and scan ranges of ``U`` underlyings (read-only float64 arrays of length U;
    ``U`` may be 0 for a book without positions)."""

    spot: NDArray[np.float64]
    price_scan_range: NDArray[np.float64]
    vol_scan_up: NDArray[np.float64]
    vol_scan_down: NDArray[np.float64]
    short_option_minimum: NDArray[np.float64]
    rate: float = 0.0

    def __post_init__(self) -> None:
        arrays = {}
        for name in _FIELDS:
            arr = float_array(f"underlyings.{name}", getattr(self, name)).copy()
            if arr.ndim != 1:
                raise InvalidParameter(f"underlyings.{name} must be a 1-D array, got shape {arr.shape}")
            arr.flags.writeable = False
            arrays[name] = arr
        same_shape({f"underlyings.{k}": v for k, v in arrays.items()})
        check_positive("underlyings.spot", arrays["spot"])
        check_positive("underlyings.price_scan_range", arrays["price_scan_range"])
        for name in ("vol_scan_up", "vol_scan_down", "short_option_minimum"):
            check_positive(f"underlyings.{name}", arrays[name], allow_zero=True)
        for name, arr in arrays.items():
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "rate", check_scalar("underlyings.rate", self.rate))

    @classmethod
    def uniform(
        cls,
        spot: Sequence[float] | NDArray[np.float64],
        *,
        price_scan_range: float,
        vol_scan_up: float,
        vol_scan_down: float | None = None,
        short_option_minimum: float = 0.0,
        rate: float = 0.0,
    ) -> Underlyings:
        """Underlyings at ``spot`` sharing one set of ranges (``vol_scan_down`` defaults to up)."""
        n = np.shape(spot)
        down = vol_scan_up if vol_scan_down is None else vol_scan_down
        return cls(
            spot=np.asarray(spot, dtype=np.float64),
            price_scan_range=np.full(n, price_scan_range, dtype=np.float64),
            vol_scan_up=np.full(n, vol_scan_up, dtype=np.float64),
            vol_scan_down=np.full(n, down, dtype=np.float64),
            short_option_minimum=np.full(n, short_option_minimum, dtype=np.float64),
            rate=rate,
        )

    @property
    def count(self) -> int:
        """Number of underlyings ``U``."""
        return int(self.spot.size)
