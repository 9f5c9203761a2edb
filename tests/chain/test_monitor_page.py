"""The risk monitor in a real browser (issue 18): an indexer database filled from the integrator
scenario (fills, funding, a price drop, a liquidation) on eth-tester, served by ``novation
monitor`` in its own process, loaded in Debian's headless chromium through Playwright; the
numbers shown equal the reference model's; a screenshot is saved to ``out/artefacts``.

Oracle status: a house fed by an oracle adapter whose primary goes stale (the fallback takes
over), then both sources break (the feed is frozen), then the primary recovers reading by reading
(F-02); after each poke the index is synced and the page reloaded: the indexed ``Poked`` event
and the page show the source the adapter trusts, its status, the recovery count, the core's last
accepted price and its age, equal to the reference adapter's record and the chain's state."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from integrator_scenario import scenario_on
from test_protocol_harness import Differential

from contracts_py.chain_house import mint_test_tokens
from contracts_py.chains import make_chain
from contracts_py.client import NovationClient
from contracts_py.deploy import deploy_system
from contracts_py.indexer import INDEX_FORMAT, Indexer
from contracts_py.oracle_deploy import deploy_oracle_adapter, oracle_artifacts
from contracts_py.oracle_replay import ChainFeedReplay
from novation.monitor import TRUSTED_SOURCE, page_data
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.oracle.machine import Status
from protocol.oracle.oracle_adapter import FeedSpec, SourceKind, SourceSpec
from protocol.scenarios import BTC_FEED, default_params

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTEFACTS = REPO / "out" / "artefacts"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Differential, Path]]:
    with scenario_on("eth-tester") as (d, _traders):
        db = tmp_path_factory.mktemp("monitor") / "index.sqlite"
        client = NovationClient(d.chain_system.chain.w3, d.core.address)  # type: ignore[attr-defined]
        indexer = Indexer(client, db, confirmations=0, snapshot_every=1)
        indexer.sync()
        indexer.close()
        yield d, db


@pytest.fixture(autouse=True)
def isolate() -> None:
    """The scenario's chain is read only here."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _served(db: Path) -> Iterator[Any]:
    """``novation monitor --db db`` in its own process, and a chromium page (Playwright) on it."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: make test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "novation", "monitor", "--db", str(db), "--port", str(port)],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "healthz", timeout=1).read()
                break
            except OSError:
                assert server.poll() is None, "the monitor exited"
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(url)
            yield page
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_monitor_page_shows_the_models_numbers(indexed: tuple[Differential, Path]) -> None:
    d, db = indexed
    with _served(db) as page:
        model = d.model
        assert int(page.get_attribute("#insurance-fund", "data-wad") or -1) == model.state.insurance_fund
        for m, ms in model.state.markets.items():
            if ms.oi_long:
                assert int(page.get_attribute(f"#market-{m} .oi", "data-wad") or -1) == ms.oi_long
        rows = page.query_selector_all("#closest tr.account")
        assert rows
        for row in rows:
            address = row.get_attribute("data-address")
            h = model.health(str(address))
            assert int(row.query_selector(".equity").get_attribute("data-wad")) == h.equity  # type: ignore[union-attr]
            ratio = int(row.query_selector(".ratio").get_attribute("data-wad"))  # type: ignore[union-attr]
            assert ratio == h.equity * WAD // h.maintenance
        assert page.query_selector_all("#recent tr.event"), "the scenario's liquidation is listed"
        for f, fs in model.state.feeds.items():
            assert int(page.get_attribute(f"#feed-{f} .price", "data-wad") or -1) == fs.price_wad
            assert page.inner_text(f"#feed-{f} .status") == "trusted"
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "monitor.png"), full_page=True)
    assert (ARTEFACTS / "monitor.png").stat().st_size > 1_000


HEARTBEAT_S = 3_600
BTC_8DEC = 60_000 * 10**8


def test_monitor_page_follows_the_oracle_adapter_through_fallback_freeze_and_recovery(tmp_path: Path) -> None:
    chain = make_chain("eth-tester")
    try:
        gov, oracle = chain.accounts[:2]
        system = deploy_system(chain, default_params(), gov, oracles=[oracle])
        arts = oracle_artifacts()
        primary, fallback = (chain.deploy(arts.aggregator, 8, f"BTC {which}") for which in ("primary", "fallback"))
        spec = FeedSpec(
            SourceSpec(SourceKind.CHAINLINK, primary.address, heartbeat_s=HEARTBEAT_S),
            SourceSpec(SourceKind.CHAINLINK, fallback.address, heartbeat_s=HEARTBEAT_S),
            recovery_readings=3,
        )
        adapter = deploy_oracle_adapter(chain, system.core.address, {BTC_FEED: spec}, artifacts=arts)
        chain.transact(system.core, "set_role", "oracle", adapter.address, True, sender=gov)
        feed = ChainFeedReplay(chain, adapter, BTC_FEED, spec, primary, fallback)  # checks every poke
        client = NovationClient(chain.w3, system.core.address)  # type: ignore[attr-defined]
        db = tmp_path / "index.sqlite"
        indexer = Indexer(client, db, adapters=[adapter.address], confirmations=0)
        indexer.sync()
        t = chain.timestamp() + 10

        def publish(source: Any, answer: int, at: int) -> None:
            chain.set_next_timestamp(at)
            chain.transact(source, "push_answer", answer, at)

        seen: list[tuple[str, str, str]] = []
        with _served(db) as page:

            def poke_and_check(at: int) -> None:
                record, _ = feed.poke(at)
                indexer.sync()
                head = client.block_number()
                (poked,) = [
                    json.loads(f)
                    for (f,) in sqlite3.connect(db).execute(
                        "SELECT fields FROM events WHERE kind = 'Poked' AND address = ? AND block = ?",
                        (adapter.address, head),
                    )
                ]
                assert (int(poked["status"]), int(poked["source"])) == (record.status, record.source)
                assert (int(poked["primary_agreeing"]), int(poked["fallback_agreeing"])) == (
                    record.tracks[0][2],
                    record.tracks[1][2],
                )
                page.reload()
                status = list(Status)[record.status]
                core = client.feed(BTC_FEED)
                row = f"#feed-{BTC_FEED}"
                state = page.inner_text(f"{row} .status")
                assert state == TRUSTED_SOURCE[record.source]
                assert page.get_attribute(f"{row} .status", "data-trusted") == str(int(core.valid))
                assert page.inner_text(f"{row} .adapter-status") == status.value
                recovery = page.inner_text(f"{row} .recovery")
                if status is Status.BOTH_UNTRUSTED:
                    (_, _, p), (_, _, fb) = record.tracks
                    assert recovery == f"primary {p}/3, fallback {fb}/3"
                else:
                    assert recovery == "-"
                assert int(page.get_attribute(f"{row} .price", "data-wad") or -1) == core.price_wad
                age = chain.timestamp() - core.updated_at_s
                assert int(page.get_attribute(f"{row} .age", "data-seconds") or -1) == age
                seen.append((state, status.value, recovery))

            publish(primary, BTC_8DEC, t)
            publish(fallback, BTC_8DEC, t + 1)
            poke_and_check(t + 2)  # both fresh: the primary is trusted
            t += HEARTBEAT_S + 100
            publish(fallback, BTC_8DEC + 10**8, t)
            poke_and_check(t + 1)  # the primary is stale: the fallback takes over
            for source in (primary, fallback):
                chain.transact(source, "set_reverting", True)
            poke_and_check(t + 10)  # both broken: frozen at the last good price
            chain.transact(primary, "set_reverting", False)
            for k in range(3):  # the primary recovers reading by reading, the fallback stays broken
                t += 60
                publish(primary, BTC_8DEC + k * 10**8, t)
                poke_and_check(t + 1)
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / "monitor_oracle.png"), full_page=True)
        indexer.close()
        assert [s[:2] for s in seen] == [
            ("primary", "primary_working"),
            ("fallback", "using_fallback_primary_frozen"),
            ("frozen", "both_untrusted"),
            ("frozen", "both_untrusted"),
            ("frozen", "both_untrusted"),
            ("primary", "using_primary_fallback_untrusted"),
        ]
        assert [s[2] for s in seen[2:5]] == [f"primary {k}/3, fallback 0/3" for k in range(3)]
    finally:
        chain.close()


FORMAT_0 = """
CREATE TABLE events (block INTEGER NOT NULL, tx_index INTEGER NOT NULL, log_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL, block_hash TEXT NOT NULL, kind TEXT NOT NULL, fields TEXT NOT NULL,
    PRIMARY KEY (block, tx_index, log_index));
