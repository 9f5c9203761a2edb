"""A study's results folder: manifest, per-path metrics in Parquet, plot series of a few paths.

Layout of ``out_dir``::

    manifest.json                 the study (config, fingerprint, seed scheme, versions)
    metrics/part-00000.parquet    one file per finished chunk of paths
    metrics/part-00001.parquet    ...
    series/path-000000.npz        per-step series of the first ``keep_series`` paths (default: every
                                  path, so a report draws the worst ones and fans over all)

Every file is written atomically: a temporary file in the same folder, flushed to disk, then
:func:`os.replace` over the final name. A part file is the commit mark of its paths: a chunk's
series are written before its part file, so a crash at any moment leaves either a whole chunk or
nothing of it, and :meth:`ResultStore.completed` (which reads only the part files) is exactly the
set of paths a resumed run may skip.

Money: every ``*_wad`` metric (a USD WAD integer in :class:`~simulator.results.PathResult`)
is stored exactly as ``decimal128(38, 18)`` USD, so ``x`` WAD is the decimal ``x * 10**-18``
and reads back to the same integer (:func:`usd_to_wad`). Counts and seconds are ``int64``, flags
``bool``. Each row also carries the path's seed (``seed_entropy`` as a decimal string, since it
may exceed 64 bits, and ``spawn_key`` as ``"1,7"``), which reproduces it on its own.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from simulator.config import MAX_PATHS, StudyConfig
from simulator.results import MetricKind, PathResult, study_metrics

if sys.platform != "win32":
    import fcntl

__all__ = [
    "FORMAT",
    "SEED_SCHEME",
    "PathRecord",
    "ResultStore",
    "atomic_write",
    "lock_folder",
    "usd_column",
    "usd_to_wad",
    "wad_to_usd",
    "write_json_atomic",
    "write_parquet_atomic",
]

#: Format tag written in the manifest; bumped when the layout changes.
FORMAT = "novation-study/2"
#: How the per-path seeds derive from ``run.seed`` (recorded in the manifest).
SEED_SCHEME = (
    "numpy SeedSequence: path i uses SeedSequence(run.seed, spawn_key=(1, i)), the shared trader book "
    "SeedSequence(run.seed, spawn_key=(0,)); seed_entropy and spawn_key of each row reproduce its path"
)

_WAD_DECIMALS = 18
_DECIMAL_TYPE = pa.decimal128(38, _WAD_DECIMALS)
#: Largest WAD integer a decimal128(38, 18) column holds.
_MAX_WAD = 10**38 - 1
_INT64 = (-(2**63), 2**63 - 1)
_PART = re.compile(r"part-(\d{5,})\.parquet")
_SERIES = re.compile(r"path-(\d{6,})\.npz")
_FINGERPRINT_KEY = b"novation.fingerprint"
_OWN_ENTRIES = ("manifest.json", "metrics", "series", "summary.json")


# --------------------------------------------------------------------------------------------
# atomic files


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit flush it to disk and rename it over
    ``path``. On an exception the temporary file is removed and ``path`` is untouched."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, obj: object) -> Path:
    """Write ``obj`` as indented JSON (UTF-8) atomically; returns the path."""
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    with atomic_write(path, "w") as fh:
        fh.write(text)
    return Path(path)


def write_parquet_atomic(path: str | Path, table: pa.Table) -> Path:
    """Write an Arrow table as Parquet atomically; returns the path."""
    with atomic_write(path, "wb") as fh:
        pq.write_table(table, fh)
    return Path(path)


@contextlib.contextmanager
def lock_folder(out_dir: str | Path) -> Iterator[Path]:
    """Create ``out_dir`` and hold its writer lock (``out_dir/.lock``) for the block.

    The lock is an advisory ``flock`` the system releases when the process ends, even if killed,
    so it never goes stale; a second run writing into the same folder fails at once with
    InvalidParameter instead of duplicating paths. (No-op on Windows.)"""
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InvalidParameter(f"output folder {folder} exists and is not a folder; pick another path") from None
    except OSError as exc:
        raise InvalidParameter(f"cannot create output folder {folder}: {exc.strerror}") from None
    if sys.platform == "win32":  # pragma: no cover
        yield folder
        return
    with open(folder / ".lock", "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidParameter(
                f"another run is writing to {folder}; wait for it to finish or pick another output folder"
            ) from None
        yield folder


# --------------------------------------------------------------------------------------------
# exact money


def wad_to_usd(wad: int) -> Decimal:
    """The exact USD decimal of a WAD integer (``wad * 10**-18``; never rounded)."""
    return Decimal(f"{int(wad)}e-{_WAD_DECIMALS}")


def usd_to_wad(usd: Decimal) -> int:
    """The WAD integer of an exact USD decimal with at most 18 places (inverse of :func:`wad_to_usd`)."""
    sign, digits, exponent = usd.as_tuple()
    if not isinstance(exponent, int):
        raise InvalidParameter(f"{usd!r} is not a finite decimal")
    shift = exponent + _WAD_DECIMALS
    mantissa = int("".join(map(str, digits)) or "0")
    if shift < 0:
        whole, rest = divmod(mantissa, int(10**-shift))
        if rest:
            raise InvalidParameter(f"{usd} USD has more than 18 decimal places")
        value = whole
    else:
        value = mantissa * int(10**shift)
    return -value if sign else value


def usd_column(name: str) -> str:
    """Name of the float USD column :meth:`ResultStore.read_metrics` adds for a ``*_wad`` metric."""
    return name.removesuffix("_wad") + "_usd"


# --------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class PathRecord:
    """What the store keeps of a path: its seed, exact metrics, and its series if it is kept."""

    path_index: int
    seed_entropy: int
    spawn_key: tuple[int, ...]
    metrics: Mapping[str, int]
    series: Mapping[str, NDArray[np.float64]] | None

    @classmethod
    def of(cls, result: PathResult, *, keep_series: bool) -> PathRecord:
        """The record of a path result (series dropped unless ``keep_series``)."""
        return cls(
            result.path_index,
            int(result.seed_entropy),
            tuple(int(k) for k in result.spawn_key),
            dict(result.metrics),
            dict(result.series) if keep_series else None,
        )


def _schema(fingerprint: str, metrics: Mapping[str, MetricKind]) -> pa.Schema:
    fields = [
        pa.field("path_index", pa.int64(), nullable=False),
        pa.field("seed_entropy", pa.string(), nullable=False),
        pa.field("spawn_key", pa.string(), nullable=False),
    ]
    for name, kind in metrics.items():
        arrow = {MetricKind.WAD: _DECIMAL_TYPE, MetricKind.FLAG: pa.bool_()}.get(kind, pa.int64())
        fields.append(pa.field(name, arrow, nullable=False))
    return pa.schema(fields, metadata={_FINGERPRINT_KEY: fingerprint.encode()})


def _column(name: str, kind: MetricKind, records: Sequence[PathRecord]) -> list[object]:
    out: list[object] = []
    for r in records:
        if name not in r.metrics:
            raise InvalidParameter(f"path {r.path_index} has no metric {name}; the study's book records it")
        v = r.metrics[name]
        where = f"metric {name} of path {r.path_index}"
        if kind is MetricKind.WAD:
            if not -_MAX_WAD <= v <= _MAX_WAD:
                raise InvalidParameter(f"{where} = {v} WAD does not fit decimal128(38, 18) (|x| < 10**38)")
            out.append(wad_to_usd(v))
        elif kind is MetricKind.FLAG:
            if v not in (0, 1):
                raise InvalidParameter(f"{where} is a flag and must be 0 or 1, got {v}")
            out.append(bool(v))
        else:
            if not _INT64[0] <= v <= _INT64[1]:
                raise InvalidParameter(f"{where} = {v} does not fit a 64-bit integer")
            out.append(v)
    return out


# --------------------------------------------------------------------------------------------
# the store


def _version() -> str:
    try:
        return importlib.metadata.version("novation")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class ResultStore:
    """The results folder of one study (see the module docstring for the layout).

    ``ResultStore(out_dir)`` opens an existing study for reading. ``ResultStore(out_dir, config)``
    opens it for writing, creating the folder and its manifest when there is none yet; an existing
    study must have the same :meth:`StudyConfig.fingerprint` (it is resumed; the fingerprint leaves
    out ``run.paths``, so a larger path count **extends** the study and only the new paths run,
    a smaller one reads the first paths and keeps the rest stored) unless
    ``resume=False``, which deletes its results first (only the store's own files: the manifest,
    ``metrics/``, ``series/`` and ``summary.json``). ``extra`` is a JSON-able mapping recorded in a
    new manifest (sweeps store a point's overrides there). Paths with ``path_index < keep_series``
    keep their per-step series. Opening for writing removes temporary files a killed writer left;
    writers hold :func:`lock_folder` (as :func:`~simulator.runner.run_study` does), so
    there is one at a time, while readers may open the folder at any moment.
    """

    def __init__(
        self,
        out_dir: str | Path,
        config: StudyConfig | None = None,
        *,
        resume: bool = True,
        keep_series: int = MAX_PATHS,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        if isinstance(keep_series, bool) or not isinstance(keep_series, int) or keep_series < 0:
            raise InvalidParameter(f"keep_series must be a non-negative integer, got {keep_series!r}")
        if not isinstance(resume, bool):
            raise InvalidParameter(f"resume must be True or False, got {resume!r}")
        self.out_dir = Path(out_dir)
        self.keep_series = keep_series
        self.metrics_dir = self.out_dir / "metrics"
        self.series_dir = self.out_dir / "series"
        self.manifest_path = self.out_dir / "manifest.json"
        if config is None:
            if not self.manifest_path.is_file():
                raise InvalidParameter(f"{self.out_dir} holds no study results (no manifest.json); run the study first")
            self.manifest = self._read_manifest()  # a reader never touches a writer's temporary files
            return
        if not isinstance(config, StudyConfig):
            raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise InvalidParameter(f"output folder {self.out_dir} exists and is not a folder; pick another path")
        fingerprint = config.fingerprint()
        if self.manifest_path.is_file():
            old = self._read_manifest()
            if not resume:
                self._remove_results()
            elif old.get("fingerprint") != fingerprint:
                raise InvalidParameter(
                    f"{self.out_dir} holds a different study ({old.get('name')!r}, fingerprint "
                    f"{str(old.get('fingerprint'))[:12]}… vs {fingerprint[:12]}…); pick another output folder "
                    "or replace its results (--overwrite on the command line, resume=False in Python)"
                )
            else:
                self.manifest = old
                if old.get("n_paths") != config.run.paths:  # extended (or cut back: extra paths stay stored)
                    self.manifest = {
                        **old,
                        "n_paths": config.run.paths,
                        "config": config.to_dict(),
                        "path_counts": [*old.get("path_counts", [old.get("n_paths")]), config.run.paths],
                    }
                    write_json_atomic(self.manifest_path, self.manifest)
                self._clean_temporaries()
                return
        else:
            stray = [d for d in (self.metrics_dir, self.series_dir) if d.is_dir() and any(d.iterdir())]
            if stray:
                raise InvalidParameter(
                    f"{self.out_dir} has a {stray[0].name}/ folder but no manifest.json; pick an empty output folder"
                )
        try:
            self.metrics_dir.mkdir(parents=True, exist_ok=True)
            self.series_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidParameter(f"cannot create output folder {self.out_dir}: {exc.strerror}") from None
        self.manifest = {
            "format": FORMAT,
            "name": config.run.name,
            "fingerprint": fingerprint,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "n_paths": config.run.paths,
            "path_counts": [config.run.paths],
            "root_seed": config.run.seed,
            "seed_scheme": SEED_SCHEME,
            "keep_series": keep_series,
            "novation_version": _version(),
            "numpy_version": np.__version__,
            "metrics": {
                name: {"kind": kind.value, "meaning": text}
                for name, (kind, text) in study_metrics(config.book_params()).items()
            },
            "money": "*_wad metrics are stored as exact decimal128(38, 18) USD; x WAD = x * 10**-18 USD",
            "config": config.to_dict(),
            "extra": dict(extra or {}),
        }
        try:
            write_json_atomic(self.manifest_path, self.manifest)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(f"extra must be JSON-able for the manifest: {exc}") from None

    # ---- metadata

    def _read_manifest(self) -> dict[str, Any]:
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidParameter(f"{self.manifest_path} is unreadable ({exc}); pick another output folder") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise InvalidParameter(f"{self.manifest_path} is not a {FORMAT} manifest; pick another output folder")
        return manifest

    @property
    def fingerprint(self) -> str:
        """The study's :meth:`StudyConfig.fingerprint`."""
        return str(self.manifest["fingerprint"])

    @property
    def n_paths(self) -> int:
        """Paths the study has in all (``run.paths``)."""
        return int(self.manifest["n_paths"])

    @property
    def metrics(self) -> dict[str, MetricKind]:
        """The study's per-path metrics and their kinds (as its manifest records them):
        :data:`~simulator.results.METRICS` and the per-market and per-asset bad debt."""
        try:
            return {name: MetricKind(entry["kind"]) for name, entry in self.manifest["metrics"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InvalidParameter(f"{self.manifest_path} lists no valid metrics; rerun the study") from None

    def config(self) -> StudyConfig:
        """The study configuration recorded in the manifest."""
        return StudyConfig.from_dict(self.manifest["config"])

    def _remove_results(self) -> None:
        for name in _OWN_ENTRIES:
            p = self.out_dir / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()

    def _clean_temporaries(self) -> None:
        """Remove temporary files a killed writer left behind (never visible as results)."""
        for folder in (self.metrics_dir, self.series_dir):
            if folder.is_dir():
                for p in folder.glob(".*.tmp"):
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()

    # ---- writing

    def _parts(self) -> list[tuple[int, Path]]:
        if not self.metrics_dir.is_dir():
            return []
        found = []
        for p in self.metrics_dir.iterdir():
            m = _PART.fullmatch(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def write(self, records: Iterable[PathRecord]) -> Path | None:
        """Store one finished chunk: its kept series, then its part file (the commit mark).

        Returns the part file (None for an empty chunk). Raises InvalidParameter for a metric
        that does not fit its column."""
        recs = sorted(records, key=lambda r: r.path_index)
        if not recs:
            return None
        kinds = self.metrics
        schema = _schema(self.fingerprint, kinds)
        columns: dict[str, list[object]] = {
            "path_index": [r.path_index for r in recs],
            "seed_entropy": [str(r.seed_entropy) for r in recs],
            "spawn_key": [",".join(map(str, r.spawn_key)) for r in recs],
        }
        for name, kind in kinds.items():
            columns[name] = _column(name, kind, recs)
        table = pa.Table.from_pydict(columns, schema=schema)
        for r in recs:
            if r.series is not None and r.path_index < self.keep_series:
                self._write_series(r)
        parts = self._parts()
        number = parts[-1][0] + 1 if parts else 0
        path = self.metrics_dir / f"part-{number:05d}.parquet"
        return write_parquet_atomic(path, table)

    def _write_series(self, record: PathRecord) -> None:
        assert record.series is not None
        arrays = {name: np.asarray(values, dtype=np.float64) for name, values in record.series.items()}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        with atomic_write(self.series_dir / f"path-{record.path_index:06d}.npz") as fh:
            fh.write(buffer.getvalue())

    # ---- reading

    def _read_part(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        try:
            table = pq.read_table(path, columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise InvalidParameter(
                f"result file {path} is unreadable ({exc}); delete it and rerun to recompute its paths"
            ) from None
        metadata = table.schema.metadata or {}
        if metadata.get(_FINGERPRINT_KEY, b"").decode() != self.fingerprint:
            raise InvalidParameter(f"result file {path} belongs to another study; delete it and rerun")
        return table

    def completed(self) -> set[int]:
        """Indices below :attr:`n_paths` of the paths already stored (read from the part files only)."""
        done: set[int] = set()
        for _, p in self._parts():
            done.update(
                i for i in self._read_part(p, ["path_index"]).column("path_index").to_pylist() if i < self.n_paths
            )
        return done

    def is_complete(self) -> bool:
        """True when every path of the study is stored."""
        return len(self.completed()) >= self.n_paths

    def read_metrics(self) -> pd.DataFrame:
        """Every stored path below :attr:`n_paths`, one row each, sorted by ``path_index``.

        Columns: ``path_index`` (int64), ``seed_entropy`` (decimal string), ``spawn_key``
        (``"1,7"``), then every metric of the study (:attr:`metrics`): ``*_wad``
        columns hold the **exact USD amount** as :class:`~decimal.Decimal` (``usd_to_wad`` gives
        the WAD integer back), counts and seconds int64, flags bool. For plotting, each ``*_wad``
        metric also gets a float64 ``*_usd`` column (e.g. ``bad_debt_usd``).
        """
        kinds = self.metrics
        schema = _schema(self.fingerprint, kinds)
        tables = [self._read_part(p).select(schema.names) for _, p in self._parts()]
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        df = table.to_pandas()
        if not len(df):
            df = df.astype({name: object for name, k in kinds.items() if k is MetricKind.WAD})
        # two part files can hold the same path only if two runs wrote at once; paths are
        # deterministic, so the copies are equal and one is kept
        df = df[df["path_index"] < self.n_paths]  # paths of a longer run of the same study stay stored
        df = df.sort_values("path_index", kind="stable").drop_duplicates("path_index").reset_index(drop=True)
        for name, kind in kinds.items():
            if kind is MetricKind.WAD:
                df[usd_column(name)] = np.asarray([float(v) for v in df[name]], dtype=np.float64)
        return df

    def read_series(self, paths: Iterable[int] | None = None) -> dict[int, dict[str, NDArray[np.float64]]]:
        """``{path_index: {series name: float64 array}}`` of the kept paths (all, or those in ``paths``)."""
        wanted = None if paths is None else set(paths)
        out: dict[int, dict[str, NDArray[np.float64]]] = {}
        if not self.series_dir.is_dir():
            return out
        for p in sorted(self.series_dir.iterdir()):
            m = _SERIES.fullmatch(p.name)
            if not m or (wanted is not None and int(m.group(1)) not in wanted):
                continue
            try:
                with np.load(p, allow_pickle=False) as npz:
                    out[int(m.group(1))] = {name: np.asarray(npz[name], dtype=np.float64) for name in npz.files}
            except (OSError, ValueError) as exc:
                raise InvalidParameter(f"series file {p} is unreadable ({exc}); delete it") from None
        return out
