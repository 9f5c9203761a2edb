"""Sweeps (grid order, table, resume) and the threshold search (known step function, resume).

The stand-in task makes the socialized-loss probability a known step function of the margin
and the keeper latency: of the 20 paths, ``max(0, 20 - floor(100 * imf) - 2 * latency)`` lose.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from simulator.config import StudyConfig
from simulator.results import SERIES, PathResult, study_metrics
from simulator.runner import SimulationError
from simulator.store import ResultStore
from simulator.sweep import grid, run_sweep, search

CONFIG = StudyConfig.from_dict({"run": {"name": "sweep-test", "paths": 20, "steps": 2}})
IMF = "protocol.initial_margin_fraction"
LATENCY = "keepers.latency_blocks"


def losers(config: StudyConfig) -> int:
    imf = config.protocol.initial_margin_fraction
    if imf is None:
        imf = Decimal(config.params.market(config.protocol.markets[0]).initial_margin_fraction_wad) / WAD
    return max(0, 20 - int(imf * 100) - 2 * config.keepers.latency_blocks)


def step_task(config: StudyConfig, path_index: int) -> PathResult:
    seed = config.path_seed(path_index)
    metrics = dict.fromkeys(study_metrics(config.book_params()), 0)
    if path_index < losers(config):
        metrics["socialized_loss_wad"] = (path_index + 1) * WAD
        metrics["socialized_loss_events"] = 1
    metrics["liquidations"] = config.keepers.latency_blocks
    series = {name: np.zeros(config.run.steps + 1) for name in SERIES}
    return PathResult(path_index, int(seed.entropy), tuple(seed.spawn_key), metrics, series)


class Recorder:
    """In-process task recording (point's margin, latency, path) and failing where told."""

    def __init__(self, fail: tuple[Decimal, int, int] | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[Decimal | None, int, int]] = []

    def __call__(self, config: StudyConfig, path_index: int) -> PathResult:
        where = (config.protocol.initial_margin_fraction, config.keepers.latency_blocks, path_index)
        if where == self.fail:
            raise ZeroDivisionError(f"failing at {where}")
        self.calls.append(where)
        return step_task(config, path_index)


RUN = {"workers": 1, "progress": False}


def test_grid_order_last_axis_fastest() -> None:
    points = grid({IMF: [Decimal("0.05"), Decimal("0.1")], LATENCY: [0, 1, 3]})
    assert points == [
        {IMF: Decimal("0.05"), LATENCY: 0},
        {IMF: Decimal("0.05"), LATENCY: 1},
        {IMF: Decimal("0.05"), LATENCY: 3},
        {IMF: Decimal("0.1"), LATENCY: 0},
        {IMF: Decimal("0.1"), LATENCY: 1},
        {IMF: Decimal("0.1"), LATENCY: 3},
    ]
    assert grid({"oracle.heartbeat_s": [60]}) == [{"oracle.heartbeat_s": 60}]


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"protocol.initial_margin": [1]}, "'protocol.initial_margin': protocol has no field 'initial_margin'"),
        ({"margins.initial": [1]}, "sweep key 'margins.initial' must be 'section.field'"),
        ({"protocol": [1]}, "sweep key 'protocol' must be 'section.field'"),
        ({LATENCY: []}, "sweep axis 'keepers.latency_blocks' is empty"),
        ({LATENCY: "123"}, "sweep axis 'keepers.latency_blocks' must be a list"),
        ({LATENCY: [1, 1]}, "lists 1 twice"),
        ({LATENCY: [[1]]}, "is not a number or string"),
        ({}, "non-empty mapping"),
    ],
)
def test_bad_axes(axes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        grid(axes)  # type: ignore[arg-type]


def test_sweep_table_and_point_folders(tmp_path: Path) -> None:
    axes = {IMF: [Decimal("0.1"), Decimal("0.18")], LATENCY: [0, 3]}
    table = run_sweep(CONFIG, axes, tmp_path, task=step_task, **RUN)
    assert table["point"].tolist() == [0, 1, 2, 3]
    assert table[IMF].tolist() == [Decimal("0.1"), Decimal("0.1"), Decimal("0.18"), Decimal("0.18")]
    assert table[LATENCY].tolist() == [0, 3, 0, 3]
    # losers: 20 - 10 - 0 = 10, 20 - 10 - 6 = 4, 20 - 18 = 2, 0
    assert table["p_socialized_loss"].tolist() == [0.5, 0.2, 0.1, 0.0]
    assert table["liquidations_mean"].tolist() == [0.0, 3.0, 0.0, 3.0]
    assert table["dir"].tolist() == ["points/0000", "points/0001", "points/0002", "points/0003"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "sweep.parquet"), table, check_exact=True)
    manifest = ResultStore(tmp_path / "points" / "0003").manifest
    assert manifest["extra"] == {"sweep": {"point": 3, "overrides": {IMF: "0.18", LATENCY: 3}}}
    assert (tmp_path / "points" / "0003" / "summary.json").is_file()
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["axes"] == {IMF: ["0.1", "0.18"], LATENCY: [0, 3]}
    assert sweep["base_fingerprint"] == CONFIG.fingerprint()


