"""Raw oracle records, exactly as the feeds return them, and their conversion into WAD.

* :class:`RoundData` mirrors Chainlink's ``AggregatorV3Interface.latestRoundData`` tuple. The
  proxy's round id packs the aggregator phase into its top bits:
  ``round_id = phase_id << 64 | aggregator_round_id``.
* :class:`PythPrice` mirrors a Pyth price with its confidence and EMA: the real value is
  ``price * 10**expo`` (USD per base unit), and likewise for ``conf``, ``ema_price`` and
  ``ema_conf``.

Records accept any value their ABI type can hold (a zero answer or a zero round id is a valid
record that the guards then reject); a value outside the ABI type raises
:class:`~protocol.errors.InvalidParameter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from protocol.constants import INT256_MAX, INT256_MIN, MAX_DECIMALS, UINT256_MAX
from protocol.errors import InvalidParameter
from protocol.units import to_wad

__all__ = [
    "AGGREGATOR_ROUND_BITS",
    "MAX_PHASE_ID",
    "PYTH_MAX_EXPO",
    "PYTH_MIN_EXPO",
    "PythPrice",
    "RoundData",
    "aggregator_round_of",
    "compose_round_id",
    "feed_to_wad",
    "phase_of",
]

#: Width of the aggregator round id inside a proxy round id (Chainlink's ``PHASE_OFFSET``).
AGGREGATOR_ROUND_BITS: Final = 64
#: Largest proxy phase id (``uint16`` in the proxy).
MAX_PHASE_ID: Final = 2**16 - 1
#: Largest aggregator round id (``uint64``).
MAX_AGGREGATOR_ROUND_ID: Final = 2**64 - 1
#: Largest proxy round id (``uint80``).
MAX_ROUND_ID: Final = 2**80 - 1
#: Largest Chainlink timestamp (``uint256`` seconds).
MAX_TIMESTAMP: Final = UINT256_MAX
#: Pyth exponents accepted; inside this range conversion into WAD is an exact multiplication.
PYTH_MIN_EXPO: Final = -MAX_DECIMALS
PYTH_MAX_EXPO: Final = MAX_DECIMALS
#: Largest Pyth price magnitude (``int64``) and confidence (``uint64``).
PYTH_MAX_PRICE: Final = 2**63 - 1
PYTH_MAX_CONF: Final = 2**64 - 1


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def compose_round_id(phase_id: int, aggregator_round_id: int) -> int:
    """Proxy round id ``phase_id << 64 | aggregator_round_id`` (both unsigned)."""
    _check_int("phase_id", phase_id, 0, MAX_PHASE_ID)
    _check_int("aggregator_round_id", aggregator_round_id, 0, MAX_AGGREGATOR_ROUND_ID)
    return (phase_id << AGGREGATOR_ROUND_BITS) | aggregator_round_id


def phase_of(round_id: int) -> int:
    """Phase id packed in the top 16 bits of a proxy round id."""
    _check_int("round_id", round_id, 0, MAX_ROUND_ID)
    return round_id >> AGGREGATOR_ROUND_BITS


def aggregator_round_of(round_id: int) -> int:
    """Aggregator round id packed in the low 64 bits of a proxy round id."""
    _check_int("round_id", round_id, 0, MAX_ROUND_ID)
    return round_id & MAX_AGGREGATOR_ROUND_ID


def feed_to_wad(answer: int, decimals: int) -> int:
    """Convert a feed answer with ``decimals`` (0..18) into WAD; exact, so no rounding step."""
    return to_wad(answer, decimals)


@dataclass(frozen=True, slots=True)
class RoundData:
    """One Chainlink round as ``latestRoundData``/``getRoundData`` return it.

    ``answer`` is in feed units (``decimals`` of the feed, 8 for USD pairs); timestamps are Unix
    seconds.
    """

    round_id: int
    answer: int
    started_at: int
    updated_at: int
    answered_in_round: int

    def __post_init__(self) -> None:
        _check_int("round_id", self.round_id, 0, MAX_ROUND_ID)
        _check_int("answer", self.answer, INT256_MIN, INT256_MAX)
        _check_int("started_at", self.started_at, 0, MAX_TIMESTAMP)
        _check_int("updated_at", self.updated_at, 0, MAX_TIMESTAMP)
        _check_int("answered_in_round", self.answered_in_round, 0, MAX_ROUND_ID)

    @property
    def phase_id(self) -> int:
        """Phase of the aggregator that produced this round."""
        return phase_of(self.round_id)

    @property
    def aggregator_round_id(self) -> int:
        """Round id inside its phase's aggregator."""
        return aggregator_round_of(self.round_id)

    @property
    def is_stale_round(self) -> bool:
        """True when the answer was carried over from an earlier round."""
        return self.answered_in_round < self.round_id


@dataclass(frozen=True, slots=True)
class PythPrice:
    """One Pyth price: values are ``x * 10**expo`` USD per base unit; ``publish_time`` in s."""

    price: int
    conf: int
    expo: int
    publish_time: int
    ema_price: int
    ema_conf: int

    def __post_init__(self) -> None:
        _check_int("price", self.price, -PYTH_MAX_PRICE - 1, PYTH_MAX_PRICE)
        _check_int("conf", self.conf, 0, PYTH_MAX_CONF)
        _check_int("expo", self.expo, PYTH_MIN_EXPO, PYTH_MAX_EXPO)
        _check_int("publish_time", self.publish_time, 0, MAX_TIMESTAMP)
        _check_int("ema_price", self.ema_price, -PYTH_MAX_PRICE - 1, PYTH_MAX_PRICE)
        _check_int("ema_conf", self.ema_conf, 0, PYTH_MAX_CONF)

    def to_wad(self, value: int) -> int:
        """``value`` (``price``, ``conf``, ...) at this record's exponent, in WAD (exact)."""
        return value * int(10 ** (MAX_DECIMALS + self.expo))
