"""Replay the worst minute bars of Black Thursday (BTC perp, 2020-03-13 02:00-02:59 UTC) through
a Chainlink-style push feed into the reference model; a keeper reacts after every round."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracles.history import load_klines
from oracles.replay import push_rounds, replay_on_model
from protocol.actions import AdvanceTime, Deposit, PushPrice
from protocol.clearing_house import ClearingHouse
from protocol.constants import WAD
from protocol.scenarios import ACTORS, BTC_FEED, BTC_PERP, actor_signer, default_params

SLICE = "2020-03-12_black_thursday/binance_usdm_perp_BTCUSDT_1m_2020-03-13T02.csv"
USDC = 10**6


@pytest.fixture(scope="module")
def rounds(market_data: Path):  # type: ignore[no-untyped-def]
    klines = load_klines(market_data / SLICE)
    assert len(klines) == 60
    # 0.5 % deviation threshold, one-hour heartbeat: the BTC/USD mainnet feed's settings.
    return push_rounds(klines, bar_s=60, deviation_wad=5 * WAD // 1000, heartbeat_s=3_600)


def test_black_thursday_replay_liquidates_with_every_invariant_holding(rounds) -> None:  # type: ignore[no-untyped-def]
    a = ACTORS
    first = rounds[0]
    house = ClearingHouse(
        default_params(), a["governance"], matchers=[a["matcher"]], oracles=[a["oracle"]], start_time_s=first.updated_at
    )
    open_price = first.answer * 10**10
    house.apply(PushPrice(a["oracle"], BTC_FEED, open_price, first.updated_at))
    for who, usdc in (
        ("market_maker", 5_000_000),
        ("keeper", 2_000_000),
        ("liquidator", 100_000),
        ("trader_leveraged", 900),
        ("trader_conservative", 2_500),
        ("trader_short", 2_500),
    ):
        house.apply(Deposit(a[who], 0, usdc * USDC))
    # 9x and 3x longs, and a 3x short, all at the open.
    orders = actor_signer()
    for trader, size in (("trader_leveraged", 2 * WAD), ("trader_conservative", 2 * WAD), ("trader_short", -2 * WAD)):
        house.apply(orders.fill(a["matcher"], a["market_maker"], a[trader], BTC_PERP, size, open_price, 0, 0))
    house.apply(AdvanceTime(0, 1))

    report = replay_on_model(
        house, rounds[1:], feed_id=BTC_FEED, oracle=a["oracle"], keeper=a["keeper"], liquidator=a["liquidator"]
    )

    assert report.rounds == len(rounds) - 1
    assert report.rejected == 0
    # The feed saw the crash low of the minute bars (3,621.81) exactly: low bars publish.
    assert report.min_price_wad == 362_181 * 10**16
    assert report.liquidations >= 2  # the 9x long and the 3x short (squeezed in the rebound)
    assert report.invariant_checks > 2 * report.rounds
    # The 9x long was cut by partial liquidations to what its margin carries, not closed.
    left = house.state.accounts[a["trader_leveraged"]].positions[BTC_PERP].size
    assert 0 < left < 2 * WAD
