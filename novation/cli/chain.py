"""``novation deploy``, ``state``, ``events``, ``at-risk`` and ``index``: a live deployment over RPC.

Every command but ``deploy`` attaches with ``--rpc`` and ``--house`` (or ``--manifest``, whose chain
id must be the node's) and reads through :class:`contracts_py.client.NovationClient`; tables for
people by default, ``--json`` for machines (integers exact, as decimal strings where they exceed
JSON's safe range).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from novation.cli._common import app, fail
from protocol.constants import WAD
from protocol.errors import InvalidParameter, NovationError

if TYPE_CHECKING:
    from contracts_py.client import AccountHealth, NovationClient

Rpc = Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the node, e.g. http://127.0.0.1:8545")]
House = Annotated[str | None, typer.Option("--house", help="address of the clearing house")]
ManifestOpt = Annotated[
    Path | None, typer.Option("--manifest", help="deployment manifest (novation deploy --out); instead of --house")
]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable JSON instead of tables")]
Timeout = Annotated[float, typer.Option("--timeout", help="RPC timeout, seconds")]
_SAFE_INT = 2**53


def _attach(rpc: str, house: str | None, manifest: Path | None, timeout: float) -> NovationClient:
    from contracts_py.client import NovationClient

    if not timeout > 0:
        raise InvalidParameter(f"--timeout {timeout:g} must be a positive number of seconds")
    if (house is None) == (manifest is None):
        raise InvalidParameter("give the deployment as --house ADDRESS or as --manifest FILE (one of them)")
    if manifest is not None:
        return NovationClient.from_manifest(rpc, manifest, timeout_s=timeout)
    assert house is not None
    return NovationClient(rpc, house, timeout_s=timeout)


def _plain(value: Any) -> Any:
    """JSON-ready: big integers as decimal strings, bytes as hex, records as dicts."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if abs(value) < _SAFE_INT else str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    return str(value)


def _usd(wad: int) -> str:
    return f"{wad / WAD:,.2f}"


def _health_json(h: AccountHealth) -> dict[str, Any]:
    return {
        "account": h.account,
        "equity_wad": _plain(h.equity),
        "initial_wad": _plain(h.initial),
        "maintenance_wad": _plain(h.maintenance),
        "margin_ratio_wad": _plain(h.margin_ratio_wad),
        "liquidatable": h.liquidatable,
        "meets_initial": h.meets_initial,
    }


@app.command("deploy")
def deploy(
    rpc: Rpc,
    params: Annotated[Path, typer.Option("--params", help="parameter file (TOML), see protocol/examples")],
    out: Annotated[Path, typer.Option("--out", help="where to write the manifest, e.g. deployment.json")],
    governance: Annotated[
        str | None, typer.Option("--governance", help="governance address (default: the node's first account)")
    ] = None,
) -> None:
    """Deploy the protocol and its lens on a node with unlocked accounts (anvil) and write the manifest.

    The node's first account deploys and configures; it is also the matcher, oracle and funding
    operator (grant others with governance's SetRole later).
    """
    from contracts_py.chains import make_chain
    from contracts_py.deploy import deploy_system
    from contracts_py.manifest import manifest_of
    from protocol.actions import normalize_address
    from protocol.params import load_params

    console = Console(soft_wrap=True)
    try:
        if out.is_dir():
            raise InvalidParameter(f"--out {out} is a folder; give a file name, e.g. deployment.json")
        if not out.parent.is_dir():
            raise InvalidParameter(f"the folder of --out {out} does not exist; create it first")
        p = load_params(params)
        gov = None if governance is None else normalize_address(governance, "--governance")
        chain = make_chain("anvil", rpc_url=rpc)
        try:
            me = chain.accounts[0]
            system = deploy_system(chain, p, gov or me, matchers=[me], oracles=[me], funding_operators=[me])
            manifest = manifest_of(system, p)
            manifest.write(out)
        finally:
            chain.close()
    except NovationError as exc:
        fail(exc)
    console.print(f"deployed on chain {manifest.chain_id}: clearing house {manifest.house}, lens {manifest.lens}")
    console.print(f"manifest written to {out}")


