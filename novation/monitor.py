"""The risk monitor: a read-only page over an indexer's SQLite database (``novation monitor``).

Server-rendered HTML (Starlette, served by uvicorn on 127.0.0.1) that reloads itself every
``refresh_s`` seconds. It shows, from what :class:`contracts_py.indexer.Indexer` stored:

* the insurance fund over time (``InsuranceFundChanged`` events) as a table and a sparkline;
* open interest per market (summed from the latest account snapshot) and the last funding rate;
* the accounts closest to liquidation in the latest snapshot, by margin ratio (equity over
  maintenance, exact integers from the snapshot, floored);
* recent liquidations, collateral sales, deleveragings and socialized losses;
* oracle status per feed: trusted while its last reading was accepted, untrusted after a
  rejection, with the last price and the age of the last update (in blocks and seconds before
  the newest observation indexed).

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

__all__ = ["REQUIRED_TABLES", "check_database", "create_app", "render_page"]

#: Tables of an indexer's database (contracts_py/indexer.py).
REQUIRED_TABLES: Final = frozenset({"events", "blocks", "accounts", "snapshots", "cursor"})
LIQUIDATION_KINDS: Final = ("Liquidated", "CollateralLiquidated", "Deleveraged", "LossSocialized", "BadDebtSettled")


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
        oracle: dict[int, dict[str, Any]] = {}
        newest = 0
        for ev in reversed(_events(con, ("PriceAccepted", "PriceRejected"))):
            f = int(ev["feed_id"])
            newest = max(newest, int(ev["timestamp_s"]))
            entry = oracle.setdefault(f, {"price": 0, "timestamp": 0, "block": 0})
            if ev["kind"] == "PriceAccepted" and int(ev["price_wad"]) > 0:
                entry.update(
                    status="trusted", price=int(ev["price_wad"]), timestamp=int(ev["timestamp_s"]), block=ev["block"]
                )
            else:
                entry.update(status="untrusted", reason=ev.get("reason", "zero price"))
        for entry in oracle.values():
            entry["age_s"] = newest - entry["timestamp"]
            entry["age_blocks"] = cursor - entry["block"]
        return {
            "house": house,
            "chain_id": chain_id,
            "block": cursor,
            "snapshot_block": snap_block,
            "insurance_fund": int(fund[-1]["balance_wad"]) if fund else 0,
            "fund_history": [(e["block"], int(e["balance_wad"])) for e in fund],
            "open_interest": dict(sorted(oi.items())),
            "funding": funding,
            "closest": accounts[:top],
            "recent": _events(con, LIQUIDATION_KINDS, 20),
            "oracle": dict(sorted(oracle.items())),
        }


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
        f'<tr id="feed-{f}"><td>{f}</td><td class="status">{e(o.get("status", "?"))}</td>'
        f'<td class="num price" data-wad="{o["price"]}">{fmt_wad(o["price"])}</td>'
        f'<td class="num">{o["age_blocks"]} blocks / {o["age_s"]} s</td></tr>'
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
<table id="oracles"><tr><th>feed</th><th>status</th><th>last price (USD)</th><th>last update age</th></tr>
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
