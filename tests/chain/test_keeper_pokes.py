"""The keeper's funding and oracle pokes on anvil (issue 18), each by the role it needs.

* Funding: a keeper without the funding role is refused at start; granted it, it re-sets each
  market's rate every ``poke_funding_every`` blocks, which accrues funding exactly as the model's
  ``SetFundingRate`` at the same blocks; once the role is revoked its pokes are skipped (the gas
  estimate reverts), nothing is sent.
* Oracle: the keeper pokes an oracle adapter that holds the oracle role; the adapter pushes the
  Chainlink answers into the house.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi.abi import decode
from keeper_node import USDC, anvil_house, impersonated_keeper, mine, send

from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.client import NovationClient
from contracts_py.deploy import System
from contracts_py.oracle_deploy import deploy_oracle_adapter, oracle_artifacts
from protocol.actions import AdvanceTime, Deposit, PushPrice, SetFundingRate, SetRole
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.oracle.oracle_adapter import FeedSpec, SourceKind, SourceSpec
from protocol.orders import OrderSigner
from protocol.scenarios import BTC_FEED, BTC_PERP, ETH_FEED, default_params

PRICES = {BTC_FEED: 60_000 * WAD, ETH_FEED: 3_000 * WAD}


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[AnvilChain, System]]:
    with anvil_house(default_params(), slice(4, 6)) as node:
        yield node


@pytest.fixture
def node(deployed: tuple[AnvilChain, System]) -> Iterator[tuple[AnvilChain, System]]:
    """The deployment with prices, an open BTC position (funding accrues on open interest) and
    a funding rate set; restored after the test."""
    chain, system = deployed
    snap = chain.snapshot()
    gov, oracle, _keeper, matcher, maker, taker = chain.accounts[:6]
    ts = chain.timestamp()  # not later than the next block's time
    send(system, *(PushPrice(oracle, f, p, ts) for f, p in PRICES.items()))
    signer = OrderSigner(system.order_domain, [chain.account_keys()[a] for a in (maker, taker)])
    send(system, Deposit(maker, 0, 10**6 * USDC), Deposit(taker, 0, 10**5 * USDC))
    send(system, signer.fill(matcher, maker, taker, BTC_PERP, WAD, PRICES[BTC_FEED]))
    chain.set_next_timestamp(chain.timestamp() + 600)  # the rate moves at most a step per second
    send(system, SetFundingRate(gov, BTC_PERP, 10**9))  # clamped to the rate's largest step
    yield chain, system
    chain.set_automine(True)
    chain.revert(snap)


def test_funding_pokes_need_the_role_and_accrue_as_the_model(node: tuple[AnvilChain, System], tmp_path: Path) -> None:
    chain, system = node
    gov, keeper_address = chain.accounts[0], chain.accounts[2]
    with pytest.raises(InvalidParameter, match="lacks the funding role on house"):
        impersonated_keeper(chain, system, tmp_path / "journal.json", poke_funding_every=2)
    send(system, SetRole(gov, "funding", keeper_address, True))

    client = NovationClient(chain.url, system.core.address)
    start = chain.block_number()
    model = ClearingHouse.from_state(client.params_from_chain(), copy.deepcopy(client.snapshot(block=start).state))
    model.state.roles.funding_operators.add(keeper_address)
    keeper = impersonated_keeper(chain, system, tmp_path / "journal.json", poke_funding_every=2)
    chain.set_automine(False)
    for _ in range(8):
        keeper.handle_block(mine(chain))
    head = chain.block_number()

    pokes = sorted((e for e in keeper.settled() if e.key.startswith("poke_funding")), key=lambda e: e.nonce)
    assert len(pokes) >= 3, [(e.key, e.status, e.sent_block, e.mined_block, e.reason) for e in pokes]
    assert all(e.status == "mined" or e.sent_block == head for e in pokes), [
        (e.key, e.status, e.sent_block, e.mined_block, e.reason) for e in pokes
    ]
    assert keeper.counters["pokes_total"] == len([e for e in pokes if e.status == "mined"]) >= 3
    for number in range(start + 1, head + 1):  # the same pokes on the model, at the blocks' times
        block = client.rpc.request("eth_getBlockByNumber", [hex(number), False])
        model.apply(AdvanceTime(int(block["timestamp"], 16) - model.state.now_s, number - model.state.block))
        for e in pokes:
            if e.mined_block == number:
                market, rate = decode(["uint256", "int256"], bytes.fromhex(e.data[10:]))
                model.apply(SetFundingRate(keeper_address, market, rate))
    on_chain = client.snapshot(block=head).state.markets
    assert on_chain == model.state.markets
    last = max(e.mined_block for e in pokes if e.status == "mined")
    last_ts = int(client.rpc.request("eth_getBlockByNumber", [hex(last), False])["timestamp"], 16)
    assert on_chain[BTC_PERP].last_accrual_s == last_ts
    assert on_chain[BTC_PERP].funding_index != 0  # the pokes accrued funding

    chain.set_automine(True)
    send(system, SetRole(gov, "funding", keeper_address, False))
    chain.set_automine(False)
    keeper.handle_block(mine(chain))  # settles what was in flight
    sent = keeper.counters["txs_sent_total"]
    for _ in range(2):
        keeper.handle_block(mine(chain))
    assert keeper.counters["txs_sent_total"] == sent  # nothing sent without the role
    assert keeper.counters["skipped_reverting_total"] >= len(model.state.markets)


def test_oracle_pokes_push_the_adapter_prices(node: tuple[AnvilChain, System], tmp_path: Path) -> None:
    chain, system = node
    gov = chain.accounts[0]
    arts = oracle_artifacts()
    feeds, specs = {}, {}
    for feed in PRICES:
        pair = [chain.deploy(arts.aggregator, 8, f"feed {feed} {which}") for which in ("primary", "fallback")]
        feeds[feed] = pair
        specs[feed] = FeedSpec(*(SourceSpec(SourceKind.CHAINLINK, a.address, heartbeat_s=3_600) for a in pair))
    adapter = deploy_oracle_adapter(chain, system.core.address, specs, artifacts=arts)
    with pytest.raises(InvalidParameter, match="lacks the oracle role"):
        impersonated_keeper(chain, system, tmp_path / "journal.json", poke_oracle_every=1, adapter=adapter.address)
    send(system, SetRole(gov, "oracle", adapter.address, True))
    keeper = impersonated_keeper(chain, system, tmp_path / "journal.json", poke_oracle_every=1, adapter=adapter.address)

    answers = {BTC_FEED: 5_900_012_345_678, ETH_FEED: 290_050_000_000}  # 8 decimals
    for feed, pair in feeds.items():
        for aggregator in pair:
            chain.transact(aggregator, "publish", answers[feed])
    chain.set_automine(False)
    keeper.handle_block(mine(chain))  # pokes sent
    keeper.handle_block(mine(chain))  # and mined
    pokes = [e for e in keeper.settled() if e.key.startswith("poke_oracle")]
    assert sorted(e.key for e in pokes if e.status == "mined") == [f"poke_oracle:{f}" for f in sorted(PRICES)]
    client = NovationClient(chain.url, system.core.address)
    feeds_now = client.snapshot().state.feeds
    assert {f: feeds_now[f].price_wad for f in PRICES} == {f: a * 10**10 for f, a in answers.items()}
