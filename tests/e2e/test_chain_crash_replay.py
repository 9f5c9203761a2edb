"""Black Thursday on chain: the 2020-03-13 02:00-02:59 UTC BTC perp minute bars, run through a
Chainlink-style push feed into AggregatorV3 mocks (primary and a mirrored fallback), read by the
on-chain OracleAdapter that pushes into the clearing house, with a keeper reacting after every
round; on titanoboa and on anvil.

Both sides get the same actions: the protocol on chain (``deploy_system`` + ``ChainClearingHouse``)
and the reference model, whose prices come from the Python twin of the adapter. Every adapter poke
is bit-exact with the reference, every action's events and revert reasons agree, every invariant
holds on the model after every action, and the key numbers (balances, positions, markets, feeds,
insurance fund) are equal on chain and on the model at the end and at checkpoints.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from contracts_py.chain_house import ChainClearingHouse, mint_test_tokens
from contracts_py.chains import make_chain
from contracts_py.deploy import deploy_system
from contracts_py.oracle_deploy import deploy_oracle_adapter, oracle_artifacts
from contracts_py.oracle_replay import ChainFeedReplay, ProtocolChainReplay, shift_rounds
from oracles.history import load_klines
from oracles.replay import push_rounds
from protocol.actions import Deposit, SetRole
from protocol.constants import WAD
from protocol.oracle.oracle_adapter import FeedSpec, SourceKind, SourceSpec
from protocol.orders import OrderSigner
from protocol.scenarios import BTC_FEED, BTC_PERP, default_params

SLICE = "2020-03-12_black_thursday/binance_usdm_perp_BTCUSDT_1m_2020-03-13T02.csv"
USDC = 10**6
TRADERS = ("trader_leveraged", "trader_conservative", "trader_short")
ROLES = ("governance", "matcher", "keeper", "liquidator", "market_maker", *TRADERS)


@pytest.fixture(scope="module")
def rounds(market_data: Path):  # type: ignore[no-untyped-def]
    klines = load_klines(market_data / SLICE)
    assert len(klines) == 60
    return push_rounds(klines, bar_s=60, deviation_wad=5 * WAD // 1000, heartbeat_s=3_600)


# The slice has two round-to-round moves above 10 % (+11.67 % at 02:31:30, -10.20 % at 02:40:30).
# With a fallback whose own move guard is 100 % (it confirms jumps, as Tellor did for Liquity) the
# adapter accepts them; with a 10 % guard on both sources the jumped fallback counts as broken, the
# adapter pushes a zero price (the core rejects it: the market is reduce-only) for those two rounds
# and recovers at the next one.
CONFIGS = [
    ("boa", WAD, 0),
    ("boa", WAD // 10, 2),
    ("anvil", WAD, 0),
    ("anvil", WAD // 10, 2),
]


@pytest.mark.parametrize(("backend", "fallback_max_move_wad", "untrusted"), CONFIGS)
def test_black_thursday_on_chain_through_the_adapter(  # type: ignore[no-untyped-def]
    backend: str, fallback_max_move_wad: int, untrusted: int, rounds
) -> None:
    if backend == "anvil" and shutil.which("anvil") is None:
        pytest.fail("anvil is not on PATH: put tools/node_modules/@foundry-rs/anvil-linux-amd64/bin on PATH")
    params = default_params()
    started = time.monotonic()
    with make_chain(backend) as chain:
        # the chain's own funded accounts play the actors (anvil signs only for its dev accounts)
        a = dict(zip(ROLES, chain.accounts, strict=False))
        gov, matcher, keeper, liquidator = a["governance"], a["matcher"], a["keeper"], a["liquidator"]
        system = deploy_system(chain, params, gov, matchers=[matcher])
        users = [a[w] for w in ("market_maker", "keeper", "liquidator", *TRADERS)]
        mint_test_tokens(system, users)
        arts = oracle_artifacts()
        primary = chain.deploy(arts.aggregator, 8, "BTC / USD")
        fallback = chain.deploy(arts.aggregator, 8, "BTC / USD (fallback)")
        spec = FeedSpec(
            SourceSpec(SourceKind.CHAINLINK, primary.address, heartbeat_s=3_600, max_move_wad=WAD // 10),
            SourceSpec(SourceKind.CHAINLINK, fallback.address, heartbeat_s=3_600, max_move_wad=fallback_max_move_wad),
        )
        adapter = deploy_oracle_adapter(chain, system.core.address, {BTC_FEED: spec}, artifacts=arts)
        assert arts.adapter.runtime_size < 24_576

        house = ChainClearingHouse(chain, system)
        model = house.reference_model(params, gov, matchers=[matcher])
        orders = OrderSigner(house.order_domain, chain.account_keys().values())
        feed = ChainFeedReplay(chain, adapter, BTC_FEED, spec, primary, fallback, keeper=keeper)
        run = ProtocolChainReplay(house, model, feed)
        run.apply(SetRole(gov, "oracle", adapter.address, True))

        shifted = shift_rounds(rounds, run.now_s + 10)
        first = shifted[0]
        run.replay(shifted[:1], keeper=keeper, liquidator=liquidator)
        open_price = first.answer * 10**10
        assert model.state.feeds[BTC_FEED].price_wad == open_price
        for who, usdc in (
            ("market_maker", 5_000_000),
            ("keeper", 2_000_000),
            ("liquidator", 100_000),
            ("trader_leveraged", 900),
            ("trader_conservative", 2_500),
            ("trader_short", 2_500),
        ):
            run.apply(Deposit(a[who], 0, usdc * USDC))
        for trader, size in (
            ("trader_leveraged", 2 * WAD),
            ("trader_conservative", 2 * WAD),
            ("trader_short", -2 * WAD),
        ):
            run.apply(orders.fill(matcher, a["market_maker"], a[trader], BTC_PERP, size, open_price, 0, 0))
        assert run.differences(users, [BTC_PERP]) == []

        rest = shifted[1:]
        half = len(rest) // 2
        run.replay(rest[:half], keeper=keeper, liquidator=liquidator)
        assert run.differences(users, [BTC_PERP]) == []  # checkpoint mid-crash
        report = run.replay(rest[half:], keeper=keeper, liquidator=liquidator)
        assert run.differences(users, [BTC_PERP]) == [], f"{backend}: chain state differs from the model"

        assert report.rounds == len(rounds)
        assert report.pokes == len(rounds)
        assert report.untrusted_pokes == untrusted
        assert report.rejected == untrusted  # each untrusted poke pushed a zero the core rejected
        assert report.accepted == len(rounds) - untrusted
        assert report.min_price_wad == 362_181 * 10**16  # the crash low of the minute bars
        assert report.liquidations >= 2
        assert report.invariant_checks > 3 * report.rounds
        left = model.state.accounts[a["trader_leveraged"]].positions[BTC_PERP].size
        assert 0 < left < 2 * WAD
        assert house.account(a["trader_leveraged"]).positions[BTC_PERP].size == left
        assert house.insurance_fund() == model.state.insurance_fund > 0
        print(
            f"{backend}: {report.rounds} rounds, {report.untrusted_pokes} untrusted, "
            f"{report.liquidations} liquidations, {report.invariant_checks} invariant checks, "
            f"{time.monotonic() - started:.1f} s"
        )
