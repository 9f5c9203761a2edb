"""Chain backends behind one interface: eth-tester (embedded default), titanoboa and anvil.

>>> from contracts_py.build import build
>>> from contracts_py.chains import make_chain
>>> with make_chain("eth-tester") as chain:                     # doctest: +SKIP
...     token = chain.deploy(build("testing/erc20"), "USD Coin", "USDC", 6)
...     chain.transact(token, "mint", chain.accounts[0], 10**6).events

Backends are imported lazily (titanoboa takes a second to import; nothing touches the network
at import time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from contracts_py.chains.base import NO_REASON, UNTRACED, BatchCall, Chain, Contract, RawLog, TxResult
from protocol.errors import InvalidParameter

if TYPE_CHECKING:
    from contracts_py.chains.anvil_chain import AnvilChain
    from contracts_py.chains.boa_chain import BoaChain
    from contracts_py.chains.eth_tester_chain import EthTesterChain

__all__ = [
    "BACKENDS",
    "NO_REASON",
    "UNTRACED",
    "AnvilChain",
    "BatchCall",
    "BoaChain",
    "Chain",
    "Contract",
    "EthTesterChain",
    "RawLog",
    "TxResult",
    "make_chain",
]

#: Backend names accepted by :func:`make_chain`, the default first.
BACKENDS: Final = ("eth-tester", "boa", "anvil")

_LAZY: Final = {
    "EthTesterChain": "contracts_py.chains.eth_tester_chain",
    "BoaChain": "contracts_py.chains.boa_chain",
    "AnvilChain": "contracts_py.chains.anvil_chain",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def make_chain(name: str = "eth-tester", **kwargs: Any) -> Chain:
    """A new chain of backend ``name`` ("eth-tester", "boa" or "anvil"); ``kwargs`` go to its class.

    ``make_chain("anvil", rpc_url=URL)`` attaches to a running node instead of starting one.
    """
    if name == "eth-tester":
        from contracts_py.chains.eth_tester_chain import EthTesterChain

        return EthTesterChain(**kwargs)
    if name == "boa":
        from contracts_py.chains.boa_chain import BoaChain

        return BoaChain(**kwargs)
    if name == "anvil":
        from contracts_py.chains.anvil_chain import AnvilChain

        return AnvilChain(**kwargs)
    raise InvalidParameter(f"unknown chain backend {name!r}; choose one of {', '.join(BACKENDS)}")
