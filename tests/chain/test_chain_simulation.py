"""The simulator's on-chain mode: a simulated path's action log on the contracts equals the model,
action by action and in the final state, on anvil (the fast path) and titanoboa."""

from __future__ import annotations

import pytest

from contracts_py.chains import make_chain
from protocol.errors import InvalidParameter
from simulator.config import StudyConfig
from simulator.on_chain import ANVIL_ARGS, replay_path

#: A 60 % fall of two cross-margined markets with WETH collateral, slow keepers and a tiny
#: insurance fund: liquidations, collateral sales, bad debt, deleveraging with the ADL method.
CRASH = {
    "run.accounts": 80,
    "run.steps": 100,
    "run.paths": 1,
    "price.model": "bridge",
    "price.shock": -0.6,
    "price.sigma": 1.5,
    "price.feeds": {"ETH/USD": {"spot": 3_000.0, "sigma": 1.2}},
    "protocol.markets": [0, 1],
    "traders.collateral_asset_share": 0.4,
    "traders.leverage_median": 7.0,
    "liquidity.depth_usd": 2e7,
    "protocol.insurance_fund_usd": "2000",
    "funding.interval_steps": 10,
    "funding.premium_sigma": 0.01,
    "keepers.latency_blocks": 3,
    "keepers.gas_budget_per_block": 900_000,
}


@pytest.mark.parametrize(
    ("backend", "method"),
    [("anvil", "adl"), ("anvil", "pro_rata"), ("boa", "pro_rata")],
)
def test_a_simulated_crash_runs_identically_on_the_contracts(backend: str, method: str) -> None:
    config = StudyConfig().override(CRASH | {"protocol.socialized_loss_method": method})
    kwargs: dict[str, object] = {"impersonate": True, "extra_args": list(ANVIL_ARGS)} if backend == "anvil" else {}
    with make_chain(backend, **kwargs) as chain:
        report = replay_path(config, 0, chain)
    assert report.action_mismatches == ()
    assert report.state_differences == ()
    assert report.equal
    m = report.result.metrics
    assert m["liquidations"] > 0
    assert m["collateral_liquidations"] > 0
    assert m["bad_debt_wad"] > 0 or m["deleveragings"] > 0
    assert (m["deleveragings"] > 0) == (method == "adl")
    assert report.actions > 2 * config.run.accounts  # the set-up and the path went through the contracts


def test_chains_that_need_keys_and_bad_arguments_are_refused_with_the_way_out() -> None:
    config = StudyConfig().override({"run.accounts": 5, "run.steps": 2})
    for backend in ("eth-tester", "anvil"):
        with make_chain(backend) as chain, pytest.raises(InvalidParameter, match="impersonate=True"):
            replay_path(config, 0, chain)
    with make_chain("boa") as chain:
        with pytest.raises(InvalidParameter, match=r"path_index must be an integer in \[0, 64\)"):
            replay_path(config, 64, chain)
        with pytest.raises(InvalidParameter, match="config must be a StudyConfig"):
            replay_path(config.to_dict(), 0, chain)  # type: ignore[arg-type]
        with pytest.raises(InvalidParameter, match="chain must be a contracts_py Chain"):
            replay_path(config, 0, "anvil")  # type: ignore[arg-type]
