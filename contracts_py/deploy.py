"""Deploy and configure the whole protocol from the model's validated parameter objects.

One call, :func:`deploy_boa`, compiles the contracts, deploys the liquidation engine and the
clearing house, lists every feed, market and collateral asset of a
:class:`protocol.params.Params`, grants the initial roles and closes configuration, exactly as
``protocol.clearing_house.ClearingHouse(params, governance, matchers=..., oracles=...,
funding_operators=...)`` starts the model.

The backend-neutral part is :func:`deployment_plan`: the constructor arguments and the ordered
configuration calls, as plain Python values, so any chain backend can replay them.
Option markets are refused (:class:`~protocol.errors.InvalidParameter`): the contracts support
perpetual markets only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.actions import normalize_address
from protocol.constants import MAX_COLLATERALS, MAX_DECIMALS, SETTLEMENT_ASSET_ID
from protocol.errors import InvalidParameter
from protocol.params import MarketKind, Params, ProtocolParams, SocializedLossMethod

__all__ = [
    "CONTRACTS_DIR",
    "ConfigCall",
    "DeploymentPlan",
    "System",
    "deploy_boa",
    "deployment_plan",
    "protocol_params_tuple",
]

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
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


def protocol_params_tuple(pp: ProtocolParams) -> tuple[Any, ...]:
    """The ``state.ProtocolParams`` struct of the contracts, field by field."""
    return (
        pp.settlement_decimals,
        pp.insurance_fee_share_wad,
        pp.liquidation_penalty_wad,
        pp.keeper_penalty_share_wad,
        pp.liquidation_spread_wad,
        pp.max_liquidation_notional_per_block_wad,
        pp.dust_notional_wad,
        pp.max_fill_deviation_wad,
        pp.max_funding_rate_per_s_wad,
        pp.collateral_liquidation_fee_wad,
        pp.socialized_loss_method is SocializedLossMethod.ADL,
    )


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
    calls: list[ConfigCall] = []
    for f in params.feeds:
        calls.append(ConfigCall("list_feed", (f.feed_id, f.heartbeat_s, f.max_move_wad)))
    for m in params.markets:
        calls.append(
            ConfigCall(
                "list_market",
                (
                    m.market_id,
                    (
                        False,
                        m.feed_id,
                        m.initial_margin_fraction_wad,
                        m.maintenance_share_wad,
                        m.oi_cap_lower_wad,
                        m.oi_cap_upper_wad,
                    ),
                ),
            )
        )
    tokens: dict[int, tuple[str, int]] = {}
    for cp in params.collaterals:
        if not SETTLEMENT_ASSET_ID < cp.asset_id <= MAX_COLLATERALS:
            raise InvalidParameter(f"collateral[{cp.asset_id}].asset_id must be in [1, {MAX_COLLATERALS}]")
        token = (collateral_token_addresses or {}).get(cp.asset_id, "")
        if collateral_token_addresses is not None and not token:
            raise InvalidParameter(f"collateral_token_addresses has no token for collateral[{cp.asset_id}]")
        tokens[cp.asset_id] = (cp.symbol, cp.decimals)
        calls.append(
            ConfigCall(
                "list_collateral",
                (
                    cp.asset_id,
                    (
                        False,
                        token,
                        cp.decimals,
                        cp.feed_id,
                        cp.haircut_wad,
                        cp.liquidation_discount_wad,
                        cp.deposit_cap,
                        cp.value_cap_wad,
                    ),
                ),
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
class System:
    """The deployed protocol on titanoboa."""

    core: Any
    engine: Any
    settlement_token: Any
    collateral_tokens: dict[int, Any]
    plan: DeploymentPlan

    def token(self, asset_id: int) -> Any:
        """The ERC20 of ``asset_id`` (0 = settlement token)."""
        return self.settlement_token if asset_id == SETTLEMENT_ASSET_ID else self.collateral_tokens[asset_id]


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
) -> System:
    """Deploy and configure the whole system on titanoboa's current environment.

    Missing tokens are deployed from ``contracts/testing/erc20.vy`` (settlement token with
    ``params.protocol.settlement_decimals``, each collateral with its own decimals).
    """
    import boa

    collateral_tokens = dict(collateral_tokens or {})
    erc20 = None
    if settlement_token is None or any(cp.asset_id not in collateral_tokens for cp in params.collaterals):
        erc20 = boa.load_partial(str(CONTRACTS_DIR / "testing" / "erc20.vy"))
    if settlement_token is None:
        assert erc20 is not None
        settlement_token = erc20.deploy("USD Coin (test)", "USDC", params.protocol.settlement_decimals)
    for cp in params.collaterals:
        if cp.asset_id not in collateral_tokens:
            assert erc20 is not None
            collateral_tokens[cp.asset_id] = erc20.deploy(f"{cp.symbol} (test)", cp.symbol, cp.decimals)
    plan = deployment_plan(
        params,
        governance,
        matchers=matchers,
        oracles=oracles,
        funding_operators=funding_operators,
        collateral_token_addresses={a: str(t.address) for a, t in collateral_tokens.items()},
    )
    sender = deployer or boa.env.eoa
    with boa.env.prank(sender):
        engine = boa_deployer("liquidation_engine").deploy()
        core = boa_deployer("clearing_house").deploy(engine.address, settlement_token.address, plan.protocol_params)
        for call in plan.calls:
            getattr(core, call.function)(*call.args)
    return System(core, engine, settlement_token, collateral_tokens, plan)


def system_abi() -> list[dict[str, Any]]:
    """ABI of the clearing house plus the events the engine emits from the core's address."""
    core = boa_deployer("clearing_house").compiler_data
    engine = boa_deployer("liquidation_engine").compiler_data
    from vyper.compiler.output import build_abi_output

    abi = list(build_abi_output(core))
    names = {e["name"] for e in abi if e["type"] == "event"}
    abi += [e for e in build_abi_output(engine) if e["type"] == "event" and e["name"] not in names]
    return abi
