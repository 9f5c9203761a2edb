"""A keeper restarted with liquidations in flight plans around them (issue 18), on anvil.

Three traders fall below maintenance at once while the per-block liquidation cap admits one
liquidation per block. The keeper sends the one the cap allows; it stays in the pool (automine
off, then a block too small for it); the keeper is killed. The restarted keeper rebuilds that
transaction's action from its journal's calldata and counts it against the next block's cap:
it plans nothing the cap would refuse (a keeper planning without it plans a second liquidation:
anvil's gas estimate on its pending block refuses it, a node estimating on the latest block lets
it be sent to revert "liquidation: block cap reached"). Then the traders are liquidated one
block at a time with no reverted transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from keeper_node import USDC, anvil_house, impersonated_keeper, mine, send

from contracts_py.chain_house import call_of
from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.deploy import System
from contracts_py.keeper.decisions import plan_work
from protocol.actions import Deposit, Liquidate, PushPrice
from protocol.constants import WAD
from protocol.orders import OrderSigner
from protocol.scenarios import BTC_FEED, BTC_PERP, ETH_FEED, default_params

#: Room for one trader's liquidation (about 56,000 USD of notional) per block, not two.
CAP_WAD = 80_000 * WAD


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[AnvilChain, System]]:
    """Three traders long 1 BTC from 60,000 with 6,500 USD each; BTC then at 56,000 (below
    maintenance, equity still positive: the cap applies)."""
    with anvil_house(default_params(max_liquidation_notional_per_block_wad=CAP_WAD), slice(2, 8)) as (chain, system):
        _gov, oracle, keeper, matcher, maker, *traders = chain.accounts[:8]
        ts = chain.timestamp()
        send(system, PushPrice(oracle, BTC_FEED, 60_000 * WAD, ts), PushPrice(oracle, ETH_FEED, 3_000 * WAD, ts))
        send(system, Deposit(keeper, 0, 10**6 * USDC), Deposit(maker, 0, 10**6 * USDC))
        signer = OrderSigner(system.order_domain, [chain.account_keys()[a] for a in (maker, *traders)])
        for trader in traders:
            send(system, Deposit(trader, 0, 6_500 * USDC))
            send(system, signer.fill(matcher, maker, trader, BTC_PERP, WAD, 60_000 * WAD))
        later = chain.timestamp() + 60  # a push needs a newer observation than the last accepted
        chain.set_next_timestamp(later)
        send(system, PushPrice(oracle, BTC_FEED, 56_000 * WAD, later))
        yield chain, system


def test_a_restarted_keeper_counts_its_journaled_liquidations_against_the_block_cap(
    node: tuple[AnvilChain, System], tmp_path: Path
) -> None:
    chain, system = node
    me, traders = chain.accounts[2], chain.accounts[5:8]
    journal = tmp_path / "journal.json"
    chain.set_automine(False)
    try:
        first = impersonated_keeper(chain, system, journal, unprofitable=True, replace_after_blocks=10)
        first.handle_block(mine(chain))
        (in_flight,) = first.journal.pending()  # the cap admits one liquidation per block
        assert in_flight.key.startswith("Liquidate:")
        chain._rpc("anvil_setBlockGasLimit", hex(in_flight.gas - 1))
        head = mine(chain)  # a block too small for it: it stays in the pool
        chain._rpc("anvil_setBlockGasLimit", hex(30_000_000))
        assert chain._rpc("eth_getTransactionReceipt", in_flight.hashes[0]) is None

        del first  # killed; restarted on its journal
        restarted = impersonated_keeper(chain, system, journal, unprofitable=True, replace_after_blocks=10)
        (action,) = restarted._sent_actions.values()
        assert isinstance(action, Liquidate)
        assert restarted._sent_actions == {in_flight.key: action}
        assert (action.keeper, action.market_id) == (me, BTC_PERP)
        assert in_flight.key == f"Liquidate:{action.account}:{BTC_PERP}"
        assert call_of(action)[1:] == ("liquidate", (action.account, BTC_PERP, action.size_wad))

        restarted.handle_block(head)
        # the block's room is taken by the one in flight: nothing planned (nor left to the node's
        # gas estimate on its pending block to refuse)
        assert restarted.counters["txs_sent_total"] == restarted.counters["skipped_reverting_total"] == 0
        # without the journaled action the planner would send a liquidation the cap refuses
        snap = restarted.client.snapshot(sorted(restarted.accounts), block=head)
        overlooked = plan_work(snap, me, skip=restarted.journal.pending_keys())
        assert overlooked
        assert all(w.action.account != action.account for w in overlooked)

        for _ in range(6):
            restarted.handle_block(mine(chain))
        settled = restarted.settled()
        assert [e.status for e in settled] == ["mined"] * len(settled)
        assert restarted.counters["txs_reverted_total"] == 0
        assert len({e.mined_block for e in settled}) == len(settled)  # one liquidation per block
        assert {e.key.split(":")[1] for e in settled} == set(traders)
        health = restarted.client.healths(traders)
        assert not any(h.liquidatable for h in health.values())
    finally:
        chain.set_automine(True)
