"""compare-methods: the comparison's numbers from hand-made paths, the per-method runs (a stand-in
task whose outcome depends on the method), the written files; and who bears the loss (ledger
and groups on a real book)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.events import Deleveraged, GainsCharged, LossCharged, ProfitHaircut
from protocol.params import SocializedLossMethod
from protocol.state import MarketState, Position, ProtocolState, Roles
from simulator.config import StudyConfig
from simulator.engine import KEEPER, MARKET_MAKER, build_book
from simulator.loss_bearers import LossLedger, OpenPositions
from simulator.loss_methods import COMPARISON_FIELDS, compare_methods, comparison_row, write_comparison
from simulator.results import BEARER_GROUPS, METRICS, SERIES, PathResult, bearer_metric, study_metrics

CONFIG = StudyConfig.from_dict({"run": {"name": "compare-test", "paths": 20, "steps": 2}})
RUN: dict[str, Any] = {"workers": 1, "progress": False}


def metrics_table(shortfalls: list[int], uncovered: list[int]) -> pd.DataFrame:
    """Per-path metrics with the given socialized and uncovered losses (whole USD)."""
    rows = []
    for i, (s, u) in enumerate(zip(shortfalls, uncovered, strict=True)):
        row: dict[str, object] = dict.fromkeys(METRICS, 0)
        row |= {"socialized_loss_wad": Decimal(s), "uncovered_loss_wad": Decimal(u), "bad_debt_wad": Decimal(s + u + 1)}
        row |= {"insurance_fund_drawdown_wad": Decimal(10), "insurance_fund_depleted": i % 2, "deleveragings": i}
        row |= {"accounts_deleveraged": 2 * i, bearer_metric("small"): Decimal(s), bearer_metric("long"): Decimal(u)}
        rows.append(row)
    return pd.DataFrame(rows)


def test_comparison_row_by_hand() -> None:
    # 20 paths: shortfall = socialized + uncovered = 0..19 (path i: i); VaR 95 % = the 19th
    # smallest = 18; ES 95 % = mean of the 19th and 20th = 18.5
    row = comparison_row(metrics_table([i // 2 for i in range(20)], [i - i // 2 for i in range(20)]))
    assert row["bad_debt_mean_usd"] == 10.5
    assert row["shortfall_mean_usd"] == 9.5
    assert row["shortfall_var95_usd"] == 18.0
    assert row["shortfall_es95_usd"] == 18.5
    assert row["socialized_mean_usd"] == sum(i // 2 for i in range(20)) / 20
    assert row["accounts_deleveraged_mean"] == 19.0
    assert row["deleveragings_mean"] == 9.5
    assert row["p_fund_depleted"] == 0.5
    assert row["fund_drawdown_mean_usd"] == 10.0
    assert row["borne_small_mean_usd"] == row["socialized_mean_usd"]
    assert row["borne_long_mean_usd"] == row["uncovered_mean_usd"]
    assert row["borne_keeper_mean_usd"] == 0.0
    assert list(row) == list(COMPARISON_FIELDS)


def test_comparison_row_of_one_path_and_refusals() -> None:
    row = comparison_row(metrics_table([3], [4]))
    assert (row["shortfall_var95_usd"], row["shortfall_es95_usd"]) == (7.0, 7.0)
    with pytest.raises(InvalidParameter, match="non-empty metrics table"):
        comparison_row(pd.DataFrame())


def method_task(config: StudyConfig, path_index: int) -> PathResult:
    """A stand-in: ADL deleverages on every path, pro rata socializes path_index USD, the rest leave it uncovered."""
    seed = config.path_seed(path_index)
    method = config.protocol.socialized_loss_method
    metrics = dict.fromkeys(study_metrics(config.book_params()), 0)
    if method == "adl":
        metrics |= {"deleveragings": 1, "accounts_deleveraged": 3, bearer_metric("short"): WAD}
    elif method == "pro_rata":
        metrics |= {"socialized_loss_wad": path_index * WAD, bearer_metric("large"): path_index * WAD}
    else:
        metrics["uncovered_loss_wad"] = 2 * WAD
    series = {name: np.zeros(config.run.steps + 1) for name in SERIES}
    return PathResult(path_index, int(seed.entropy), tuple(seed.spawn_key), metrics, series)  # type: ignore[arg-type]


def test_compare_methods_runs_every_method_and_writes_the_comparison(tmp_path: Path) -> None:
    table = compare_methods(CONFIG, tmp_path, task=method_task, **RUN)
    assert list(table.index) == [m.value for m in SocializedLossMethod]
    assert table.at["adl", "accounts_deleveraged_mean"] == 3.0
    assert table.at["adl", "borne_short_mean_usd"] == 1.0
    assert table.at["pro_rata", "shortfall_var95_usd"] == 18.0
    assert table.at["pro_rata", "borne_large_mean_usd"] == 9.5
    assert table.at["profit_haircut", "uncovered_mean_usd"] == 2.0
    for m in SocializedLossMethod:
        assert (tmp_path / m.value / "manifest.json").exists()
    report = write_comparison(tmp_path, table, CONFIG)
    text = report.read_text()
    assert "| per path | pro_rata | adl | open_interest | profit_haircut |" in text
    assert "| shortfall, VaR 95 % | $18.00 | $0.00 | $2.00 | $2.00 |" in text
    assert "| accounts deleveraged | 0.00 | 3.00 | 0.00 | 0.00 |" in text
    assert (tmp_path / "loss_bearers.png").stat().st_size > 0
    written = pd.read_csv(tmp_path / "comparison.csv", index_col="method")
    assert written.at["pro_rata", "shortfall_mean_usd"] == 9.5
    # resumable: a second call runs nothing and gives the same table
    again = compare_methods(CONFIG, tmp_path, task=method_task, **RUN)
    pd.testing.assert_frame_equal(again, table)


def test_compare_methods_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="StudyConfig"):
        compare_methods({"run": {}}, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="SocializedLossMethod"):
        compare_methods(CONFIG, tmp_path, methods=("adl",))  # type: ignore[arg-type]


def test_ledger_adds_charges_give_ups_haircuts_and_pending_losses() -> None:
    ledger = LossLedger()
    mark = {0: 50_000 * WAD}.__getitem__
    ledger.record([LossCharged("0xa", 0, 4), GainsCharged("0xa", "0xb", 0, 3), ProfitHaircut("0xa", 5, 0)], mark)
    # a counterparty buys 0.1 at 5,200 against a mark of 5,000: it gives up 200
    ledger.record([Deleveraged("0xb", "0xc", 0, WAD // 10, 5_200 * WAD)], mark)
    state = ProtocolState(Roles("0xg"))
    state.account("0xa").positions[0] = Position(size=-2 * WAD, open_notional=-WAD, loss_snapshot=WAD)
    state.markets[0] = MarketState(loss_index_short=3 * WAD)
    # pending: ceil(2 * (3 - 1)) = 4 USD
    ledger.close(state, OpenPositions.of(state.accounts, ["0xa", "0xc", "0xnobody"]))
    assert ledger.borne == {"0xa": 12 + 4 * WAD, "0xc": 200 * WAD}
    assert ledger.deleveraged == {"0xc"}
    groups = {"0xa": ("small", "long"), "0xc": ("market_maker",)}
    assert ledger.by_group(groups) == dict.fromkeys(BEARER_GROUPS, 0) | {
        "small": 12 + 4 * WAD,
        "long": 12 + 4 * WAD,
        "market_maker": 200 * WAD,
    }


def test_ledger_charges_unwritten_accounts_by_group_as_one_by_one() -> None:
    """A path's state over its book's: the accounts it never wrote are charged a group at a time,
    exactly what reading every account one by one charges (ceil per account)."""
    book = ProtocolState(Roles("0xg"))
    sizes = [3, -7, WAD, -(10**21 + 1), 2 * WAD, -5, 0]
    addresses = [f"0x{i}" for i in range(len(sizes))]
    for a, size in zip(addresses, sizes, strict=True):
        if size:
            book.account(a).positions[0] = Position(size=size, open_notional=size, loss_snapshot=WAD // 3)
    book.markets[0] = MarketState()
    path = book.fork()
    path.account("0x1").positions[0].loss_snapshot = 2 * WAD  # written: settled further
    path.account("0x7").balance = 1  # created by the path, holds nothing
    path.markets[0] = MarketState(loss_index_long=WAD // 3 + 10**17 + 1, loss_index_short=2 * WAD + 10**9 + 7)
    grouped, one_by_one = LossLedger(), LossLedger()
    grouped.close(path, OpenPositions.of(book.accounts, [*addresses, "0x7"]))
    one_by_one.close(path, OpenPositions.of(path.accounts, [*addresses, "0x7"]))  # not its base: one by one
    assert grouped.borne == one_by_one.borne
    assert one_by_one.borne["0x0"] == (3 * (10**17 + 1) + WAD - 1) // WAD  # borne: ceil of the charge
    assert one_by_one.borne["0x1"] == (7 * (10**9 + 7) + WAD - 1) // WAD


def test_book_groups_split_the_traders_at_the_median() -> None:
    book = build_book(CONFIG.override({"run.accounts": 40}))
    traders = book.accounts[:-2]
    assert book.groups[MARKET_MAKER] == ("market_maker",)
    assert book.groups[KEEPER] == ("keeper",)
    sizes = [book.groups[a][0] for a in traders]
    levers = [book.groups[a][1] for a in traders]
    # below the nearest-rank median: at most half of the traders (fewer when values tie)
    assert 0 < sizes.count("small") <= len(traders) // 2
    assert 0 < levers.count("low_leverage") <= len(traders) // 2
    assert {book.groups[a][2] for a in traders} == {"long", "short"}
