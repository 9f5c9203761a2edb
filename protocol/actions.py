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
    "AcceptGovernance",
    "Action",
    "AdvanceTime",
    "AutoDeleverage",
    "CancelOrder",
    "Deposit",
    "Fill",
    "FundInsurance",
    "Liquidate",
    "LiquidateCollateral",
    "Order",
    "PushPrice",
    "SetFundingRate",
    "SetMarketMargin",
    "SetPaused",
    "SetRole",
    "SettleExpired",
    "SignedOrder",
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
class _Record:
    """Base of the records: fields validated on construction, a JSON-ready ``to_dict``."""

    #: Fields holding addresses, normalised on construction.
    _addresses: ClassVar[tuple[str, ...]] = ()
    #: Integer fields: name -> (min, max).
    _ints: ClassVar[dict[str, tuple[int, int]]] = {}
    #: Fields of another type: name -> the type (a bool, a nested record).
    _types: ClassVar[dict[str, type]] = {}

    def __post_init__(self) -> None:
        kind = type(self).__name__
        for name in self._addresses:
            object.__setattr__(self, name, normalize_address(getattr(self, name), f"{kind}.{name}"))
        for name, (lo, hi) in self._ints.items():
            _int(f"{kind}.{name}", getattr(self, name), lo, hi)
        for name, cls in self._types.items():
            if not isinstance(getattr(self, name), cls):
                raise InvalidParameter(f"{kind}.{name} must be a {cls.__name__}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (nested records as dicts, bytes as 0x-hex, tuples as lists)."""
        out: dict[str, Any] = {}
        for f in _init_fields(type(self)):
            value = getattr(self, f.name)
            if isinstance(value, _Record):
                value = value.to_dict()
            elif isinstance(value, bytes):
                value = "0x" + value.hex()
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Action(_Record):
    """Base of all action records."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with a ``kind`` field; :func:`action_from_dict` inverts it."""
        return {"kind": type(self).__name__, **super().to_dict()}


_U = (0, UINT256_MAX)
_POS = (1, UINT256_MAX)
_ID = (0, 2**32 - 1)
_SIZE = (-INT256_MAX, INT256_MAX)
#: Length of an ECDSA signature ``r || s || v`` in bytes.
SIGNATURE_BYTES = 65


def _init_fields(cls: type[_Record]) -> list[dataclasses.Field[Any]]:
    """The fields a record is built from (memos with ``init=False`` are no part of it)."""
    return [f for f in dataclasses.fields(cls) if f.init]


def _fields_of(cls: type[_Record], raw: object, where: str) -> dict[str, Any]:
    """The fields of ``cls`` from a mapping, or InvalidParameter naming what is missing or unknown."""
    if not isinstance(raw, dict):
        raise InvalidParameter(f"{where} must be a mapping of {cls.__name__} fields, got {type(raw).__name__}")
    names = [f.name for f in _init_fields(cls)]
    missing = [n for n in names if n not in raw]
    extra = [k for k in raw if k not in names]
    if missing or extra:
        raise InvalidParameter(f"{where}: missing fields {missing}, unknown fields {extra}")
    return dict(raw)


@dataclass(frozen=True)
class Order(_Record):
    """What an account signs to consent to fills (EIP-712 typed data, see :mod:`protocol.orders`).

    ``size_wad`` is the signed total it may fill (> 0 buys, < 0 sells, base units WAD); fills at
    a price above ``limit_price_wad`` (a buy) or below it (a sell) are refused, so are fee rates
    above ``max_fee_wad`` (WAD fraction of notional) and fills after ``expiry_s`` (Unix s).
    ``nonce`` tells otherwise equal orders apart; the protocol keeps each order's filled size by
    its hash, so an order fills partially up to ``|size_wad|`` and can be cancelled.
    """

    account: str
    market_id: int
    size_wad: int
    limit_price_wad: int
    max_fee_wad: int
    expiry_s: int
    nonce: int
    _addresses = ("account",)
    _ints = {
        "market_id": _ID,
        "size_wad": _SIZE,
        "limit_price_wad": _U,
        "max_fee_wad": _U,
        "expiry_s": _U,
        "nonce": _U,
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size_wad == 0:
            raise InvalidParameter("Order.size_wad must be non-zero (positive buys, negative sells)")

    @classmethod
    def from_dict(cls, raw: object, where: str = "Order") -> Order:
        """Inverse of :meth:`to_dict`."""
        return cls(**_fields_of(cls, raw, where))


@dataclass(frozen=True)
class SignedOrder(_Record):
    """An :class:`Order` with its signer's 65-byte ECDSA signature ``r || s || v`` of the order's
    EIP-712 digest (:meth:`protocol.orders.OrderSigner.order` makes one)."""

    order: Order
    signature: bytes
    #: Digest and recovered signer per domain separator, kept by :mod:`protocol.orders` (hashing
    #: and recovery run once per order and domain); a memo, no part of the record.
    memo: dict[bytes, tuple[bytes, str | None]] = dataclasses.field(
        init=False, default_factory=dict, compare=False, repr=False
    )

    _types = {"order": Order}

    def __post_init__(self) -> None:
        super().__post_init__()
        sig = self.signature
        if isinstance(sig, str):
            try:
                sig = bytes.fromhex(sig.removeprefix("0x"))
            except ValueError:
                raise InvalidParameter(f"SignedOrder.signature is not hex: {self.signature!r}") from None
            object.__setattr__(self, "signature", sig)
        if not isinstance(sig, bytes) or len(sig) != SIGNATURE_BYTES:
            raise InvalidParameter(
                f"SignedOrder.signature must be {SIGNATURE_BYTES} bytes (r, s, v), got {self.signature!r}"
            )

    @classmethod
    def from_dict(cls, raw: object, where: str = "SignedOrder") -> SignedOrder:
        """Inverse of :meth:`to_dict`."""
        body = _fields_of(cls, raw, where)
        return cls(Order.from_dict(body["order"], f"{where}.order"), body["signature"])


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
    """A matched trade a matcher submits with both accounts' signed orders; ``size_wad`` > 0
    means the taker buys. The market is the orders' market.

    Fee rates are WAD fractions of the fill notional charged to each side. Build fills with
    :meth:`protocol.orders.OrderSigner.fill`.
    """

    sender: str
    maker_order: SignedOrder
    taker_order: SignedOrder
    size_wad: int
    price_wad: int
    maker_fee_wad: int
    taker_fee_wad: int
    _addresses = ("sender",)
    _ints = {
        "size_wad": _SIZE,
        "price_wad": (1, 10**36),
        "maker_fee_wad": (0, 10**18),
        "taker_fee_wad": (0, 10**18),
    }

    _types = {"maker_order": SignedOrder, "taker_order": SignedOrder}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size_wad == 0:
            raise InvalidParameter("Fill.size_wad must be non-zero")

    @property
    def maker(self) -> str:
        """The maker's account (its order's signer)."""
        return self.maker_order.order.account

    @property
    def taker(self) -> str:
        """The taker's account (its order's signer)."""
        return self.taker_order.order.account

    @property
    def market_id(self) -> int:
        """The market of the fill: the taker's order's (the maker's must be the same)."""
        return self.taker_order.order.market_id


@dataclass(frozen=True)
class CancelOrder(Action):
    """``sender`` cancels its own ``order``: the rest of it can no longer be filled."""

    sender: str
    order: Order
    _addresses = ("sender",)
    _types = {"order": Order}


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
    """Propose, challenge or execute (:mod:`protocol.adl_queue`) the ranked opposite
    ``counterparties`` a bankrupt ``account``'s position closes against (empty: nobody in profit)."""

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
        if len(cps) > MAX_ADL_COUNTERPARTIES:
            raise InvalidParameter(
                f"AutoDeleverage.counterparties has {len(cps)} entries; allowed 0..{MAX_ADL_COUNTERPARTIES}"
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
    _types = {"paused": bool}


@dataclass(frozen=True)
class SetRole(Action):
    """Governance grants or revokes ``role`` (one of ROLE_NAMES) for ``account``; granting
    ``governance`` only proposes ``account``, which takes over with :class:`AcceptGovernance`."""

    sender: str
    role: str
    account: str
    enabled: bool
    _addresses = ("sender", "account")
    _types = {"enabled": bool}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.role not in ROLE_NAMES:
            raise InvalidParameter(f"SetRole.role = {self.role!r}; allowed: {list(ROLE_NAMES)}")


@dataclass(frozen=True)
class AcceptGovernance(Action):
    """The proposed governance (``sender``) accepts the role."""

    sender: str
    _addresses = ("sender",)


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
        CancelOrder,
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
        AcceptGovernance,
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
    body = _fields_of(cls, {k: v for k, v in raw.items() if k != "kind"}, str(kind))
    if cls is AutoDeleverage and isinstance(body.get("counterparties"), list):
        body["counterparties"] = tuple(body["counterparties"])
    if cls is Fill:
        for name in ("maker_order", "taker_order"):
            body[name] = SignedOrder.from_dict(body[name], f"Fill.{name}")
    if cls is CancelOrder:
        body["order"] = Order.from_dict(body["order"], "CancelOrder.order")
    return cls(**body)
