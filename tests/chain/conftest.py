"""Chain test fixtures: one chain per backend and module, snapshot isolation per test.

* ``chain`` is module-scoped and parametrized over every backend; a backend that cannot start
  (anvil missing) makes its tests fail, never skip.
* ``mocks`` deploys the test mocks once per module and chain and records a snapshot; the
  autouse ``isolate`` fixture reverts to it after every test, so tests never see each other.
* ``assert_code_size`` (also importable from ``chain_helpers``) checks EIP-170/EIP-3860 sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from chain_helpers import TRADER_USDC, TRADER_WETH, Mocks
from chain_helpers import assert_code_size as _assert_code_size

from contracts_py.build import Artifact, Builder
from contracts_py.chains import BACKENDS, Chain, make_chain


@pytest.fixture(scope="session")
def builder() -> Builder:
    """Builder on the user cache (``$NOVATION_CACHE_DIR`` or ``~/.cache/novation/vyper``)."""
    return Builder()


@pytest.fixture(scope="session")
def artifacts(builder: Builder) -> dict[str, Artifact]:
    """The test mocks, compiled once per session."""
    names = ("erc20", "erc20_no_return", "aggregator_v3", "reentrant_token")
    return {n: builder.build(f"testing/{n}") for n in names}


@pytest.fixture(scope="module", params=BACKENDS)
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """A fresh chain of each backend, shared by one test module."""
    with make_chain(request.param) as c:
        yield c


@pytest.fixture(scope="module")
def mocks(chain: Chain, artifacts: dict[str, Artifact]) -> Mocks:
    governance, trader, keeper, liquidator = chain.accounts[:4]
    usdc = chain.deploy(artifacts["erc20"], "USD Coin", "USDC", 6, sender=governance)
    weth = chain.deploy(artifacts["erc20"], "Wrapped Ether", "WETH", 18, sender=governance)
    usdt = chain.deploy(artifacts["erc20_no_return"], "Tether USD", "USDT", 6, sender=governance)
    feed = chain.deploy(artifacts["aggregator_v3"], 8, "ETH / USD", sender=governance)
    chain.transact(usdc, "mint", trader, TRADER_USDC)
    chain.transact(weth, "mint", trader, TRADER_WETH)
    chain.transact(usdt, "mint", trader, TRADER_USDC)
    return Mocks(governance, trader, keeper, liquidator, usdc, weth, usdt, feed, chain.snapshot())


@pytest.fixture(autouse=True)
def isolate(request: pytest.FixtureRequest) -> Iterator[None]:
    """Revert to the module deployment's snapshot after each test that uses ``mocks``."""
    yield
    if "mocks" in request.fixturenames:
        m: Mocks = request.getfixturevalue("mocks")
        c: Chain = request.getfixturevalue("chain")
        c.revert(m.snapshot_id)


@pytest.fixture(scope="session")
def assert_code_size() -> Callable[[Artifact], None]:
    """:func:`chain_helpers.assert_code_size` as a fixture."""
    return _assert_code_size
