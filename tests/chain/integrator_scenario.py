"""A scripted scenario for the integrator tests: signed-order fills, funding, a price drop, a
liquidation and a collateral deposit, applied to the contracts and the model side by side;
:func:`scenario_on`, a fresh deployment with the scenario run (the integrator tests' module
fixture); and :func:`attach_manifest`, which runs it beside a deployment made by ``novation deploy``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from test_protocol_harness import BTC, USDC, Actors, Differential

from contracts_py.build import Builder
from contracts_py.chains import Chain, Contract, make_chain
from contracts_py.deploy import System, deployment_plan
from contracts_py.manifest import Manifest
from protocol.actions import Action, AdvanceTime, Deposit, FundInsurance, Liquidate, PushPrice, SetFundingRate
from protocol.constants import SETTLEMENT_ASSET_ID, WAD
from protocol.scenarios import WETH


def _prices(d: Differential, btc: int, eth: int) -> list[Action]:
    wait = max(f.move_window_s for f in d.model.params.feeds)
    t = d.now + wait
    oracle = d.actors.oracle
    return [AdvanceTime(wait, 1), PushPrice(oracle, 0, btc * WAD, t), PushPrice(oracle, 1, eth * WAD, t)]


@contextmanager
def scenario_on(backend: str) -> Iterator[tuple[Differential, list[str]]]:
    """A fresh deployment on ``backend`` (``eth-tester``, ``anvil``) with :func:`run_scenario` run,
    and the traders it used; the chain is closed on exit."""
    chain = make_chain(backend)
    try:
        d = Differential.on_chain(chain)
        d.reset()
        yield d, run_scenario(d)
    finally:
        chain.close()


def run_scenario(d: Differential) -> list[str]:
    """Run the scenario on ``d`` (compared to the wei at every step); returns the traders used.

    The last block is sealed, so the chain's latest block holds the model's state and time. On
    anvil (a block per transaction) every action gets its own block one second later.
    """
    a = d.actors
    own_blocks = d.chain_system.chain.name == "anvil"
    plain_apply = d.apply

    def apply(action: Action) -> object:
        if own_blocks and not isinstance(action, AdvanceTime):
            plain_apply(AdvanceTime(1, 1))
        return plain_apply(action)

    d.apply = apply  # type: ignore[method-assign]
    maker, leveraged, conservative, holder = a.traders[0], a.traders[1], a.traders[2], a.traders[3]
    steps: list[Action] = [
        *_prices(d, 60_000, 3_000),
        Deposit(maker, 0, 2_000_000 * USDC),
        Deposit(leveraged, 0, 7_000 * USDC),
        Deposit(conservative, 0, 40_000 * USDC),
        Deposit(holder, 0, 5_000 * USDC),
        Deposit(holder, WETH, 2 * WAD),
        Deposit(a.keeper, 0, 200_000 * USDC),
        FundInsurance(a.governance, 1_000 * USDC),
    ]
    d.apply_all(steps)
    d.apply(d.signer.fill(a.matcher, maker, leveraged, BTC, WAD, 60_000 * WAD, WAD // 10_000, WAD // 2_000))
    d.apply(d.signer.fill(a.matcher, maker, conservative, BTC, WAD // 2, 60_000 * WAD, 0, WAD // 2_000))
    d.apply(d.signer.fill(a.matcher, conservative, holder, BTC, WAD // 10, 60_000 * WAD, 0, 0))
    d.apply(SetFundingRate(a.funding, BTC, 10**9))
    d.apply_all(_prices(d, 54_500, 2_900))
    q = d.model.max_liquidation_size(leveraged, BTC)
    assert q > 0
    d.apply(Liquidate(a.keeper, leveraged, BTC, q))
    d.apply_all(_prices(d, 54_000, 2_800))
    d.chain_system.chain.set_automine(True)  # seal the model's last block
    d.apply = plain_apply  # type: ignore[method-assign]
    return [maker, leveraged, conservative, holder, a.keeper]


def attach_manifest(chain: Chain, manifest: Manifest) -> Differential:
    """A :class:`Differential` beside the deployment of ``manifest`` made by ``novation deploy``:
    the node's first account holds every role (governance, matcher, oracle, funding operator);
    keeper, liquidator and traders are the next accounts, as in :func:`chain_actors`."""
    b = Builder()
    acc = chain.accounts
    operator = acc[0]

    def at(role: str, source: str | None = None) -> Contract:
        c = manifest.contracts[role]
        return chain.at(b.build(source or c.source), c.address)

    tokens = {
        int(role.split(":")[1]): at(role, "testing/erc20") for role in manifest.contracts if role.startswith("token:")
    }
    plan = deployment_plan(
        manifest.params,
        operator,
        matchers=[operator],
        oracles=[operator],
        funding_operators=[operator],
        collateral_token_addresses={a: t.address for a, t in tokens.items() if a != SETTLEMENT_ASSET_ID},
    )
    system = System(
        chain,
        at("clearing_house"),
        at("liquidation_engine"),
        at("trading_engine"),
        at("adl_engine"),
        tokens,
        plan,
        lens=at("lens"),
    )
    actors = Actors(operator, operator, operator, operator, acc[3], acc[4], tuple(acc[5:10]))
    return Differential.attach(system, manifest.params, actors)
