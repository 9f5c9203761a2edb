"""Reusable helpers of the chain tests (import as ``from chain_helpers import ...``).

``assert_code_size(artifact)`` is the EIP-170/EIP-3860 check any contract test can call;
:class:`Mocks` describes the module deployment made by the ``mocks`` fixture in ``conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts_py.build import EIP170_MAX_RUNTIME_BYTES, Artifact, check_code_size
from contracts_py.chains import Contract

__all__ = ["TRADER_USDC", "TRADER_WETH", "Mocks", "assert_code_size"]

#: Token units minted to the trader in the module deployment.
TRADER_USDC = 1_000_000 * 10**6
TRADER_WETH = 100 * 10**18


def assert_code_size(artifact: Artifact) -> None:
    """Fail unless 0 < runtime <= 24,576 bytes (EIP-170) and init code <= 49,152 bytes (EIP-3860)."""
    assert 0 < artifact.runtime_size <= EIP170_MAX_RUNTIME_BYTES, (artifact.name, artifact.runtime_size)
    check_code_size(artifact)


@dataclass(frozen=True)
class Mocks:
    """The module deployment: roles, tokens, feed and the snapshot taken right after."""

    governance: str
    trader: str
    keeper: str
    liquidator: str
    usdc: Contract
    weth: Contract
    usdt: Contract
    feed: Contract
    snapshot_id: int