CREATE TABLE blocks (block INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE accounts (address TEXT PRIMARY KEY, first_block INTEGER NOT NULL);
CREATE TABLE snapshots (block INTEGER NOT NULL, address TEXT NOT NULL, balance TEXT NOT NULL,
    collateral TEXT NOT NULL, positions TEXT NOT NULL, equity TEXT NOT NULL, maintenance TEXT NOT NULL,
    liquidatable INTEGER NOT NULL, insurance_fund TEXT NOT NULL, PRIMARY KEY (block, address));
CREATE TABLE cursor (id INTEGER PRIMARY KEY CHECK (id = 0), house TEXT NOT NULL, chain_id INTEGER NOT NULL,
    block INTEGER NOT NULL);
"""


def test_an_old_index_is_migrated_keeps_unknown_events_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    chain = make_chain("eth-tester")
    try:
        system = deploy_system(chain, default_params(), chain.accounts[0])
        client = NovationClient(chain.w3, system.core.address)  # type: ignore[attr-defined]
        old = tmp_path / "old.sqlite"
        with sqlite3.connect(old) as con:
            con.executescript(FORMAT_0)
            con.execute("INSERT INTO cursor VALUES (0, ?, ?, 0)", (client.house, client.chain_id))
            genesis = client.block_hashes([0])[0]
            con.execute("INSERT INTO events VALUES (0, 0, 0, '0x', ?, 'PausedSet', '{}')", (genesis,))
            con.execute("INSERT INTO blocks VALUES (0, ?)", (genesis,))
        assert page_data(old)["now_s"] is None  # the monitor reads a format-0 index as it is
        token = system.token(0).address  # followed as an adapter: its events are unknown to the adapter ABI
        indexer = Indexer(client, old, adapters=[token], confirmations=0)
        mint_test_tokens(system, chain.accounts[5:6], asset_ids=[0])
        indexer.sync()
        indexer.close()
        with sqlite3.connect(old) as con:
            assert con.execute("PRAGMA user_version").fetchone()[0] == INDEX_FORMAT == 1
            assert con.execute("SELECT address FROM events WHERE block = 0").fetchone()[0] == client.house
            head, ts = con.execute("SELECT block, timestamp FROM blocks ORDER BY block DESC").fetchone()
            assert (head, ts) == (chain.block_number(), chain.timestamp())
            assert con.execute("SELECT timestamp FROM blocks WHERE block = 0").fetchone()[0] == 0  # unknown
            unknown = con.execute("SELECT kind, fields FROM events WHERE address = ?", (token,)).fetchall()
            assert unknown
            assert {kind for kind, _ in unknown} == {"unknown"}  # kept, not a crash
            con.execute("PRAGMA user_version = 2")
        with pytest.raises(InvalidParameter, match="newer than this novation's 1: upgrade novation"):
            Indexer(client, old)
    finally:
        chain.close()
