"""actions: address normalisation, field validation and the JSON round trip of every record."""

from __future__ import annotations

import json
import re

import pytest

from protocol.actions import (
    ACTION_TYPES,
    AcceptGovernance,
    Action,
    AdvanceTime,
    AutoDeleverage,
    CancelOrder,
    Deposit,
    Fill,
    FundInsurance,
    Liquidate,
    LiquidateCollateral,
    PushPrice,
    SetFundingRate,
    SetMarketMargin,
    SetPaused,
    SetRole,
    SettleExpired,
    Withdraw,
    WithdrawFees,
    action_from_dict,
    normalize_address,
)
from protocol.constants import INT256_MAX, MAX_ADL_COUNTERPARTIES, UINT256_MAX, WAD
from protocol.errors import InvalidParameter
from protocol.scenarios import ACTORS, actor_signer

GOV, MATCHER, ORACLE, FUNDING = ACTORS["governance"], ACTORS["matcher"], ACTORS["oracle"], ACTORS["funding_operator"]
TRADER, MAKER, KEEPER, LIQUIDATOR = (
    ACTORS["trader_leveraged"],
    ACTORS["market_maker"],
    ACTORS["keeper"],
    ACTORS["liquidator"],
)
SHORT = ACTORS["trader_short"]
ORDERS = actor_signer()

