"""The results folder: exact round trip, atomic files, manifest, fingerprint guard, locking."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from protocol.errors import InvalidParameter
from simulator.config import StudyConfig
from simulator.results import METRICS, SERIES, MetricKind, study_metrics
from simulator.store import (
    FORMAT,
    PathRecord,
    ResultStore,
    lock_folder,
    usd_column,
    usd_to_wad,
    wad_to_usd,
)

CONFIG = StudyConfig.from_dict({"run": {"name": "store-test", "paths": 6, "steps": 4, "seed": 2**100 + 3}})
WADS = [(2**100 + 1), 10**38 - 1, -(2**64 + 7), 0, 1, 123_456_789 * 10**18]


def record(i: int, *, config: StudyConfig = CONFIG, wad: int | None = None, flag: int = 1) -> PathRecord:
    """A path with distinct exact values: WAD metrics beyond 2**64, counts, a flag."""
    seed = config.path_seed(i)
    metrics: dict[str, int] = {}
    for k, (name, (kind, _)) in enumerate(study_metrics(config.book_params()).items()):
        if kind is MetricKind.WAD:
            metrics[name] = WADS[(i + k) % len(WADS)] if wad is None else wad
        elif kind is MetricKind.FLAG:
            metrics[name] = flag
        else:
            metrics[name] = 2**62 + 1000 * i + k
    series = {name: np.linspace(0.1, 1.0 + i, config.run.steps + 1) / 3 for name in SERIES}
    return PathRecord(i, int(seed.entropy), tuple(seed.spawn_key), metrics, series)


def test_wad_usd_conversion_is_exact_beyond_28_digits() -> None:
    # Decimal(x).scaleb(-18) rounds to the context's 28 digits; the store must not
    wad = 2**120 + 12345
    usd = wad_to_usd(wad)
    assert usd_to_wad(usd) == wad
    assert str(usd) == f"{str(wad)[:-18]}.{str(wad)[-18:]}"
    assert usd_to_wad(Decimal("-1.5")) == -(3 * 10**18) // 2
    assert usd_to_wad(Decimal("12E+3")) == 12_000 * 10**18
    with pytest.raises(InvalidParameter, match="more than 18 decimal places"):
        usd_to_wad(Decimal("1e-19"))


def test_round_trip_is_exact_and_sorted(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "study", CONFIG, keep_series=2)
    written = {i: record(i) for i in range(6)}
    store.write([written[4], written[1]])  # out of order, across parts
    store.write([written[5], written[0], written[3]])
    assert store.completed() == {0, 1, 3, 4, 5}
    assert sorted(p.name for p in (tmp_path / "study" / "metrics").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]

    df = ResultStore(tmp_path / "study").read_metrics()
    assert df["path_index"].tolist() == [0, 1, 3, 4, 5]
    for row in df.itertuples(index=False):
        original = written[row.path_index]
        assert row.seed_entropy == str(2**100 + 3)
        assert row.spawn_key == f"1,{row.path_index}"
        for name, (kind, _) in study_metrics(CONFIG.book_params()).items():
            value = getattr(row, name)
            if kind is MetricKind.WAD:
                assert isinstance(value, Decimal)
                assert usd_to_wad(value) == original.metrics[name]
                assert getattr(row, usd_column(name)) == float(value)
            elif kind is MetricKind.FLAG:
                assert bool(value) is True
            else:
                assert int(value) == original.metrics[name]
    assert df["insurance_fund_depleted"].dtype == bool
    assert df["liquidations"].dtype == np.int64
    assert df["bad_debt_usd"].dtype == np.float64
    # the column types written to Parquet
    schema = pq.read_schema(tmp_path / "study" / "metrics" / "part-00000.parquet")
    assert str(schema.field("bad_debt_wad").type) == "decimal128(38, 18)"
    assert str(schema.field("liquidations").type) == "int64"
    assert str(schema.field("insurance_fund_depleted").type) == "bool"
    assert str(schema.field("seed_entropy").type) == "string"


def test_series_of_first_paths_only_bit_exact(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, CONFIG, keep_series=2)
    store.write([record(i) for i in range(4)])
    series = store.read_series()
    assert sorted(series) == [0, 1]
    for i in (0, 1):
        assert sorted(series[i]) == sorted(SERIES)
        for name in SERIES:
            assert np.array_equal(series[i][name], record(i).series[name])  # type: ignore[index]
    assert sorted(store.read_series([1])) == [1]


def test_manifest_records_the_study(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, CONFIG, extra={"sweep": {"point": 3}})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == FORMAT
    assert manifest["fingerprint"] == CONFIG.fingerprint()
    assert manifest["n_paths"] == 6
    assert manifest["root_seed"] == 2**100 + 3
    assert "spawn_key=(1, i)" in manifest["seed_scheme"]
    assert manifest["novation_version"]
    assert manifest["extra"] == {"sweep": {"point": 3}}
    assert set(manifest["metrics"]) == set(study_metrics(CONFIG.book_params())) > set(METRICS)
    assert StudyConfig.from_dict(manifest["config"]) == CONFIG
    assert ResultStore(tmp_path).config() == CONFIG
    assert store.n_paths == 6


def test_failed_write_leaves_no_visible_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(tmp_path, CONFIG)
    real = pq.write_table

    def crash(table: object, where: object, **kwargs: object) -> None:
        real(table, where, **kwargs)  # the bytes are out ...
        raise OSError("disk full")  # ... but the rename never happens

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        store.write([record(0)])
    monkeypatch.undo()
    assert list((tmp_path / "metrics").iterdir()) == []
    assert store.completed() == set()
    assert store.write([record(0)]) == tmp_path / "metrics" / "part-00000.parquet"
    assert store.completed() == {0}


def test_stale_temporaries_of_a_killed_writer_are_ignored_and_removed(tmp_path: Path) -> None:
    ResultStore(tmp_path, CONFIG).write([record(0)])
    stale = tmp_path / "metrics" / ".part-00001.parquet.k3j.tmp"
    stale.write_bytes(b"PAR1 half a file")
    (tmp_path / "series" / ".path-000001.npz.x.tmp").write_bytes(b"")
    store = ResultStore(tmp_path, CONFIG)
    assert store.completed() == {0}
    assert not stale.exists()
    assert list((tmp_path / "series").glob("*.tmp")) == []


def test_other_study_in_folder_is_refused_unless_overwritten(tmp_path: Path) -> None:
    ResultStore(tmp_path, CONFIG).write([record(0), record(1)])
    other = CONFIG.override({"run.seed": 7})
    with pytest.raises(InvalidParameter, match=r"different study .*pick another output folder or replace its results"):
        ResultStore(tmp_path, other)
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    store = ResultStore(tmp_path, other, resume=False)
    assert store.completed() == set()
    assert store.fingerprint == other.fingerprint()
    assert not (tmp_path / "summary.json").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the store's own files go


def test_a_part_file_of_another_study_is_refused(tmp_path: Path) -> None:
    ResultStore(tmp_path / "a", CONFIG).write([record(0)])
    other = CONFIG.override({"run.seed": 7})
    b = ResultStore(tmp_path / "b", other)
    shutil.copy(tmp_path / "a" / "metrics" / "part-00000.parquet", tmp_path / "b" / "metrics" / "part-00000.parquet")
    with pytest.raises(InvalidParameter, match="belongs to another study"):
        b.completed()


def test_unfit_values_are_refused_with_the_metric_named(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, CONFIG)
    with pytest.raises(InvalidParameter, match=r"bad_debt_wad of path 0 .* decimal128\(38, 18\)"):
        store.write([record(0, wad=10**38)])
    with pytest.raises(InvalidParameter, match="insurance_fund_depleted of path 0 is a flag"):
        store.write([record(0, flag=2)])
    assert store.completed() == set()


def test_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"no manifest\.json"):
        ResultStore(tmp_path / "nothing")
    (tmp_path / "stray" / "metrics").mkdir(parents=True)
    (tmp_path / "stray" / "metrics" / "x.parquet").write_bytes(b"")
    with pytest.raises(InvalidParameter, match=r"metrics/ folder but no manifest\.json"):
        ResultStore(tmp_path / "stray", CONFIG)
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidParameter, match="not a folder"):
        ResultStore(tmp_path / "file", CONFIG)
    with pytest.raises(InvalidParameter, match="keep_series"):
        ResultStore(tmp_path / "k", CONFIG, keep_series=-1)


def test_empty_store_reads_an_empty_table(tmp_path: Path) -> None:
    df = ResultStore(tmp_path, CONFIG).read_metrics()
    assert len(df) == 0
    assert {"path_index", "bad_debt_wad", "bad_debt_usd"} <= set(df.columns)


def test_one_writer_per_folder(tmp_path: Path) -> None:
    with (
        lock_folder(tmp_path / "run"),
        pytest.raises(InvalidParameter, match="another run is writing"),
        lock_folder(tmp_path / "run"),
    ):
        pass
    with lock_folder(tmp_path / "run"):  # released
        pass
