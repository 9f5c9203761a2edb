"""The simulator's on-chain mode: a simulated path's exact action log run on the contracts.

:func:`replay_path` deploys the protocol with the book's parameters on a chain, builds the
study's book with its openings signed for that deployment's order domain and runs one of its paths
on the reference model, recording every action (the set-up and the path), mints every depositor's
test tokens, and sends the whole log through
:meth:`ChainClearingHouse.apply_batch <contracts_py.chain_house.ChainClearingHouse.apply_batch>`
— on anvil the fast path: each model block's transactions in one pipelined JSON-RPC batch and
one ``evm_mine`` — while a fresh model applies the same records. Every action's events (or
revert reason) and the final state of every account, market, feed, the insurance fund and the
pools must be equal; the report lists what differs (nothing, when the contracts do what the model
does) and how fast the chain took it.

Clock: the log starts one second and one block after the deployment (the set-up is model block
0 at time 0 in the simulator; only ``PushPrice`` carries an absolute time, so it is shifted) and
the model twin starts at the chain's time. Senders are the simulator's role addresses (their
orders are signed with the actors' test keys, the transactions are not): the chain must accept
transactions from any sender — ``AnvilChain(impersonate=True)`` (give it
``--disable-block-gas-limit``: the whole set-up is one block) or titanoboa.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

from contracts_py.chain_house import ChainClearingHouse, Outcome, mint_test_tokens, sender_of
from contracts_py.chains import AnvilChain, Chain
from contracts_py.deploy import deploy_system
from protocol.actions import Action, AdvanceTime, Deposit, FundInsurance, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.errors import InvalidParameter, ProtocolRevert
from simulator.config import StudyConfig
from simulator.engine import (
    FUNDING_OPERATOR,
    GOVERNANCE,
    MATCHER,
    ORACLE,
    build_book,
    simulate_path,
)
from simulator.results import PathResult

__all__ = ["ANVIL_ARGS", "ChainPathReport", "replay_path"]

#: anvil flags for :func:`replay_path`: the simulator's set-up is one block of thousands of
#: transactions.
ANVIL_ARGS = ("--disable-block-gas-limit",)
#: Ether given to every sender on anvil for gas (wei).
_GAS_MONEY_WEI = 10**24


@dataclass(frozen=True)
class ChainPathReport:
    """What :func:`replay_path` found."""

    backend: str
    #: The path as the simulator ran it (exact metrics, seed).
    result: PathResult
    #: Protocol actions sent (set-up and path; ``AdvanceTime`` not counted) and the seconds the
    #: chain took for them (sending, mining, decoding events), minting and deployment excluded.
    actions: int
    chain_seconds: float
    #: Actions whose chain outcome (events or revert reason) differs from the model's.
    action_mismatches: tuple[str, ...]
    #: Stored quantities that differ at the end (:meth:`ChainClearingHouse.differences`).
    state_differences: tuple[str, ...]

    @property
    def equal(self) -> bool:
        """The chain did exactly what the model did."""
        return not self.action_mismatches and not self.state_differences

    @property
    def actions_per_s(self) -> float:
        """Protocol actions per second on the chain."""
        return self.actions / self.chain_seconds if self.chain_seconds else float("inf")


def _shift_times(actions: Sequence[Action], offset_s: int) -> list[Action]:
    """The records with every absolute time (``PushPrice.timestamp_s``) moved by ``offset_s``."""
    return [
        dataclasses.replace(a, timestamp_s=a.timestamp_s + offset_s) if isinstance(a, PushPrice) else a for a in actions
    ]


def _outcome(house: ClearingHouse, action: Action) -> Outcome:
    try:
        return house.apply(action)
    except ProtocolRevert as exc:
        return exc


def _same(model: Outcome, chain: Outcome) -> bool:
    if isinstance(model, ProtocolRevert) or isinstance(chain, ProtocolRevert):
        return isinstance(model, ProtocolRevert) and isinstance(chain, ProtocolRevert) and model.reason == chain.reason
    return model == chain


def replay_path(config: StudyConfig, path_index: int, chain: Chain) -> ChainPathReport:
    """Run path ``path_index`` of ``config`` on the model and its action log on ``chain``
    (a fresh chain: the protocol is deployed on it); see the module docstring."""
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    if not isinstance(chain, Chain):
        raise InvalidParameter(f"chain must be a contracts_py Chain, got {type(chain).__name__}")
    config.path_seed(path_index)  # a bad index fails before the book is built
    if chain.name == "eth-tester" or (isinstance(chain, AnvilChain) and not chain.impersonate):
        raise InvalidParameter(
            f"{chain.name} cannot send from the simulator's role addresses (they have no keys): use "
            "make_chain('anvil', impersonate=True, extra_args=simulator.on_chain.ANVIL_ARGS) or make_chain('boa')"
        )
    matchers, oracles, operators = [MATCHER], [ORACLE], [FUNDING_OPERATOR]
    system = deploy_system(
        chain, config.book_params(), GOVERNANCE, matchers=matchers, oracles=oracles, funding_operators=operators
    )
    setup: list[Action] = []
    path: list[Action] = []
    book = build_book(config, log=setup, order_domain=system.order_domain)  # orders signed for this deployment
    result = simulate_path(config, path_index, book=book, log=path)
    log = setup + path
    depositors = {a.account for a in log if isinstance(a, Deposit)} | {
        a.sender for a in log if isinstance(a, FundInsurance)
    }
    if isinstance(chain, AnvilChain):  # impersonated senders pay for gas
        senders = {sender_of(a) for a in log if not isinstance(a, AdvanceTime)}
        chain.set_balances(sorted(senders | depositors), _GAS_MONEY_WEI)
    mint_test_tokens(system, sorted(depositors))
    house = ChainClearingHouse(chain, system)
    model = house.reference_model(
        book.params, GOVERNANCE, matchers=matchers, oracles=oracles, funding_operators=operators
    )
    records = [AdvanceTime(1, 1), *_shift_times(log, house.now_s + 1)]

    t = time.perf_counter()
    chain_outcomes = house.apply_batch(records)
    seconds = time.perf_counter() - t
    mismatches = []
    for k, (action, got) in enumerate(zip(records, chain_outcomes, strict=True)):
        expected = _outcome(model, action)
        if not isinstance(action, AdvanceTime) and not _same(expected, got):  # only the model's clock moves
            mismatches.append(f"action {k} {action!r}: model {expected!r}, chain {got!r}")
    addresses = sorted(model.state.accounts)
    return ChainPathReport(
        chain.name,
        result,
        sum(not isinstance(a, AdvanceTime) for a in records),
        seconds,
        tuple(mismatches),
        tuple(house.differences(model.state, addresses)),
    )
