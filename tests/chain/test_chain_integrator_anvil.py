"""Integrators on anvil: a separate process knowing only the RPC URL and the house address reads
everything and it equals the reference model after the scripted scenario; the indexer survives
a reorganisation made with anvil's own RPC (snapshot/revert plus new blocks), a kill at any moment
and an RPC that fails on some calls, keeping every event exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integrator_scenario import scenario_on
from test_protocol_harness import USDC, Differential

from contracts_py.client import NovationClient
from contracts_py.indexer import Indexer, export_parquet
from contracts_py.rpc import HttpRpc, Rpc
from protocol.errors import ChainError

REPO = Path(__file__).resolve().parents[2]

READER = """
import json, sys
from contracts_py.client import NovationClient
url, house, *accounts = sys.argv[1:]
client = NovationClient(url, house)
block = client.block_number()
snap = client.snapshot(accounts, block=block)
healths = client.healths(accounts, block=block)
out = {
    "params_equal_marker": repr(client.params_from_chain(block=block)),
    "now_s": snap.timestamp_s,
    "insurance_fund": str(snap.state.insurance_fund),
    "markets": {m: repr(s) for m, s in snap.state.markets.items()},
    "feeds": {f: repr(s) for f, s in snap.state.feeds.items()},
    "accounts": {a: repr(acct) for a, acct in snap.state.accounts.items()},
    "health": {a: [repr(h.margin), repr(h.liquidation)] for a, h in healths.items()},
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def scenario() -> Iterator[tuple[Differential, list[str]]]:
    with scenario_on("anvil") as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def isolate() -> None:
    """Each test here restores what it changes itself."""


def _url(d: Differential) -> str:
    return str(d.chain_system.chain.url)  # type: ignore[attr-defined]


def test_a_second_process_reads_everything(scenario: tuple[Differential, list[str]]) -> None:
    d, traders = scenario
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", READER, _url(d), d.core.address, *traders],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    model = d.model.state
    assert got["params_equal_marker"] == repr(d.params)
    assert got["now_s"] == model.now_s
    assert int(got["insurance_fund"]) == model.insurance_fund
    assert got["markets"] == {str(m): repr(s) for m, s in model.markets.items()}
    assert got["feeds"] == {str(f): repr(s) for f, s in model.feeds.items()}
    for a in traders:
        want = model.accounts[a]
        want.collateral = {k: v for k, v in want.collateral.items() if v}
        assert got["accounts"][a] == repr(want)
        assert got["health"][a] == [repr(d.model.health(a)), repr(d.model.liquidation_health(a))]


def _events(client: NovationClient) -> list[tuple[int, int, int, str]]:
    return [(e.block, e.tx_index, e.log_index, e.tx_hash) for e in client.events(0)]


def _indexed(db: Path) -> list[tuple[int, int, int, str]]:
    with sqlite3.connect(db) as conn:
        return [
            tuple(r) for r in conn.execute("SELECT block, tx_index, log_index, tx_hash FROM events ORDER BY 1, 2, 3")
        ]


def _more_events(d: Differential, n: int) -> None:
    """``n`` blocks with an insurance-fund top-up each (straight to the chain: the model is left
    at the scenario's end, which the test restores)."""
    for _ in range(n):
        d.chain_system.chain.transact(d.core, "fund_insurance", USDC, sender=d.actors.governance)


def test_indexer_reorg_is_rolled_back(scenario: tuple[Differential, list[str]], tmp_path: Path) -> None:
    d, _ = scenario
    chain = d.chain_system.chain
    client = NovationClient(_url(d), d.core.address)
    db = tmp_path / "index.sqlite"
    indexer = Indexer(client, db, confirmations=6, batch_blocks=7, snapshot_every=5)
    start = chain.snapshot()
    fork = chain.snapshot()
    _more_events(d, 3)
    indexer.sync()
    before = _indexed(db)
    assert before == _events(client)
    # reorganise: back to the fork and different blocks on top (anvil's evm_revert + new blocks)
    chain.revert(fork)
    chain.mine(1)
    _more_events(d, 2)
    stats = indexer.sync()
    assert stats.reorgs == 1
    after = _indexed(db)
    assert after == _events(client)
    assert after != before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] > 0
    paths = export_parquet(db, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"{t}.parquet" for t in ("events", "blocks", "accounts", "snapshots", "cursor", "adapters")
    )
    # a reorganisation deeper than the confirmation depth is refused
    shallow = Indexer(client, tmp_path / "shallow.sqlite", confirmations=0)
    shallow.sync()
    deep = chain.snapshot()
    _more_events(d, 2)
    shallow.sync()
    chain.revert(deep)
    chain.mine(3)
    with pytest.raises(ChainError, match="deeper than the confirmation depth 0"):
        shallow.sync()
    chain.revert(start)


class FlakyRpc(Rpc):
    """Fails every third call: an error or a timeout."""

    def __init__(self, inner: Rpc) -> None:
        self.inner, self.name, self.calls = inner, inner.name, 0

    def _fault(self) -> None:
        self.calls += 1
        if self.calls % 3 == 0:
            raise ChainError("the JSON-RPC endpoint timed out" if self.calls % 2 else "node answered HTTP 502")

    def request(self, method: str, params: Any) -> Any:
        self._fault()
        return self.inner.request(method, params)

    def batch(self, calls: Any) -> list[Any]:
        self._fault()
        return self.inner.batch(calls)


def test_indexer_survives_rpc_faults(scenario: tuple[Differential, list[str]], tmp_path: Path) -> None:
    d, _ = scenario
    client = NovationClient(_url(d), d.core.address)
    flaky = NovationClient(_url(d), d.core.address)
    flaky.rpc = FlakyRpc(HttpRpc(_url(d)))  # faults from here on
    indexer = Indexer(flaky, tmp_path / "i.sqlite", batch_blocks=5, retries=3, retry_pause_s=0.0)
    indexer.sync()
    assert _indexed(tmp_path / "i.sqlite") == _events(client)


def test_indexer_killed_at_any_moment_restarts_exactly_once(
    scenario: tuple[Differential, list[str]], tmp_path: Path
) -> None:
    d, _ = scenario
    client = NovationClient(_url(d), d.core.address)
    db = tmp_path / "k.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    script = (
        "import sys\nfrom contracts_py.client import NovationClient\nfrom contracts_py.indexer import Indexer\n"
        "Indexer(NovationClient(sys.argv[1], sys.argv[2]), sys.argv[3], batch_blocks=1, confirmations=0).sync()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, _url(d), d.core.address, str(db)], env=env)
    for _ in range(6000):  # until it has committed part of the chain
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    row = conn.execute("SELECT block FROM cursor").fetchone()
                if row and row[0] > 5:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    indexer = Indexer(client, db, confirmations=0)
    assert indexer.cursor < client.block_number()
    indexer.sync()
    assert _indexed(db) == _events(client)
