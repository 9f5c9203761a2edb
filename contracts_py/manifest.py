"""The deployment manifest: everything an integrator needs to attach to a deployment.

A :class:`Manifest` holds the chain id, every contract's address, deployment block and source hash
(the build cache key: the compiler's integrity sum of the source and its imports, the compiler
version and settings), the compiler version, the parameters and the ids of the markets, feeds and
collateral assets. :func:`manifest_of` makes it from a deployed :class:`~contracts_py.deploy.System`;
:meth:`Manifest.write` writes it as JSON atomically; :func:`load_manifest` reads it back.

Everything in it can also be read from the chain alone (``NovationClient(rpc, house)``:
``listed_markets()``, ``listed_feeds()``, ``listed_collaterals()``, the parameter getters); the
manifest adds the deployment blocks (where an indexer starts) and the source hashes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from contracts_py.build import Builder, atomic_write_text
from protocol.actions import normalize_address
from protocol.errors import InvalidParameter
from protocol.params import (
    CollateralParams,
    FeedParams,
    MarketKind,
    MarketParams,
    Params,
    ProtocolParams,
    SocializedLossMethod,
)

if TYPE_CHECKING:
    from contracts_py.deploy import System

__all__ = ["MANIFEST_FORMAT", "DeployedContract", "Manifest", "load_manifest", "manifest_of"]

#: Bump when the JSON layout changes.
MANIFEST_FORMAT: Final = 1


@dataclass(frozen=True)
class DeployedContract:
    """One deployed contract: source name, lower-case address, deployment block (None for a token
    deployed elsewhere) and source hash (None for a contract this build did not compile)."""

    source: str
    address: str
    block: int | None
    source_hash: str | None


@dataclass(frozen=True)
class Manifest:
    """A deployment. ``contracts`` maps a role (``clearing_house``, ``liquidation_engine``,
    ``trading_engine``, ``adl_engine``, ``lens``, ``token:<asset_id>``) to its
    :class:`DeployedContract`."""

    chain_id: int
    compiler: str
    contracts: dict[str, DeployedContract]
    params: Params

    @property
    def house(self) -> str:
        """Address of the clearing house."""
        return self.contracts["clearing_house"].address

    @property
    def lens(self) -> str | None:
        """Address of the read-only lens, if one was deployed."""
        lens = self.contracts.get("lens")
        return None if lens is None else lens.address

    @property
    def start_block(self) -> int:
        """Block of the house's deployment: no event of it is older."""
        return self.contracts["clearing_house"].block or 0

    @property
    def market_ids(self) -> list[int]:
        """Listed market ids, in listing order."""
        return self.params.market_ids

    @property
    def feed_ids(self) -> list[int]:
        """Listed feed ids, in listing order."""
        return [f.feed_id for f in self.params.feeds]

    @property
    def asset_ids(self) -> list[int]:
        """Listed collateral asset ids (the settlement asset 0 aside), in listing order."""
        return [c.asset_id for c in self.params.collaterals]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (integers stay exact)."""
        return {
            "format": MANIFEST_FORMAT,
            "chain_id": self.chain_id,
            "compiler": self.compiler,
            "contracts": {k: dataclasses.asdict(v) for k, v in self.contracts.items()},
            "market_ids": self.market_ids,
            "feed_ids": self.feed_ids,
            "asset_ids": self.asset_ids,
            "params": _params_json(self.params),
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "manifest") -> Manifest:
        """Inverse of :meth:`to_json`; InvalidParameter naming what is wrong."""
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise InvalidParameter(f"{where} is not a Novation deployment manifest (format {MANIFEST_FORMAT})")
        try:
            contracts = {
                k: DeployedContract(v["source"], normalize_address(v["address"]), v["block"], v["source_hash"])
                for k, v in data["contracts"].items()
            }
            if "clearing_house" not in contracts:
                raise InvalidParameter(f"{where} names no clearing_house")
            return cls(int(data["chain_id"]), str(data["compiler"]), contracts, _params_from_json(data["params"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameter(f"{where} is malformed: {type(exc).__name__} {exc}") from None

    def write(self, path: Path | str) -> Path:
        """Write the manifest as JSON atomically (a temporary file renamed into place)."""
        target = Path(path)
        if target.is_dir():
            raise InvalidParameter(f"manifest path {target} is a folder; give a file name, e.g. deployment.json")
        if not target.parent.is_dir():
            raise InvalidParameter(f"the folder of {target} does not exist; create it first")
        atomic_write_text(target, json.dumps(self.to_json(), indent=2) + "\n")
        return target


def load_manifest(path: Path | str) -> Manifest:
    """Read a manifest written by :meth:`Manifest.write`."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidParameter(f"cannot read manifest {p}: {exc.strerror}") from None
    except ValueError:
        raise InvalidParameter(f"manifest {p} is not JSON") from None
    return Manifest.from_json(data, f"manifest {p}")


def manifest_of(system: System, params: Params, builder: Builder | None = None) -> Manifest:
    """The manifest of a deployment made by :func:`~contracts_py.deploy.deploy_system` with ``params``."""
    import vyper

    b = builder or Builder()
    roles = {
        "clearing_house": system.core,
        "liquidation_engine": system.engine,
        "trading_engine": system.trading_engine,
        "adl_engine": system.adl_engine,
    }
    if system.lens is not None:
        roles["lens"] = system.lens
    contracts = {
        role: DeployedContract(c.name, c.address, _block(c.deployment), b.build(c.name).cache_key)
        for role, c in roles.items()
    }
    for asset_id, token in sorted(system.tokens.items()):
        key = b.build("testing/erc20").cache_key if token.deployment is not None else None
        contracts[f"token:{asset_id}"] = DeployedContract(token.name, token.address, _block(token.deployment), key)
    return Manifest(system.chain.chain_id, vyper.__version__, contracts, params)


def _block(deployment: Any) -> int | None:
    return None if deployment is None else deployment.block_number


def _record_json(obj: Any) -> dict[str, Any]:
    return {f.name: (v.value if isinstance(v := getattr(obj, f.name), Enum) else v) for f in dataclasses.fields(obj)}


def _params_json(params: Params) -> dict[str, Any]:
    return {
        "protocol": _record_json(params.protocol),
        "feeds": [_record_json(f) for f in params.feeds],
        "markets": [_record_json(m) for m in params.markets],
        "collaterals": [_record_json(c) for c in params.collaterals],
    }


def _params_from_json(raw: dict[str, Any]) -> Params:
    protocol = dict(raw["protocol"])
    protocol["socialized_loss_method"] = SocializedLossMethod(protocol["socialized_loss_method"])
    return Params(
        protocol=ProtocolParams(**protocol),
        feeds=tuple(FeedParams(**f) for f in raw["feeds"]),
        markets=tuple(MarketParams(**{**m, "kind": MarketKind(m["kind"])}) for m in raw["markets"]),
        collaterals=tuple(CollateralParams(**c) for c in raw["collaterals"]),
    )
