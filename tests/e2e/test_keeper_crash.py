"""Keepers as separate processes against anvil through Black Thursday (issue 18): one keeper;
two competing keepers; a keeper behind an RPC that drops 10 % of calls; a keeper (keystore
signer) killed with SIGKILL mid-crash and restarted on its journal. Each run checks, against
the reference model replaying the same blocks: every liquidatable account liquidated within
``MAX_BLOCKS_TO_LIQUIDATION`` blocks, no healthy account touched, the insurance fund and every
account equal at the end; and prints blocks to liquidation, transactions sent and reverted, gas.

The keepers bound to liquidate everything are backstops (``--unprofitable``): the crash leaves
accounts under water, whose liquidation pays no penalty, so no profit-seeking keeper takes them.
Of the two competing keepers, the second seeks profit: it skips those and races for the rest.
"""

from __future__ import annotations

import itertools
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from keeper_harness import (
    MAX_BLOCKS_TO_LIQUIDATION,
    Book,
    Figures,
    KeeperProc,
    build_book,
    check_against_model,
    closes,
    drive,
    keeper_env,
)
from rpc_proxy import FlakyProxy

from contracts_py.chains.anvil_chain import AnvilChain
from contracts_py.keeper import Journal, SentTx


@pytest.fixture(scope="module")
def book(market_data: Path) -> Iterator[Book]:
    if shutil.which("anvil") is None:
        pytest.fail("anvil is not on PATH: run make anvil and put tools/node_modules/.bin on PATH")
    with AnvilChain(impersonate=True, extra_args=["--auto-impersonate"]) as chain:
        b = build_book(chain, closes(market_data))
        b.start_snapshot = chain.snapshot()
        yield b


@pytest.fixture
def fresh(book: Book) -> Book:
    """The book as built, before the crash (each test replays the crash from there)."""
    book.chain.revert(book.start_snapshot)
    return book


def _keeper(
    book: Book, tmp: Path, name: str, address: str, *extra: str, rpc: str | None = None, backstop: bool = True
) -> KeeperProc:
    args = ["--rpc", rpc or book.chain.url, "--house", book.system.core.address, "--json",
            "--journal", str(tmp / f"{name}.journal.json"), "--metrics", str(tmp / f"{name}.prom"),
            "--chain-id", str(book.chain.chain_id), *extra]  # fmt: skip
    if backstop:
        args.append("--unprofitable")
    if "--key-file" not in extra:
        args += ["--impersonate", address]
    return KeeperProc(name, args, tmp / f"{name}.log", keeper_env())


def _run(book: Book, keepers: list[KeeperProc], label: str, **drive_kw: object) -> Figures:
    start = book.chain.block_number()
    for k in keepers:
        k.start()
    for k in keepers:  # wait for the first handled block: the keeper is up
        while k.last_block() < start:
            assert k.proc is not None
            assert k.proc.poll() is None, k.log.read_text()[-2000:]
    run = drive(book, keepers, **drive_kw)
    for k in keepers:
        assert k.proc is not None
        assert k.proc.poll() is None, f"{k.name} died during the crash: {k.log.read_text()[-2000:]}"
        k.stop()
    figures = check_against_model(book, run, start, keepers)
    print(
        f"\n[{label}] blocks {run.first_block}..{run.last_block}: {figures.liquidations} liquidations of "
        f"{figures.liquidated_accounts} accounts; blocks to liquidation max {figures.max_blocks_to_liquidation} "
        f"(bound {MAX_BLOCKS_TO_LIQUIDATION}), mean {figures.mean_blocks_to_liquidation:.2f}; txs sent "
        f"{figures.txs_sent}, reverted {figures.txs_reverted} (lost races {figures.txs_lost_race}); "
        f"gas {figures.gas_used:,}"
    )
    assert figures.liquidated_accounts >= 50, "the crash must liquidate a good part of the book"
    assert figures.max_blocks_to_liquidation <= MAX_BLOCKS_TO_LIQUIDATION
    return figures


