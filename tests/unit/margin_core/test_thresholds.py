"""Exact decisions on accounts sitting exactly on a threshold, at every magnitude."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from builders import limb_book
from conftest import PRICES, market_states, state_of, trader

from protocol.constants import WAD
from protocol.margin import Health, account_health, initial_fraction, maintenance_fraction
from protocol.margin_core import MarginBatch, MarginBook, MarginOutputs, evaluate, evaluate_rows, liquidation_candidates
from protocol.margin_core.screen import PARALLEL_MIN_ROWS
from protocol.params import Params
from protocol.state import Account


def health(acct: Account, params: Params) -> Health:
    return account_health(acct, params, market_states(), PRICES, now_s=0)


def placed(acct: Account, params: Params, target: str, offset: int) -> Account:
    """``acct`` with its balance moved so that equity = target (maintenance, initial, zero) + offset."""
    h = health(acct, params)
    goal = {"maintenance": h.maintenance, "initial": h.initial, "zero": 0}[target] + offset
    return dataclasses.replace(acct, balance=acct.balance + goal - h.equity)


SHAPES = {
    "btc long": trader(btc=3 * WAD // 2),
    "eth short with weth": trader(eth=-40 * WAD, weth=7 * WAD + 3),
    "both, odd sizes": trader(btc=-(10**17) - 1, eth=12_345_678_901_234_567_891),
    "one wei long": trader(btc=1),
    "whale": trader(btc=10**12 * WAD + 1, eth=-(10**14) * WAD - 1, weth=10**9 * WAD),
    "collateral only": trader(weth=5 * WAD),
}


def both_books(accounts: list[Account], params: Params) -> list[MarginBook]:
    state = state_of({f"0x{k:040x}": a for k, a in enumerate(accounts)})
    return [MarginBook.from_state(state, params), limb_book(accounts, params, market_states())]


def sign(x: float | int) -> int:
    return int(x > 0) - int(x < 0)


def assert_matches_model(batch: MarginBatch, accounts: list[Account], params: Params) -> None:
    shortfall, free = batch.shortfall(), batch.free_collateral()
    for i, acct in enumerate(accounts):
        h = health(acct, params)
        assert bool(batch.liquidatable[i]) is h.liquidatable
        assert bool(batch.meets_initial[i]) is h.meets_initial
        assert sign(batch.equity[i]) == sign(h.equity)
        assert sign(shortfall[i]) == sign(h.maintenance - h.equity)
        assert sign(free[i]) == sign(h.free_collateral)
        if i in batch.exact:
            assert batch.exact[i] == h


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("target", ["maintenance", "initial", "zero"])
def test_threshold_accounts_match_the_model(params: Params, shape: str, target: str) -> None:
    accounts = [placed(SHAPES[shape], params, target, offset) for offset in (-2, -1, 0, 1, 2)]
    for book in both_books(accounts, params):
        batch = evaluate(book, PRICES)
        assert_matches_model(batch, accounts, params)
        assert batch.reevaluated.tolist() == [0, 1, 2, 3, 4]  # all within a few wei: never screened


def test_equity_equal_to_maintenance_is_not_liquidatable_one_wei_less_is(params: Params) -> None:
    on = placed(trader(btc=2 * WAD, eth=-3 * WAD), params, "maintenance", 0)
    below = dataclasses.replace(on, balance=on.balance - 1)
    batch = evaluate(MarginBook.from_state(state_of({"0x" + "aa" * 20: on, "0x" + "bb" * 20: below}), params), PRICES)
    assert batch.liquidatable.tolist() == [False, True]
    h_on, h_below = batch.exact[0], batch.exact[1]
    assert h_on.equity == h_on.maintenance
    assert h_below.maintenance - h_below.equity == 1
    assert batch.shortfall().tolist()[1] == 1 / WAD


def test_equity_equal_to_initial_meets_initial_one_wei_less_does_not(params: Params) -> None:
    on = placed(trader(eth=25 * WAD, weth=WAD), params, "initial", 0)
    below = dataclasses.replace(on, balance=on.balance - 1)
    batch = evaluate(MarginBook.from_state(state_of({"0x" + "aa" * 20: on, "0x" + "bb" * 20: below}), params), PRICES)
    assert batch.meets_initial.tolist() == [True, False]
    assert batch.free_collateral().tolist() == [0.0, -1 / WAD]


def test_far_from_thresholds_the_screen_decides_alone(params: Params) -> None:
    accounts = [trader(10_000 * WAD, btc=WAD), trader(-(10**6) * WAD, eth=5 * WAD), trader(7 * WAD)]
    batch = evaluate(
        MarginBook.from_state(state_of({f"0x{k:040x}": a for k, a in enumerate(accounts)}), params), PRICES
    )
    assert batch.reevaluated.size == 0
    assert batch.liquidatable.tolist() == [False, True, False]
    assert batch.meets_initial.tolist() == [True, False, True]


def test_empty_accounts_are_decided_without_the_model(params: Params) -> None:
    batch = evaluate(limb_book([Account(), Account()], params, market_states()), PRICES)
    assert batch.reevaluated.size == 0
    assert batch.equity.tolist() == [0.0, 0.0]
    assert batch.liquidatable.tolist() == [False, False]
    assert batch.meets_initial.tolist() == [True, True]


def test_candidates_are_the_liquidatable_rows_by_shortfall(params: Params) -> None:
    accounts = [
        trader(-50_000 * WAD, btc=WAD),  # large shortfall
        trader(10**6 * WAD, btc=WAD),  # healthy
        placed(trader(btc=WAD), params, "maintenance", -1),  # shortfall of one wei
        trader(-80_000 * WAD, btc=WAD),  # largest shortfall
        placed(trader(eth=WAD), params, "maintenance", 0),  # on the threshold: not a candidate
    ]
    book = MarginBook.from_state(state_of({f"0x{k:040x}": a for k, a in enumerate(accounts)}), params)
    assert liquidation_candidates(evaluate(book, PRICES)).tolist() == [3, 0, 2]


def test_outputs_are_reused_across_ticks(params: Params) -> None:
    book = MarginBook.from_state(state_of({"0x" + "aa" * 20: trader(20_000 * WAD, btc=WAD)}), params)
    out = MarginOutputs.allocate(1)
    calm = evaluate(book, PRICES, out=out)
    assert calm.equity is out.equity
    assert not calm.liquidatable[0]
    crash = evaluate(book, {0: 30_000 * WAD, 1: PRICES[1]}, out=out)
    assert bool(crash.liquidatable[0]) is True
    assert np.shares_memory(crash.equity, calm.equity)


def test_effective_fractions_are_the_models(params: Params) -> None:
    batch = evaluate(MarginBook.from_state(state_of({}), params), PRICES)
    for mp in params.markets:
        ms, price = market_states()[mp.market_id], PRICES[mp.feed_id]
        assert batch.fractions[mp.market_id] == (initial_fraction(mp, ms, price), maintenance_fraction(mp))
    # ETH open interest (1,000 ETH at ~3,000 USD) sits inside the 1e6..1e7 USD scaling band.
    assert batch.fractions[1][0] > params.markets[1].initial_margin_fraction_wad
    assert batch.equity.shape == (0,)


def test_dust_balances_without_positions_are_decided_exactly(params: Params) -> None:
    """No position, no collateral: a few wei of balance are below the screen's slack, so the model
    decides them; large balances the screen does."""
    accounts = [Account(balance=b) for b in (-3, -1, 1, 3, -(10**30), 10**30)]
    for book in both_books(accounts, params):
        batch = evaluate(book, PRICES)
        assert batch.reevaluated.tolist() == [0, 1, 2, 3]
        assert batch.liquidatable.tolist() == [True, True, False, False, True, False]
        assert batch.meets_initial.tolist() == [False, False, True, True, False, True]
        assert_matches_model(batch, accounts, params)


def test_chosen_rows_are_decided_like_the_full_batch(params: Params) -> None:
    accounts = [placed(SHAPES[s], params, t, o) for s in SHAPES for t in ("maintenance", "zero") for o in (-1, 0)]
    accounts += [trader(10_000 * WAD, btc=WAD), trader(-(10**6) * WAD, eth=5 * WAD), Account(balance=-1)]
    rows = np.asarray([len(accounts) - 1, 3, 0, 3, 7, len(accounts) - 3], dtype=np.int64)  # any order, repeats
    for book in both_books(accounts, params):
        full = evaluate(book, PRICES)
        chosen = evaluate_rows(book, PRICES, rows)
        for k, row in enumerate(rows.tolist()):
            assert bool(chosen.liquidatable[k]) is bool(full.liquidatable[row])
            assert bool(chosen.meets_initial[k]) is bool(full.meets_initial[row])
            assert chosen.equity[k] == full.equity[row]
            assert chosen.maintenance[k] == full.maintenance[row]
            assert (k in chosen.exact) == (row in full.exact)
            if k in chosen.exact:
                assert chosen.exact[k] == full.exact[row]
        assert evaluate_rows(book, PRICES, np.zeros(0, dtype=np.int64)).liquidatable.shape == (0,)


def test_the_parallel_and_the_calling_thread_passes_agree_bit_for_bit(params: Params) -> None:
    shapes = list(SHAPES.values())
    accounts = [
        dataclasses.replace(shapes[i % len(shapes)], balance=(i * 7_919 % 20_011 - 10_000) * WAD // 3 + i)
        for i in range(PARALLEL_MIN_ROWS + 5)
    ]
    book = limb_book(accounts, params, market_states())
    parallel = evaluate(book, PRICES)
    serial = evaluate_rows(book, PRICES, np.arange(book.n_accounts, dtype=np.int64))
    for name in ("equity", "initial", "maintenance", "liquidatable", "meets_initial"):
        np.testing.assert_array_equal(getattr(serial, name), getattr(parallel, name), err_msg=name)
    np.testing.assert_array_equal(serial.reevaluated, parallel.reevaluated)
