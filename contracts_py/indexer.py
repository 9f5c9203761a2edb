"""Follow a Novation deployment into SQLite: events, accounts, periodic account snapshots.

:class:`Indexer` reads the house's logs (every event of its merged ABI, so new events join by
themselves) in block ranges up to the head and writes, per range, in one SQLite transaction:

* ``events``   — one row per log: block, transaction index, log index (the primary key: every
  event exactly once), transaction hash, kind, the fields as JSON (integers as decimal strings)
  and the emitting contract's address: the house, or one of the oracle adapters followed;
* ``blocks``   — the hash and timestamp of every block that holds an event and of the last
  ``confirmations`` + 1 blocks of each range (the blocks a reorganisation may still replace; the
  cursor's block among them: the time the index is current to);
* ``adapters`` — the oracle adapters (``contracts/oracle/oracle_adapter.vy``) whose events are
  indexed beside the house's (``Poked`` carries each feed's status, trusted source and recovery
  count): given at construction, from the block they were added on;
* ``accounts`` — every address that appears in an event's account-like field, with its first block;
* ``snapshots``— every ``snapshot_every`` blocks, each known account's stored state (lens-read)
  and health at that block;
* ``cursor``   — the last block indexed.

Crash-safe: a range is committed with the cursor in the same transaction, so a process killed at
any moment restarts from the last committed cursor and re-reads the rest (the primary key keeps
every event once). Reorg-safe: before each sync the stored hashes of the last ``confirmations`` + 1
blocks under the cursor are compared with the chain's; on a mismatch the indexer rolls back to the
fork point (the highest block whose hash still matches), deletes everything above it and re-reads.
The file's layout has a format number (SQLite's ``user_version``, :data:`INDEX_FORMAT`); an index
of an older format is migrated in place when opened for writing (format 0 -> 1: the ``address``
column, block timestamps — 0, unknown, for blocks indexed before — and ``adapters``).

Blocks deeper than ``confirmations`` are final: a fork below them raises
:class:`~protocol.errors.ChainError`. A failed or
timed-out RPC call is retried ``retries`` times with a pause, then raises ChainError.

:func:`export_parquet` writes each table to ``<table>.parquet`` atomically;
:func:`indexed_accounts` reads the set of accounts back (read-only) for ``novation at-risk --db``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from contracts_py.client import ChainEvent, NovationClient, health_of
from protocol.actions import normalize_address
from protocol.errors import ChainError, InvalidParameter

__all__ = [
    "ACCOUNT_FIELDS",
    "DEFAULT_BATCH_BLOCKS",
    "INDEX_FORMAT",
    "TABLES",
    "IndexStats",
    "IndexedAccounts",
    "Indexer",
    "export_parquet",
    "indexed_accounts",
    "named_accounts",
]

#: Blocks per committed range.
DEFAULT_BATCH_BLOCKS: Final = 500
#: Tables of the index (in export order).
TABLES: Final = ("events", "blocks", "accounts", "snapshots", "cursor", "adapters")
#: Layout of the index file (SQLite ``user_version``); bump with a migration in ``_MIGRATIONS``.
INDEX_FORMAT: Final = 1
#: Event fields naming an account, or a list of accounts (``AdlProposed``'s counterparties).
ACCOUNT_FIELDS: Final = (
    "account",
    "maker",
    "taker",
    "keeper",
    "liquidator",
    "counterparty",
    "proposer",
    "counterparties",
)
_T = TypeVar("_T")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    block INTEGER NOT NULL, tx_index INTEGER NOT NULL, log_index INTEGER NOT NULL,
    tx_hash TEXT NOT NULL, block_hash TEXT NOT NULL, kind TEXT NOT NULL, fields TEXT NOT NULL,
    address TEXT NOT NULL, PRIMARY KEY (block, tx_index, log_index));
CREATE TABLE IF NOT EXISTS blocks (block INTEGER PRIMARY KEY, hash TEXT NOT NULL, timestamp INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS adapters (address TEXT PRIMARY KEY, first_block INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (address TEXT PRIMARY KEY, first_block INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    block INTEGER NOT NULL, address TEXT NOT NULL, balance TEXT NOT NULL, collateral TEXT NOT NULL,
    positions TEXT NOT NULL, equity TEXT NOT NULL, maintenance TEXT NOT NULL, liquidatable INTEGER NOT NULL,
    insurance_fund TEXT NOT NULL, PRIMARY KEY (block, address));
CREATE TABLE IF NOT EXISTS cursor (
    id INTEGER PRIMARY KEY CHECK (id = 0), house TEXT NOT NULL, chain_id INTEGER NOT NULL, block INTEGER NOT NULL);
"""
#: Migrations by the format they start from, each to the next.
_MIGRATIONS: Final = {
    0: """
ALTER TABLE events ADD COLUMN address TEXT NOT NULL DEFAULT '';
UPDATE events SET address = (SELECT house FROM cursor);
ALTER TABLE blocks ADD COLUMN timestamp INTEGER NOT NULL DEFAULT 0;
CREATE TABLE adapters (address TEXT PRIMARY KEY, first_block INTEGER NOT NULL);
""",
}


