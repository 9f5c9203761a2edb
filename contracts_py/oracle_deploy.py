"""Deploy and configure the on-chain OracleAdapter (``contracts/oracle/oracle_adapter.vy``) on any
:class:`~contracts_py.chains.Chain` backend.

A feed is described by a :class:`FeedSpec` (primary and optional fallback :class:`SourceSpec`,
optional L2 sequencer uptime feed, Liquity's maximum price difference, an optional OSM delay and
the consecutive agreeing readings that lead out of BOTH_UNTRUSTED);
:meth:`FeedSpec.to_tuple` is the contract's ``FeedSetup`` struct and :meth:`SourceSpec.config`
the :class:`protocol.oracle.guards.FeedConfig` the reference model runs for the same source.

The adapter pushes prices into the clearing house as its oracle: grant it the role
(``set_role("oracle", adapter, True)`` by governance, or list it among ``oracles`` at
deployment). Test mocks: ``testing/aggregator_v3`` (Chainlink), ``oracle/mock_pyth`` (Pyth) and
``oracle/mock_price_sink`` (a clearing house stand-in that records pushes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from contracts_py.build import Artifact, Builder
from contracts_py.chains import Chain, Contract
from protocol.oracle.oracle_adapter import ZERO_ADDRESS, FeedSpec, SourceSpec

__all__ = [
    "ADAPTER_SOURCE",
    "OracleArtifacts",
    "deploy_oracle_adapter",
    "feed_setup",
    "oracle_artifacts",
]

ADAPTER_SOURCE: Final = "oracle/oracle_adapter"


def source_setup(spec: SourceSpec) -> tuple[Any, ...]:
    """The contract's ``SourceSetup`` struct of one source."""
    return (
        spec.kind.value,
        spec.feed,
        spec.pyth_id,
        (spec.heartbeat_s, spec.max_move_wad, spec.max_ema_deviation_wad or 0, spec.max_conf_ratio_wad or 0),
    )


def feed_setup(spec: FeedSpec) -> tuple[Any, ...]:
    """The contract's ``FeedSetup`` struct of one feed (``listed`` is set by the contract)."""
    return (
        True,
        source_setup(spec.primary),
        source_setup(spec.fallback),
        spec.sequencer or ZERO_ADDRESS,
        spec.sequencer_grace_s if spec.sequencer else 0,
        spec.max_price_difference_wad,
        spec.osm_delay_s,
        spec.recovery_readings,
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
        chain.transact(adapter, "set_feed", feed_id, feed_setup(spec), sender=sender)
    return adapter
