"""The simulator's vectorised screen decides exactly as a plain loop over the reference model.

Each configuration runs twice: with the margin core screening a live book (the engine's
default) and with a screen that calls :func:`protocol.margin.account_health` on every account
at every step. The two runs must send the same actions in the same order and produce the same
integer metrics; replaying the action log on a fresh model from the book reproduces them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from protocol.actions import AutoDeleverage, Liquidate
from protocol.clearing_house import ClearingHouse
from protocol.events import BadDebtSettled, CollateralLiquidated, Deleveraged, Liquidated, ShortfallSettled
from protocol.margin import account_health
from protocol.margin_core import LiquidationWatch, MarginBook, liquidation_sizes
from simulator import engine
from simulator.config import StudyConfig
from simulator.engine import build_book, simulate_path
from simulator.results import market_bad_debt

CASES = {
    # A 45 % crash through a thin market: liquidations, bad debt, a drained fund, socialized loss.
    "crash": {
        "run.accounts": 300,
        "run.steps": 240,
        "run.paths": 3,
        "price.model": "bridge",
        "price.shock": -0.6,
        "price.sigma": 1.5,
        "traders.leverage_median": 7.0,
        "liquidity.depth_usd": 2e7,
        "keepers.latency_blocks": 3,
        "keepers.gas_budget_per_block": 600_000,
        "protocol.insurance_fund_usd": "2000",
        "protocol.max_liquidation_notional_per_block": "150000",
        "oracle.outages_per_day": 20.0,
    },
    # Jumps both ways with funding and a lagging feed whose guard rejects wild readings.
    "jumps": {
        "run.accounts": 200,
        "run.steps": 300,
        "run.paths": 3,
        "price.model": "merton",
        "price.sigma": 1.2,
        "price.jumps_per_year": 20_000.0,
        "price.jump_mean": 0.0,
        "price.jump_std": 0.05,
        "oracle.latency_steps": 2,
        "oracle.deviation_bps": 20.0,
        "protocol.max_move": "0.08",
        "funding.premium_sigma": 0.01,
        "funding.interval_steps": 7,
        "traders.long_fraction": 0.3,
    },
}
#: Two markets cross-margined, 40 % of the collateral in WETH (its feed follows BTC's fall):
#: position and collateral liquidations, bad debt only once the collateral is sold.
CROSS = {
    "run.accounts": 240,
    "run.steps": 200,
    "run.paths": 2,
    "price.model": "bridge",
    "price.shock": -0.5,
    "price.sigma": 1.5,
    "price.feeds": {"ETH/USD": {"spot": 3_000.0, "sigma": 1.2}},
    "price.correlation": 0.9,
    "protocol.markets": [0, 1],
    "traders.collateral_asset_share": 0.4,
    "traders.cross_market_probability": 0.6,
    "traders.leverage_median": 7.0,
    "liquidity.depth_usd": 2e7,
    "keepers.gas_budget_per_block": 900_000,
    "protocol.insurance_fund_usd": "20000",
    "protocol.max_liquidation_notional_per_block": "150000",
    "oracle.outages_per_day": 10.0,
}
CASES["cross"] = CROSS
# The same with auto-deleveraging: bankrupt accounts beyond the fund are closed against
# counterparties the margin core proposes.
CASES["adl"] = CROSS | {"protocol.socialized_loss_method": "adl"}


def model_screen(
    book: MarginBook, prices: Mapping[int, int], changed: Sequence[int], skip: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Every account through the model's own health function, one at a time."""
    rows = [
        i
        for i in range(book.n_accounts)
        if account_health(book.account(i), book.params, book.markets, prices, now_s=book.now_s).liquidatable
    ]
    return np.asarray(rows, dtype=np.int64)