@dataclass(frozen=True)
class IndexStats:
    """What one :meth:`Indexer.sync` did: blocks covered, events written, reorgs undone."""

    from_block: int
    to_block: int
    events: int
    reorgs: int


@dataclass(frozen=True)
class IndexedAccounts:
    """The accounts an index holds: its house and chain, its cursor (last block indexed) and each
    account's first block (the block of the first event naming it)."""

    house: str
    chain_id: int
    cursor: int
    first_block: dict[str, int]

    def check_client(self, client: NovationClient) -> None:
        """InvalidParameter unless the index is of ``client``'s house and chain."""
        if (self.house, self.chain_id) != (client.house, client.chain_id):
            raise InvalidParameter(
                f"the index holds house {self.house} on chain {self.chain_id}, not {client.house} on chain "
                f"{client.chain_id}: give the --db of this deployment"
            )

    def up_to(self, block: int) -> list[str]:
        """The accounts first seen at or before ``block``, sorted."""
        return sorted(a for a, first in self.first_block.items() if first <= block)


def indexed_accounts(db: Path | str) -> IndexedAccounts:
    """The accounts of the index ``db`` written by :class:`Indexer` (opened read-only: nothing is
    created or changed); InvalidParameter when ``db`` is missing or not such an index."""
    path = Path(db)
    if path.is_dir():
        raise InvalidParameter(f"--db {path} is a folder; give the index file written by novation index --db")
    if not path.is_file():
        raise InvalidParameter(f"--db {path} does not exist; build it with novation index --db {path}, or omit --db")
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            house, chain_id, cursor = conn.execute("SELECT house, chain_id, block FROM cursor").fetchone()
            first = dict(conn.execute("SELECT address, first_block FROM accounts").fetchall())
    except (sqlite3.DatabaseError, TypeError):
        raise InvalidParameter(f"--db {path} is not an index written by novation index") from None
    return IndexedAccounts(str(house), int(chain_id), int(cursor), {str(a): int(b) for a, b in first.items()})