@app.command("state")
def state(
    rpc: Rpc,
    house: House = None,
    manifest: ManifestOpt = None,
    account: Annotated[list[str] | None, typer.Option("--account", help="an account to show (repeatable)")] = None,
    block: Annotated[int | None, typer.Option("--block", help="read at this block (default: latest)", min=0)] = None,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """Markets, feeds, the insurance fund and flags of a live deployment; accounts and health with --account."""
    try:
        client = _attach(rpc, house, manifest, timeout)
        at = client.block_number() if block is None else block
        snap = client.snapshot(account or (), block=at)
        reduce_only = client.reduce_only_markets(block=at)
        from contracts_py.client import health_of

        healths = health_of(snap, [a.lower() for a in account or ()])
    except NovationError as exc:
        fail(exc)
    st, params = snap.state, snap.params
    if as_json:
        doc = {
            "chain_id": client.chain_id,
            "house": client.house,
            "block": snap.block,
            "timestamp_s": snap.timestamp_s,
            "paused": st.paused,
            "insurance_fund_wad": _plain(st.insurance_fund),
            "reduce_only_markets": reduce_only,
            "markets": {m.market_id: {"symbol": m.symbol, **_plain(st.markets[m.market_id])} for m in params.markets},
            "feeds": {f.feed_id: {"symbol": f.symbol, **_plain(st.feeds[f.feed_id])} for f in params.feeds},
            "accounts": {a: _plain(acct) for a, acct in st.accounts.items()},
            "health": {a: _health_json(h) for a, h in healths.items()},
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    console = Console(soft_wrap=True)
    console.print(
        f"chain {client.chain_id}, house {client.house}, block {snap.block} (t = {snap.timestamp_s}); "
        f"paused: {st.paused}; insurance fund {_usd(st.insurance_fund)} USD"
    )
    markets = Table("market", "symbol", "price", "funding rate /s", "OI long", "OI short", "reduce-only")
    for m in params.markets:
        ms, feed = st.markets[m.market_id], st.feeds[m.feed_id]
        markets.add_row(
            str(m.market_id),
            m.symbol,
            _usd(feed.price_wad),
            f"{ms.funding_rate_per_s_wad / WAD:.3e}",
            f"{ms.oi_long / WAD:,.4f}",
            f"{ms.oi_short / WAD:,.4f}",
            "yes" if m.market_id in reduce_only else "no",
        )
    console.print(markets)
    for a, h in healths.items():
        acct = st.accounts.get(a)
        console.print(
            f"account {a}: balance {_usd(acct.balance if acct else 0)} USD, "
            f"positions { ({m: p.size / WAD for m, p in acct.positions.items()} if acct else {}) }, "
            f"equity {_usd(h.equity)}, initial {_usd(h.initial)}, maintenance {_usd(h.maintenance)}, "
            f"liquidatable: {h.liquidatable}, meets initial: {h.meets_initial}"
        )


@app.command("events")
def events(
    rpc: Rpc,
    house: House = None,
    manifest: ManifestOpt = None,
    from_block: Annotated[int, typer.Option("--from-block", help="first block", min=0)] = 0,
    to_block: Annotated[int | None, typer.Option("--to-block", help="last block (default: head)", min=0)] = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="event name, e.g. Liquidated (repeatable)")] = None,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """The house's events in chain order, paged by block range."""
    try:
        client = _attach(rpc, house, manifest, timeout)
        found = client.events(from_block, to_block, kinds=kind)
    except NovationError as exc:
        fail(exc)
    if as_json:
        rows = [
            {"block": e.block, "tx_index": e.tx_index, "log_index": e.log_index, "tx_hash": e.tx_hash, "kind": e.kind}
            | {"fields": _plain(e.fields())}
            for e in found
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("block", "tx", "log", "event", "fields")
    for e in found:
        table.add_row(str(e.block), str(e.tx_index), str(e.log_index), e.kind, json.dumps(_plain(e.fields())))
    Console(soft_wrap=True).print(table)


@app.command("at-risk")
def at_risk(
    rpc: Rpc,
    house: House = None,
    manifest: ManifestOpt = None,
    top: Annotated[int, typer.Option("--top", help="how many accounts to list", min=1)] = 20,
    from_block: Annotated[int, typer.Option("--from-block", help="find accounts in events from here", min=0)] = 0,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="take the accounts from this index (novation index --db) instead of all events"),
    ] = None,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """The accounts closest to liquidation: screened by the margin core over lens-read state,
    each decision confirmed exactly by the reference model.

    Accounts are found in the house's events, or with --db in the indexer's database plus the
    events after its last indexed block."""
    from contracts_py.at_risk import closest_to_liquidation
    from contracts_py.indexer import indexed_accounts

    try:
        index = None if db is None else indexed_accounts(db)
        client = _attach(rpc, house, manifest, timeout)
        ranked = closest_to_liquidation(client, top=top, from_block=from_block, index=index)
    except NovationError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps([_health_json(h) for h in ranked], indent=2))
        return
    table = Table("account", "equity", "maintenance", "margin ratio", "liquidatable")
    for h in ranked:
        ratio = "-" if h.margin_ratio_wad is None else f"{h.margin_ratio_wad / WAD:.4f}"
        table.add_row(h.account, _usd(h.equity), _usd(h.maintenance), ratio, "YES" if h.liquidatable else "no")
    Console(soft_wrap=True).print(table)


