"""Set-up shared by the oracle findings' attack tests (F-02, F-03, F-09, F-11, F-12, F-14).

:func:`deploy_desk` deploys, once per test module, the protocol with default parameters on a chain,
two AggregatorV3 mocks (the BTC feed's primary and fallback, or a primary only) and an
OracleAdapter feeding the BTC feed, and records a snapshot. :meth:`Desk.start` goes back to it and
returns a :class:`~contracts_py.oracle_replay.ProtocolChainReplay`: the contracts and the reference
model receive the same actions and the same adapter pokes, the adapter's every poke is compared
bit for bit with its Python twin, every invariant is checked on the model after every action, and
a disagreement raises. An attack asserted on it therefore holds on the model and on the chain.

Actors are the chain's own accounts, named by role; ``oracle`` is an externally owned account with
the core's oracle role (it pushes the ETH feed directly, and plays a compromised pusher in F-03).
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts_py.chain_house import ChainClearingHouse, mint_test_tokens
from contracts_py.chains import Chain, Contract
from contracts_py.deploy import System, deploy_system
from contracts_py.oracle_deploy import deploy_oracle_adapter, oracle_artifacts
from contracts_py.oracle_replay import ChainFeedReplay, ProtocolChainReplay
from protocol.actions import Deposit, SetRole
from protocol.constants import WAD
from protocol.oracle.oracle_adapter import FeedSpec, SourceKind, SourceSpec
from protocol.orders import OrderSigner
from protocol.params import Params
from protocol.scenarios import BTC_FEED, BTC_PERP, default_params

__all__ = ["E8", "ROLES", "USDC", "Desk", "chainlink", "deploy_desk"]

ROLES = ("governance", "matcher", "oracle", "keeper", "liquidator", "market_maker", "trader", "bystander")
USDC = 10**6
#: Chainlink USD feeds answer with 8 decimals.
E8 = 10**8


def chainlink(address: str, *, max_move_wad: int = WAD // 10) -> SourceSpec:
    """A Chainlink source with a one-hour heartbeat and a 10 % move guard."""
    return SourceSpec(SourceKind.CHAINLINK, address, heartbeat_s=3_600, max_move_wad=max_move_wad)


@dataclass
class Desk:
    """One deployment on ``chain``: the core, the BTC feed's sources and its adapter."""

    chain: Chain
    params: Params
    system: System
    actors: dict[str, str]
    adapter: Contract
    spec: FeedSpec
    primary: Contract
    fallback: Contract | None
    snapshot: int
    #: Signs the orders of fills as the chain's development accounts (the actors).
    signer: OrderSigner

    def start(self) -> ProtocolChainReplay:
        """Back to the deployment: the core and a fresh model twin, the adapter holding the oracle
        role on both sides."""
        self.chain.revert(self.snapshot)
        a = self.actors
        house = ChainClearingHouse(self.chain, self.system)
        model = house.reference_model(self.params, a["governance"], matchers=[a["matcher"]], oracles=[a["oracle"]])
        feed = ChainFeedReplay(
            self.chain, self.adapter, BTC_FEED, self.spec, self.primary, self.fallback, keeper=a["keeper"]
        )
        run = ProtocolChainReplay(house, model, feed)
        run.apply(SetRole(a["governance"], "oracle", self.adapter.address, True))
        return run

    def start_trading(self, *, trader_usdc: int, size_wad: int = WAD) -> ProtocolChainReplay:
        """:meth:`start`, then BTC published and pushed at 60,000 and :meth:`open_book` there."""
        run = self.start()
        self.publish(run, 60_000)
        assert run.poke().pushed_price_wad == 60_000 * WAD
        self.open_book(run, 60_000, trader_usdc=trader_usdc, size_wad=size_wad)
        return run

    def publish(self, run: ProtocolChainReplay, usd: int, *, fallback_usd: int | None = None) -> None:
        """A new round on the primary (and on the fallback, at ``fallback_usd`` or the same price)
        at the next second, as a live feed publishes it."""
        run.external(self.primary, "publish", usd * E8)
        if self.fallback is not None:
            run.external(self.fallback, "publish", (usd if fallback_usd is None else fallback_usd) * E8)

    def open_book(self, run: ProtocolChainReplay, price_usd: int, *, trader_usdc: int, size_wad: int) -> None:
        """The market maker and the trader fund their accounts; the trader opens ``size_wad`` BTC
        against the market maker at ``price_usd``."""
        a = self.actors
        for who, usdc in (("market_maker", 5_000_000), ("keeper", 2_000_000), ("trader", trader_usdc)):
            run.apply(Deposit(a[who], 0, usdc * USDC))
        run.apply(self.signer.fill(a["matcher"], a["market_maker"], a["trader"], BTC_PERP, size_wad, price_usd * WAD))


def deploy_desk(chain: Chain, *, fallback: bool, params: Params | None = None, osm_delay_s: int = 0) -> Desk:
    """Deploy the protocol (``params``, default: :func:`protocol.scenarios.default_params`), the
    sources and the adapter on ``chain``; mint test tokens to every actor; snapshot."""
    p = params or default_params()
    a = dict(zip(ROLES, chain.accounts, strict=False))
    system = deploy_system(chain, p, a["governance"], matchers=[a["matcher"]], oracles=[a["oracle"]])
    mint_test_tokens(system, list(a.values()))
    arts = oracle_artifacts()
    primary = chain.deploy(arts.aggregator, 8, "BTC / USD")
    second = chain.deploy(arts.aggregator, 8, "BTC / USD (fallback)") if fallback else None
    spec = FeedSpec(
        chainlink(primary.address),
        chainlink(second.address) if second is not None else SourceSpec(SourceKind.NONE),
        osm_delay_s=osm_delay_s,
    )
    adapter = deploy_oracle_adapter(chain, system.core.address, {BTC_FEED: spec}, artifacts=arts)
    signer = OrderSigner(system.order_domain, chain.account_keys().values())
    return Desk(chain, p, system, a, adapter, spec, primary, second, chain.snapshot(), signer)