def named_accounts(fields: Mapping[str, Any]) -> list[str]:
    """The addresses an event's :data:`ACCOUNT_FIELDS` name (a list field contributes each entry)."""
    out: list[str] = []
    for name in ACCOUNT_FIELDS:
        value = fields.get(name)
        out += [a for a in (value if isinstance(value, tuple | list) else (value,)) if isinstance(a, str)]
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class Indexer:
    """Index ``client``'s house into the SQLite file ``db``.

    ``start_block`` is where a new index starts (a manifest's deployment block; default 0);
    ``adapters`` are oracle adapters pushing into the house whose events are indexed too (an
    adapter new to an existing index is followed from the cursor on);
    ``confirmations`` is the reorganisation depth undone (deeper is an error); every
    ``snapshot_every`` blocks (0: never) the known accounts are snapshotted.
    """

    def __init__(
        self,
        client: NovationClient,
        db: Path | str,
        *,
        start_block: int = 0,
        adapters: Iterable[str] = (),
        confirmations: int = 12,
        batch_blocks: int = DEFAULT_BATCH_BLOCKS,
        snapshot_every: int = 0,
        retries: int = 3,
        retry_pause_s: float = 0.2,
    ) -> None:
        for name, value, lo in (
            ("start_block", start_block, 0),
            ("confirmations", confirmations, 0),
            ("batch_blocks", batch_blocks, 1),
            ("snapshot_every", snapshot_every, 0),
            ("retries", retries, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise InvalidParameter(f"{name} must be an integer >= {lo}, got {value!r}")
        path = Path(db)
        if path.is_dir():
            raise InvalidParameter(f"--db {path} is a folder; give a file name, e.g. index.sqlite")
        if not path.parent.is_dir():
            raise InvalidParameter(f"the folder of --db {path} does not exist; create it first")
        self.client = client
        self.path = path
        self.confirmations = confirmations
        self.batch_blocks = batch_blocks
        self.snapshot_every = snapshot_every
        self.retries = retries
        self.retry_pause_s = retry_pause_s
        followed = [normalize_address(a, "adapter address") for a in adapters]
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self._upgrade()
        row = self.db.execute("SELECT house, chain_id FROM cursor").fetchone()
        if row is None:
            self.db.execute("INSERT INTO cursor VALUES (0, ?, ?, ?)", (client.house, client.chain_id, start_block - 1))
        elif (row[0], row[1]) != (client.house, client.chain_id):
            raise InvalidParameter(
                f"{path} indexes house {row[0]} on chain {row[1]}, not {client.house} on chain {client.chain_id}: "
                "use another --db"
            )
        for a in followed:
            self.db.execute("INSERT OR IGNORE INTO adapters VALUES (?, ?)", (a, self.cursor + 1))

    def _upgrade(self) -> None:
        """Create the tables of a new index, or migrate an older one to :data:`INDEX_FORMAT`."""
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        fresh = self.db.execute("SELECT name FROM sqlite_master WHERE name = 'cursor'").fetchone() is None
        if version > INDEX_FORMAT:
            raise InvalidParameter(
                f"{self.path} is an index of format {version}, newer than this novation's {INDEX_FORMAT}: "
                "upgrade novation"
            )
        with self._transaction() as db:
            if fresh:
                for statement in _SCHEMA.split(";"):
                    db.execute(statement)
            else:
                for start in range(version, INDEX_FORMAT):
                    for statement in _MIGRATIONS[start].split(";"):
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {INDEX_FORMAT}")

    @property
    def adapters(self) -> list[str]:
        """The oracle adapters followed, sorted."""
        return [r[0] for r in self.db.execute("SELECT address FROM adapters ORDER BY address")]

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    @property
    def cursor(self) -> int:
        """Last block indexed (start_block - 1 before the first range)."""
        return int(self.db.execute("SELECT block FROM cursor").fetchone()[0])

    def _retry(self, what: str, fn: Callable[[], _T]) -> _T:
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except ChainError as exc:
                if attempt == self.retries:
                    raise ChainError(f"indexer: {what} failed {self.retries + 1} times: {exc}") from None
                time.sleep(self.retry_pause_s * (attempt + 1))
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ reorgs

    def _check_reorg(self) -> int:
        """Undo a fork under the cursor; returns 1 if one was undone."""
        cursor = self.cursor
        window = self.db.execute(
            "SELECT block, hash FROM blocks WHERE block >= ? ORDER BY block DESC", (cursor - self.confirmations,)
        ).fetchall()
        if not window:
            return 0
        head = self._retry("reading the head", self.client.block_number)
        live = [b for b, _ in window if b <= head]
        chain = self._retry("reading block hashes", lambda: self.client.block_hashes(live))
        fork = next((b for b, h in window if chain.get(b) == h), None)
        if fork == cursor:
            return 0
        if fork is None:
            raise ChainError(
                f"indexer: the chain reorganised below block {cursor - self.confirmations}, deeper than the "
                f"confirmation depth {self.confirmations}; re-index with a larger --confirmations"
            )
        with self._transaction() as db:
            for table in ("events", "blocks", "snapshots"):
                db.execute(f"DELETE FROM {table} WHERE block > ?", (fork,))
            db.execute("DELETE FROM accounts WHERE first_block > ?", (fork,))
            db.execute("UPDATE cursor SET block = ?", (fork,))
        return 1

    # ------------------------------------------------------------------ ranges

    def sync(self, *, until: int | None = None) -> IndexStats:
        """Index every confirmed block after the cursor (up to ``until`` when given)."""
        reorgs = self._check_reorg()
        first = self.cursor + 1
        head = self._retry("reading the head", self.client.block_number)
        target = head if until is None else min(until, head)
        written = 0
        start = first
        while start <= target:
            end = min(start + self.batch_blocks - 1, target)
            written += self._index_range(start, end)
            start = end + 1
        return IndexStats(first, max(target, first - 1), written, reorgs)

    def _index_range(self, start: int, end: int) -> int:
        adapters = self.adapters
        events: list[ChainEvent] = self._retry(
            f"reading logs {start}..{end}",
            lambda: self.client.logs(start, end) + self.client.adapter_logs(adapters, start, end),
        )
        events.sort(key=lambda e: (e.block, e.tx_index, e.log_index))
        # every block that can still be reorganised (the last `confirmations` + 1) and every event's
        blocks = sorted({e.block for e in events} | set(range(max(start, end - self.confirmations), end + 1)))
        headers = self._retry("reading block headers", lambda: self.client.block_headers(blocks))
        for e in events:
            if headers[e.block][0] != e.block_hash:  # the chain moved between the two reads: read again
                raise ChainError(f"indexer: block {e.block} changed while it was read; run again")
        snapshot_blocks = [b for b in range(start, end + 1) if self.snapshot_every and b % self.snapshot_every == 0]
        with self._transaction() as db:
            for e in events:
                fields = {k: _json_value(v) for k, v in e.fields().items()}
                address = str(fields.pop("address", self.client.house))
                db.execute(
                    "INSERT OR IGNORE INTO events (block, tx_index, log_index, tx_hash, block_hash, kind, fields, "
                    "address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (e.block, e.tx_index, e.log_index, e.tx_hash, e.block_hash, e.kind, json.dumps(fields), address),
                )
                for addr in named_accounts(fields):
                    db.execute("INSERT OR IGNORE INTO accounts VALUES (?, ?)", (addr, e.block))
            db.executemany(
                "INSERT OR REPLACE INTO blocks (block, hash, timestamp) VALUES (?, ?, ?)",
                [(b, h, t) for b, (h, t) in sorted(headers.items())],
            )
            for b in snapshot_blocks:
                self._snapshot(db, b)
            db.execute("UPDATE cursor SET block = ?", (end,))
        return len(events)

    def _snapshot(self, db: sqlite3.Connection, block: int) -> None:
        addrs = [r[0] for r in db.execute("SELECT address FROM accounts WHERE first_block <= ?", (block,))]
        if not addrs:
            return
        snap = self._retry(f"reading accounts at block {block}", lambda: self.client.snapshot(addrs, block=block))
        healths = health_of(snap, addrs)
        for a in addrs:
            acct = snap.state.accounts.get(a)
            if acct is None:
                continue
            h = healths[a]
            db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    block,
                    a,
                    str(acct.balance),
                    json.dumps({str(k): str(v) for k, v in acct.collateral.items()}),
                    json.dumps({str(m): [str(x) for x in vars(p).values()] for m, p in acct.positions.items()}),
                    str(h.equity),
                    str(h.maintenance),
                    int(h.liquidatable),
                    str(snap.state.insurance_fund),
                ),
            )

    def follow(self, *, poll_s: float = 2.0, stop: Callable[[], bool] | None = None) -> None:
        """:meth:`sync` forever (every ``poll_s`` seconds) until ``stop()`` is true."""
        while True:
            self.sync()
            if stop is not None and stop():
                return
            time.sleep(poll_s)


def export_parquet(db: Path | str, out_dir: Path | str) -> list[Path]:
    """Write every table of the index ``db`` to ``out_dir/<table>.parquet`` (each atomically)."""
    import pandas as pd

    out = Path(out_dir)
    if not out.is_dir():
        raise InvalidParameter(f"Parquet folder {out} does not exist; create it first")
    paths = []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for table in TABLES:
            frame = pd.read_sql_query(f"SELECT * FROM {table}", conn)
            target = out / f"{table}.parquet"
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{table}.", suffix=".tmp")
            os.close(fd)
            try:
                frame.to_parquet(tmp, index=False)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            paths.append(target)
    return paths
