"""F-20 (low): protocol, market, collateral and feed parameters were not validated on chain.

The contracts trusted the deployer's Python to have run ``protocol.params``: a liquidation spread
above 100 % made ``room - slip`` underflow in every liquidation, a heartbeat of 0 made a feed
never trusted, and so on. The fix: the constructor and the listing functions check exactly the
bounds of ``protocol.params``, read from the one constants source (``protocol/constants.py``,
rendered into ``constants.vy``). For each bound, the model's parameter objects and the contracts
(titanoboa) refuse the same value just outside it and both take the value on it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import boa
import pytest
from security_harness import GOV

from contracts_py.deploy import (
    COLLATERAL_STRUCT,
    MARKET_STRUCT,
    PROTOCOL_STRUCT,
    boa_deployer,
    deployment_plan,
    protocol_params_tuple,
)
from protocol import constants as c
from protocol.errors import InvalidParameter
from protocol.params import SocializedLossMethod
from protocol.scenarios import ETH_PERP, WETH, default_params

PARAMS = default_params()
CP = PARAMS.collateral(WETH)
#: (field, value just outside a bound, value on it)
Bound = tuple[str, int, int]
PROTOCOL_BOUNDS: list[Bound] = [
    ("settlement_decimals", c.MAX_DECIMALS + 1, c.MAX_DECIMALS),
    ("insurance_fee_share_wad", c.WAD + 1, c.WAD),
    ("liquidation_penalty_wad", c.MAX_LIQUIDATION_PENALTY + 1, c.MAX_LIQUIDATION_PENALTY),
    ("keeper_penalty_share_wad", c.WAD + 1, c.WAD),
    ("liquidation_spread_wad", c.MAX_LIQUIDATION_SPREAD + 1, c.MAX_LIQUIDATION_SPREAD),
    ("liquidation_spread_wad", c.WAD + 1, c.MAX_LIQUIDATION_SPREAD),  # the review's underflow
    ("max_liquidation_notional_per_block_wad", 0, 1),
    ("max_fill_deviation_wad", 0, 1),
    ("max_fill_deviation_wad", c.MAX_FILL_DEVIATION + 1, c.MAX_FILL_DEVIATION),
    ("max_funding_rate_per_s_wad", c.MAX_FUNDING_RATE_PER_S + 1, c.MAX_FUNDING_RATE_PER_S),
    ("funding_rate_ramp_s", c.MIN_FUNDING_RATE_RAMP_S - 1, c.MIN_FUNDING_RATE_RAMP_S),
    ("funding_rate_ramp_s", c.MAX_FUNDING_RATE_RAMP_S + 1, c.MAX_FUNDING_RATE_RAMP_S),
    ("liquidation_grace_s", c.MAX_LIQUIDATION_GRACE_S + 1, c.MAX_LIQUIDATION_GRACE_S),
    ("adl_window_s", c.MIN_ADL_WINDOW_S - 1, c.MIN_ADL_WINDOW_S),
    ("adl_window_s", c.MAX_ADL_WINDOW_S + 1, c.MAX_ADL_WINDOW_S),
    ("collateral_liquidation_fee_wad", c.MAX_COLLATERAL_LIQUIDATION_FEE + 1, c.MAX_COLLATERAL_LIQUIDATION_FEE),
    # the loss-socialization menu (issue 17): an unknown method code, and the variants' parameters
    ("socialized_loss_method", c.LOSS_METHOD_GAINS + 1, SocializedLossMethod.GAINS),  # type: ignore[list-item]
    ("adl_close_fraction_wad", c.MIN_ADL_CLOSE_FRACTION - 1, c.MIN_ADL_CLOSE_FRACTION),
    ("adl_close_fraction_wad", c.WAD + 1, c.WAD),
    ("collateral_close_factor_wad", c.MIN_COLLATERAL_CLOSE_FACTOR - 1, c.MIN_COLLATERAL_CLOSE_FACTOR),
    ("collateral_close_factor_wad", c.WAD + 1, c.WAD),
    ("collateral_debt_ratio_trigger_wad", c.MAX_COLLATERAL_DEBT_RATIO_TRIGGER + 1, c.MAX_COLLATERAL_DEBT_RATIO_TRIGGER),
    ("profit_haircut_wad", c.MAX_PROFIT_HAIRCUT + 1, c.MAX_PROFIT_HAIRCUT),
]
FEED_BOUNDS: list[Bound] = [
    ("heartbeat_s", c.MIN_HEARTBEAT_S - 1, c.MIN_HEARTBEAT_S),  # the review's never-trusted feed
    ("heartbeat_s", c.MAX_HEARTBEAT_S + 1, c.MAX_HEARTBEAT_S),
    ("max_move_wad", 0, 1),
    ("max_move_wad", c.MAX_PRICE_MOVE + 1, c.MAX_PRICE_MOVE),
    ("move_window_s", c.MIN_MOVE_WINDOW_S - 1, c.MIN_MOVE_WINDOW_S),
    ("move_window_s", c.MAX_MOVE_WINDOW_S + 1, c.MAX_MOVE_WINDOW_S),
]
MARKET_BOUNDS: list[Bound] = [
    ("initial_margin_fraction_wad", c.MIN_INITIAL_MARGIN_FRACTION - 1, c.MIN_INITIAL_MARGIN_FRACTION),
    ("initial_margin_fraction_wad", c.MAX_INITIAL_MARGIN_FRACTION + 1, c.MAX_INITIAL_MARGIN_FRACTION),
    ("maintenance_share_wad", 0, 1),
    ("maintenance_share_wad", c.WAD, c.WAD - 1),
    ("oi_cap_upper_wad", 5_000_000 * c.WAD, 5_000_000 * c.WAD + 1),  # above the lower cap, or both 0
]
COLLATERAL_BOUNDS: list[Bound] = [
    ("decimals", c.MAX_DECIMALS + 1, c.MAX_DECIMALS),
    ("haircut_wad", c.WAD, c.WAD - 1),
    ("liquidation_discount_wad", c.WAD, c.WAD - 1),
    ("deposit_cap", 0, CP.account_deposit_cap),
    ("value_cap_wad", 0, 1),
    ("account_deposit_cap", 0, 1),
    ("account_deposit_cap", CP.deposit_cap + 1, CP.deposit_cap),
]


def _ids(bounds: list[Bound]) -> list[str]:
    return [f"{field}={bad}" for field, bad, _ in bounds]


def _with(values: tuple[Any, ...], fields: tuple[str, ...], field: str, value: int) -> tuple[Any, ...]:
    out = list(values)
    out[fields.index(field)] = value
    return tuple(out)


@pytest.fixture(scope="module")
def parts() -> tuple[str, str, str, Any]:
    """The three engines and a settlement token, deployed once for the module."""
    return (
        boa_deployer("liquidation_engine").deploy().address,
        boa_deployer("trading_engine").deploy().address,
        boa_deployer("adl_engine").deploy().address,
        boa_deployer("testing/erc20").deploy("USD Coin (test)", "USDC", 6),
    )


def _core(parts: tuple[str, str, str, Any], protocol: tuple[Any, ...]) -> Any:
    liquidation, trading, adl, token = parts
    return boa_deployer("clearing_house").deploy(liquidation, trading, adl, token.address, protocol)


@pytest.fixture
def configuring(parts: tuple[str, str, str, Any]) -> Any:
    """A core still in configuration (the test's account is its configurator)."""
    return _core(parts, protocol_params_tuple(PARAMS.protocol))


@pytest.mark.parametrize(("field", "bad", "good"), PROTOCOL_BOUNDS, ids=_ids(PROTOCOL_BOUNDS))
def test_protocol_bounds(parts: tuple[str, str, str, Any], field: str, bad: int, good: int) -> None:
    with pytest.raises(InvalidParameter):
        dataclasses.replace(PARAMS.protocol, **{field: bad})
    valid = protocol_params_tuple(PARAMS.protocol)
    with boa.reverts("roles: protocol parameters out of bounds"):
        _core(parts, _with(valid, PROTOCOL_STRUCT, field, bad))
    _core(parts, protocol_params_tuple(dataclasses.replace(PARAMS.protocol, **{field: good})))


@pytest.mark.parametrize(("field", "bad", "good"), FEED_BOUNDS, ids=_ids(FEED_BOUNDS))
def test_feed_bounds(configuring: Any, field: str, bad: int, good: int) -> None:
    fp = PARAMS.feed(0)
    with pytest.raises(InvalidParameter):
        dataclasses.replace(fp, **{field: bad})
    values = {"heartbeat_s": fp.heartbeat_s, "max_move_wad": fp.max_move_wad, "move_window_s": fp.move_window_s}
    with boa.reverts("roles: feed parameters out of bounds"):
        configuring.list_feed(0, *(values | {field: bad}).values())
    configuring.list_feed(0, *(values | {field: good}).values())


@pytest.mark.parametrize(("field", "bad", "good"), MARKET_BOUNDS, ids=_ids(MARKET_BOUNDS))
def test_market_bounds(configuring: Any, field: str, bad: int, good: int) -> None:
    mp = PARAMS.market(ETH_PERP)  # open-interest caps 5M and 50M
    with pytest.raises(InvalidParameter):
        dataclasses.replace(mp, **{field: bad})
    plan = deployment_plan(PARAMS, GOV)
    configuring.list_feed(*next(call.args for call in plan.calls if call.function == "list_feed"))
    market = next(call.args[1] for call in plan.calls if call.function == "list_market" and call.args[0] == ETH_PERP)
    market = _with(market, MARKET_STRUCT, "feed_id", 0)
    with boa.reverts("roles: market parameters out of bounds"):
        configuring.list_market(ETH_PERP, _with(market, MARKET_STRUCT, field, bad))
    configuring.list_market(ETH_PERP, _with(market, MARKET_STRUCT, field, good))


@pytest.mark.parametrize(("field", "bad", "good"), COLLATERAL_BOUNDS, ids=_ids(COLLATERAL_BOUNDS))
def test_collateral_bounds(parts: tuple[str, str, str, Any], configuring: Any, field: str, bad: int, good: int) -> None:
    with pytest.raises(InvalidParameter):
        dataclasses.replace(CP, **{field: bad})
    plan = deployment_plan(PARAMS, GOV, collateral_token_addresses={WETH: parts[3].address})
    for call in plan.calls:
        if call.function == "list_feed":
            configuring.list_feed(*call.args)
    collateral = next(call.args[1] for call in plan.calls if call.function == "list_collateral")
    with boa.reverts("roles: collateral parameters out of bounds"):
        configuring.list_collateral(WETH, _with(collateral, COLLATERAL_STRUCT, field, bad))
    configuring.list_collateral(WETH, _with(collateral, COLLATERAL_STRUCT, field, good))


def test_a_collateral_token_without_code_is_refused(configuring: Any) -> None:
    plan = deployment_plan(PARAMS, GOV, collateral_token_addresses={WETH: "0x" + "ab" * 20})
    for call in plan.calls:
        if call.function == "list_feed":
            configuring.list_feed(*call.args)
    collateral = next(call.args[1] for call in plan.calls if call.function == "list_collateral")
    with boa.reverts("roles: token has no code"):
        configuring.list_collateral(WETH, collateral)


def test_listing_refusals(configuring: Any) -> None:
    # the mutation run (tests/mutation) found neither refusal pinned: a market on a feed never
    # listed, and a feed beyond MAX_FEEDS (the last one that fits is accepted)
    plan = deployment_plan(PARAMS, GOV)
    feed = next(call.args for call in plan.calls if call.function == "list_feed")
    market = next(call.args[1] for call in plan.calls if call.function == "list_market" and call.args[0] == ETH_PERP)
    with boa.reverts("roles: unknown feed"):
        configuring.list_market(ETH_PERP, _with(market, MARKET_STRUCT, "feed_id", 0))
    for feed_id in range(c.MAX_FEEDS):
        configuring.list_feed(feed_id, *feed[1:])
    with boa.reverts("roles: too many feeds"):
        configuring.list_feed(c.MAX_FEEDS, *feed[1:])


def test_listing_refuses_an_id_out_of_range_and_a_second_listing(
    parts: tuple[str, str, str, Any], configuring: Any
) -> None:
    # the mutation run (tests/mutation) found these refusals unpinned: a feed, a market or a
    # collateral listed twice, a market id of MAX_MARKETS, an asset id of 0 (the settlement
    # token) or of MAX_COLLATERALS + 1; the last ids that fit are accepted
    plan = deployment_plan(PARAMS, GOV, collateral_token_addresses={WETH: parts[3].address})
    feeds = [call.args for call in plan.calls if call.function == "list_feed"]
    for feed in feeds:
        configuring.list_feed(*feed)
    with boa.reverts("roles: feed listed"):
        configuring.list_feed(*feeds[0])
    market = next(call.args[1] for call in plan.calls if call.function == "list_market" and call.args[0] == ETH_PERP)
    with boa.reverts("roles: bad market"):
        configuring.list_market(c.MAX_MARKETS, market)
    configuring.list_market(c.MAX_MARKETS - 1, market)
    with boa.reverts("roles: bad market"):
        configuring.list_market(c.MAX_MARKETS - 1, market)
    collateral = next(call.args[1] for call in plan.calls if call.function == "list_collateral")
    for asset_id in (0, c.MAX_COLLATERALS + 1):
        with boa.reverts("roles: bad asset"):
            configuring.list_collateral(asset_id, collateral)
    configuring.list_collateral(c.MAX_COLLATERALS, collateral)
    with boa.reverts("roles: bad asset"):
        configuring.list_collateral(c.MAX_COLLATERALS, collateral)
    assert configuring.listed_feeds() == [feed[0] for feed in feeds]
    assert configuring.listed_markets() == [c.MAX_MARKETS - 1]
    assert configuring.listed_collaterals() == [c.MAX_COLLATERALS]


def test_an_engine_without_code_is_refused(parts: tuple[str, str, str, Any]) -> None:
    # each of the three engines must have code, whichever is missing
    liquidation, trading, adl, token = parts
    protocol = protocol_params_tuple(PARAMS.protocol)
    nobody = "0x" + "ab" * 20
    for engines in ((nobody, trading, adl), (liquidation, nobody, adl), (liquidation, trading, nobody)):
        with boa.reverts("roles: engine has no code"):
            boa_deployer("clearing_house").deploy(*engines, token.address, protocol)