def test_interrupted_sweep_resumes_point_by_point(tmp_path: Path) -> None:
    axes = {IMF: [Decimal("0.1"), Decimal("0.18")], LATENCY: [0, 3]}
    broken = Recorder(fail=(Decimal("0.18"), 3, 7))
    with pytest.raises(SimulationError, match="path 7 of study 'sweep-test' failed"):
        run_sweep(CONFIG, axes, tmp_path / "sweep", task=broken, chunk_size=5, **RUN)
    assert pd.read_parquet(tmp_path / "sweep" / "sweep.parquet")["point"].tolist() == [0, 1, 2]
    assert ResultStore(tmp_path / "sweep" / "points" / "0003").completed() == set(range(7))

    fixed = Recorder()
    table = run_sweep(CONFIG, axes, tmp_path / "sweep", task=fixed, chunk_size=5, **RUN)
    assert fixed.calls == [(Decimal("0.18"), 3, i) for i in range(7, 20)]  # only the missing paths
    fresh = run_sweep(CONFIG, axes, tmp_path / "fresh", task=step_task, **RUN)
    pd.testing.assert_frame_equal(table, fresh, check_exact=True)

    with pytest.raises(InvalidParameter, match="holds a different sweep"):
        run_sweep(CONFIG, {LATENCY: [0, 3]}, tmp_path / "sweep", task=step_task, **RUN)
    replaced = run_sweep(CONFIG, {LATENCY: [5]}, tmp_path / "sweep", task=step_task, resume=False, **RUN)
    assert replaced[LATENCY].tolist() == [5]
    assert sorted(p.name for p in (tmp_path / "sweep" / "points").iterdir()) == ["0000"]


def test_every_point_is_checked_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"sweep point 1 .*protocol.initial_margin_fraction"):
        run_sweep(CONFIG, {IMF: ["0.1", "a tenth"]}, tmp_path, task=step_task, **RUN)
    assert not (tmp_path / "points").exists()
    with pytest.raises(InvalidParameter, match=r"unknown run options \['wokers'\]"):
        run_sweep(CONFIG, {IMF: ["0.1"]}, tmp_path, task=step_task, wokers=2)
    with pytest.raises(InvalidParameter, match="workers must be a positive integer, got 0"):
        run_sweep(CONFIG, {IMF: ["0.1"]}, tmp_path, task=step_task, workers=0, progress=False)


def test_search_decides_on_the_upper_bound(tmp_path: Path) -> None:
    # latency 1 (default): losers = 18 - floor(100 imf) of 20. One-sided 95 % Clopper-Pearson upper
    # bounds of k / 20: k = 5 -> 0.4556, k = 6 -> 0.5078, so the bound meets 0.5 from 5 losers,
    # i.e. imf >= 0.13 -- the point estimate (k / 20 <= 0.5) would already accept imf = 0.08.
    task = Recorder()
    result = search(CONFIG, IMF, "0.05", "0.5", threshold=0.5, tolerance="0.001", out_dir=tmp_path, task=task, **RUN)
    assert result.value == Decimal("0.13")
    assert result.metric_value == 0.25
    assert result.metric_upper == pytest.approx(0.4556, abs=1e-4)
    assert result.margin == pytest.approx(0.5 - 0.4556, abs=1e-4)
    assert (result.confidence, result.paths, result.paths_needed) == (0.95, 20, 5)
    assert result.tolerance == Decimal("0.001")
    assert not result.at_lower_bound
    assert result.monotone
    points = result.points
    assert points[IMF].iloc[0] == Decimal("0.5")
    assert points[IMF].iloc[1] == Decimal("0.05")
    below = points.loc[points[IMF] == Decimal("0.129")]  # evaluated: the estimate meets, the bound misses
    assert below["p_socialized_loss"].tolist() == [0.3]
    assert below["satisfies"].tolist() == [False]
    assert len(points) == 2 + 9  # the ends, then ceil(log2(450)) bisection steps
    assert points["satisfies"].tolist() == [bool(v <= 0.5) for v in points["upper"]]
    assert points["upper"].tolist() == points["p_socialized_loss_upper"].tolist()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "search.parquet"), points, check_exact=True)
    extra = ResultStore(tmp_path / "points" / "0000").manifest["extra"]
    assert extra == {"search": {"point": 0, "overrides": {IMF: "0.5"}}}

    again = Recorder()
    resumed = search(CONFIG, IMF, "0.05", "0.5", threshold=0.5, tolerance="0.001", out_dir=tmp_path, task=again, **RUN)
    assert again.calls == []
    assert resumed.value == Decimal("0.13")
    pd.testing.assert_frame_equal(resumed.points, points, check_exact=True)


