"""The integrator CLI against anvil as a user runs it, each command in its own process:
``novation deploy`` writes the manifest, the scripted scenario (``integrator_scenario.py``) runs
on that deployment beside the reference model, then ``state``, ``events``, ``at-risk`` (event
scan and ``--db``) and ``index`` print the model's numbers, to the wei in their ``--json`` forms."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from integrator_scenario import attach_manifest, run_scenario
from test_protocol_harness import Differential

from contracts_py.at_risk import closest_to_liquidation
from contracts_py.chains import AnvilChain, make_chain
from contracts_py.client import AccountHealth, NovationClient
from contracts_py.indexer import Indexer, indexed_accounts
from contracts_py.manifest import load_manifest
from novation.cli.chain import _health_json, _plain, _usd
from protocol import events as ev
from protocol.errors import InvalidParameter

REPO = Path(__file__).resolve().parents[2]
PARAMS = REPO / "protocol" / "examples" / "default.toml"


def _cli(*args: str | Path) -> str:
    """Run ``python -m novation ARGS`` as a user would; its standard output."""
    proc = subprocess.run(
        [sys.executable, "-m", "novation", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="250"),
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def _json(value: Any) -> Any:
    """``value`` as the CLI prints it in ``--json`` (exact integers; big ones as strings)."""
    return json.loads(json.dumps(_plain(value)))


@dataclass
class Deployed:
    """The CLI's deployment after the scenario: the model beside it, the manifest, the house
    events the model emitted (from ``first_block`` on) and the traders."""

    d: Differential
    url: str
    manifest: Path
    first_block: int
    events: list[ev.Event]
    traders: list[str]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    out = tmp_path_factory.mktemp("cli_anvil")
    with make_chain("anvil") as chain:
        assert isinstance(chain, AnvilChain)
        manifest = out / "deployment.json"
        printed = _cli("deploy", "--rpc", chain.url, "--params", PARAMS, "--out", manifest)
        m = load_manifest(manifest)
        assert f"clearing house {m.house}, lens {m.lens}" in printed
        d = attach_manifest(chain, m)
        d.reset()
        first = chain.block_number() + 1
        seen: list[ev.Event] = []
        plain_apply = d.apply

        def recording(action: Any, **kw: Any) -> Any:
            got = plain_apply(action, **kw)
            if isinstance(got, list):
                seen.extend(e for e in got if not isinstance(e, ev.TimeAdvanced))
            return got

        d.apply = recording  # type: ignore[method-assign]
        traders = run_scenario(d)
        yield Deployed(d, chain.url, manifest, first, seen, traders)


@pytest.fixture(autouse=True)
def isolate() -> None:
    """The deployment is only read here (overrides tests/chain's snapshot isolation)."""


def _model_health(d: Differential, account: str) -> AccountHealth:
    return AccountHealth(account, d.model.health(account), d.model.liquidation_health(account))


def _at_risk_model(d: Differential, top: int) -> list[dict[str, Any]]:
    """What ``at-risk --json`` must print: accounts with positions, liquidatable first, then by
    margin ratio, by the model."""
    ranked = [_model_health(d, a) for a, acct in d.model.state.accounts.items() if acct.positions]
    ranked.sort(key=lambda h: (not h.liquidatable, h.margin_ratio_wad))
    return [_health_json(h) for h in ranked[:top]]


def test_state_prints_the_model(deployed: Deployed) -> None:
    d, model = deployed.d, deployed.d.model.state
    accounts = [x for a in deployed.traders for x in ("--account", a)]
    got = json.loads(_cli("state", "--rpc", deployed.url, "--manifest", deployed.manifest, *accounts, "--json"))
    assert got["timestamp_s"] == model.now_s
    assert got["paused"] is model.paused
    assert int(got["insurance_fund_wad"]) == model.insurance_fund
    assert got["reduce_only_markets"] == []
    symbols = {m.market_id: m.symbol for m in d.params.markets}
    assert got["markets"] == {str(m): {"symbol": symbols[m], **_json(s)} for m, s in model.markets.items()}
    feed_symbols = {f.feed_id: f.symbol for f in d.params.feeds}
    assert got["feeds"] == {str(f): {"symbol": feed_symbols[f], **_json(s)} for f, s in model.feeds.items()}
    for a in deployed.traders:
        want = copy.deepcopy(model.accounts[a])
        want.collateral = {k: v for k, v in want.collateral.items() if v}
        assert got["accounts"][a] == _json(want), a
        assert got["health"][a] == _json(_health_json(_model_health(d, a))), a
    # the same block for people: the header's insurance fund and one line per account
    table = _cli("state", "--rpc", deployed.url, "--manifest", deployed.manifest, *accounts, "--block", got["block"])
    assert f"insurance fund {_usd(model.insurance_fund)} USD" in table
    for a in deployed.traders:
        h = _model_health(d, a)
        assert f"account {a}:" in table
        assert f"equity {_usd(h.equity)}, initial {_usd(h.initial)}, maintenance {_usd(h.maintenance)}" in table


def test_events_print_the_model_events(deployed: Deployed) -> None:
    house = load_manifest(deployed.manifest).house
    got = json.loads(
        _cli("events", "--rpc", deployed.url, "--house", house, "--from-block", deployed.first_block, "--json")
    )
    assert [(e["kind"], e["fields"]) for e in got] == [(type(e).__name__, _json(asdict(e))) for e in deployed.events]
    keys = [(e["block"], e["tx_index"], e["log_index"]) for e in got]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    # for people, one kind: the liquidation's row, nothing else
    (liquidation,) = [
        (str(e["block"]), str(e["tx_index"]), str(e["log_index"])) for e in got if e["kind"] == "Liquidated"
    ]
    table = _cli("events", "--rpc", deployed.url, "--house", house, "--kind", "Liquidated")
    rows = [tuple(line.split()[1:8:2]) for line in table.splitlines() if line.split()[1:2] != ["block"]]
    assert [r for r in rows if len(r) == 4 and r[0].isdigit()] == [(*liquidation, "Liquidated")]


def test_at_risk_ranks_as_the_model(deployed: Deployed) -> None:
    want = _at_risk_model(deployed.d, 3)
    assert len(want) == 3
    got = json.loads(_cli("at-risk", "--rpc", deployed.url, "--manifest", deployed.manifest, "--top", 3, "--json"))
    assert got == _json(want)
    table = _cli("at-risk", "--rpc", deployed.url, "--manifest", deployed.manifest, "--top", 3)
    rows = [line.split()[1] for line in table.splitlines() if "0x" in line]
    assert rows == [h["account"] for h in want]


def test_index_then_at_risk_from_the_db(deployed: Deployed, tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    printed = _cli(
        "index",
        "--rpc",
        deployed.url,
        "--manifest",
        deployed.manifest,
        "--db",
        db,
        "--confirmations",
        0,
        "--snapshot-every",
        5,
        "--parquet",
        tmp_path,
    )
    start = load_manifest(deployed.manifest).start_block
    with sqlite3.connect(db) as conn:
        head = conn.execute("SELECT block FROM cursor").fetchone()[0]
        rows = conn.execute(
            "SELECT kind, fields FROM events WHERE block >= ? ORDER BY block, tx_index, log_index",
            (deployed.first_block,),
        ).fetchall()
        total = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        accounts = {r[0] for r in conn.execute("SELECT address FROM accounts")}
        snapshots = conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
    assert f"indexed blocks {start}..{head}: {total} events, 0 reorgs undone" in printed
    assert [(k, json.loads(f)) for k, f in rows] == [
        (
            type(e).__name__,
            {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in _json(asdict(e)).items()},
        )
        for e in deployed.events
    ]
    assert set(deployed.traders) <= accounts
    assert snapshots > 0
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == sorted(
        f"{t}.parquet" for t in ("events", "blocks", "accounts", "snapshots", "cursor", "adapters")
    )
    # at-risk reads its accounts from the index: the same ranking as the event scan
    want = _json(_at_risk_model(deployed.d, 3))
    at_risk = ("at-risk", "--rpc", deployed.url, "--manifest", deployed.manifest, "--top", 3, "--json")
    assert json.loads(_cli(*at_risk, "--db", db)) == want


def test_at_risk_completes_a_lagging_index_with_later_events(deployed: Deployed, tmp_path: Path) -> None:
    client = NovationClient(deployed.url, load_manifest(deployed.manifest).house)
    liquidated = client.events(deployed.first_block, kinds=["Liquidated"])[0].block
    lagging = Indexer(client, tmp_path / "lagging.sqlite", confirmations=0)
    lagging.sync(until=deployed.first_block)  # before any trader's first event
    lagging.close()
    index = indexed_accounts(tmp_path / "lagging.sqlite")
    assert index.cursor == deployed.first_block
    assert not set(deployed.traders) & set(index.up_to(index.cursor))
    for at in (liquidated - 1, liquidated, None):
        scanned = closest_to_liquidation(client, top=10, block=at)
        assert closest_to_liquidation(client, top=10, block=at, index=index) == scanned
        assert scanned
    other = dataclasses.replace(index, house="0x" + "22" * 20)
    with pytest.raises(InvalidParameter, match="give the --db of this deployment"):
        closest_to_liquidation(client, index=other)
