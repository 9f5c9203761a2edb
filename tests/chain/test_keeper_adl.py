"""The keeper bot through the ADL proposal queue on anvil (F-04, F-10).

With the ADL method, an account bankrupt beyond the insurance fund is closed in two steps the
keeper takes in later blocks: it proposes the ranked counterparty list (``AdlProposed``), waits
out the challenge window, then sends the stored list (``Deleveraged``); when nobody is in profit
it proposes the empty list and, in the execution window, closes the account with ``liquidate``
(``Liquidated`` and ``ShortfallSettled``). The keeper's snapshot reads the pending proposals.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from keeper_node import USDC, anvil_house, impersonated_keeper, mine, send

from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.client import NovationClient
from contracts_py.deploy import System
from protocol import events as ev
from protocol.actions import Deposit, PushPrice
from protocol.constants import WAD
from protocol.orders import OrderSigner
from protocol.params import SocializedLossMethod
from protocol.scenarios import BTC_FEED, BTC_PERP, ETH_FEED, default_params

PARAMS = default_params(socialized_loss_method=SocializedLossMethod.ADL)
WINDOW = PARAMS.protocol.adl_window_s


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[AnvilChain, System]]:
    with anvil_house(PARAMS, slice(2, 8)) as node:
        yield node


@pytest.fixture
def node(deployed: tuple[AnvilChain, System]) -> Iterator[tuple[AnvilChain, System]]:
    chain, system = deployed
    snap = chain.snapshot()
    yield chain, system
    chain.set_automine(True)
    chain.revert(snap)


def _prices(chain: AnvilChain, system: System, btc: int) -> None:
    oracle = chain.accounts[1]
    chain.set_next_timestamp(chain.timestamp() + 120)  # one move window: any move within max_move
    send(system, PushPrice(oracle, BTC_FEED, btc * WAD, chain.timestamp()))
    send(system, PushPrice(oracle, ETH_FEED, 3_000 * WAD, chain.timestamp()))


def _bankrupt(chain: AnvilChain, system: System, *, counterparty_in_profit: bool) -> tuple[str, str]:
    """A long 1 BTC at 60,000 on 6,500 USDC, bankrupt at 50,000 (equity -3,500, empty fund).
    Its seller is the only short; with ``counterparty_in_profit`` False the seller closes at
    45,000 to a late short, who is at a loss at 50,000. Returns (long, only short)."""
    keeper, matcher, maker, long, late = chain.accounts[2], chain.accounts[3], *chain.accounts[5:8]
    signer = OrderSigner(system.order_domain, [chain.account_keys()[a] for a in (maker, long, late)])
    _prices(chain, system, 60_000)
    send(system, Deposit(maker, 0, 10**6 * USDC), Deposit(long, 0, 6_500 * USDC), Deposit(keeper, 0, 10**5 * USDC))
    send(system, Deposit(late, 0, 50_000 * USDC))
    send(system, signer.fill(matcher, maker, long, BTC_PERP, WAD, 60_000 * WAD))
    if counterparty_in_profit:
        _prices(chain, system, 50_000)
        return long, maker
    _prices(chain, system, 45_000)
    send(system, signer.fill(matcher, late, maker, BTC_PERP, WAD, 45_000 * WAD))
    _prices(chain, system, 50_000)
    return long, late


def _run(chain: AnvilChain, system: System, tmp: Path) -> list[ev.Event]:
    """The keeper over the blocks of two ADL windows; the house's events after it started."""
    client = NovationClient(chain.url, system.core.address)
    start = chain.block_number()
    keeper = impersonated_keeper(chain, system, tmp / "journal.json", unprofitable=True)
    chain.set_automine(False)
    keeper.handle_block(mine(chain))  # proposes
    keeper.handle_block(mine(chain))  # mined; nothing to do in the challenge window
    keeper.handle_block(mine(chain, WINDOW))  # the deadline passed: executes
    for _ in range(2):
        keeper.handle_block(mine(chain))
    return [e.event for e in client.events(start + 1) if isinstance(e.event, ev.Event)]


def test_the_keeper_proposes_then_executes_the_ranked_list(node: tuple[AnvilChain, System], tmp_path: Path) -> None:
    chain, system = node
    long, short = _bankrupt(chain, system, counterparty_in_profit=True)
    events = _run(chain, system, tmp_path)
    keeper = chain.accounts[2]
    proposed = [e for e in events if isinstance(e, ev.AdlProposed)]
    assert [(e.account, e.proposer, e.counterparties) for e in proposed] == [(long, keeper, (short,))]
    assert [(e.account, e.counterparty, e.size_wad) for e in events if isinstance(e, ev.Deleveraged)] == [
        (long, short, WAD)
    ]
    state = NovationClient(chain.url, system.core.address).snapshot([long, short]).state
    assert long not in state.accounts or not state.accounts[long].positions
    assert state.adl_proposals == {}


def test_the_keeper_closes_a_stuck_account_after_an_empty_proposal(
    node: tuple[AnvilChain, System], tmp_path: Path
) -> None:
    chain, system = node
    long, _ = _bankrupt(chain, system, counterparty_in_profit=False)
    events = _run(chain, system, tmp_path)
    keeper = chain.accounts[2]
    proposed = [e for e in events if isinstance(e, ev.AdlProposed)]
    assert [(e.account, e.counterparties) for e in proposed] == [(long, ())]
    assert [(e.account, e.keeper, e.size_wad) for e in events if isinstance(e, ev.Liquidated)] == [(long, keeper, WAD)]
    assert [(e.account, e.debt_wad) for e in events if isinstance(e, ev.ShortfallSettled)] == [(long, 3_500 * WAD)]
    assert not [e for e in events if isinstance(e, ev.Deleveraged)]
