"""Typed action records: the input language of every execution of the protocol.

The same records are applied to the reference model and, later, sent to a chain. Each record
validates its own fields on construction (types, signs, address format) and raises
:class:`~protocol.errors.InvalidParameter`; protocol rules (roles, margin, prices) are checked
when the action is applied and fail with :class:`~protocol.errors.ProtocolRevert`.
:func:`action_from_dict` parses the JSON form ``{"kind": "Fill", ...}``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from protocol.constants import INT256_MAX, MAX_ADL_COUNTERPARTIES, UINT256_MAX
from protocol.errors import InvalidParameter

__all__ = [
    "ACTION_TYPES",
    "ROLE_NAMES",
    "Action",
    "AdvanceTime",
    "AutoDeleverage",
    "Deposit",
    "Fill",
    "FundInsurance",
    "Liquidate",
    "LiquidateCollateral",
    "PushPrice",
    "SetFundingRate",
    "SetMarketMargin",
    "SetPaused",
    "SetRole",
    "SettleExpired",
    "Withdraw",
    "WithdrawFees",
    "action_from_dict",
    "normalize_address",
]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
ROLE_NAMES = ("governance", "matcher", "oracle", "funding")


def normalize_address(value: object, where: str = "address") -> str:
    """Return a lower-case ``0x``-prefixed 20-byte hex address or raise InvalidParameter."""
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise InvalidParameter(f"{where} must be a 0x-prefixed 20-byte hex address, got {value!r}")
    if int(value, 16) == 0:
        raise InvalidParameter(f"{where} must not be the zero address")
    return value.lower()


def _int(where: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(f"{where} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise InvalidParameter(f"{where} = {value} is out of range [{lo}, {hi}]")


@dataclass(frozen=True)
class Action:
    """Base of all action records."""

    #: Fields holding addresses, normalised on construction.
    _addresses: ClassVar[tuple[str, ...]] = ()
    #: Integer fields: name -> (min, max).
    _ints: ClassVar[dict[str, tuple[int, int]]] = {}

    def __post_init__(self) -> None:
        kind = type(self).__name__
        for name in self._addresses:
            object.__setattr__(self, name, normalize_address(getattr(self, name), f"{kind}.{name}"))
        for name, (lo, hi) in self._ints.items():
            _int(f"{kind}.{name}", getattr(self, name), lo, hi)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with a ``kind`` field; :func:`action_from_dict` inverts it."""
        out: dict[str, Any] = {"kind": type(self).__name__}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


_U = (0, UINT256_MAX)
_POS = (1, UINT256_MAX)
_ID = (0, 2**32 - 1)


@dataclass(frozen=True)
class Deposit(Action):
    """``account`` deposits ``amount`` token units of ``asset_id`` (0 = settlement token)."""

    account: str
    asset_id: int
    amount: int
    _addresses = ("account",)
    _ints = {"asset_id": _ID, "amount": _POS}


@dataclass(frozen=True)
class Withdraw(Action):
    """``account`` withdraws ``amount`` token units of ``asset_id``."""

    account: str
    asset_id: int
    amount: int
    _addresses = ("account",)
    _ints = {"asset_id": _ID, "amount": _POS}


@dataclass(frozen=True)
class Fill(Action):
    """A matched trade submitted by a matcher; ``size_wad`` > 0 means the taker buys.

    Fee rates are WAD fractions of the fill notional charged to each side.
    """

    sender: str
    maker: str
    taker: str
    market_id: int
    size_wad: int
    price_wad: int
    maker_fee_wad: int
    taker_fee_wad: int
    _addresses = ("sender", "maker", "taker")
    _ints = {
        "market_id": _ID,
        "size_wad": (-INT256_MAX, INT256_MAX),
        "price_wad": (1, 10**36),
        "maker_fee_wad": (0, 10**18),
        "taker_fee_wad": (0, 10**18),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size_wad == 0:
            raise InvalidParameter("Fill.size_wad must be non-zero")


@dataclass(frozen=True)
class PushPrice(Action):
    """An oracle reading for ``feed_id``: a price (USD WAD) observed at ``timestamp_s``."""

    sender: str
    feed_id: int
    price_wad: int
    timestamp_s: int
    _addresses = ("sender",)
    _ints = {"feed_id": _ID, "price_wad": (-INT256_MAX, INT256_MAX), "timestamp_s": (0, 2**64 - 1)}


@dataclass(frozen=True)
class SetFundingRate(Action):
    """Set a market's funding rate (signed WAD fraction of price per second); it is clamped."""

    sender: str
    market_id: int
    rate_per_s_wad: int
    _addresses = ("sender",)
    _ints = {"market_id": _ID, "rate_per_s_wad": (-INT256_MAX, INT256_MAX)}


@dataclass(frozen=True)
class AdvanceTime(Action):
    """Move the clock forward by ``seconds`` and the block number by ``blocks``."""

    seconds: int
    blocks: int
    _ints = {"seconds": (0, 10 * 365 * 86_400), "blocks": (0, 10**9)}


@dataclass(frozen=True)
class Liquidate(Action):
    """``keeper`` takes over ``size_wad`` (> 0, magnitude) of ``account``'s position."""

    keeper: str
    account: str
    market_id: int
    size_wad: int
    _addresses = ("keeper", "account")
    _ints = {"market_id": _ID, "size_wad": (1, INT256_MAX)}


@dataclass(frozen=True)
class LiquidateCollateral(Action):
    """``liquidator`` buys ``amount`` token units of ``account``'s collateral at a discount."""

    liquidator: str
    account: str
    asset_id: int
    amount: int
    _addresses = ("liquidator", "account")
    _ints = {"asset_id": _ID, "amount": _POS}


@dataclass(frozen=True)
class AutoDeleverage(Action):
    """Close a bankrupt ``account``'s position against ranked opposite ``counterparties``."""

    keeper: str
    account: str
    market_id: int
    counterparties: tuple[str, ...]
    _addresses = ("keeper", "account")
    _ints = {"market_id": _ID}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.counterparties, tuple | list):
            raise InvalidParameter("AutoDeleverage.counterparties must be a list of addresses")
        cps = tuple(
            normalize_address(c, f"AutoDeleverage.counterparties[{i}]") for i, c in enumerate(self.counterparties)
        )
        if not 1 <= len(cps) <= MAX_ADL_COUNTERPARTIES:
            raise InvalidParameter(
                f"AutoDeleverage.counterparties has {len(cps)} entries; allowed 1..{MAX_ADL_COUNTERPARTIES}"
            )
        object.__setattr__(self, "counterparties", cps)