@pytest.mark.parametrize("case", sorted(CASES))
def test_vectorised_screen_equals_model_loop(case: str) -> None:
    config = StudyConfig().override(CASES[case])
    book = build_book(config)
    totals = dict.fromkeys(
        (
            "liquidations",
            "bad_debt_wad",
            "socialized_loss_wad",
            "oracle_rejections",
            "collateral_liquidations",
            "deleveragings",
        ),
        0,
    )
    for path in range(config.run.paths):
        core_log: list[object] = []
        model_log: list[object] = []
        watch = LiquidationWatch(len(book.accounts))
        core = simulate_path(config, path, book=book, screen=watch, log=core_log)  # type: ignore[arg-type]
        model = simulate_path(config, path, book=book, screen=model_screen, log=model_log)  # type: ignore[arg-type]
        assert core_log == model_log
        assert dict(core.metrics) == dict(model.metrics)
        for name in totals:
            totals[name] += core.metrics[name]
        # Steps between full passes screened only the accounts the market could have moved.
        assert watch.full_screens < config.run.steps + 1
        assert watch.screened < len(book.accounts) * (config.run.steps + 1)

        # The log replayed on a fresh model from the book gives the same liquidations and debt.
        house = ClearingHouse.from_state(book.params, book.state())
        per_action = [house.apply(action) for action in core_log]  # type: ignore[arg-type]
        events = [e for applied in per_action for e in applied]
        assert sum(isinstance(e, Liquidated) for e in events) == core.metrics["liquidations"]
        assert sum(isinstance(e, CollateralLiquidated) for e in events) == core.metrics["collateral_liquidations"]
        # ADL executions (proposals and challenges deleverage nobody)
        assert (
            sum(
                isinstance(a, AutoDeleverage) and any(isinstance(e, Deleveraged) for e in applied)
                for a, applied in zip(core_log, per_action, strict=True)
            )
            == core.metrics["deleveragings"]
        )
        assert sum(isinstance(a, Liquidate) for a in core_log) >= core.metrics["liquidations"]
        assert (
            sum(e.debt_wad for e in events if isinstance(e, BadDebtSettled | ShortfallSettled))
            == core.metrics["bad_debt_wad"]
        )
        assert house.state.insurance_fund == core.metrics["insurance_fund_end_wad"]
        # bad debt per market: at least what that market's bankrupt closes settled; the residuals
        # (BadDebtSettled) are split over markets or left with none, to the wei
        for mp in book.params.markets:
            settled = sum(e.debt_wad for e in events if isinstance(e, ShortfallSettled) and e.market_id == mp.market_id)
            assert settled <= core.metrics[market_bad_debt(mp.market_id)]
        shortfalls = sum(e.debt_wad for e in events if isinstance(e, ShortfallSettled))
        residual = sum(e.debt_wad for e in events if isinstance(e, BadDebtSettled))
        by_market = sum(core.metrics[market_bad_debt(mp.market_id)] for mp in book.params.markets)
        assert by_market - shortfalls + core.metrics["bad_debt_no_market_wad"] == residual
    # The cases are built to exercise the machinery: make sure they did.
    assert totals["liquidations"] > 0
    if case == "jumps":
        assert totals["oracle_rejections"] > 0
    else:
        assert totals["bad_debt_wad"] > 0
    # In "cross" every account holds WETH: its bankrupt closes settle no share (F-15, SPEC §8),
    # what the collateral sale leaves is bad debt, paid by the fund or left uncovered.
    if case in ("crash", "adl"):
        assert totals["socialized_loss_wad"] > 0
    if case in ("cross", "adl"):
        assert totals["collateral_liquidations"] > 0
    assert (totals["deleveragings"] > 0) == (case == "adl")


def test_same_seed_same_path_and_different_seeds_differ() -> None:
    config = StudyConfig().override(CASES["jumps"])
    book = build_book(config)
    first, again = (simulate_path(config, 1, book=book) for _ in range(2))
    assert dict(first.metrics) == dict(again.metrics)
    for name, series in first.series.items():
        np.testing.assert_array_equal(series, again.series[name])
    other = simulate_path(config, 2, book=book)
    assert not np.array_equal(first.series["market_price"], other.series["market_price"])
    assert first.seed().spawn_key == (1, 1)


@pytest.mark.parametrize("case", ["crash", "adl"])
def test_core_sizes_equal_model_sizes(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The keepers' liquidation sizes from the margin core (healthy and bankrupt accounts) send
    the same actions and give the same metrics as asking the model for every size."""
    config = StudyConfig().override(CASES[case] | {"run.paths": 1})
    book = build_book(config)
    decided: list[int] = []

    def counted(*args: Any) -> list[int | None]:
        sizes = liquidation_sizes(*args)
        decided.extend(q for q in sizes if q)
        return sizes

    monkeypatch.setattr(engine, "liquidation_sizes", counted)
    core_log: list[object] = []
    core = simulate_path(config, 0, book=book, log=core_log)  # type: ignore[arg-type]

    def model_size(run: engine._PathRun, address: str, market_id: int, gas: int) -> tuple[int, bool | None]:
        assert run.block is not None
        return run.block.max_liquidation_size(address, market_id), None

    monkeypatch.setattr(engine._PathRun, "_liquidation_size", model_size)
    model_log: list[object] = []
    model = simulate_path(config, 0, book=book, log=model_log)  # type: ignore[arg-type]
    assert core_log == model_log
    assert dict(core.metrics) == dict(model.metrics)
    assert decided  # the core sized bankrupt accounts in the first run
