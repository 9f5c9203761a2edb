"""Study plots: valid PNGs from small synthetic inputs, atomic writes, and refused bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from simulator import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEPS = 120


def _series(paths: int = 3) -> dict[int, dict[str, NDArray[np.float64]]]:
    rng = np.random.default_rng(7)
    out: dict[int, dict[str, NDArray[np.float64]]] = {}
    for index in range(paths):
        market = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, STEPS + 1)))
        oracle = np.maximum.accumulate(np.arange(STEPS + 1) // 10 * 10)  # published every 10 steps
        trusted = np.ones(STEPS + 1)
        trusted[40:55] = 0.0
        trusted[-3:] = 0.0  # a reduce-only run at the very end
        out[index * 5] = {
            "market_price": market,
            "oracle_price": market[oracle],
            "insurance_fund": 1e6 - np.cumsum(rng.random(STEPS + 1)) * 1e3,
            "bad_debt": np.zeros(STEPS + 1),
            "liquidated_notional": np.zeros(STEPS + 1),
            "trusted": trusted,
        }
    return out


def _metrics(paths: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    bad = np.where(rng.random(paths) < 0.6, 0.0, rng.lognormal(10.0, 2.0, paths))
    return pd.DataFrame({"path_index": range(paths), "bad_debt_usd": bad})


def _sweep() -> pd.DataFrame:
    rows = [
        {
            "protocol.initial_margin_fraction": imf,
            "keepers.latency_blocks": lat,
            "p_socialized_loss": 0.01 * i,
            "bad_debt_usd_p95": 1e5 * i,
        }
        for i, (imf, lat) in enumerate((a, b) for a in ("0.05", "0.1", "0.2") for b in (1, 5))
    ]
    return pd.DataFrame(rows)


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000  # axes, lines and text, not an empty canvas
    assert not list(path.parent.glob(f".{path.name}.*"))  # no temporary file left behind


def test_price_paths_png(tmp_path: Path) -> None:
    out = plots.plot_price_paths(_series(), tmp_path / "price_paths.png", step_s=60)
    assert out == tmp_path / "price_paths.png"
    _assert_png(out)


def test_price_paths_of_one_path_and_long_grid(tmp_path: Path) -> None:
    series = {0: _series(1)[0]}
    _assert_png(plots.plot_price_paths(series, tmp_path / "one.png", step_s=3_600))


def test_insurance_fund_png(tmp_path: Path) -> None:
    _assert_png(plots.plot_insurance_fund(_series(), tmp_path / "insurance_fund.png", step_s=60))


def test_bad_debt_png(tmp_path: Path) -> None:
    _assert_png(plots.plot_bad_debt(_metrics(), tmp_path / "bad_debt.png"))


def test_bad_debt_all_zero_and_from_wad_decimals(tmp_path: Path) -> None:
    from decimal import Decimal

    zero = pd.DataFrame({"bad_debt_wad": [Decimal(0)] * 5})
    _assert_png(plots.plot_bad_debt(zero, tmp_path / "zero.png"))


def test_heatmap_png(tmp_path: Path) -> None:
    out = plots.plot_sweep_heatmap(
        _sweep(),
        tmp_path / "heatmap.png",
        axes=["protocol.initial_margin_fraction", "keepers.latency_blocks"],
        metric="p_socialized_loss",
    )
    _assert_png(out)


def test_heatmap_with_a_missing_cell(tmp_path: Path) -> None:
    table = _sweep().iloc[1:]
    out = plots.plot_sweep_heatmap(
        table,
        tmp_path / "h.png",
        axes=["keepers.latency_blocks", "protocol.initial_margin_fraction"],
        metric="bad_debt_usd_p95",
    )
    _assert_png(out)


def test_heatmap_refuses_one_axis(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="exactly two"):
        plots.plot_sweep_heatmap(
            _sweep(), tmp_path / "h.png", axes=["protocol.initial_margin_fraction"], metric="p_socialized_loss"
        )
    assert not (tmp_path / "h.png").exists()


def test_heatmap_refuses_unknown_column_and_duplicates(tmp_path: Path) -> None:
    axes = ["protocol.initial_margin_fraction", "keepers.latency_blocks"]
    with pytest.raises(InvalidParameter, match="no column 'p_nothing'"):
        plots.plot_sweep_heatmap(_sweep(), tmp_path / "h.png", axes=axes, metric="p_nothing")
    doubled = pd.concat([_sweep(), _sweep().iloc[:1]])
    with pytest.raises(InvalidParameter, match="more than once"):
        plots.plot_sweep_heatmap(doubled, tmp_path / "h.png", axes=axes, metric="p_socialized_loss")


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"\.png"):
        plots.plot_bad_debt(_metrics(), tmp_path / "bad_debt.jpg")
    with pytest.raises(InvalidParameter, match="does not exist"):
        plots.plot_bad_debt(_metrics(), tmp_path / "missing" / "bad_debt.png")
    with pytest.raises(InvalidParameter, match="bad_debt_usd"):
        plots.plot_bad_debt(pd.DataFrame({"x": [1.0]}), tmp_path / "b.png")
    with pytest.raises(InvalidParameter, match="at least one path"):
        plots.plot_price_paths({}, tmp_path / "p.png")
    broken = {0: {"market_price": np.ones(3), "oracle_price": np.ones(2), "trusted": np.ones(3)}}
    with pytest.raises(InvalidParameter, match="one length"):
        plots.plot_price_paths(broken, tmp_path / "p.png")
    with pytest.raises(InvalidParameter, match="lacks series"):
        plots.plot_insurance_fund({0: {"market_price": np.ones(3)}}, tmp_path / "f.png")
    with pytest.raises(InvalidParameter, match="step_s"):
        plots.plot_insurance_fund(_series(), tmp_path / "f.png", step_s=0)
    assert list(tmp_path.iterdir()) == []


def test_reduce_only_spans() -> None:
    trusted = np.array([1, 0, 0, 1, 1, 0, 1, 0], dtype=np.float64)
    assert plots._reduce_only_spans(trusted) == [(1, 3), (5, 6), (7, 8)]
    assert plots._reduce_only_spans(np.ones(4)) == []


def test_value_at_risk_and_formats() -> None:
    assert plots.value_at_risk([0.0] * 19 + [100.0]) == 0.0  # nearest rank: the 19th smallest of 20
    assert plots.value_at_risk([0.0] * 18 + [50.0, 100.0]) == 50.0
    assert plots.format_metric("p_socialized_loss", 0.0125) == "1.25%"
    assert plots.format_metric("bad_debt_usd_p95", 1_234_567.0) == "$1.23M"
    assert plots.format_metric("reduce_only_s_mean", 7_200) == "2.00 h"
    assert plots.format_metric("accounts_liquidated", 12.0) == "12"
    assert plots.format_usd(-2_500.0) == "-$2.5k"
