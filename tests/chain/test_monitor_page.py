"""The risk monitor in a real browser (issue 18): an indexer database filled from the integrator
scenario (fills, funding, a price drop, a liquidation) on eth-tester, served by ``novation
monitor`` in its own process, loaded in Debian's headless chromium through Playwright; the
numbers shown equal the reference model's; a screenshot is saved to ``out/artefacts``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from integrator_scenario import run_scenario
from test_protocol_harness import Differential

from contracts_py.chains import make_chain
from contracts_py.client import NovationClient
from contracts_py.indexer import Indexer
from protocol.constants import WAD

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
    chain = make_chain("eth-tester")
    d = Differential.on_chain(chain)
    d.reset()
    run_scenario(d)
    db = tmp_path_factory.mktemp("monitor") / "index.sqlite"
    client = NovationClient(chain.w3, d.core.address)  # type: ignore[attr-defined]
    indexer = Indexer(client, db, confirmations=0, snapshot_every=1)
    indexer.sync()
    indexer.close()
    yield d, db
    chain.close()


@pytest.fixture(autouse=True)
def isolate() -> None:
    """The scenario's chain is read only here."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_monitor_page_shows_the_models_numbers(indexed: tuple[Differential, Path]) -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: make test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    d, db = indexed
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
            browser.close()
        assert (ARTEFACTS / "monitor.png").stat().st_size > 1_000
    finally:
        server.terminate()
        server.wait(timeout=30)
