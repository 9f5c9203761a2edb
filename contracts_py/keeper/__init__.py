"""A keeper bot for a live deployment: watches a node block by block and sends what the protocol
allows (liquidations, collateral sales, deleveraging, funding and oracle pokes).

* :mod:`~contracts_py.keeper.wallet` — who signs: an eth-account keystore, or an impersonated
  address on anvil;
* :mod:`~contracts_py.keeper.transactions` — its own nonces, a journal of sent transactions kept
  on disk (restart without double sending), stuck-transaction replacement, RPC retries;
* :mod:`~contracts_py.keeper.decisions` — the margin core screens the book read through the
  lens, the reference model confirms every action exactly and prices its reward;
* :mod:`~contracts_py.keeper.bot` — the block loop, structured logs and Prometheus counters.
"""

from contracts_py.keeper.bot import Keeper, KeeperConfig
from contracts_py.keeper.decisions import Work, plan_work
from contracts_py.keeper.transactions import Journal, RetryingRpc, SentTx, TxSender
from contracts_py.keeper.wallet import ImpersonatedWallet, KeystoreWallet, Wallet, read_password

__all__ = [
    "ImpersonatedWallet",
    "Journal",
    "Keeper",
    "KeeperConfig",
    "KeystoreWallet",
    "RetryingRpc",
    "SentTx",
    "TxSender",
    "Wallet",
    "Work",
    "plan_work",
    "read_password",
]
