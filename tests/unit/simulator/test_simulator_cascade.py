"""The engine's cascade record and bad-debt attribution on a real crash path: the parts add up
exactly, the series agree with the metrics, every feed, market and collateral asset has its series."""

from __future__ import annotations

import numpy as np

from protocol.constants import WAD
from simulator import EXAMPLES_DIR
from simulator.config import load_study
from simulator.engine import _Waits, simulate_path
from simulator.results import (
    BAD_DEBT_CAUSES,
    asset_bad_debt,
    collateral_series,
    feed_series,
    market_bad_debt,
    market_series,
)

#: A synthetic crash of the 2020-03-12 size, small enough for a unit test (one path, ~3 s).
CRASH = load_study(
    EXAMPLES_DIR / "crash_2020.toml",
    {"price.model": "bridge", "run.paths": 1, "run.accounts": 60, "run.step_s": 1_800, "run.steps": 204},
)


def test_attribution_and_cascade_add_up() -> None:
    result = simulate_path(CRASH, 0)
    m, series = result.metrics, result.series
    assert m["bad_debt_wad"] > 0  # the crash bankrupts someone, so the split is exercised
    assert sum(m[f"bad_debt_{cause}_wad"] for cause in BAD_DEBT_CAUSES) == m["bad_debt_wad"]
    params = CRASH.book_params()
    by_market = sum(m[market_bad_debt(mp.market_id)] for mp in params.markets)
    assert by_market + m["bad_debt_no_market_wad"] == m["bad_debt_wad"]
    assert all(m[market_bad_debt(mp.market_id)] > 0 for mp in params.markets)  # both markets' closes lost
    assert sum(m[asset_bad_debt(cp.asset_id)] for cp in params.collaterals) == m["bad_debt_collateral_wad"]
    assert m["bad_debt_collateral_wad"] > 0  # ETH, the traders' WETH, falls with BTC
    assert m["keeper_gas_cost_wad"] == CRASH.keepers.gas_cost_wad(m["keeper_gas"])
    causes = ("gas", "block_cap", "keeper", "untrusted", "counterparty")
    assert sum(m[f"deferred_{cause}"] for cause in causes) == m["deferred_liquidations"]
    assert series["liquidations"][-1] == m["liquidations"]
    assert int(series["backlog"].max()) == m["backlog_peak"]
    per_block = np.diff(series["liquidations"], prepend=0.0)
    assert int(per_block.max()) == m["liquidations_block_peak"]
    assert m["keeper_gas"] > 0
    assert series[feed_series(params.feeds[0].feed_id)].tolist() == series["market_price"].tolist()  # the lead
    assert all((series[feed_series(fp.feed_id)] > 0).all() for fp in params.feeds)
    notional = sum(series[market_series(mp.market_id)][-1] for mp in params.markets)
    assert abs(notional - m["liquidated_notional_wad"] / WAD) <= 1e-6 * max(1.0, notional)
    assert all(collateral_series(cp.asset_id) in series for cp in params.collaterals)


def test_wait_ledger_counts_as_one_charge_per_account_and_block() -> None:
    """The engine's per-row wait ledger equals charging each waiting account a block at a time:
    latency is every step from the flag to the landing (or to now, before it lands), a block
    the due queue waits counts once for each account in the queue then, a new flag starts the
    counts afresh."""
    waits = _Waits(6)
    waits.flagged(np.array([1, 4], dtype=np.int64), 10, [0, None])
    assert waits.blocks(1, 10) == {}
    assert waits.blocks(4, 13) == {"latency": 3}
    waits.landed(1, 12)  # two cascades (steps 10, 11) saw it waiting
    waits.charge([1, 4], "gas")
    waits.charge((1,), "block_cap")
    waits.charge([], "gas")
    assert waits.blocks(1, 20) == {"latency": 2, "gas": 1, "block_cap": 1}
    assert waits.blocks(4, 20) == {"latency": 10, "gas": 1}
    assert waits.gap_at_flag == {1: 0, 4: None}
    waits.landed(4, 20)  # in the due queue from step 20: each block the queue waits counts once
    waits.charge_queue("gas")
    waits.charge_queue("untrusted")
    assert waits.blocks(4, 25) == {"latency": 10, "gas": 2, "untrusted": 1}
    waits.dequeued(4)  # served or set aside: later queue-wide blocks are not its own
    waits.charge_queue("gas")
    waits.requeued(4)
    waits.charge_queue("block_cap")
    assert waits.blocks(4, 25) == {"latency": 10, "gas": 2, "untrusted": 1, "block_cap": 1}
    waits.flagged(np.array([1], dtype=np.int64), 30, [7])
    assert waits.blocks(1, 31) == {"latency": 1}
    assert waits.gap_at_flag[1] == 7
    # the gap is used once per flag: a second settlement only gets what the first left
    assert (waits.use_gap(1, 5), waits.use_gap(1, 5), waits.use_gap(1, 5)) == (5, 2, 0)
    assert waits.use_gap(4, 5) == 0  # its gap was unknown (a price was not trusted)
    waits.flagged(np.array([1], dtype=np.int64), 40, [3])  # flagged again: a fresh gap
    assert waits.use_gap(1, 5) == 3


def test_gas_cost_is_exact_and_rounded_up() -> None:
    keepers = CRASH.keepers
    assert (keepers.gas_price_gwei, keepers.gas_token_usd) == (20.0, 3_000.0)  # the documented defaults
    # 1,000,000 gas at 20 gwei is 0.02 ETH, 60 USD at 3,000 USD per ETH
    assert keepers.gas_cost_wad(1_000_000) == 60 * WAD
    odd = CRASH.override({"keepers.gas_price_gwei": 0.3, "keepers.gas_token_usd": 1.0}).keepers
    assert odd.gas_cost_wad(1) == 3 * 10**8  # 0.3 gwei at 1 USD: 3e-10 USD, exactly
    third = CRASH.override({"keepers.gas_price_gwei": 1.0, "keepers.gas_token_usd": 1 / 3}).keepers
    assert third.gas_cost_wad(1) == 333_333_334  # 1e-9 x 0.3333333333333333 USD = 333,333,333.33 WAD, rounded up