def test_one_keeper_liquidates_the_crash(fresh: Book, tmp_path: Path) -> None:
    figures = _run(fresh, [_keeper(fresh, tmp_path, "keeper", fresh.keepers[0])], "one keeper")
    assert figures.txs_reverted == 0


def test_two_competing_keepers(fresh: Book, tmp_path: Path) -> None:
    keepers = [_keeper(fresh, tmp_path, f"keeper{i}", fresh.keepers[i], backstop=i == 0) for i in range(2)]
    figures = _run(fresh, keepers, "two keepers (a backstop, a profit seeker)")
    seeker = keepers[1].lines()  # races for what pays, skips what does not
    assert any(ln.get("event") == "sent" for ln in seeker)
    assert any(ln.get("event") == "skipped" and ln["why"] == "unprofitable" for ln in seeker)
    won = [ln["key"] for k in keepers for ln in k.lines() if ln.get("event") == "mined"]
    assert len(won) == figures.liquidations  # each liquidation mined once, by one of them
    assert figures.txs_lost_race == figures.txs_reverted > 0  # every revert a lost race


def test_keeper_behind_a_flaky_rpc(fresh: Book, tmp_path: Path) -> None:
    with FlakyProxy(fresh.chain.url, drop=0.10, seed=18) as proxy:
        keeper = _keeper(fresh, tmp_path, "keeper", fresh.keepers[0], rpc=proxy.url)
        _run(fresh, [keeper], "flaky RPC (10 % dropped)")
        assert proxy.dropped > 0
    errors = [ln for ln in keeper.lines() if ln.get("event") == "rpc_error"]
    assert errors


def test_keeper_killed_and_restarted(fresh: Book, tmp_path: Path) -> None:
    key = fresh.chain.account_keys()[fresh.keepers[0]]
    key_file = tmp_path / "keeper.json"
    key_file.write_text(__import__("json").dumps(Account.encrypt(key, "crash", kdf="pbkdf2", iterations=1000)))
    keeper = _keeper(fresh, tmp_path, "keeper", fresh.keepers[0], "--key-file", str(key_file))
    keeper.env = dict(keeper.env, NOVATION_KEEPER_PASSWORD="crash")

    killed_at: list[int] = []

    def kill_and_restart(i: int) -> None:
        """Kill the keeper the first time it has liquidations in flight (sent, not mined yet)."""
        if not killed_at and Journal(keeper.journal).pending():
            killed_at.append(i)
            keeper.stop(signal.SIGKILL)
            keeper.start()

    figures = _run(fresh, [keeper], "killed and restarted", on_round=kill_and_restart)
    assert killed_at, "the keeper never had a transaction in flight to be killed with"
    starts = [ln for ln in keeper.lines() if ln.get("event") == "start"]
    assert len(starts) == 2
    assert starts[1]["pending"] > 0  # restarted with journaled transactions in flight
    by_key: dict[str, list[SentTx]] = {}
    for e in sorted(Journal(keeper.journal).entries.values(), key=lambda e: e.nonce):
        by_key.setdefault(e.key, []).append(e)
    twice = [k for k, es in by_key.items() for a, b in itertools.pairwise(es) if b.sent_block < (a.mined_block or 0)]
    assert not twice, f"sent again while the first was in flight: {twice[:3]}"
    assert figures.txs_reverted == figures.txs_lost_race


def test_keeper_refuses_a_wrong_chain_and_a_missing_role(book: Book, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from novation.cli import app

    base = ["keeper", "--rpc", book.chain.url, "--house", book.system.core.address,
            "--impersonate", book.keepers[0], "--journal", str(tmp_path / "j.json")]  # fmt: skip
    for extra, fragment in [
        (["--chain-id", "1"], f"serves chain {book.chain.chain_id}, but the deployment is on chain 1"),
        (["--poke-funding-every", "5"], "lacks the funding role on house"),
    ]:
        result = CliRunner().invoke(app, [*base, *extra], env={"COLUMNS": "200"})
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert fragment in " ".join(result.output.split()), result.output
        assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1, result.output