def test_search_on_an_integer_field_and_at_the_lower_bound(tmp_path: Path) -> None:
    # imf 0.1 (default): losers = 10 - 2 latency; the bound meets 0.5 from 5 losers: latency >= 3
    found = search(CONFIG, LATENCY, 0, 50, threshold=0.5, out_dir=tmp_path / "int", task=step_task, **RUN)
    assert found.value == 3
    assert isinstance(found.value, int)
    assert found.tolerance == 1
    low = search(CONFIG, IMF, "0.17", "0.3", threshold=0.5, out_dir=tmp_path / "low", task=step_task, **RUN)
    assert low.value == Decimal("0.17")
    assert low.at_lower_bound
    assert low.tolerance == Decimal("0.001")  # a hundredth of the range's order of magnitude (0.1)
    assert len(low.points) == 2


def test_search_refuses_a_target_the_path_count_cannot_resolve(tmp_path: Path) -> None:
    # 0.1 % at 95 %: 1 - 0.05 ** (1 / n) <= 0.001 from n = 2,995 (the rule of three)
    with pytest.raises(InvalidParameter, match=r"20 paths cannot resolve p_socialized_loss <= 0.001: .*2,995 paths"):
        search(CONFIG, IMF, "0.05", "0.5", threshold=0.001, out_dir=tmp_path / "a", task=step_task, **RUN)
    assert not (tmp_path / "a").exists()  # refused before anything ran
    with pytest.raises(InvalidParameter, match=r"cannot resolve bad_debt_p99_usd <= 5: .*299 paths"):
        search(CONFIG, IMF, "0.05", "0.5", metric="bad_debt_p99_usd", threshold=5.0, out_dir=tmp_path, **RUN)
    # --extend: 10 % needs 29 paths (1 - 0.05 ** (1 / 29) = 0.0981); the first 20 paths are kept
    first = search(CONFIG, IMF, "0.17", "0.3", threshold=0.5, out_dir=tmp_path / "b", task=step_task, **RUN)
    assert first.paths == 20
    task = Recorder()
    found = search(CONFIG, IMF, "0.17", "0.3", threshold=0.1, extend=True, out_dir=tmp_path / "c", task=task, **RUN)
    assert (found.paths, found.paths_needed, found.value) == (29, 29, Decimal("0.18"))
    assert found.metric_upper == pytest.approx(1 - 0.05 ** (1 / 29), rel=1e-9)


def test_search_bad_inputs(tmp_path: Path) -> None:
    kwargs = {"out_dir": tmp_path, "task": step_task, "threshold": 0.5, **RUN}
    with pytest.raises(InvalidParameter, match=r"lo must be below hi, got lo=0\.2, hi=0\.1"):
        search(CONFIG, IMF, "0.2", "0.1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="lo must be below hi"):
        search(CONFIG, IMF, "0.1", Decimal("0.10"), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="protocol has no field 'imf'"):
        search(CONFIG, "protocol.imf", "0.1", "0.2", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="metric 'p_loss' is not a summary field"):
        search(CONFIG, IMF, "0.1", "0.2", metric="p_loss", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="integer field: lo, hi and tolerance must be integers"):
        search(CONFIG, LATENCY, 0, "2.5", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="tolerance must be positive"):
        search(CONFIG, IMF, "0.1", "0.2", tolerance="0", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="not a numeric field"):
        search(CONFIG, "price.model", "0", "1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="lo must be a decimal number"):
        search(CONFIG, IMF, "low", "0.2", **kwargs)  # type: ignore[arg-type]
    # the target is missed even at hi (20 - 12 - 2 = 6 of 20 lose): one sentence after evaluating hi only
    with pytest.raises(InvalidParameter, match=r"misses 0.5 even at .* = 0.12: the point estimate 0.3 meets it but"):
        search(CONFIG, IMF, "0.05", "0.12", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="confidence must be a level in"):
        search(CONFIG, IMF, "0.05", "0.12", confidence=1.5, **kwargs)  # type: ignore[arg-type]
    assert len(pd.read_parquet(tmp_path / "search.parquet")) == 1
