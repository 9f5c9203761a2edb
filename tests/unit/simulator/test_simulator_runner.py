"""run_study: same table on every backend, resume after a failure, clear errors for bad input.

The task here is a deterministic stand-in for the engine (metrics drawn from the path's own
seed), which is all the runner's infrastructure needs; engine-backed runs are tested elsewhere.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from protocol.errors import InvalidParameter
from simulator.config import StudyConfig
from simulator.results import SERIES, MetricKind, PathResult, study_metrics
from simulator.runner import SimulationError, StudyRun, run_study
from simulator.store import ResultStore, lock_folder

CONFIG = StudyConfig.from_dict({"run": {"name": "runner-test", "paths": 24, "steps": 6}})


def fake_task(config: StudyConfig, path_index: int) -> PathResult:
    """Metrics drawn from the path's seed: WAD amounts up to ~2**102, counts, a flag."""
    seed = config.path_seed(path_index)
    rng = np.random.default_rng(seed)
    metrics: dict[str, int] = {}
    for name, (kind, _) in study_metrics(config.book_params()).items():
        if kind is MetricKind.WAD:
            metrics[name] = int(rng.integers(0, 2**62)) * int(rng.integers(1, 2**40))
        elif kind is MetricKind.FLAG:
            metrics[name] = int(rng.random() < 0.3)
        else:
            metrics[name] = int(rng.integers(0, 10**6))
    series = {name: rng.standard_normal(config.run.steps + 1) for name in SERIES}
    return PathResult(path_index, int(seed.entropy), tuple(seed.spawn_key), metrics, series)


def failing_at_13(config: StudyConfig, path_index: int) -> PathResult:
    if path_index == 13:
        raise ZeroDivisionError("division by zero in path 13")
    return fake_task(config, path_index)


class Recorder:
    """An in-process task that records the paths it ran and can fail at one of them."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.calls: list[int] = []

    def __call__(self, config: StudyConfig, path_index: int) -> PathResult:
        if path_index == self.fail_at:
            raise ZeroDivisionError(f"division by zero in path {path_index}")
        self.calls.append(path_index)
        return fake_task(config, path_index)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The whole study run in this process, in one go."""
    out = tmp_path_factory.mktemp("reference")
    run = run_study(CONFIG, out, task=fake_task, workers=1, progress=False)
    assert (run.n_paths, run.n_run_now, run.n_resumed, run.backend) == (24, 24, 0, "in-process")
    return run.metrics()


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_every_backend_stores_the_same_table(tmp_path: Path, reference: pd.DataFrame) -> None:
    from distributed import Client, LocalCluster

    series = ResultStore(tmp_path / "unused", CONFIG).read_series()
    assert series == {}
    runs: list[StudyRun] = [
        run_study(CONFIG, tmp_path / "one", task=fake_task, workers=1, chunk_size=5, progress=False),
        run_study(CONFIG, tmp_path / "two", task=fake_task, workers=2, chunk_size=5, progress=False),
    ]
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        runs.append(run_study(CONFIG, tmp_path / "dask", task=fake_task, scheduler=client, progress=False))
        runs.append(
            run_study(CONFIG, tmp_path / "addr", task=fake_task, scheduler=cluster.scheduler_address, progress=False)
        )
    assert [r.backend for r in runs] == ["in-process", "processes", "dask", "dask"]
    assert [r.workers for r in runs] == [1, 2, 2, 2]
    assert runs[3].scheduler == cluster.scheduler_address
    kept = runs[0].store().read_series()
    assert sorted(kept) == list(range(24))  # every path keeps its series by default
    for run in runs:
        assert (run.n_paths, run.n_run_now, run.n_resumed) == (24, 24, 0)
        assert_same(run.metrics(), reference)
        other = run.store().read_series()
        assert sorted(other) == sorted(kept)
        assert all(np.array_equal(other[i][s], kept[i][s]) for i in kept for s in SERIES)


def test_a_failure_keeps_finished_paths_and_a_rerun_resumes(tmp_path: Path, reference: pd.DataFrame) -> None:
    out = tmp_path / "study"
    broken = Recorder(fail_at=9)
    with pytest.raises(
        SimulationError, match=r"path 9 of study 'runner-test' failed .*9 of 24 paths are stored"
    ) as info:
        run_study(CONFIG, out, task=broken, workers=1, chunk_size=4, progress=False)
    assert info.value.path_index == 9
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert "ZeroDivisionError" in info.value.remote_traceback
    assert broken.calls == list(range(9))  # stopped at the failure
    assert ResultStore(out).completed() == set(range(9))  # whole chunks 0-7 and path 8 of the failed chunk

    fixed = Recorder()
    run = run_study(CONFIG, out, task=fixed, workers=1, chunk_size=4, progress=False)
    assert fixed.calls == list(range(9, 24))
    assert (run.n_run_now, run.n_resumed) == (15, 9)
    assert_same(run.metrics(), reference)

    again = Recorder()
    done = run_study(CONFIG, out, task=again, workers=1, progress=False)
    assert again.calls == []
    assert (done.n_run_now, done.n_resumed, done.chunk_size) == (0, 24, 0)


