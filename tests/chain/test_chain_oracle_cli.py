"""``novation oracle check --rpc URL --feed ADDRESS``: latest round, age, move since the last good
price and every guard's verdict of an AggregatorV3 mock on anvil; one-line errors with exit code 2
for a dead endpoint, a malformed or wrong address and a contract that is not a feed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from contracts_py.build import Builder
from contracts_py.chains import AnvilChain, Chain, Contract, make_chain
from contracts_py.chains.anvil_process import free_port
from novation.cli import app

runner = CliRunner()
ENV = {"COLUMNS": "200"}


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    """The CLI reads over JSON-RPC: anvil (fails, never skips, when anvil is missing)."""
    with make_chain("anvil") as c:
        yield c


@pytest.fixture(scope="module")
def feed(chain: Chain) -> Contract:
    return chain.deploy(Builder().build("testing/aggregator_v3"), 8, "BTC / USD")


@pytest.fixture
def url(chain: Chain) -> str:
    assert isinstance(chain, AnvilChain)
    return chain.url


def _check(url: str, address: str, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["oracle", "check", "--rpc", url, "--feed", address, *extra], env=ENV)
    return result.exit_code, result.output


def test_fresh_round_passes_every_guard(chain: Chain, feed: Contract, url: str) -> None:
    t = chain.timestamp() + 100
    chain.set_next_timestamp(t)
    chain.transact(feed, "publish", 2_100 * 10**8)
    chain.set_next_timestamp(t + 30)
    chain.mine()
    code, out = _check(url, feed.address, "--heartbeat", "3600", "--max-move", "0.1", "--last-good", "2000")
    assert code == 0, out
    assert "BTC / USD" in out
    assert f"latest round {(1 << 64) | 1} (phase 1, round 1)" in out
    assert "answer 2,100.00000000" in out
    assert "age 30 s" in out
    assert "move since last good price 2000: +5.0000% (max 10.0000%)" in out
    for guard in ("round_id", "phase", "answer_positive", "not_future", "heartbeat", "answered_in_round", "move"):
        assert any(line.split()[:2] == [guard, "pass"] for line in out.splitlines()), (guard, out)
    assert "sequencer_status   skip" in out
    assert "verdict: ok" in out


def test_stale_and_moved_round_fails_with_reasons(chain: Chain, feed: Contract, url: str) -> None:
    t = chain.timestamp() + 100
    chain.set_next_timestamp(t)
    chain.transact(feed, "publish", 2_500 * 10**8)
    chain.set_next_timestamp(t + 3_601)
    chain.mine()
    code, out = _check(url, feed.address, "--heartbeat", "3600", "--max-move", "0.2", "--last-good", "2000")
    assert code == 1, out
    assert "age 3601 s" in out
    assert "heartbeat          FAIL  oracle: stale" in out
    assert "move               FAIL  oracle: move too large" in out
    assert "+25.0000%" in out
    assert "verdict: rejected (oracle: stale)" in out
    # exactly a heartbeat old passes
    code, out = _check(url, feed.address, "--heartbeat", "3601")
    assert code == 0, out
    assert "move since last good price: n/a (give --last-good)" in out


def _one_line_error(code: int, out: str) -> str:
    assert code == 2, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert lines[0].startswith("error: "), out
    return lines[0]


def test_dead_endpoint(feed: Contract) -> None:
    line = _one_line_error(*_check(f"http://127.0.0.1:{free_port()}", feed.address, "--timeout", "2"))
    assert "cannot reach the JSON-RPC endpoint" in line


def test_wrong_address(url: str) -> None:
    line = _one_line_error(*_check(url, "0x" + "42" * 20))
    assert "no contract at" in line
    line = _one_line_error(*_check(url, "0x1234"))
    assert "feed_address must be a 0x-prefixed 20-byte hex address" in line


def test_non_feed_contract(chain: Chain, url: str) -> None:
    token = chain.deploy(Builder().build("testing/erc20"), "USD Coin", "USDC", 6)
    line = _one_line_error(*_check(url, token.address))
    assert "AggregatorV3" in line


def test_bad_option(feed: Contract, url: str) -> None:
    line = _one_line_error(*_check(url, feed.address, "--max-move", "ten"))
    assert "--max-move" in line
    code, out = _check(url, feed.address, "--heartbeat", "0")
    assert code == 2
    assert "Invalid value for '--heartbeat'" in out
