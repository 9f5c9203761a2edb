# ruff: noqa: F811  (pytest fixtures imported from the harness)
"""Deployment, code size, storage layout, roles, pause, token custody and reentrancy."""

from __future__ import annotations

import json
import subprocess
import sys

import boa
import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from test_protocol_harness import (  # noqa: F401  (fixtures)
    BTC,
    FUNDING,
    GOV,
    MATCHER,
    ORACLE,
    USDC,
    deployment,
    diff,
    prices,
    revert_reason,
)

from contracts_py import constants_gen
from contracts_py.deploy import CONTRACTS_DIR, deploy_boa, deployment_plan
from protocol.actions import (
    AcceptGovernance,
    Deposit,
    FundInsurance,
    Liquidate,
    SetMarketMargin,
    SetPaused,
    SetRole,
    Withdraw,
)
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.params import MarketKind, MarketParams, Params
from protocol.scenarios import ACTORS, default_params

EIP170 = 24_576
TRADER, MAKER, KEEPER = ACTORS["trader_conservative"], ACTORS["market_maker"], ACTORS["keeper"]


def test_constants_module_is_generated_from_the_model():
    assert (CONTRACTS_DIR / "constants.vy").read_text() == constants_gen.render()
    for name, value in constants_gen.values().items():
        assert f"{name}: constant(" in constants_gen.render()
        assert str(value) in constants_gen.render()


@pytest.mark.parametrize("name", ["clearing_house", "liquidation_engine", "trading_engine", "adl_engine"])
def test_runtime_code_fits_eip170(deployment, name):
    contract = {
        "clearing_house": deployment.core,
        "liquidation_engine": deployment.system.engine,
        "trading_engine": deployment.system.trading_engine,
        "adl_engine": deployment.system.adl_engine,
    }[name]
    size = len(boa.env.get_code(contract.address))
    assert 0 < size <= EIP170, f"{name}: {size} bytes"


def _layout(name: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "-p", str(CONTRACTS_DIR), "-f", "layout", str(CONTRACTS_DIR / f"{name}.vy")],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)["storage_layout"]


def test_core_and_engines_share_one_storage_layout():
    core = _layout("clearing_house")
    assert list(core) == ["state"]
    assert core == _layout("liquidation_engine") == _layout("trading_engine") == _layout("adl_engine")


def test_engines_refuse_direct_calls(deployment):
    with boa.reverts("liquidation: delegatecall only"):
        deployment.system.engine.liquidate(TRADER, BTC, 1)
    order = (TRADER, BTC, WAD, WAD, 0, 1, 0)
    with boa.reverts("clearing: delegatecall only"):
        deployment.boa.trading_engine.cancel_order(order)
    with boa.reverts("socialized_loss: delegatecall only"):
        deployment.boa.adl_engine.auto_deleverage(TRADER, BTC, [])


def test_deploy_rejects_option_markets():
    base = default_params()
    option = MarketParams(
        5, "BTC-C", 0, WAD // 10, WAD // 2, kind=MarketKind.CALL, strike_wad=WAD, expiry_s=10, volatility_wad=WAD
    )
    params = Params(base.protocol, base.feeds, (*base.markets, option), base.collaterals)
    with pytest.raises(InvalidParameter, match="perpetual markets only"):
        deployment_plan(params, GOV)


def test_configuration_is_closed_after_deploy(deployment):
    with boa.reverts("roles: configuration closed"):
        deployment.core.list_feed(9, 60, WAD, 60)


def test_roles_and_governance_transfer(diff):
    new_gov = ACTORS["trader_short"]
    assert diff.apply(SetRole(MATCHER, "matcher", TRADER, True)) == "roles: caller is not governance"
    diff.apply(SetRole(GOV, "matcher", TRADER, True))
    diff.apply(SetRole(GOV, "oracle", TRADER, True))
    diff.apply(SetRole(GOV, "funding", TRADER, True))
    diff.apply(SetRole(GOV, "matcher", TRADER, False))
    assert (
        diff.apply(SetRole(GOV, "governance", new_gov, False))
        == "roles: governance cannot be revoked, only transferred"
    )
    diff.apply(SetRole(GOV, "governance", new_gov, True))  # proposed: GOV still governs
    assert diff.apply(AcceptGovernance(TRADER)) == "roles: caller is not the proposed governance"
    diff.apply(SetPaused(GOV, True))
    diff.apply(AcceptGovernance(new_gov))
    assert diff.apply(SetPaused(GOV, False)) == "roles: caller is not governance"
    diff.apply(SetPaused(new_gov, False))


