"""``novation keeper`` and ``novation monitor``: operate a live deployment.

``keeper`` runs :class:`contracts_py.keeper.Keeper` until SIGINT or SIGTERM (it finishes the
block at hand, saves its journal and counters, and exits 0); ``monitor`` serves the risk page
of an indexer's database (:mod:`novation.monitor`) on 127.0.0.1.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from novation.cli._common import app, fail
from novation.cli.chain import Rpc
from protocol.constants import WAD
from protocol.errors import InvalidParameter, NovationError

DEFAULT_PASSWORD_ENV = "NOVATION_KEEPER_PASSWORD"


@app.command()
def keeper(
    rpc: Rpc,
    house: Annotated[str, typer.Option("--house", help="address of the clearing house")],
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="encrypted keystore (eth-account / Web3 Secret Storage JSON)")
    ] = None,
    password_env: Annotated[
        str, typer.Option("--password-env", help="environment variable holding the keystore password")
    ] = DEFAULT_PASSWORD_ENV,
    impersonate: Annotated[
        str | None, typer.Option("--impersonate", help="anvil only: send unsigned from this address")
    ] = None,
    journal: Annotated[
        Path, typer.Option("--journal", help="file of sent transactions (resume without double sending)")
    ] = Path("keeper-journal.json"),
    chain_id: Annotated[int | None, typer.Option("--chain-id", help="refuse a node serving another chain")] = None,
    min_profit_usd: Annotated[
        float, typer.Option("--min-profit-usd", help="least reward minus gas worth sending")
    ] = 0.0,
    unprofitable: Annotated[
        bool, typer.Option("--unprofitable", help="send work even when gas exceeds reward")
    ] = False,
    gas_feed: Annotated[int | None, typer.Option("--gas-feed", help="feed id pricing the gas token in USD")] = None,
    replace_after: Annotated[
        int, typer.Option("--replace-after", help="blocks before a stuck tx is replaced", min=1)
    ] = 3,
    adapter: Annotated[str | None, typer.Option("--adapter", help="oracle adapter to poke")] = None,
    poke_oracle_every: Annotated[
        int, typer.Option("--poke-oracle-every", help="blocks between oracle pokes (0: never)", min=0)
    ] = 0,
    poke_funding_every: Annotated[
        int, typer.Option("--poke-funding-every", help="blocks between funding pokes (0: never)", min=0)
    ] = 0,
    metrics: Annotated[Path | None, typer.Option("--metrics", help="Prometheus text file of the counters")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON log lines instead of key=value text")] = False,
    from_block: Annotated[int, typer.Option("--from-block", help="first block whose events name accounts", min=0)] = 0,
    max_blocks: Annotated[int | None, typer.Option("--max-blocks", help="stop after this many blocks", min=1)] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="RPC timeout, seconds")] = 10.0,
) -> None:
    """Watch a node block by block and liquidate what the protocol allows (see README: keeper)."""
    from contracts_py.keeper import ImpersonatedWallet, Keeper, KeeperConfig, KeystoreWallet, Wallet, read_password
    from contracts_py.rpc import Rpc as RpcTransport

    try:
        if (key_file is None) == (impersonate is None):
            raise InvalidParameter(
                "give the keeper's account as --key-file FILE or --impersonate ADDRESS (one of them)"
            )
        if not timeout > 0:
            raise InvalidParameter(f"--timeout {timeout:g} must be a positive number of seconds")
        if not min_profit_usd >= 0:
            raise InvalidParameter(f"--min-profit-usd {min_profit_usd:g} must be a non-negative number")
        keystore = None if key_file is None else KeystoreWallet(key_file, read_password(password_env))
        address = str(impersonate)

        def make_wallet(r: RpcTransport) -> Wallet:
            return keystore if keystore is not None else ImpersonatedWallet(r, address)

        config = KeeperConfig(
            rpc_url=rpc,
            house=house,
            journal=journal,
            chain_id=chain_id,
            min_profit_wad=int(min_profit_usd * WAD),
            unprofitable=unprofitable,
            replace_after_blocks=replace_after,
            gas_feed_id=gas_feed,
            adapter=adapter,
            poke_funding_every=poke_funding_every,
            poke_oracle_every=poke_oracle_every,
            rpc_timeout_s=timeout,
            metrics_path=metrics,
            json_logs=as_json,
            from_block=from_block,
        )
        bot = Keeper(config, make_wallet)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        bot.run(stop, max_blocks=max_blocks)
    except NovationError as exc:
        fail(exc)


@app.command()
def monitor(
    db: Annotated[Path, typer.Option("--db", help="the indexer's SQLite database (novation index --db)")],
    port: Annotated[int, typer.Option("--port", help="port on 127.0.0.1 (0: a free one)", min=0, max=65535)] = 8050,
    refresh: Annotated[int, typer.Option("--refresh", help="seconds between page reloads", min=1)] = 5,
) -> None:
    """Serve the read-only risk page of an indexer's database on 127.0.0.1."""
    from novation.monitor import create_app

    try:
        application = create_app(db, refresh_s=refresh)
    except NovationError as exc:
        fail(exc)
    import uvicorn

    uvicorn.run(application, host="127.0.0.1", port=port, log_level="warning")
