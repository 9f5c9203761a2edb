"""The risk monitor: a read-only page over an indexer's SQLite database (``novation monitor``).

Server-rendered HTML (Starlette, served by uvicorn on 127.0.0.1) that reloads itself every
``refresh_s`` seconds. It shows, from what :class:`contracts_py.indexer.Indexer` stored:

* the insurance fund over time (``InsuranceFundChanged`` events) as a table and a sparkline;
* open interest per market (summed from the latest account snapshot) and the last funding rate;
* the accounts closest to liquidation in the latest snapshot, by margin ratio (equity over
  maintenance, exact integers from the snapshot, floored);
* recent liquidations, collateral sales, deleveragings and socialized losses;
* oracle status per feed: for a feed an indexed oracle adapter pokes, the source it trusts
  (``primary``, ``fallback``, or ``frozen`` when it trusts neither and the core holds the last
  good price untrusted), its Liquity status and, while both sources are untrusted, the recovery
  count (F-02); for a feed without one, ``trusted`` while its last reading was accepted and
  ``untrusted`` after a rejection; the last accepted price and its age (blocks and seconds
  before the time of the last block indexed).

The database is opened read-only (``mode=ro``) for every request. Exact values are in
``data-wad`` attributes (USD or size WAD as decimal integers) beside the rounded display.
"""

from __future__ import annotations

import html
import json
import sqlite3
from pathlib import Path
from typing import Any, Final

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.oracle.machine import Status

__all__ = ["REQUIRED_TABLES", "check_database", "create_app", "render_page"]

#: Tables of an indexer's database (contracts_py/indexer.py).
REQUIRED_TABLES: Final = frozenset({"events", "blocks", "accounts", "snapshots", "cursor"})
LIQUIDATION_KINDS: Final = ("Liquidated", "CollateralLiquidated", "Deleveraged", "LossSocialized", "BadDebtSettled")
#: The oracle adapter's status codes (``contracts/oracle/machine.vy``), in code order.
ADAPTER_STATUSES: Final = tuple(Status)
#: What a feed's state reads by the source the adapter trusted at its last poke (0: none).
TRUSTED_SOURCE: Final = ("frozen", "primary", "fallback")


def _connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def check_database(db: str | Path) -> Path:
    """``db`` if it is an indexer's database; InvalidParameter (one sentence) otherwise."""
    path = Path(db)
    if not path.is_file():
        raise InvalidParameter(f"database {path} does not exist: create it with novation index --db {path}")
    try:
        with _connect(path) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        raise InvalidParameter(f"{path} is not an SQLite database: give the file novation index wrote") from None
    missing = sorted(REQUIRED_TABLES - tables)
    if missing:
        raise InvalidParameter(
            f"{path} is not a Novation indexer database (no {', '.join(missing)} tables): "
            "give the file novation index --db wrote"
        )
    return path


def fmt_wad(value: int, places: int = 2) -> str:
    """``value`` (WAD) as a decimal with ``places`` digits and thousands separators, rounded
    half away from zero, exact (integer arithmetic)."""
    sign = "-" if value < 0 else ""
    scale = 10**places
    q, r = divmod(abs(value) * scale, WAD)
    q += 2 * r >= WAD
    whole, frac = divmod(q, scale)
    return f"{sign}{whole:,}" + (f".{frac:0{places}d}" if places else "")


def _events(con: sqlite3.Connection, kinds: tuple[str, ...], limit: int | None = None) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(kinds))
    sql = f"SELECT block, tx_index, log_index, kind, fields FROM events WHERE kind IN ({marks}) "
    sql += "ORDER BY block DESC, tx_index DESC, log_index DESC" + (f" LIMIT {int(limit)}" if limit else "")
    rows = con.execute(sql, kinds).fetchall()
    return [{"block": b, "kind": k, **json.loads(f)} for b, _t, _l, k, f in rows]