def test_a_failure_on_worker_processes_keeps_finished_chunks(tmp_path: Path, reference: pd.DataFrame) -> None:
    out = tmp_path / "study"
    with pytest.raises(SimulationError, match="path 13 of study") as info:
        run_study(CONFIG, out, task=failing_at_13, workers=2, chunk_size=3, progress=False)
    assert info.value.path_index == 13
    assert "division by zero in path 13" in info.value.remote_traceback
    stored = ResultStore(out).completed()
    assert set(range(12)) <= stored  # every chunk before the failing one 12-14 finished first or in flight ...
    assert 12 in stored
    assert 13 not in stored
    run = run_study(CONFIG, out, task=fake_task, workers=2, chunk_size=3, progress=False)
    assert run.n_resumed == len(stored)
    assert_same(run.metrics(), reference)


def test_overwrite_and_other_study_in_folder(tmp_path: Path) -> None:
    run_study(CONFIG, tmp_path, task=fake_task, workers=1, progress=False)
    other = CONFIG.override({"run.seed": 1})
    with pytest.raises(
        InvalidParameter,
        match=r"pick another output folder or replace its results \(--overwrite on the command line, resume=False",
    ):
        run_study(other, tmp_path, task=fake_task, workers=1, progress=False)
    task = Recorder()
    run = run_study(other, tmp_path, task=task, workers=1, resume=False, progress=False)
    assert task.calls == list(range(24))
    assert run.n_resumed == 0
    assert run.store().fingerprint == other.fingerprint()


def test_progress_bar_counts_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_study(CONFIG, tmp_path, task=fake_task, workers=1, progress=True)
    err = capsys.readouterr().err
    assert "runner-test" in err
    assert "24/24" in err
    assert "paths/s" in err


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with lock_folder(tmp_path), pytest.raises(InvalidParameter, match="another run is writing"):
        run_study(CONFIG, tmp_path, task=fake_task, workers=1, progress=False)


def wrong_index(config: StudyConfig, path_index: int) -> PathResult:
    return fake_task(config, (path_index + 1) % config.run.paths)


def wrong_seed(config: StudyConfig, path_index: int) -> PathResult:
    r = fake_task(config, path_index)
    return PathResult(path_index, r.seed_entropy + 1, r.spawn_key, r.metrics, r.series)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (wrong_index, "returned path 1 when asked for path 0"),
        (wrong_seed, r"must use config.path_seed\(0\)"),
        (lambda config, i: None, "returned NoneType, not a PathResult"),
    ],
)
def test_a_task_breaking_the_contract_names_the_path(tmp_path: Path, task: object, message: str) -> None:
    with pytest.raises(SimulationError, match=message) as info:
        run_study(CONFIG, tmp_path, task=task, workers=1, progress=False)  # type: ignore[arg-type]
    assert info.value.path_index == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "workers must be a positive integer, got 0"),
        ({"workers": -2}, "workers must be a positive integer"),
        ({"workers": True}, "workers must be a positive integer"),
        ({"workers": 1.5}, "workers must be a positive integer"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"scheduler": 8786}, "scheduler must be a Dask scheduler address"),
        ({"scheduler": "tcp://127.0.0.1:8786", "workers": 2}, "leave it unset when a Dask scheduler is given"),
        ({"task": "simulate"}, "task must be a callable"),
        ({"progress": "yes"}, "progress must be True or False"),
        ({"resume": None}, "resume must be True or False"),
        ({"connect_timeout_s": 0}, "connect_timeout_s must be a positive number"),
        ({"keep_series": -1}, "keep_series must be a non-negative integer"),
        ({"task": lambda config, i: fake_task(config, i), "workers": 2}, "cannot be sent to worker processes"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    kwargs = {"task": fake_task, "progress": False, **kwargs}
    with pytest.raises(InvalidParameter, match=message):
        run_study(CONFIG, tmp_path, **kwargs)  # type: ignore[arg-type]


def test_bad_config_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="config must be a StudyConfig"):
        run_study({"run": {}}, tmp_path)  # type: ignore[arg-type]
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidParameter, match="not a folder"):
        run_study(CONFIG, tmp_path / "file", task=fake_task, workers=1, progress=False)


def test_a_dead_scheduler_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InvalidParameter, match=r"no Dask scheduler answered within 0.5 s") as info:
        run_study(
            CONFIG, tmp_path, task=fake_task, scheduler=f"tcp://127.0.0.1:{port}", connect_timeout_s=0.5, progress=False
        )
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert ResultStore(tmp_path).completed() == set()


def test_extending_a_study_runs_only_the_new_paths(tmp_path: Path, reference: pd.DataFrame) -> None:
    """16 -> 24 paths: the first 16 are kept, only 8 run, and the table is the 24-path run's."""
    task = Recorder()
    run_study(CONFIG.override({"run.paths": 16}), tmp_path, task=task, workers=1, progress=False)
    assert task.calls == list(range(16))
    task.calls.clear()
    run = run_study(CONFIG, tmp_path, task=task, workers=1, progress=False)
    assert (run.n_paths, run.n_run_now, run.n_resumed) == (24, 8, 16)
    assert task.calls == list(range(16, 24))
    pd.testing.assert_frame_equal(run.metrics(), reference)
    assert run.store().manifest["path_counts"] == [16, 24]
    # cutting back reads the first paths and keeps the others for a later extension
    back = run_study(CONFIG.override({"run.paths": 10}), tmp_path, task=task, workers=1, progress=False)
    assert back.n_run_now == 0
    pd.testing.assert_frame_equal(back.metrics(), reference.iloc[:10])
