"""Deploy and configure the whole protocol from the model's validated parameter objects.

One call, :func:`deploy_system`, deploys the three engines and the clearing house on any
:class:`~contracts_py.chains.Chain` backend (from :class:`~contracts_py.build.Builder`
artifacts), lists every feed, market and collateral asset of a :class:`protocol.params.Params`,
grants the initial roles and closes configuration, exactly as
``protocol.clearing_house.ClearingHouse(params, governance, matchers=..., oracles=...,
funding_operators=...)`` starts the model. :func:`deploy_boa` does the same on titanoboa's
global environment and hands back titanoboa contract objects (for tests written against boa).

The backend-neutral part is :func:`deployment_plan`: the constructor arguments and the ordered
configuration calls, as plain Python values, so any chain backend can replay them.
Option markets are refused (:class:`~protocol.errors.InvalidParameter`): the contracts support
perpetual markets only. The deployment's EIP-712 order domain is :attr:`System.order_domain`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from contracts_py.build import Artifact, Builder
from protocol.actions import normalize_address
from protocol.constants import (
    MAX_COLLATERALS,
    MAX_DECIMALS,
    MAX_FEEDS,
    MAX_SYMBOL_BYTES,
    SETTLEMENT_ASSET_ID,
    UINT256_MAX,
)
from protocol.errors import InvalidParameter
from protocol.orders import OrderDomain
from protocol.params import MarketKind, Params, ProtocolParams, SocializedLossMethod
from protocol.units import to_wad

__all__ = [
    "COLLATERAL_STRUCT",
    "CONTRACTS_DIR",
    "DEPLOYED_CONTRACTS",
    "MARKET_STRUCT",
    "PROTOCOL_STRUCT",
    "BoaSystem",
    "ConfigCall",
    "DeploymentPlan",
    "System",
    "deploy_boa",
    "deploy_system",
    "deployment_plan",
    "protocol_params_tuple",
]

if TYPE_CHECKING:
    from contracts_py.chains import Chain, Contract, TxResult

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
#: Sources (relative to CONTRACTS_DIR) of every contract :func:`deploy_system` deploys; the test
#: ERC20 is deployed only for tokens not passed in.
DEPLOYED_CONTRACTS: Final = (
    "liquidation_engine",
    "trading_engine",
    "adl_engine",
    "clearing_house",
    "lens",
    "testing/erc20",
)
#: Largest number of initial holders of one role (the constructor's array bound).
MAX_INITIAL_ROLE_HOLDERS = 16


@dataclass(frozen=True)
class ConfigCall:
    """One configuration transaction of the deployer: ``function(*args)`` on the clearing house."""

    function: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class DeploymentPlan:
    """Everything a backend sends to deploy the system, in order."""

    protocol_params: tuple[Any, ...]
    calls: tuple[ConfigCall, ...]
    #: collateral asset_id -> (symbol, decimals) of the token each listing expects.
    collateral_tokens: dict[int, tuple[str, int]] = field(default_factory=dict)


#: Fields of the contracts' parameter structs (``state.vy``) in order, named as the model's
#: parameter objects name them (``listed`` and ``token`` are the contracts' own).
PROTOCOL_STRUCT: Final = (
    "settlement_decimals",
    "insurance_fee_share_wad",
    "liquidation_penalty_wad",
    "keeper_penalty_share_wad",
    "liquidation_spread_wad",
    "max_liquidation_notional_per_block_wad",
    "dust_notional_wad",
    "max_fill_deviation_wad",
    "max_funding_rate_per_s_wad",
    "collateral_liquidation_fee_wad",
    "socialized_loss_method",  # a bool on chain: True for ADL
    "funding_rate_ramp_s",
    "liquidation_grace_s",
    "adl_window_s",
)
MARKET_STRUCT: Final = (
    "listed",
    "feed_id",
    "initial_margin_fraction_wad",
    "maintenance_share_wad",
    "oi_cap_lower_wad",
    "oi_cap_upper_wad",
)
COLLATERAL_STRUCT: Final = (
    "listed",
    "token",
    "decimals",
    "feed_id",
    "haircut_wad",
    "liquidation_discount_wad",
    "deposit_cap",
    "value_cap_wad",
    "account_deposit_cap",
)


def _struct(obj: object, fields: tuple[str, ...], **own: Any) -> tuple[Any, ...]:
    """``obj``'s values of ``fields`` in order, the contracts' own fields taken from ``own``."""
    return tuple(own[f] if f in own else getattr(obj, f) for f in fields)


def protocol_params_tuple(pp: ProtocolParams) -> tuple[Any, ...]:
    """The ``state.ProtocolParams`` struct of the contracts, field by field (:data:`PROTOCOL_STRUCT`)."""
    return _struct(pp, PROTOCOL_STRUCT, socialized_loss_method=pp.socialized_loss_method is SocializedLossMethod.ADL)


def _symbol(owner: str, symbol: str) -> str:
    """``symbol`` if the contracts can store it (at most MAX_SYMBOL_BYTES of UTF-8)."""
    if len(symbol.encode()) > MAX_SYMBOL_BYTES:
        raise InvalidParameter(f"{owner}.symbol = {symbol!r} is longer than {MAX_SYMBOL_BYTES} bytes: shorten it")
    return symbol


def _roles(name: str, addresses: Iterable[str]) -> list[str]:
    out = sorted({normalize_address(a, name) for a in addresses})
    if len(out) > MAX_INITIAL_ROLE_HOLDERS:
        raise InvalidParameter(f"{name} has {len(out)} addresses; at most {MAX_INITIAL_ROLE_HOLDERS} at deployment")
    return out


def deployment_plan(
    params: Params,
    governance: str,
    *,
    matchers: Iterable[str] = (),
    oracles: Iterable[str] = (),
    funding_operators: Iterable[str] = (),
    collateral_token_addresses: dict[int, str] | None = None,
) -> DeploymentPlan:
    """Validate ``params`` for the contracts and return the configuration calls.

    ``collateral_token_addresses`` maps every collateral asset_id to its ERC20 address; when it
    is None the calls carry a placeholder the executor fills in after deploying test tokens.
    """
    if not isinstance(params, Params):
        raise InvalidParameter(f"params must be a protocol.params.Params, got {type(params).__name__}")
    for m in params.markets:
        if m.kind is not MarketKind.PERPETUAL:
            raise InvalidParameter(
                f"market[{m.market_id}].kind = {m.kind.value!r}: the contracts support perpetual markets only"
            )
    if params.protocol.settlement_decimals > MAX_DECIMALS:
        raise InvalidParameter(f"protocol.settlement_decimals must be <= {MAX_DECIMALS}")
    if len(params.feeds) > MAX_FEEDS:
        raise InvalidParameter(f"params.feeds has {len(params.feeds)} > {MAX_FEEDS} feeds")
    calls: list[ConfigCall] = []
    for f in params.feeds:
        symbol = _symbol(f"feed[{f.feed_id}]", f.symbol)
        calls.append(ConfigCall("list_feed", (f.feed_id, f.heartbeat_s, f.max_move_wad, f.move_window_s, symbol)))
    for m in params.markets:
        symbol = _symbol(f"market[{m.market_id}]", m.symbol)
        calls.append(ConfigCall("list_market", (m.market_id, _struct(m, MARKET_STRUCT, listed=False), symbol)))
    tokens: dict[int, tuple[str, int]] = {}
    for cp in params.collaterals:
        if not SETTLEMENT_ASSET_ID < cp.asset_id <= MAX_COLLATERALS:
            raise InvalidParameter(f"collateral[{cp.asset_id}].asset_id must be in [1, {MAX_COLLATERALS}]")
        if to_wad(cp.account_deposit_cap, cp.decimals) > UINT256_MAX:
            raise InvalidParameter(
                f"collateral[{cp.asset_id}].account_deposit_cap = {cp.account_deposit_cap} does not fit the contracts "
                "(its WAD value exceeds uint256): lower it"
            )
        token = (collateral_token_addresses or {}).get(cp.asset_id, "")
        if collateral_token_addresses is not None and not token:
            raise InvalidParameter(f"collateral_token_addresses has no token for collateral[{cp.asset_id}]")
        tokens[cp.asset_id] = (cp.symbol, cp.decimals)
        symbol = _symbol(f"collateral[{cp.asset_id}]", cp.symbol)
        calls.append(
            ConfigCall(
                "list_collateral", (cp.asset_id, _struct(cp, COLLATERAL_STRUCT, listed=False, token=token), symbol)
            )
        )
    calls.append(
        ConfigCall(
            "finish_configuration",
            (
                normalize_address(governance, "governance"),
                _roles("matchers", matchers),
                _roles("oracles", oracles),
                _roles("funding_operators", funding_operators),
            ),
        )
    )
    return DeploymentPlan(protocol_params_tuple(params.protocol), tuple(calls), tokens)


# --------------------------------------------------------------------------- any chain


@dataclass(frozen=True)
class System:
    """The deployed protocol on a :class:`~contracts_py.chains.Chain`.

    ``tokens`` maps asset_id to its ERC20 (0 = settlement token); ``deployment`` lists every
    deployment transaction in order as ``(label, result)``: ``"deploy <name>"`` for a contract
    creation, the function name for a configuration call (for gas tables).
    """

    chain: Chain
    core: Contract
    #: The liquidation engine, the trading engine (fills and cancellations) and the ADL engine
    #: (the proposal queue): the core runs them by DELEGATECALL.
    engine: Contract
    trading_engine: Contract
    adl_engine: Contract
    tokens: dict[int, Contract]
    plan: DeploymentPlan
    deployment: tuple[tuple[str, TxResult], ...] = ()
    #: The read-only lens deployed beside the core (batched account reads for integrators).
    lens: Contract | None = None

    @property
    def order_domain(self) -> OrderDomain:
        """The EIP-712 domain orders must be signed for: the chain id and the clearing house."""
        return OrderDomain(self.chain.chain_id, self.core.address)

    def token(self, asset_id: int) -> Contract:
        """The ERC20 of ``asset_id`` (0 = settlement token)."""
        try:
            return self.tokens[asset_id]
        except KeyError:
            raise InvalidParameter(f"asset_id {asset_id} is not listed; listed: {sorted(self.tokens)}") from None


def deploy_system(
    chain: Chain,
    params: Params,
    governance: str,
    *,
    matchers: Iterable[str] = (),
    oracles: Iterable[str] = (),
    funding_operators: Iterable[str] = (),
    tokens: dict[int, Contract] | None = None,
    deployer: str | None = None,
    builder: Builder | None = None,
) -> System:
    """Deploy and configure the whole system on ``chain`` from the model's validated ``params``.

    ``tokens`` maps asset_id (0 = settlement) to an already deployed ERC20; missing ones are
    deployed from ``contracts/testing/erc20.vy`` (settlement token with
    ``params.protocol.settlement_decimals``, each collateral with its own decimals) by
    ``deployer`` (default ``chain.accounts[0]``), who also deploys and configures the protocol.
    Raises InvalidParameter for parameters the contracts cannot take (before any transaction).
    """
    from contracts_py.constants_gen import ensure_current

    ensure_current()
    deployment_plan(params, governance, matchers=matchers, oracles=oracles, funding_operators=funding_operators)
    b = builder or Builder()
    artifacts: dict[str, Artifact] = {name: b.build(name) for name in DEPLOYED_CONTRACTS}
    sender = chain.accounts[0] if deployer is None else normalize_address(deployer, "deployer")
    log: list[tuple[str, TxResult]] = []

    def deploy(name: str, *args: Any) -> Contract:
        contract = chain.deploy(artifacts[name], *args, sender=sender)
        assert contract.deployment is not None
        log.append((f"deploy {contract.name}", contract.deployment))
        return contract

    all_tokens = dict(tokens or {})
    if SETTLEMENT_ASSET_ID not in all_tokens:
        all_tokens[SETTLEMENT_ASSET_ID] = deploy(
            "testing/erc20", "USD Coin (test)", "USDC", params.protocol.settlement_decimals
        )
    for cp in params.collaterals:
        if cp.asset_id not in all_tokens:
            all_tokens[cp.asset_id] = deploy("testing/erc20", f"{cp.symbol} (test)", cp.symbol, cp.decimals)
    plan = deployment_plan(
        params,
        governance,
        matchers=matchers,
        oracles=oracles,
        funding_operators=funding_operators,
        collateral_token_addresses={a: t.address for a, t in all_tokens.items() if a != SETTLEMENT_ASSET_ID},
    )
    engine = deploy("liquidation_engine")
    trading = deploy("trading_engine")
    adl = deploy("adl_engine")
    core = deploy(
        "clearing_house",
        engine.address,
        trading.address,
        adl.address,
        all_tokens[SETTLEMENT_ASSET_ID].address,
        plan.protocol_params,
    )
    lens = deploy("lens")
    for call in plan.calls:
        log.append((call.function, chain.transact(core, call.function, *call.args, sender=sender)))
    return System(chain, core, engine, trading, adl, all_tokens, plan, tuple(log), lens)


# --------------------------------------------------------------------------- titanoboa


@functools.cache
def _boa_deployer(name: str) -> Any:
    import boa

    from contracts_py.constants_gen import ensure_current

    ensure_current()
    return boa.load_partial(str(CONTRACTS_DIR / f"{name}.vy"))


def boa_deployer(name: str) -> Any:
    """A titanoboa ``VyperDeployer`` for ``contracts/<name>.vy`` (compiled once per process)."""
    return _boa_deployer(name)


@dataclass
class BoaSystem:
    """The deployed protocol on titanoboa's global environment, as titanoboa contract objects.

    ``system`` is the same deployment behind the :class:`~contracts_py.chains.Chain` interface
    (a :class:`~contracts_py.chains.BoaChain` sharing ``boa.env``).
    """

    core: Any
    engine: Any
    trading_engine: Any
    adl_engine: Any
    settlement_token: Any
    collateral_tokens: dict[int, Any]
    plan: DeploymentPlan
    system: System

    def token(self, asset_id: int) -> Any:
        """The ERC20 of ``asset_id`` (0 = settlement token)."""
        return self.settlement_token if asset_id == SETTLEMENT_ASSET_ID else self.collateral_tokens[asset_id]


def boa_global_chain() -> Chain:
    """A :class:`~contracts_py.chains.BoaChain` on titanoboa's global ``boa.env``.

    Its state is what ``boa`` contract objects, ``boa.reverts`` and titanoboa's pytest plugin
    (which anchors every fixture and hypothesis example on ``boa.env``) see.
    """
    import boa

    from contracts_py.chains.boa_chain import ACCOUNT_BALANCE_WEI, BoaChain

    chain = BoaChain()
    chain.env = boa.env
    for a in chain.accounts:
        boa.env.set_balance(a, ACCOUNT_BALANCE_WEI)
    return chain


def deploy_boa(
    params: Params,
    governance: str,
    *,
    matchers: Sequence[str] = (),
    oracles: Sequence[str] = (),
    funding_operators: Sequence[str] = (),
    settlement_token: Any = None,
    collateral_tokens: dict[int, Any] | None = None,
    deployer: str | None = None,
) -> BoaSystem:
    """:func:`deploy_system` on titanoboa's global environment, returning titanoboa objects.

    ``settlement_token`` and ``collateral_tokens`` are titanoboa contracts (missing ones are
    deployed from ``contracts/testing/erc20.vy``); ``deployer`` defaults to ``boa.env.eoa``.
    """
    import boa

    chain = boa_global_chain()
    erc20 = Builder().build("testing/erc20")
    given = {SETTLEMENT_ASSET_ID: settlement_token} if settlement_token is not None else {}
    given.update(collateral_tokens or {})
    system = deploy_system(
        chain,
        params,
        governance,
        matchers=matchers,
        oracles=oracles,
        funding_operators=funding_operators,
        tokens={a: chain.at(erc20, str(t.address)) for a, t in given.items()},
        deployer=deployer or str(boa.env.eoa),
    )
    handles = {a: given.get(a) or boa_deployer("testing/erc20").at(t.address) for a, t in system.tokens.items()}
    return BoaSystem(
        boa_deployer("clearing_house").at(system.core.address),
        boa_deployer("liquidation_engine").at(system.engine.address),
        boa_deployer("trading_engine").at(system.trading_engine.address),
        boa_deployer("adl_engine").at(system.adl_engine.address),
        handles[SETTLEMENT_ASSET_ID],
        {a: t for a, t in handles.items() if a != SETTLEMENT_ASSET_ID},
        system.plan,
        system,
    )