@dataclass(frozen=True)
class SettleExpired(Action):
    """Anyone settles ``account``'s expired option position in ``market_id``."""

    sender: str
    account: str
    market_id: int
    _addresses = ("sender", "account")
    _ints = {"market_id": _ID}


@dataclass(frozen=True)
class FundInsurance(Action):
    """``sender`` pays ``amount`` settlement-token units straight into the insurance fund."""

    sender: str
    amount: int
    _addresses = ("sender",)
    _ints = {"amount": _POS}


@dataclass(frozen=True)
class WithdrawFees(Action):
    """Governance withdraws ``amount`` settlement-token units from the fee pool to ``to``."""

    sender: str
    to: str
    amount: int
    _addresses = ("sender", "to")
    _ints = {"amount": _POS}


@dataclass(frozen=True)
class SetPaused(Action):
    """Governance pauses or unpauses every user action."""

    sender: str
    paused: bool
    _addresses = ("sender",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.paused, bool):
            raise InvalidParameter(f"SetPaused.paused must be a bool, got {self.paused!r}")


@dataclass(frozen=True)
class SetRole(Action):
    """Governance grants or revokes ``role`` (one of ROLE_NAMES) for ``account``."""

    sender: str
    role: str
    account: str
    enabled: bool
    _addresses = ("sender", "account")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.role not in ROLE_NAMES:
            raise InvalidParameter(f"SetRole.role = {self.role!r}; allowed: {list(ROLE_NAMES)}")
        if not isinstance(self.enabled, bool):
            raise InvalidParameter(f"SetRole.enabled must be a bool, got {self.enabled!r}")


@dataclass(frozen=True)
class SetMarketMargin(Action):
    """Governance sets a market's initial fraction and maintenance share (WAD)."""

    sender: str
    market_id: int
    initial_margin_fraction_wad: int
    maintenance_share_wad: int
    _addresses = ("sender",)
    _ints = {
        "market_id": _ID,
        "initial_margin_fraction_wad": _U,
        "maintenance_share_wad": _U,
    }


ACTION_TYPES: dict[str, type[Action]] = {
    cls.__name__: cls
    for cls in (
        Deposit,
        Withdraw,
        Fill,
        PushPrice,
        SetFundingRate,
        AdvanceTime,
        Liquidate,
        LiquidateCollateral,
        AutoDeleverage,
        SettleExpired,
        FundInsurance,
        WithdrawFees,
        SetPaused,
        SetRole,
        SetMarketMargin,
    )
}


def action_from_dict(raw: object) -> Action:
    """Parse ``{"kind": "...", field: value, ...}`` into an action; InvalidParameter if malformed."""
    if not isinstance(raw, dict):
        raise InvalidParameter(f"an action must be a mapping with a 'kind', got {type(raw).__name__}")
    kind = raw.get("kind")
    cls = ACTION_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidParameter(f"action kind {kind!r} is unknown; allowed: {sorted(ACTION_TYPES)}")
    names = [f.name for f in dataclasses.fields(cls)]
    body = {k: v for k, v in raw.items() if k != "kind"}
    missing = [n for n in names if n not in body]
    extra = [k for k in body if k not in names]
    if missing or extra:
        raise InvalidParameter(f"{kind}: missing fields {missing}, unknown fields {extra}")
    if cls is AutoDeleverage and isinstance(body.get("counterparties"), list):
        body["counterparties"] = tuple(body["counterparties"])
    return cls(**body)
