"""A house deployed on anvil for the keeper's tests (test_keeper_adl, test_keeper_pokes,
test_keeper_restart): deployment, model actions sent as transactions, a keeper impersonating
account 2, a mined block.

Accounts: 0 governance (and funding operator), 1 oracle, 2 the keeper, 3 the matcher; the rest
are traders. Amounts are the token's units (USDC: 6 decimals) or WAD as each call states.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contracts_py.chain_house import call_of, mint_test_tokens
from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.deploy import System, deploy_system
from contracts_py.keeper import ImpersonatedWallet, Keeper, KeeperConfig
from contracts_py.rpc import Rpc
from protocol.actions import Action
from protocol.params import Params

#: Seconds between the blocks the tests mine.
BLOCK_S = 12
#: One USDC in token units.
USDC = 10**6


@contextmanager
def anvil_house(params: Params, funded: slice) -> Iterator[tuple[AnvilChain, System]]:
    """A fresh anvil node with the house deployed from ``params`` (roles as the module says) and
    test USDC minted to ``chain.accounts[funded]``; the node is closed on exit."""
    chain = AnvilChain()  # fails naming `make anvil` when there is no anvil
    try:
        gov, oracle, _keeper, matcher = chain.accounts[:4]
        system = deploy_system(chain, params, gov, oracles=[oracle], matchers=[matcher], funding_operators=[gov])
        mint_test_tokens(system, chain.accounts[funded], asset_ids=[0])
        yield chain, system
    finally:
        chain.close()


def send(system: System, *actions: Action) -> None:
    """Send each model action as its sender's transaction, in order."""
    for action in actions:
        sender, fn, args = call_of(action)
        system.chain.transact(system.core, fn, *args, sender=sender)


def impersonated_keeper(chain: AnvilChain, system: System, journal: Path, **config: Any) -> Keeper:
    """A keeper sending as account 2 (impersonated on anvil), journaling to ``journal``, with
    ``config`` passed to :class:`KeeperConfig`; its log lines go to a buffer."""
    me = chain.accounts[2]

    def wallet(rpc: Rpc) -> ImpersonatedWallet:
        return ImpersonatedWallet(rpc, me)

    cfg = KeeperConfig(rpc_url=chain.url, house=system.core.address, journal=journal, **config)
    return Keeper(cfg, wallet, out=io.StringIO())


def mine(chain: AnvilChain, seconds: int = BLOCK_S) -> int:
    """Mine one block ``seconds`` after the latest; its number."""
    chain._rpc("evm_mine", chain.timestamp() + seconds)
    return chain.block_number()
