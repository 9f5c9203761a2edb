"""oracles.live reads an AggregatorV3 over JSON-RPC (an aggregator mock on anvil) with clear errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chain_helpers import Mocks

from contracts_py.chains import AnvilChain, Chain, make_chain
from contracts_py.chains.anvil_process import free_port
from oracles.live import check_live_feed, read_feed, read_latest_round
from protocol.constants import WAD
from protocol.errors import ChainError, InvalidParameter, OracleError
from protocol.oracle.guards import REASON_STALE, FeedConfig
from protocol.oracle.rounds import RoundData

CONFIG = FeedConfig(decimals=8, heartbeat_s=3_600, max_move_wad=WAD // 10)


@pytest.fixture(scope="module", params=["anvil"])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    """The live reader needs a JSON-RPC node: anvil only."""
    with make_chain(request.param) as c:
        yield c


@pytest.fixture
def url(chain: Chain) -> str:
    assert isinstance(chain, AnvilChain)
    return chain.url


def test_reads_the_latest_round(chain: Chain, mocks: Mocks, url: str) -> None:
    t = chain.timestamp() + 100
    chain.set_next_timestamp(t)
    chain.transact(mocks.feed, "publish", 3_000_12345678)
    rid = (1 << 64) | 1
    assert read_latest_round(url, mocks.feed.address) == RoundData(rid, 3_000_12345678, t, t, rid)
    live = read_feed(url, mocks.feed.address.upper().replace("0X", "0x"))
    assert (live.decimals, live.phase_id, live.description) == (8, 1, "ETH / USD")
    assert live.block_timestamp_s == t
    assert live.age_s == 0


def test_guards_run_on_the_live_round(chain: Chain, mocks: Mocks, url: str) -> None:
    t = chain.timestamp() + 100
    chain.set_next_timestamp(t)
    chain.transact(mocks.feed, "publish", 2_000 * 10**8)
    live, verdict = check_live_feed(url, mocks.feed.address, CONFIG)
    assert verdict.ok
    assert verdict.price_wad == 2_000 * WAD
    chain.set_next_timestamp(t + 3_601)
    chain.mine()
    live, verdict = check_live_feed(url, mocks.feed.address, CONFIG)
    assert live.age_s == 3_601
    assert verdict.failure == REASON_STALE


def test_phase_change_is_reported(chain: Chain, mocks: Mocks, url: str) -> None:
    chain.transact(mocks.feed, "publish", 1)
    chain.transact(mocks.feed, "set_phase", 3)
    live = read_feed(url, mocks.feed.address)
    assert (live.phase_id, live.round.phase_id) == (3, 1)


def test_dead_endpoint_is_a_chain_error(mocks: Mocks) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainError, match=rf"cannot reach the JSON-RPC endpoint {dead}"):
        read_latest_round(dead, mocks.feed.address)


def test_account_without_code_is_an_oracle_error(mocks: Mocks, url: str) -> None:
    with pytest.raises(OracleError, match=f"no contract at .* on {url}"):
        read_latest_round(url, mocks.trader)


def test_contract_that_is_not_a_feed_is_an_oracle_error(mocks: Mocks, url: str) -> None:
    with pytest.raises(OracleError, match="latestRoundData"):
        read_latest_round(url, mocks.usdc.address)


def test_malformed_inputs_are_invalid_parameters(mocks: Mocks, url: str) -> None:
    with pytest.raises(InvalidParameter, match="feed_address"):
        read_latest_round(url, "0x1234")
    with pytest.raises(InvalidParameter, match="rpc_url"):
        read_latest_round("127.0.0.1:8545", mocks.feed.address)


def test_wrong_decimals_in_config_is_an_oracle_error(chain: Chain, mocks: Mocks, url: str) -> None:
    chain.transact(mocks.feed, "publish", 1)
    with pytest.raises(OracleError, match=r"8 decimals but FeedConfig\.decimals is 18"):
        check_live_feed(url, mocks.feed.address, FeedConfig(decimals=18, heartbeat_s=60, max_move_wad=WAD))