SAMPLES: dict[str, Action] = {
    "Deposit": Deposit(TRADER, 0, 1_000 * 10**6),
    "Withdraw": Withdraw(TRADER, 1, 3 * WAD),
    "Fill": ORDERS.fill(MATCHER, MAKER, TRADER, 0, -WAD // 3, 60_000 * WAD, WAD // 10_000, WAD // 2_000),
    "CancelOrder": CancelOrder(TRADER, ORDERS.order(TRADER, 1, -WAD, 3_000 * WAD, expiry_s=7, nonce=3).order),
    "AcceptGovernance": AcceptGovernance(KEEPER),
    "PushPrice": PushPrice(ORACLE, 1, -5, 1_700_000_000),
    "SetFundingRate": SetFundingRate(FUNDING, 0, -123),
    "AdvanceTime": AdvanceTime(60, 5),
    "Liquidate": Liquidate(KEEPER, TRADER, 0, 7),
    "LiquidateCollateral": LiquidateCollateral(LIQUIDATOR, TRADER, 1, 10**17),
    "AutoDeleverage": AutoDeleverage(KEEPER, TRADER, 0, (MAKER, SHORT)),
    "SettleExpired": SettleExpired(KEEPER, TRADER, 2),
    "FundInsurance": FundInsurance(GOV, 500 * 10**6),
    "WithdrawFees": WithdrawFees(GOV, TRADER, 1),
    "SetPaused": SetPaused(GOV, True),
    "SetRole": SetRole(GOV, "matcher", KEEPER, False),
    "SetMarketMargin": SetMarketMargin(GOV, 1, WAD // 20, WAD // 2),
}


# ----------------------------------------------------------------------------- addresses


def test_normalize_address_lowercases() -> None:
    mixed = "0x" + "AbCdEf0123" * 4
    assert normalize_address(mixed) == "0x" + "abcdef0123" * 4


@pytest.mark.parametrize(
    "value",
    [
        "ab" * 20,  # no 0x prefix
        "0x" + "a" * 39,  # 19.5 bytes
        "0x" + "a" * 41,
        "0x" + "g" * 40,  # not hex
        " 0x" + "a" * 40,
        "0X" + "a" * 40,
        int("a" * 40, 16),
        None,
        b"0x" + b"a" * 40,
    ],
)
def test_normalize_address_rejects_malformed(value: object) -> None:
    with pytest.raises(InvalidParameter, match="where must be a 0x-prefixed 20-byte hex address, got"):
        normalize_address(value, "where")


def test_zero_address_is_refused() -> None:
    with pytest.raises(InvalidParameter, match=re.escape("Deposit.account must not be the zero address")):
        Deposit("0x" + "0" * 40, 0, 1)


def test_action_fields_are_normalised() -> None:
    upper = "0x" + TRADER[2:].upper()
    act = Liquidate(KEEPER.upper().replace("0X", "0x"), upper, 0, 1)
    assert act.account == TRADER
    assert act.keeper == KEEPER
    assert act == Liquidate(KEEPER, TRADER, 0, 1)
    adl = AutoDeleverage(KEEPER, TRADER, 0, ("0x" + MAKER[2:].upper(),))
    assert adl.counterparties == (MAKER,)


# ----------------------------------------------------------------------------- round trip


def test_samples_cover_every_action_type() -> None:
    assert set(SAMPLES) == set(ACTION_TYPES)
    assert all(type(a).__name__ == k for k, a in SAMPLES.items())


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_to_dict_round_trips_through_json(kind: str) -> None:
    action = SAMPLES[kind]
    raw = action.to_dict()
    assert raw["kind"] == kind
    assert action_from_dict(raw) == action
    assert action_from_dict(json.loads(json.dumps(raw))) == action  # lists stand in for tuples


# ----------------------------------------------------------------------------- malformed records


def test_non_mapping_record() -> None:
    with pytest.raises(InvalidParameter, match="an action must be a mapping with a 'kind', got list"):
        action_from_dict([("kind", "Deposit")])


@pytest.mark.parametrize("kind", ["Teleport", None, 3, "deposit"])
def test_unknown_kind(kind: object) -> None:
    with pytest.raises(InvalidParameter, match=re.escape(f"action kind {kind!r} is unknown; allowed: [")):
        action_from_dict({"kind": kind, "account": TRADER})


def test_missing_field_is_named() -> None:
    raw = SAMPLES["Fill"].to_dict()
    del raw["price_wad"]
    with pytest.raises(InvalidParameter, match=re.escape("Fill: missing fields ['price_wad'], unknown fields []")):
        action_from_dict(raw)


def test_extra_field_is_named() -> None:
    raw = SAMPLES["Deposit"].to_dict() | {"memo": "hi"}
    with pytest.raises(InvalidParameter, match=re.escape("Deposit: missing fields [], unknown fields ['memo']")):
        action_from_dict(raw)


@pytest.mark.parametrize(
    ("kind", "field", "value", "message"),
    [
        ("Deposit", "amount", True, "Deposit.amount must be an integer, got True"),
        ("Deposit", "amount", 1.0, "Deposit.amount must be an integer, got 1.0"),
        ("Deposit", "amount", "5", "Deposit.amount must be an integer, got '5'"),
        ("Deposit", "amount", 0, f"Deposit.amount = 0 is out of range [1, {UINT256_MAX}]"),
        ("Deposit", "asset_id", 2**32, f"Deposit.asset_id = {2**32} is out of range [0, {2**32 - 1}]"),
        ("Fill", "size_wad", 0, "Fill.size_wad must be non-zero"),
        ("Fill", "size_wad", False, "Fill.size_wad must be an integer, got False"),
        ("Fill", "size_wad", -INT256_MAX - 1, "Fill.size_wad = "),
        ("Fill", "price_wad", 0, "Fill.price_wad = 0 is out of range [1, "),
        ("Fill", "taker_fee_wad", WAD + 1, f"Fill.taker_fee_wad = {WAD + 1} is out of range [0, {WAD}]"),
        ("Fill", "maker_order", [], "Fill.maker_order must be a mapping of SignedOrder fields, got list"),
        ("Fill", "taker_order", {"order": {}}, "Fill.taker_order: missing fields ['signature'], unknown fields []"),
        ("CancelOrder", "order", {"account": "0x123"}, "CancelOrder.order: missing fields ['market_id', "),
        ("AdvanceTime", "seconds", -1, "AdvanceTime.seconds = -1 is out of range"),
        ("AdvanceTime", "blocks", True, "AdvanceTime.blocks must be an integer, got True"),
        ("Liquidate", "size_wad", 0, "Liquidate.size_wad = 0 is out of range [1, "),
        ("PushPrice", "timestamp_s", 2**64, "PushPrice.timestamp_s = "),
        ("SetPaused", "paused", 1, "SetPaused.paused must be a bool, got 1"),
        ("SetRole", "role", "admin", "SetRole.role = 'admin'; allowed: ['governance', 'matcher', 'oracle', 'funding']"),
        ("SetRole", "enabled", "yes", "SetRole.enabled must be a bool, got 'yes'"),
        ("SetMarketMargin", "maintenance_share_wad", -1, "SetMarketMargin.maintenance_share_wad = -1 is out of range"),
        (
            "AutoDeleverage",
            "counterparties",
            [MAKER] * (MAX_ADL_COUNTERPARTIES + 1),
            f"has {MAX_ADL_COUNTERPARTIES + 1} entries; allowed 0..{MAX_ADL_COUNTERPARTIES}",
        ),
        ("AutoDeleverage", "counterparties", MAKER, "AutoDeleverage.counterparties must be a list of addresses"),
        (
            "AutoDeleverage",
            "counterparties",
            [MAKER, "0xbad"],
            "AutoDeleverage.counterparties[1] must be a 0x-prefixed",
        ),
    ],
)
def test_malformed_field_raises_invalid_parameter(kind: str, field: str, value: object, message: str) -> None:
    raw = SAMPLES[kind].to_dict() | {field: value}
    with pytest.raises(InvalidParameter, match=re.escape(message)):
        action_from_dict(raw)


def test_too_many_adl_counterparties() -> None:
    many = ["0x" + f"{i + 1:040x}" for i in range(MAX_ADL_COUNTERPARTIES + 1)]
    assert len(AutoDeleverage(KEEPER, TRADER, 0, tuple(many[:-1])).counterparties) == MAX_ADL_COUNTERPARTIES
    with pytest.raises(InvalidParameter, match=f"has {MAX_ADL_COUNTERPARTIES + 1} entries"):
        AutoDeleverage(KEEPER, TRADER, 0, tuple(many))


def test_actions_are_frozen() -> None:
    act = SAMPLES["Deposit"]
    with pytest.raises(AttributeError):
        act.amount = 5  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- orders


def _signed_fill(**order_fields: object) -> dict[str, object]:
    raw = SAMPLES["Fill"].to_dict()
    raw["taker_order"]["order"] |= order_fields  # type: ignore[index]
    return raw


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"size_wad": 0}, "Order.size_wad must be non-zero (positive buys, negative sells)"),
        ({"account": "0x" + "0" * 40}, "Order.account must not be the zero address"),
        ({"nonce": -1}, "Order.nonce = -1 is out of range [0, "),
        ({"expiry_s": "soon"}, "Order.expiry_s must be an integer, got 'soon'"),
    ],
)
def test_malformed_order_raises_invalid_parameter(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter, match=re.escape(message)):
        action_from_dict(_signed_fill(**fields))


@pytest.mark.parametrize("signature", ["0x12", "0x" + "zz" * 65, b"\x01" * 64, 7])
def test_signature_must_be_65_bytes(signature: object) -> None:
    raw = SAMPLES["Fill"].to_dict()
    raw["maker_order"]["signature"] = signature
    with pytest.raises(InvalidParameter, match=re.escape("SignedOrder.signature ")):
        action_from_dict(raw)


def test_fill_names_its_sides_after_the_orders() -> None:
    fill = SAMPLES["Fill"]
    assert isinstance(fill, Fill)
    assert (fill.maker, fill.taker, fill.market_id) == (MAKER, TRADER, 0)
    assert (fill.maker_order.order.size_wad, fill.taker_order.order.size_wad) == (WAD // 3 + 1, -WAD // 3)
