"""params: validation of every field (message names field and value) and TOML loading."""

from __future__ import annotations

import dataclasses
import decimal
import re
from pathlib import Path
from typing import Any

import pytest

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.params import (
    CollateralParams,
    FeedParams,
    MarketParams,
    Params,
    ProtocolParams,
    SocializedLossMethod,
    load_params,
    params_from_dict,
)
from protocol.scenarios import default_params

FEED = FeedParams(0, "BTC/USD", heartbeat_s=3_600, max_move_wad=WAD // 2)
MARKET = MarketParams(0, "BTC-PERP", 0, initial_margin_fraction_wad=WAD // 10, maintenance_share_wad=WAD // 2)
COLLATERAL = CollateralParams(
    1,
    "WETH",
    decimals=18,
    feed_id=0,
    haircut_wad=WAD // 5,
    liquidation_discount_wad=WAD // 20,
    deposit_cap=10**24,
    value_cap_wad=10**26,
    account_deposit_cap=10**23,
)


def test_default_params_are_valid_and_as_documented() -> None:
    p = default_params()
    assert p.market_ids == [0, 1]
    assert p.protocol == ProtocolParams()
    assert p.protocol.liquidation_penalty_wad == 25 * 10**15  # 2.5 %
    assert p.protocol.insurance_fee_share_wad == 5 * 10**17
    assert p.protocol.max_funding_rate_per_s_wad == 10**18 // 86_400 // 100 == 115_740_740_740
    assert p.market(1).oi_cap_lower_wad == 5_000_000 * WAD
    assert p.collateral(1).haircut_wad == 2 * 10**17
    assert p.feed(0).heartbeat_s == 3_600
    assert default_params(liquidation_penalty_wad=0).protocol.liquidation_penalty_wad == 0


# ----------------------------------------------------------------------------- field validation

# (object, owner prefix, field, bad value, expected message fragment after "<owner>.<field>")
BAD_FIELDS: list[tuple[Any, str, str, object, str]] = [
    # ProtocolParams
    (ProtocolParams(), "protocol", "settlement_decimals", 19, " = 19 is out of range [0, 18]"),
    (ProtocolParams(), "protocol", "settlement_decimals", True, " must be an integer, got True"),
    (
        ProtocolParams(),
        "protocol",
        "insurance_fee_share_wad",
        WAD + 1,
        " = 1.000000000000000001 is out of range [0, 1]",
    ),
    (
        ProtocolParams(),
        "protocol",
        "liquidation_penalty_wad",
        WAD // 10 + 1,
        " = 0.100000000000000001 is out of range [0, 0.1]",
    ),
    (ProtocolParams(), "protocol", "keeper_penalty_share_wad", -1, " = -0.000000000000000001 is out of range"),
    (
        ProtocolParams(),
        "protocol",
        "liquidation_spread_wad",
        WAD // 2 + 1,
        " = 0.500000000000000001 is out of range [0, 0.5]",
    ),
    (
        ProtocolParams(),
        "protocol",
        "max_liquidation_notional_per_block_wad",
        0,
        " = 0 is out of range [0.000000000000000001, no limit]",
    ),
    (ProtocolParams(), "protocol", "dust_notional_wad", -1, " = -0.000000000000000001 is out of range [0, no limit]"),
    (ProtocolParams(), "protocol", "max_fill_deviation_wad", 0, " = 0 is out of range [0.000000000000000001, 1]"),
    (
        ProtocolParams(),
        "protocol",
        "max_funding_rate_per_s_wad",
        WAD // 86_400 + 1,
        " = 0.000011574074074075 is out of range",
    ),
    (
        ProtocolParams(),
        "protocol",
        "collateral_liquidation_fee_wad",
        WAD // 10 + 1,
        " = 0.100000000000000001 is out of range [0, 0.1]",
    ),
    (ProtocolParams(), "protocol", "collateral_liquidation_fee_wad", 0.01, " must be an integer, got 0.01"),
    (ProtocolParams(), "protocol", "funding_rate_ramp_s", 0, " = 0 is out of range [1, 2592000]"),
    (ProtocolParams(), "protocol", "liquidation_grace_s", 86_401, " = 86401 is out of range [0, 86400]"),
    (
        ProtocolParams(),
        "protocol",
        "socialized_loss_method",
        "adl",
        " must be one of ['pro_rata', 'adl', 'open_interest', 'profit_haircut', 'gains'], got 'adl'",
    ),
    (
        ProtocolParams(),
        "protocol",
        "adl_close_fraction_wad",
        WAD // 100 - 1,
        " = 0.009999999999999999 is out of range [0.01, 1]",
    ),
    (
        ProtocolParams(),
        "protocol",
        "adl_close_fraction_wad",
        WAD + 1,
        " = 1.000000000000000001 is out of range [0.01, 1]",
    ),
    (ProtocolParams(), "protocol", "collateral_close_factor_wad", 0, " = 0 is out of range [0.01, 1]"),
    (
        ProtocolParams(),
        "protocol",
        "collateral_debt_ratio_trigger_wad",
        WAD + 1,
        " = 1.000000000000000001 is out of range [0, 1]",
    ),
    (ProtocolParams(), "protocol", "profit_haircut_wad", -1, " = -0.000000000000000001 is out of range [0, 1]"),
    # FeedParams
    (FEED, "feed[0]", "heartbeat_s", 0, " = 0 is out of range [1, 604800]"),
    (FEED, "feed[0]", "heartbeat_s", 7 * 86_400 + 1, " = 604801 is out of range"),
    (FEED, "feed[0]", "max_move_wad", 0, " = 0 is out of range [0.000000000000000001, 10]"),
    (FEED, "feed[0]", "max_move_wad", 10 * WAD + 1, " = 10.000000000000000001 is out of range"),
    (FEED, "feed[0]", "symbol", "  ", " must be a non-empty string, got '  '"),
    (FEED, "feed[-1]", "feed_id", -1, " = -1 is out of range"),
    # MarketParams
    (MARKET, "market[16]", "market_id", 16, " = 16 is out of range [0, 15]"),
    (MARKET, "market[0]", "symbol", 5, " must be a non-empty string, got 5"),
    (
        MARKET,
        "market[0]",
        "initial_margin_fraction_wad",
        WAD // 1000 - 1,
        " = 0.000999999999999999 is out of range [0.001, 10]",
    ),
    (MARKET, "market[0]", "initial_margin_fraction_wad", 10 * WAD + 1, " = 10.000000000000000001 is out of range"),
    (
        MARKET,
        "market[0]",
        "maintenance_share_wad",
        0,
        " = 0 is out of range [0.000000000000000001, 0.999999999999999999]",
    ),
    (MARKET, "market[0]", "maintenance_share_wad", WAD, " = 1 is out of range"),
    (MARKET, "market[0]", "oi_cap_lower_wad", -1, " = -0.000000000000000001 is out of range [0, no limit]"),
    (MARKET, "market[0]", "oi_cap_upper_wad", "7", " must be an integer, got '7'"),
    # CollateralParams
    (COLLATERAL, "collateral[0]", "asset_id", 0, " = 0 is out of range [1, 8]"),
    (COLLATERAL, "collateral[9]", "asset_id", 9, " = 9 is out of range [1, 8]"),
    (COLLATERAL, "collateral[1]", "decimals", 19, " = 19 is out of range [0, 18]"),
    (COLLATERAL, "collateral[1]", "haircut_wad", WAD, " = 1 is out of range [0, 0.999999999999999999]"),
    (COLLATERAL, "collateral[1]", "liquidation_discount_wad", WAD, " = 1 is out of range"),
    (COLLATERAL, "collateral[1]", "deposit_cap", 0, " = 0 is out of range [1, no limit]"),
    (COLLATERAL, "collateral[1]", "value_cap_wad", 0, " = 0 is out of range [0.000000000000000001, no limit]"),
    (COLLATERAL, "collateral[1]", "account_deposit_cap", 0, f" = 0 is out of range [1, {10**24}]"),
    (COLLATERAL, "collateral[1]", "account_deposit_cap", 10**24 + 1, f" = {10**24 + 1} is out of range [1, {10**24}]"),
    (COLLATERAL, "collateral[1]", "symbol", "", " must be a non-empty string, got ''"),
]


@pytest.mark.parametrize(
    ("base", "owner", "name", "value", "tail"),
    BAD_FIELDS,
    ids=[f"{b[1].split('[')[0]}.{b[2]}={b[3]!r}" for b in BAD_FIELDS],
)
def test_bad_field_raises_naming_field_and_value(base: Any, owner: str, name: str, value: object, tail: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        dataclasses.replace(base, **{name: value})
    message = str(info.value)
    # a WAD field out of range is named and shown as a parameter file writes it: no suffix, a decimal
    shown = name.removesuffix("_wad") if "out of range" in tail else name
    assert message.startswith(f"{owner}.{shown}{tail}")


def _int_fields(obj: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(obj) if isinstance(getattr(obj, f.name), int)]


EVERY_INT_FIELD = [
    (base, name, value)
    for base in (ProtocolParams(), FEED, MARKET, COLLATERAL)
    for name in _int_fields(base)
    for value in (-1, True)
]


@pytest.mark.parametrize(
    ("base", "name", "value"),
    EVERY_INT_FIELD,
    ids=[f"{type(b).__name__}.{n}={v!r}" for b, n, v in EVERY_INT_FIELD],
)
def test_every_integer_field_rejects_negative_and_bool(base: Any, name: str, value: object) -> None:
    """No integer field accepts -1 or a bool, and the message names the field and the value."""
    with pytest.raises(InvalidParameter) as info:
        dataclasses.replace(base, **{name: value})
    message = str(info.value)
    if name.endswith("_wad") and "out of range" in message:  # shown as a parameter file writes it
        assert f".{name.removesuffix('_wad')} = -0.000000000000000001 is out of range" in message
    else:
        assert f".{name} " in message
        assert repr(value) in message


@pytest.mark.parametrize(("lower", "upper"), [(5, 5), (6, 5), (5, 0)])
def test_oi_caps_must_be_ordered_unless_both_zero(lower: int, upper: int) -> None:
    with pytest.raises(InvalidParameter, match=re.escape(f"market[0].oi_cap_upper_wad = {upper} must exceed")):
        dataclasses.replace(MARKET, oi_cap_lower_wad=lower, oi_cap_upper_wad=upper)
    assert dataclasses.replace(MARKET, oi_cap_lower_wad=0, oi_cap_upper_wad=0).oi_cap_upper_wad == 0
    assert dataclasses.replace(MARKET, oi_cap_lower_wad=0, oi_cap_upper_wad=1).oi_cap_upper_wad == 1


def test_params_cross_checks() -> None:
    with pytest.raises(InvalidParameter, match=re.escape("market[0].feed_id = 7 names no feed")):
        Params(ProtocolParams(), (FEED,), (dataclasses.replace(MARKET, feed_id=7),))
    with pytest.raises(InvalidParameter, match=re.escape("collateral[1].feed_id = 3 names no feed")):
        Params(ProtocolParams(), (FEED,), (MARKET,), (dataclasses.replace(COLLATERAL, feed_id=3),))
    with pytest.raises(InvalidParameter, match=re.escape("params.markets has a repeated market_id: [0, 0]")):
        Params(ProtocolParams(), (FEED,), (MARKET, MARKET))
    with pytest.raises(InvalidParameter, match=re.escape("params.markets is empty")):
        Params(ProtocolParams(), (FEED,), ())
    with pytest.raises(InvalidParameter, match=re.escape("params.feeds must be a tuple of FeedParams")):
        Params(ProtocolParams(), [FEED], (MARKET,))  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=re.escape("params.protocol must be a ProtocolParams")):
        Params({}, (FEED,), (MARKET,))  # type: ignore[arg-type]


def test_lookups_of_unknown_ids_raise_invalid_parameter() -> None:
    p = default_params()
    with pytest.raises(InvalidParameter, match=re.escape("unknown market_id 9; known: [0, 1]")):
        p.market(9)
    with pytest.raises(InvalidParameter, match=re.escape("unknown collateral asset_id 2; known: [1]")):
        p.collateral(2)
    with pytest.raises(InvalidParameter, match=re.escape("unknown feed_id 5; known: [0, 1]")):
        p.feed(5)


# ----------------------------------------------------------------------------- TOML

GOOD_TOML = """
[protocol]
liquidation_penalty = "0.05"
insurance_fee_share = "0.25"
liquidation_spread = 0.1
dust_notional = "12.5"
max_liquidation_notional_per_block = "1000000"
socialized_loss_method = "adl"

[[feed]]
feed_id = 0
symbol = "BTC/USD"
heartbeat_s = 60
max_move = "0.123456789012345678"

[[market]]
market_id = 3
symbol = "BTC-PERP"
feed_id = 0
initial_margin_fraction = "0.05"
maintenance_share = "0.6"
oi_cap_lower = "1000"
oi_cap_upper = "2000.000000000000000001"

[[collateral]]
asset_id = 2
symbol = "WBTC"
decimals = 8
feed_id = 0
haircut = "0.1"
liquidation_discount = "0.05"
deposit_cap = 100000000
value_cap = "1e6"
account_deposit_cap = 1000000
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_params_converts_decimal_strings_to_exact_wad(tmp_path: Path) -> None:
    p = load_params(_write(tmp_path, GOOD_TOML))
    pp = p.protocol
    assert pp.liquidation_penalty_wad == 5 * 10**16  # "0.05" * 1e18
    assert pp.insurance_fee_share_wad == 25 * 10**16
    assert pp.liquidation_spread_wad == 10**17  # a TOML float 0.1 is read through its decimal text
    assert pp.dust_notional_wad == 12_500_000_000_000_000_000  # 12.5e18
    assert pp.max_liquidation_notional_per_block_wad == 10**6 * WAD
    assert pp.socialized_loss_method is SocializedLossMethod.ADL
    assert pp.settlement_decimals == 6  # default kept
    assert p.feed(0).max_move_wad == 123_456_789_012_345_678
    assert p.feed(0).heartbeat_s == 60
    m = p.market(3)
    assert m.initial_margin_fraction_wad == 5 * 10**16
    assert m.maintenance_share_wad == 6 * 10**17
    assert m.oi_cap_lower_wad == 1000 * WAD
    assert m.oi_cap_upper_wad == 2000 * WAD + 1  # the 18th decimal place is one wei
    c = p.collateral(2)
    assert (c.decimals, c.deposit_cap, c.haircut_wad, c.value_cap_wad) == (8, 10**8, 10**17, 10**6 * WAD)
    assert c.account_deposit_cap == 10**6


def test_load_params_reads_an_options_signed_yield(tmp_path: Path) -> None:
    option = """
[[market]]
market_id = 4
symbol = "BTC-70000-C"
feed_id = 0
kind = "call"
initial_margin_fraction = "1.5"
maintenance_share = "0.5"
strike = "70000"
expiry_s = 1800000000
volatility = "0.6"
dividend_yield = "-0.025"
"""
    m = load_params(_write(tmp_path, GOOD_TOML + option)).market(4)
    assert (m.dividend_yield_wad, m.initial_margin_fraction_wad) == (-25 * 10**15, 3 * WAD // 2)
    with pytest.raises(InvalidParameter, match=r"market\[4\]\.dividend_yield = 1.5 is out of range \[-1, 1\]"):
        load_params(_write(tmp_path, GOOD_TOML + option.replace('"-0.025"', '"1.5"')))


def test_params_from_dict_matches_load_params(tmp_path: Path) -> None:
    import tomllib

    assert params_from_dict(tomllib.loads(GOOD_TOML)) == load_params(_write(tmp_path, GOOD_TOML))


def test_malformed_toml(tmp_path: Path) -> None:
    path = _write(tmp_path, "[protocol\nliquidation_penalty = ")
    with pytest.raises(InvalidParameter, match=re.escape(f"parameter file {path} is not valid TOML")):
        load_params(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(InvalidParameter, match=re.escape(f"cannot read parameter file {path}")):
        load_params(path)


def test_unknown_key_names_the_key_and_the_allowed_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_TOML.replace('liquidation_penalty = "0.05"', 'liquidation_penalty = "0.05"\nfoo = 1'))
    with pytest.raises(InvalidParameter, match=r"protocol\.foo is not a known field; allowed: \[") as info:
        load_params(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "'liquidation_penalty'" in str(info.value)


def test_unknown_top_level_table(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=re.escape("unknown top-level tables ['fees']")):
        load_params(_write(tmp_path, GOOD_TOML + "\n[fees]\nx = 1\n"))


def test_non_exact_decimal_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_TOML.replace('"0.05"', '"0.1234567890123456789"', 1))
    with pytest.raises(
        InvalidParameter,
        match=re.escape(
            "protocol.liquidation_penalty = '0.1234567890123456789' is not a finite decimal with at most 18 places"
        ),
    ):
        load_params(path)


def test_decimal_with_more_than_28_significant_digits_is_not_silently_rounded(tmp_path: Path) -> None:
    # 1e12 + 1e-18 has 31 significant digits; exactly it is 10**30 + 1 wei. It must load exactly or be refused,
    # whatever the caller's decimal context (Python's default precision is 28 digits).
    path = _write(
        tmp_path,
        GOOD_TOML.replace(
            'oi_cap_upper = "2000.000000000000000001"', 'oi_cap_upper = "1000000000000.000000000000000001"'
        ),
    )
    with decimal.localcontext(decimal.Context(prec=28)):
        try:
            p = load_params(path)
        except InvalidParameter:
            return
    assert p.market(3).oi_cap_upper_wad == 10**30 + 1


@pytest.mark.parametrize("value", ['"abc"', '"NaN"', '"Infinity"', "true", "[1]"])
def test_non_numeric_wad_fields_are_refused(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, GOOD_TOML.replace('liquidation_penalty = "0.05"', f"liquidation_penalty = {value}"))
    with pytest.raises(InvalidParameter, match=r"protocol\.liquidation_penalty"):
        load_params(path)


def test_market_naming_an_unknown_feed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        GOOD_TOML.replace(
            'market_id = 3\nsymbol = "BTC-PERP"\nfeed_id = 0', 'market_id = 3\nsymbol = "BTC-PERP"\nfeed_id = 4'
        ),
    )
    with pytest.raises(InvalidParameter, match=re.escape(f"{path}: market[3].feed_id = 4 names no feed")):
        load_params(path)


def test_out_of_range_value_in_toml_names_field(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_TOML.replace('liquidation_penalty = "0.05"', 'liquidation_penalty = "0.2"'))
    with pytest.raises(
        InvalidParameter, match=re.escape("protocol.liquidation_penalty = 0.2 is out of range [0, 0.1]")
    ):
        load_params(path)


def test_missing_required_field_and_bad_method(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_TOML.replace("heartbeat_s = 60\n", ""))
    with pytest.raises(InvalidParameter, match=r"feed\[0\]: .*heartbeat_s"):
        load_params(path)
    path = _write(tmp_path, GOOD_TOML.replace('"adl"', '"lottery"'))
    with pytest.raises(InvalidParameter, match=re.escape("protocol.socialized_loss_method = 'lottery'; allowed")):
        load_params(path)
    with pytest.raises(InvalidParameter, match=re.escape("[[market]] must be an array of tables")):
        params_from_dict({"market": {"market_id": 0}})