@app.command("index")
def index(
    rpc: Rpc,
    db: Annotated[Path, typer.Option("--db", help="SQLite file of the index (created on first run)")],
    house: House = None,
    manifest: ManifestOpt = None,
    confirmations: Annotated[
        int, typer.Option("--confirmations", help="reorganisation depth undone (deeper is an error)", min=0)
    ] = 12,
    snapshot_every: Annotated[
        int, typer.Option("--snapshot-every", help="snapshot the accounts every N blocks (0: never)", min=0)
    ] = 0,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="also export every table to this folder")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="keep following the chain (Ctrl-C stops)")] = False,
    adapter: Annotated[
        list[str] | None,
        typer.Option("--adapter", help="also index this oracle adapter's events (oracle status; repeatable)"),
    ] = None,
    timeout: Timeout = 30.0,
) -> None:
    """Index the house's events (and its oracle adapters'), accounts and account snapshots into
    SQLite (resumable, reorg-safe)."""
    from contracts_py.indexer import Indexer, export_parquet
    from protocol.actions import normalize_address

    try:
        adapters = [normalize_address(a, "--adapter") for a in adapter or ()]
        if parquet is not None and not parquet.is_dir():
            raise InvalidParameter(f"--parquet {parquet} is not a folder; create it first")
        client = _attach(rpc, house, manifest, timeout)
        start = 0
        if manifest is not None:
            from contracts_py.manifest import load_manifest

            start = load_manifest(manifest).start_block
        indexer = Indexer(
            client,
            db,
            start_block=start,
            adapters=adapters,
            confirmations=confirmations,
            snapshot_every=snapshot_every,
        )
        try:
            if follow:
                indexer.follow()
            stats = indexer.sync()
        finally:
            indexer.close()
        written = export_parquet(db, parquet) if parquet is not None else []
    except NovationError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise typer.Exit(code=0) from None
    console = Console(soft_wrap=True)
    console.print(
        f"indexed blocks {stats.from_block}..{stats.to_block}: {stats.events} events, {stats.reorgs} reorgs undone"
    )
    for p in written:
        console.print(f"wrote {p}")
