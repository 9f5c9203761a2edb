"""Deploy and configure the on-chain OracleAdapter (``contracts/oracle/oracle_adapter.vy``) on any
:class:`~contracts_py.chains.Chain` backend.

A feed is described by a :class:`FeedSpec` (primary and optional fallback :class:`SourceSpec`,
optional L2 sequencer uptime feed, Liquity's maximum price difference and an optional OSM delay);
:meth:`FeedSpec.to_tuple` is the contract's ``FeedSetup`` struct and :meth:`SourceSpec.config`
the :class:`oracles.guards.FeedConfig` the reference model runs for the same source.

The adapter pushes prices into the clearing house as its oracle: grant it the role
(``set_role("oracle", adapter, True)`` by governance, or list it among ``oracles`` at
deployment). Test mocks: ``testing/aggregator_v3`` (Chainlink), ``oracle/mock_pyth`` (Pyth) and
``oracle/mock_price_sink`` (a clearing house stand-in that records pushes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from contracts_py.build import Artifact, Builder
from contracts_py.chains import Chain, Contract
from oracles.guards import MAX_GRACE_S, MAX_HEARTBEAT_S, FeedConfig
from protocol.constants import WAD
from protocol.errors import InvalidParameter

__all__ = [
    "ADAPTER_SOURCE",
    "ZERO_ADDRESS",
    "FeedSpec",
    "OracleArtifacts",
    "SourceKind",
    "SourceSpec",
    "deploy_oracle_adapter",
    "oracle_artifacts",
]

ADAPTER_SOURCE: Final = "oracle/oracle_adapter"
ZERO_ADDRESS: Final = "0x" + "00" * 20
ZERO_ID: Final = b"\x00" * 32


class SourceKind(Enum):
    """What a source reads; the value is the contract's ``kind`` code."""

    NONE = 0
    CHAINLINK = 1
    PYTH = 2


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One price source and its guard thresholds (ratios are WAD fractions, None = guard off)."""

    kind: SourceKind
    feed: str = ZERO_ADDRESS
    pyth_id: bytes = ZERO_ID
    heartbeat_s: int = 3_600
    max_move_wad: int = WAD // 2
    max_ema_deviation_wad: int | None = None
    max_conf_ratio_wad: int | None = None

    def __post_init__(self) -> None:
        if self.kind is SourceKind.NONE:
            return
        if len(self.pyth_id) != 32:
            raise InvalidParameter(f"pyth_id must be 32 bytes, got {len(self.pyth_id)}")
        # FeedConfig validates every threshold with the same bounds as the contract.
        self.config(0, None)

    def config(self, decimals: int, sequencer_grace_s: int | None) -> FeedConfig:
        """The reference model's guard configuration of this source."""
        return FeedConfig(
            decimals=decimals,
            heartbeat_s=self.heartbeat_s,
            max_move_wad=self.max_move_wad,
            max_ema_deviation_wad=self.max_ema_deviation_wad,
            max_conf_ratio_wad=self.max_conf_ratio_wad,
            sequencer_grace_s=sequencer_grace_s,
        )

    def to_tuple(self) -> tuple[Any, ...]:
        """The contract's ``SourceSetup`` struct."""
        return (
            self.kind.value,
            self.feed,
            self.pyth_id,
            (self.heartbeat_s, self.max_move_wad, self.max_ema_deviation_wad or 0, self.max_conf_ratio_wad or 0),
        )


NO_SOURCE: Final = SourceSpec(SourceKind.NONE)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed of the adapter: sources, sequencer, similarity threshold and OSM delay (0 = off)."""

    primary: SourceSpec
    fallback: SourceSpec = field(default=NO_SOURCE)
    sequencer: str | None = None
    sequencer_grace_s: int = 3_600
    max_price_difference_wad: int = 5 * WAD // 100
    osm_delay_s: int = 0

    def __post_init__(self) -> None:
        if self.primary.kind is SourceKind.NONE:
            raise InvalidParameter("FeedSpec.primary must be a Chainlink or Pyth source")
        if not 0 <= self.sequencer_grace_s <= MAX_GRACE_S:
            raise InvalidParameter(f"sequencer_grace_s must be in [0, {MAX_GRACE_S}]")
        if not 0 <= self.max_price_difference_wad <= WAD:
            raise InvalidParameter(f"max_price_difference_wad must be in [0, {WAD}]")
        if not 0 <= self.osm_delay_s <= MAX_HEARTBEAT_S:
            raise InvalidParameter(f"osm_delay_s must be in [0, {MAX_HEARTBEAT_S}]")

    @property
    def grace_s(self) -> int | None:
        """Sequencer grace of the guard config: None when no uptime feed is read."""
        return None if self.sequencer is None else self.sequencer_grace_s

    def to_tuple(self) -> tuple[Any, ...]:
        """The contract's ``FeedSetup`` struct (``listed`` is set by the contract)."""
        return (
            True,
            self.primary.to_tuple(),
            self.fallback.to_tuple(),
            self.sequencer or ZERO_ADDRESS,
            self.sequencer_grace_s if self.sequencer else 0,
            self.max_price_difference_wad,
            self.osm_delay_s,
        )


@dataclass(frozen=True)
class OracleArtifacts:
    """Compiled adapter and its test mocks."""

    adapter: Artifact
    aggregator: Artifact
    pyth: Artifact
    sink: Artifact


def oracle_artifacts(builder: Builder | None = None) -> OracleArtifacts:
    """Compile (cached) the adapter and the mocks."""
    b = builder or Builder()
    return OracleArtifacts(
        adapter=b.build(ADAPTER_SOURCE),
        aggregator=b.build("testing/aggregator_v3"),
        pyth=b.build("oracle/mock_pyth"),
        sink=b.build("oracle/mock_price_sink"),
    )


def deploy_oracle_adapter(
    chain: Chain,
    clearing_house: str,
    feeds: dict[int, FeedSpec],
    *,
    artifacts: OracleArtifacts | None = None,
    sender: str | None = None,
) -> Contract:
    """Deploy an OracleAdapter pushing into ``clearing_house`` and list ``feeds`` (feed_id -> spec).

    ``sender`` (default ``chain.accounts[0]``) becomes the adapter's owner.
    """
    arts = artifacts or oracle_artifacts()
    adapter = chain.deploy(arts.adapter, clearing_house, sender=sender)
    for feed_id, spec in sorted(feeds.items()):
        chain.transact(adapter, "set_feed", feed_id, spec.to_tuple(), sender=sender)
    return adapter
