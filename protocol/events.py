"""Typed event records: every state change the protocol makes is reported by one of these.

Field names and order match the contracts' events so the two streams can be compared. All
amounts are WAD integers; addresses are lower-case hex strings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AdlProposed",
    "BadDebtSettled",
    "CollateralLiquidated",
    "Deleveraged",
    "Deposited",
    "Event",
    "FeesWithdrawn",
    "FillSettled",
    "FundingAccrued",
    "FundingRateSet",
    "FundingSettled",
    "GovernanceProposed",
    "InsuranceFundChanged",
    "Liquidated",
    "LossCharged",
    "LossSocialized",
    "MarginParamsSet",
    "OptionSettled",
    "OrderCancelled",
    "OrderFilled",
    "PausedSet",
    "PositionChanged",
    "PriceAccepted",
    "PriceRejected",
    "RoleSet",
    "SettlementPriceSet",
    "ShortfallSettled",
    "TimeAdvanced",
    "Withdrawn",
]


@dataclass(frozen=True)
class Event:
    """Base of all events."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with an ``event`` field naming the type."""
        return {"event": type(self).__name__, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class Deposited(Event):
    account: str
    asset_id: int
    amount: int
    amount_wad: int


@dataclass(frozen=True)
class Withdrawn(Event):
    account: str
    asset_id: int
    amount: int
    amount_wad: int


@dataclass(frozen=True)
class FillSettled(Event):
    maker: str
    taker: str
    market_id: int
    size_wad: int
    price_wad: int
    notional_wad: int
    maker_fee_wad: int
    taker_fee_wad: int


@dataclass(frozen=True)
class OrderFilled(Event):
    """One side of a fill counted against its signed order: ``filled_wad`` is the order's filled
    size so far (magnitude, base units WAD); ``order_hash`` its EIP-712 digest."""

    order_hash: bytes
    account: str
    filled_wad: int


@dataclass(frozen=True)
class OrderCancelled(Event):
    """An account cancelled the rest of its order."""

    order_hash: bytes
    account: str


@dataclass(frozen=True)
class PositionChanged(Event):
    account: str
    market_id: int
    size_wad: int
    open_notional_wad: int
    realized_pnl_wad: int


@dataclass(frozen=True)
class InsuranceFundChanged(Event):
    """Every change of the insurance fund, with its cause."""

    delta_wad: int
    balance_wad: int
    cause: str


@dataclass(frozen=True)
class PriceAccepted(Event):
    feed_id: int
    price_wad: int
    timestamp_s: int


@dataclass(frozen=True)
class PriceRejected(Event):
    feed_id: int
    price_wad: int
    timestamp_s: int
    reason: str


@dataclass(frozen=True)
class FundingAccrued(Event):
    market_id: int
    funding_index: int
    elapsed_s: int


@dataclass(frozen=True)
class FundingRateSet(Event):
    market_id: int
    requested_per_s_wad: int
    applied_per_s_wad: int


@dataclass(frozen=True)
class FundingSettled(Event):
    """Funding credited (positive) or charged (negative) to an account's balance."""

    account: str
    market_id: int
    amount_wad: int


@dataclass(frozen=True)
class LossCharged(Event):
    """A socialized-loss charge settled against a position holder."""

    account: str
    market_id: int
    amount_wad: int


@dataclass(frozen=True)
class Liquidated(Event):
    account: str
    keeper: str
    market_id: int
    size_wad: int
    notional_wad: int
    penalty_wad: int
    keeper_reward_wad: int


@dataclass(frozen=True)
class CollateralLiquidated(Event):
    account: str
    liquidator: str
    asset_id: int
    amount_wad: int
    proceeds_wad: int
    fee_wad: int


@dataclass(frozen=True)
class BadDebtSettled(Event):
    account: str
    debt_wad: int
    covered_by_fund_wad: int
    socialized_wad: int


@dataclass(frozen=True)
class ShortfallSettled(Event):
    """A bankrupt close's share of the account's negative equity (F-15), credited to the account
    and paid by the insurance fund, the rest socialized on the other side of ``market_id``."""

    account: str
    market_id: int
    debt_wad: int
    covered_by_fund_wad: int
    socialized_wad: int


@dataclass(frozen=True)
class LossSocialized(Event):
    """A pro-rata loss spread over one side of a market (side +1 longs, -1 shorts)."""

    market_id: int
    side: int
    amount_wad: int
    loss_index: int


@dataclass(frozen=True)
class AdlProposed(Event):
    """``proposer`` stored (or, by a challenge, replaced) the counterparty list that deleverages
    ``account``'s position in ``market_id`` from ``deadline_s`` on (empty: a bankrupt close)."""

    account: str
    market_id: int
    proposer: str
    counterparties: tuple[str, ...]
    deadline_s: int


@dataclass(frozen=True)
class Deleveraged(Event):
    account: str
    counterparty: str
    market_id: int
    size_wad: int
    notional_wad: int


@dataclass(frozen=True)
class SettlementPriceSet(Event):
    """An option market's settlement price was fixed by the first price at or after expiry."""

    market_id: int
    price_wad: int


@dataclass(frozen=True)
class OptionSettled(Event):
    """An expired option position paid out (negative: the short paid) and closed."""

    account: str
    market_id: int
    size_wad: int
    value_wad: int


@dataclass(frozen=True)
class FeesWithdrawn(Event):
    to: str
    amount: int
    amount_wad: int


@dataclass(frozen=True)
class PausedSet(Event):
    paused: bool


@dataclass(frozen=True)
class RoleSet(Event):
    role: str
    account: str
    enabled: bool


@dataclass(frozen=True)
class GovernanceProposed(Event):
    """Governance proposed ``account`` as its successor; the role moves when it accepts."""

    account: str


@dataclass(frozen=True)
class MarginParamsSet(Event):
    market_id: int
    initial_margin_fraction_wad: int
    maintenance_share_wad: int


@dataclass(frozen=True)
class TimeAdvanced(Event):
    now_s: int
    block: int