def page_data(db: Path, *, top: int = 20) -> dict[str, Any]:
    """Everything the page shows, as exact integers (WAD) where they are amounts."""
    with _connect(db) as con:
        (house, chain_id, cursor) = con.execute("SELECT house, chain_id, block FROM cursor").fetchone() or ("?", 0, 0)
        fund = list(reversed(_events(con, ("InsuranceFundChanged",))))
        snap_block = con.execute("SELECT MAX(block) FROM snapshots").fetchone()[0]
        accounts: list[dict[str, Any]] = []
        oi: dict[int, int] = {}
        if snap_block is not None:
            for address, positions, equity, maintenance, liq in con.execute(
                "SELECT address, positions, equity, maintenance, liquidatable FROM snapshots WHERE block = ?",
                (snap_block,),
            ):
                pos = {int(m): [int(x) for x in v] for m, v in json.loads(positions).items()}
                for m, fields in pos.items():
                    oi[m] = oi.get(m, 0) + max(fields[0], 0)
                e, mm = int(equity), int(maintenance)
                if pos and mm > 0:
                    accounts.append(
                        {
                            "address": address,
                            "equity": e,
                            "maintenance": mm,
                            "ratio": e * WAD // mm,
                            "liquidatable": bool(liq),
                        }
                    )
        accounts.sort(key=lambda a: (not a["liquidatable"], a["ratio"], a["address"]))
        funding: dict[int, int] = {}
        for ev in reversed(_events(con, ("FundingRateSet",))):
            funding[int(ev["market_id"])] = int(ev["applied_per_s_wad"])
        now_s = _block_time(con, cursor)
        oracle = _oracle_status(con, cursor, now_s)
        return {
            "house": house,
            "chain_id": chain_id,
            "block": cursor,
            "now_s": now_s,
            "snapshot_block": snap_block,
            "insurance_fund": int(fund[-1]["balance_wad"]) if fund else 0,
            "fund_history": [(e["block"], int(e["balance_wad"])) for e in fund],
            "open_interest": dict(sorted(oi.items())),
            "funding": funding,
            "closest": accounts[:top],
            "recent": _events(con, LIQUIDATION_KINDS, 20),
            "oracle": dict(sorted(oracle.items())),
        }


def _block_time(con: sqlite3.Connection, block: int) -> int | None:
    """Timestamp (s) of ``block`` as indexed; None when unknown (indexed by an older indexer, or an
    index of format 0 not migrated yet: the monitor only reads)."""
    try:
        row = con.execute("SELECT timestamp FROM blocks WHERE block = ?", (block,)).fetchone()
    except sqlite3.OperationalError:  # format 0: no timestamp column
        return None
    return int(row[0]) if row and row[0] else None


def _oracle_status(con: sqlite3.Connection, cursor: int, now_s: int | None) -> dict[int, dict[str, Any]]:
    """Per feed: the last price the core accepted (WAD), its observation time and block, its age
    (seconds before the cursor block's time, None if unknown; blocks before the cursor); whether
    the core trusts the feed; and, for a feed an indexed oracle adapter pokes, the adapter's
    status after its last poke, the source it trusts (``state`` primary / fallback / frozen) and,
    while both sources are untrusted, each source's consecutive agreeing readings out of the
    count needed to recover (F-02)."""
    oracle: dict[int, dict[str, Any]] = {}
    for ev in reversed(_events(con, ("PriceAccepted", "PriceRejected"))):
        entry = oracle.setdefault(int(ev["feed_id"]), {"price": 0, "timestamp": 0, "block": 0})
        if ev["kind"] == "PriceAccepted" and int(ev["price_wad"]) > 0:
            entry.update(trusted=True, price=int(ev["price_wad"]), timestamp=int(ev["timestamp_s"]), block=ev["block"])
        else:
            entry.update(trusted=False, reason=ev.get("reason", "zero price"))
    for ev in reversed(_events(con, ("Poked",))):
        entry = oracle.setdefault(int(ev["feed_id"]), {"price": 0, "timestamp": 0, "block": 0, "trusted": False})
        status = int(ev["status"])
        entry.update(
            adapter_status=ADAPTER_STATUSES[status].value,
            state=TRUSTED_SOURCE[int(ev["source"])],
            recovery=(int(ev["primary_agreeing"]), int(ev["fallback_agreeing"]), int(ev["recovery_readings"]))
            if ADAPTER_STATUSES[status] is Status.BOTH_UNTRUSTED
            else None,
        )
    for entry in oracle.values():
        entry.setdefault("state", "trusted" if entry.get("trusted") else "untrusted")
        seen = entry["timestamp"] > 0
        entry["age_s"] = None if now_s is None or not seen else now_s - entry["timestamp"]
        entry["age_blocks"] = cursor - entry["block"] if seen else None
    return dict(sorted(oracle.items()))


def _sparkline(points: list[tuple[int, int]]) -> str:
    if len(points) < 2:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    w, h = 480, 80
    coords = " ".join(
        f"{(x - x0) * w / max(x1 - x0, 1):.1f},{h - (y - y0) * h / max(y1 - y0, 1):.1f}" for x, y in points
    )
    line = f'<polyline fill="none" stroke="#06c" points="{coords}"/>'
    return f'<svg width="{w}" height="{h}" role="img" aria-label="insurance fund">{line}</svg>'


def _recovery(counts: tuple[int, int, int] | None) -> str:
    if counts is None:
        return "-"
    primary, fallback, needed = counts
    return f"primary {primary}/{needed}, fallback {fallback}/{needed}"


def _age(value: int | None, unit: str) -> str:
    return "?" if value is None else f"{value} {unit}"