def test_set_market_margin_within_bounds(diff):
    assert diff.apply(SetMarketMargin(MATCHER, BTC, WAD // 5, WAD // 2)) == "roles: caller is not governance"
    assert diff.apply(SetMarketMargin(GOV, 9, WAD // 5, WAD // 2)) == "roles: unknown market"
    assert diff.apply(SetMarketMargin(GOV, BTC, WAD // 10_000, WAD // 2)) == "roles: margin parameters out of bounds"
    assert diff.apply(SetMarketMargin(GOV, BTC, WAD // 5, WAD)) == "roles: margin parameters out of bounds"
    diff.apply(SetMarketMargin(GOV, BTC, WAD // 5, WAD // 3))


def test_pause_blocks_user_actions_but_not_prices(diff):
    diff.apply_all(
        [*prices(diff, 60_000, 3_000), Deposit(MAKER, 0, 100_000 * USDC), Deposit(TRADER, 0, 100_000 * USDC)]
    )
    diff.apply(SetPaused(GOV, True))
    assert diff.apply(Deposit(TRADER, 0, USDC)) == "vault: paused"
    assert diff.apply(Withdraw(TRADER, 0, USDC)) == "vault: paused"
    assert diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC, WAD, 60_000 * WAD, 0, 0)) == "clearing: paused"
    assert diff.apply(Liquidate(KEEPER, TRADER, BTC, WAD)) == "liquidation: paused"
    diff.apply_all(prices(diff, 60_100, 3_000))
    diff.apply(FundInsurance(KEEPER, USDC))
    diff.apply(SetPaused(GOV, False))
    diff.apply(diff.signer.fill(MATCHER, MAKER, TRADER, BTC, WAD, 60_000 * WAD, 0, 0))


def test_token_without_return_value_is_handled():
    no_return = boa.load_partial(str(CONTRACTS_DIR / "testing" / "erc20_no_return.vy")).deploy(
        "Tether (test)", "USDT", 6
    )
    system = deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], settlement_token=no_return)
    no_return.mint(TRADER, 10 * USDC)
    with boa.env.prank(TRADER):
        no_return.approve(system.core.address, 10 * USDC)
        system.core.deposit(0, 10 * USDC)
        system.core.withdraw(0, 4 * USDC)
        with boa.reverts("vault: transfer failed"):  # no allowance left for a second deposit
            system.core.deposit(0, 10 * USDC)
    assert no_return.balanceOf(TRADER) == 4 * USDC
    assert no_return.balanceOf(system.core.address) == 6 * USDC == system.core.vault_tokens(0)


def test_reentrancy_is_blocked():
    evil = boa.load_partial(str(CONTRACTS_DIR / "testing" / "reentrant_token.vy")).deploy(6)
    system = deploy_boa(default_params(), GOV, matchers=[MATCHER], oracles=[ORACLE], settlement_token=evil)
    core = system.core
    evil.mint(TRADER, 100 * USDC)
    with boa.env.prank(TRADER):
        evil.approve(core.address, 100 * USDC)
        core.deposit(0, 50 * USDC)
    # on the withdrawal's transfer the token calls withdraw again (as the token itself: no
    # balance) and, bubbling, must hit the reentrancy lock before anything else
    data = selector("withdraw(uint256,uint256)") + encode(["uint256", "uint256"], [0, 10 * USDC])
    evil.arm(core.address, data, True)
    with boa.env.prank(TRADER), pytest.raises(boa.BoaError) as info:
        core.withdraw(0, 10 * USDC)
    assert revert_reason(info.value) != "vault: insufficient balance"
    assert core.balances(TRADER) == 50 * WAD
    assert evil.balanceOf(core.address) == 50 * USDC
    evil.arm(core.address, data, False)
    with boa.env.prank(TRADER):
        core.withdraw(0, 10 * USDC)
    assert evil.last_success() is False
    assert core.balances(TRADER) == 40 * WAD
    assert evil.balanceOf(TRADER) == 60 * USDC