def render_page(db: Path, *, refresh_s: int = 5) -> str:
    """The page's HTML."""
    d = page_data(db)
    e = html.escape
    rows_fund = "".join(
        f'<tr><td>{b}</td><td class="num" data-wad="{v}">{fmt_wad(v)}</td></tr>' for b, v in d["fund_history"][-10:]
    )
    rows_markets = "".join(
        f'<tr id="market-{m}"><td>{m}</td><td class="num oi" data-wad="{v}">{fmt_wad(v, 4)}</td>'
        f'<td class="num funding" data-wad="{d["funding"].get(m, 0)}">{d["funding"].get(m, 0)}</td></tr>'
        for m, v in d["open_interest"].items()
    )
    rows_closest = "".join(
        f'<tr class="account{" liquidatable" if a["liquidatable"] else ""}" data-address="{e(a["address"])}">'
        f'<td>{e(a["address"])}</td><td class="num equity" data-wad="{a["equity"]}">{fmt_wad(a["equity"])}</td>'
        f'<td class="num maintenance" data-wad="{a["maintenance"]}">{fmt_wad(a["maintenance"])}</td>'
        f'<td class="num ratio" data-wad="{a["ratio"]}">{fmt_wad(a["ratio"], 4)}</td>'
        f"<td>{'yes' if a['liquidatable'] else 'no'}</td></tr>"
        for a in d["closest"]
    )
    rows_recent = "".join(
        f'<tr class="event"><td>{ev["block"]}</td><td>{e(ev["kind"])}</td><td>{e(str(ev.get("account", "")))}</td>'
        f'<td class="num">{fmt_wad(int(ev.get("notional_wad", ev.get("amount_wad", 0))))}</td></tr>'
        for ev in d["recent"]
    )
    rows_oracle = "".join(
        f'<tr id="feed-{f}"><td>{f}</td>'
        f'<td class="status" data-trusted="{int(bool(o.get("trusted")))}">{e(o["state"])}</td>'
        f'<td class="adapter-status">{e(o.get("adapter_status", "-"))}</td>'
        f'<td class="recovery">{_recovery(o.get("recovery"))}</td>'
        f'<td class="num price" data-wad="{o["price"]}">{fmt_wad(o["price"])}</td>'
        f'<td class="num age" data-seconds="{"" if o["age_s"] is None else o["age_s"]}">'
        f"{_age(o['age_blocks'], 'blocks')} / {_age(o['age_s'], 's')}</td></tr>"
        for f, o in d["oracle"].items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{int(refresh_s)}">
<title>Novation risk monitor</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border-bottom:1px solid #ddd;padding:2px 8px}}.num{{text-align:right;font-family:monospace}}
.liquidatable{{background:#fdd}}h2{{margin-bottom:.3em}}</style></head><body>
<h1>Novation risk monitor</h1>
<p>house {e(str(d["house"]))} on chain {d["chain_id"]}; indexed to block <span id="block">{d["block"]}</span>;
accounts as of block {d["snapshot_block"]}. Read-only; refreshes every {int(refresh_s)} s.</p>
<h2>Insurance fund</h2>
<p>USD <span id="insurance-fund" data-wad="{d["insurance_fund"]}">{fmt_wad(d["insurance_fund"])}</span></p>
{_sparkline(d["fund_history"])}
<table><tr><th>block</th><th>fund (USD)</th></tr>{rows_fund}</table>
<h2>Markets</h2>
<table id="markets"><tr><th>market</th><th>open interest (base)</th><th>funding rate (WAD/s)</th></tr>
{rows_markets}</table>
<h2>Closest to liquidation</h2>
<table id="closest"><tr><th>account</th><th>equity (USD)</th><th>maintenance (USD)</th><th>margin ratio</th>
<th>liquidatable</th></tr>{rows_closest}</table>
<h2>Recent liquidations and socialized losses</h2>
<table id="recent"><tr><th>block</th><th>kind</th><th>account</th><th>amount (USD or base)</th></tr>
{rows_recent}</table>
<h2>Oracles</h2>
<table id="oracles"><tr><th>feed</th><th>trusted source</th><th>adapter status</th>
<th>recovering (agreeing readings)</th><th>last accepted price (USD)</th><th>last update age</th></tr>
{rows_oracle}</table>
</body></html>"""


def create_app(db: str | Path, *, refresh_s: int = 5) -> Any:
    """The Starlette application serving the page at ``/`` (and ``/healthz``)."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, PlainTextResponse
    from starlette.routing import Route

    path = check_database(db)

    async def index(_request: Any) -> HTMLResponse:
        return HTMLResponse(render_page(path, refresh_s=refresh_s))

    async def healthz(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", index), Route("/healthz", healthz)])
