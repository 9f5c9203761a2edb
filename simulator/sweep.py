"""Parameter sweeps and a threshold search over studies, resumable point by point.

A **sweep** runs one study per point of a Cartesian grid of dotted overrides
(``{"protocol.initial_margin_fraction": [...], "keepers.latency_blocks": [...]}``). Layout::

    out_dir/sweep.json             base config, axes and points (what a resume must match)
    out_dir/points/0000/           a study folder (:class:`ResultStore`) per point, its manifest
    out_dir/points/0001/           recording the point's overrides under ``extra``
    out_dir/sweep.parquet          one row per finished point: axes + summarize() columns

The table is rewritten atomically after every point, and every point is itself a resumable
study, so an interrupted sweep, run again with the same arguments, picks up where it stopped.

A **search** (:func:`search`) bisects one numeric field for the smallest value meeting a target
such as ``p_socialized_loss <= 0.001``; its evaluated points are stored the same way
(``search.json``, ``points/NNNN/``, ``search.parquet``).

Every point of a sweep or search uses the same path seeds (common random numbers), so
differences between points come from the parameters, not from sampling noise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from protocol.errors import InvalidParameter
from simulator.config import StudyConfig
from simulator.runner import connect_scheduler, run_study
from simulator.store import lock_folder, write_json_atomic, write_parquet_atomic
from simulator.summary import ALL_FIELDS, PERCENTILE_FIELDS, PROBABILITY_FIELDS, upper_bound, write_summary
from simulator.uncertainty import DEFAULT_CONFIDENCE, check_confidence, paths_for_proportion, paths_for_quantile

__all__ = ["SearchResult", "grid", "paths_needed", "run_sweep", "search"]

_SWEEP_FORMAT = "novation-sweep/1"
_SEARCH_FORMAT = "novation-search/1"
#: Keyword arguments of :func:`run_study` a sweep passes through to every point.
_RUN_KWARGS = frozenset(
    {"task", "workers", "scheduler", "chunk_size", "resume", "keep_series", "progress", "connect_timeout_s"}
)


# --------------------------------------------------------------------------------------------
# keys and values


def _json_value(where: str, value: object) -> object:
    """The JSON form of an override value (decimals as strings)."""
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InvalidParameter(f"{where}: {value!r} is not a number or string a study field can take")


def _check_key(key: object) -> str:
    """Validate a dotted field name through :meth:`StudyConfig.override` (its own error sentence)."""
    if not isinstance(key, str):
        raise InvalidParameter(f"sweep key must be a 'section.field' string, got {key!r}")
    section_name, _, name = key.partition(".")
    default = StudyConfig()
    sections = {f.name for f in dataclasses.fields(StudyConfig)}
    section = getattr(default, section_name) if section_name in sections else None
    current = getattr(section, name, None) if name and section is not None else None
    default.override({key: current})  # the field's own default: only the name is being checked
    return key


def _field_kind(config: StudyConfig, key: str) -> type:
    section_name, _, name = key.partition(".")
    value = getattr(getattr(config, section_name), name)
    if value is None or isinstance(value, Decimal):
        return Decimal
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"search key {key!r} is not a numeric field (its value is {value!r})")
    return int if isinstance(value, int) else float


def grid(axes: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    """Every point of the Cartesian product of ``axes`` (``{"section.field": values}``).

    Order: the axes in mapping order, the **last axis varying fastest** (:func:`itertools.product`),
    values in the order given. Keys are checked through :meth:`StudyConfig.override`; every axis
    must be a non-empty sequence (not a string) of distinct numbers or strings."""
    if not isinstance(axes, Mapping) or not axes:
        raise InvalidParameter("sweep axes must be a non-empty mapping of 'section.field' to a list of values")
    values: list[list[object]] = []
    for key, axis in axes.items():
        _check_key(key)
        if isinstance(axis, str | bytes) or not isinstance(axis, Sequence):
            raise InvalidParameter(f"sweep axis {key!r} must be a list of values, got {axis!r}")
        if len(axis) == 0:
            raise InvalidParameter(f"sweep axis {key!r} is empty; give it at least one value")
        seen: set[str] = set()
        for v in axis:
            form = json.dumps(_json_value(f"sweep axis {key!r}", v))
            if form in seen:
                raise InvalidParameter(f"sweep axis {key!r} lists {v!r} twice")
            seen.add(form)
        values.append(list(axis))
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


# --------------------------------------------------------------------------------------------
# points


def _check_run_kwargs(run_kwargs: Mapping[str, Any]) -> None:
    unknown = sorted(set(run_kwargs) - _RUN_KWARGS)
    if unknown:
        raise InvalidParameter(f"unknown run options {unknown}; allowed: {sorted(_RUN_KWARGS)}")


def _jsonable_point(point: Mapping[str, object]) -> dict[str, object]:
    return {k: _json_value(f"sweep key {k!r}", v) for k, v in point.items()}


def _run_point(
    config: StudyConfig,
    point: Mapping[str, object],
    index: int,
    root: Path,
    kind: str,
    run_kwargs: Mapping[str, Any],
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, object]:
    """Run (or resume) one point into ``root/points/NNNN`` and return its table row."""
    folder = f"points/{index:04d}"
    run_study(
        config.override(point),
        root / folder,
        extra={kind: {"point": index, "overrides": _jsonable_point(point)}},
        label=f"{kind} point {index}",
        **run_kwargs,
    )
    summary = write_summary(root / folder, confidence)
    return {"point": index, **point, **summary, "dir": folder}


def _column(values: list[object]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds (e.g. Decimal and float): keep them as text
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _table(rows: Sequence[Mapping[str, object]]) -> pa.Table:
    names = list(rows[0])
    return pa.table({name: _column([row[name] for row in rows]) for name in names})


@contextlib.contextmanager
def _client_for(run_kwargs: dict[str, Any]) -> Iterator[None]:
    """Connect once to a scheduler given as an address, for every point; close it at the end."""
    scheduler = run_kwargs.get("scheduler")
    if not isinstance(scheduler, str):
        yield
        return
    client, _ = connect_scheduler(scheduler, float(run_kwargs.get("connect_timeout_s", 10.0)))
    run_kwargs["scheduler"] = client
    try:
        yield
    finally:
        client.close()


def _comparable(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What two manifests must share to be one sweep or search: all but the creation time and the
    path count (a larger one extends every point: the first paths are the same)."""
    out = {k: v for k, v in manifest.items() if k != "created_utc"}
    base = out.get("base_config")
    if isinstance(base, Mapping) and isinstance(base.get("run"), Mapping):
        out["base_config"] = {**base, "run": {k: v for k, v in base["run"].items() if k != "paths"}}
    return out


def _open_folder(root: Path, manifest_name: str, manifest: dict[str, Any], resume: object, what: str) -> None:
    """Check (resume) or create the sweep's / search's manifest; ``resume=False`` clears old points."""
    path = root / manifest_name
    own = (path, root / "points", root / f"{what}.parquet")
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidParameter(f"{path} is unreadable ({exc}); pick another output folder") from None
        same = _comparable(old) == _comparable(manifest)
        if resume is False:
            for p in own:
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
        elif not same:
            raise InvalidParameter(
                f"{root} holds a different {what} (other base config or {what} settings); pick another output folder "
                "or pass resume=False (--overwrite) to replace it"
            )
        else:  # the same sweep or search, perhaps with more (or fewer) paths per point
            write_json_atomic(path, {**old, "base_config": manifest["base_config"]})
            return
    elif (root / "points").is_dir() and any((root / "points").iterdir()):
        raise InvalidParameter(f"{root} has a points/ folder but no {manifest_name}; pick an empty output folder")
    write_json_atomic(path, manifest)


# --------------------------------------------------------------------------------------------
# sweeps


def run_sweep(
    config: StudyConfig,
    axes: Mapping[str, Sequence[object]],
    out_dir: str | Path,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    **run_kwargs: Any,
) -> pd.DataFrame:
    """Run a study for every point of ``grid(axes)`` (overrides of ``config``) into ``out_dir``.

    ``run_kwargs`` go to every :func:`run_study` (``task``, ``workers``, ``scheduler``, ...;
    a scheduler address is connected once for the whole sweep). Returns the sweep table, also
    written to ``out_dir/sweep.parquet`` after every point: ``point``, one column per axis,
    every :func:`~simulator.summary.summarize` field, and ``dir`` (the point's folder
    relative to ``out_dir``); intervals and upper bounds at ``confidence``. Every point is
    checked before anything runs. Resumable: run the same call again (a larger ``run.paths``
    extends every point); ``resume=False`` replaces the sweep in ``out_dir``.
    """
    level = check_confidence(confidence)
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    _check_run_kwargs(run_kwargs)
    points = grid(axes)
    for i, point in enumerate(points):
        try:
            config.override(point)
        except InvalidParameter as exc:
            raise InvalidParameter(f"sweep point {i} {_jsonable_point(point)}: {exc}") from None
    root = Path(out_dir)
    manifest = {
        "format": _SWEEP_FORMAT,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_fingerprint": config.fingerprint(),
        "base_config": config.to_dict(),
        "axes": {k: [_json_value(f"sweep axis {k!r}", v) for v in vs] for k, vs in axes.items()},
        "order": "Cartesian product, last axis fastest",
        "points": [_jsonable_point(p) for p in points],
    }
    kwargs = dict(run_kwargs)
    resume = kwargs.pop("resume", True)
    rows: list[dict[str, object]] = []
    with lock_folder(root), _client_for(kwargs):
        _open_folder(root, "sweep.json", manifest, resume, "sweep")
        for i, point in enumerate(points):
            rows.append(_run_point(config, point, i, root, "sweep", kwargs, level))
            write_parquet_atomic(root / "sweep.parquet", _table(rows))
    return _table(rows).to_pandas()


# --------------------------------------------------------------------------------------------
# search


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Outcome of :func:`search`. Decisions are taken on the metric's upper bound."""

    #: The searched field (``section.field``).
    key: str
    #: The smallest evaluated value whose **upper bound** meets the target; the true threshold
    #: lies in ``(value - tolerance, value]`` (or at or below ``lo`` when ``at_lower_bound``).
    value: Decimal | int
    metric: str
    threshold: float
    tolerance: Decimal | int
    #: The metric at ``value`` (point estimate).
    metric_value: float
    #: Its one-sided upper bound at ``confidence``: the value the decision holds at.
    metric_upper: float
    #: The level of the bound.
    confidence: float
    #: Paths per point the search ran (raised to :attr:`paths_needed` by ``extend``).
    paths: int
    #: Fewest paths that can resolve the target at all (None when no count can, or the metric has
    #: no such bound).
    paths_needed: int | None
    #: The target already holds at ``lo``: the smallest value may lie below the range.
    at_lower_bound: bool
    #: Whether the evaluated points are non-increasing in the key, as the search assumes.
    monotone: bool
    #: Every evaluated point, in evaluation order (also ``out_dir/search.parquet``).
    points: pd.DataFrame
    out_dir: Path

    @property
    def margin(self) -> float:
        """Margin of safety: how far the upper bound lies below the threshold."""
        return self.threshold - self.metric_upper


def paths_needed(metric: str, threshold: float, confidence: float = DEFAULT_CONFIDENCE) -> int | None:
    """Fewest paths with which ``metric <= threshold`` can be supported at ``confidence`` at all:
    for a probability, the count at which no event in any path gives an upper bound at or below
    the threshold (2,995 for 0.1 % at 95 %); for a percentile, the count that gives it an upper
    order statistic; None when no count can (a probability target of 0), and 1 for other metrics
    (means are bounded by the bootstrap at any count)."""
    base = metric.removesuffix("_ci_high").removesuffix("_upper")
    if base in PROBABILITY_FIELDS:
        return paths_for_proportion(threshold, confidence)
    if base in PERCENTILE_FIELDS:
        return paths_for_quantile(PERCENTILE_FIELDS[base], confidence)
    return 1


def _exact(where: str, value: object) -> Decimal:
    if isinstance(value, bool):
        raise InvalidParameter(f"{where} must be a number, got {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | str):
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise InvalidParameter(f"{where} must be a decimal number, got {value!r}") from None
    elif isinstance(value, float):
        d = Decimal(repr(value))  # the shortest decimal that reads back as this float
    else:
        raise InvalidParameter(f"{where} must be a number, got {value!r}")
    if not d.is_finite():
        raise InvalidParameter(f"{where} must be finite, got {value!r}")
    return d


def search(
    config: StudyConfig,
    key: str,
    lo: Decimal | int | str | float,
    hi: Decimal | int | str | float,
    *,
    metric: str = "p_socialized_loss",
    threshold: float = 0.001,
    tolerance: Decimal | int | str | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    extend: bool = False,
    out_dir: str | Path,
    **run_kwargs: Any,
) -> SearchResult:
    """The smallest value of ``key`` in ``[lo, hi]`` whose metric meets ``metric <= threshold``
    **at its one-sided upper bound** (:func:`~simulator.summary.upper_bound`, level
    ``confidence``): a point counts as meeting the target only when the path count supports it.

    **Resolution first.** Before anything runs, the search checks that ``run.paths`` can support
    the target at all (:func:`paths_needed`: with 16 paths and no event the 95 % upper bound of a
    probability is 17 %, so ``p_socialized_loss <= 0.001`` needs 2,995 paths). If it cannot, it
    refuses with InvalidParameter naming the count — or, with ``extend=True``, raises
    ``run.paths`` to that count (points already stored keep their paths and only the new ones run).

    **Assumption:** the metric is non-increasing in the key (more margin, fewer socialized
    losses). The search checks the target at ``hi`` first (InvalidParameter if even ``hi`` misses
    it, saying whether the point estimate met it and more paths would help), then at ``lo`` (if
    ``lo`` already meets it, ``lo`` is returned with ``at_lower_bound``), then bisects on the exact
    grid ``lo + k * tolerance`` (and ``hi``) until the bracket is one step wide, returning the
    smallest value known to meet the target: the true threshold lies in
    ``(value - tolerance, value]``. ``result.monotone`` reports whether the evaluated points
    agreed with the assumption; ``result.margin`` is the threshold minus the upper bound.

    Values are exact decimals (``lo``, ``hi``, ``tolerance`` as Decimal, int or decimal string;
    a float is read by its shortest repr); an integer field (``keepers.latency_blocks``) needs
    integer bounds and tolerance. The default tolerance is a hundredth of the range's order of
    magnitude (``0.001`` for ``[0.02, 0.2]``), 1 for integer fields. Each evaluated point is a
    study in ``out_dir/points/NNNN`` and a row of ``out_dir/search.parquet`` (with ``upper`` and
    ``satisfies``); rerunning the same call resumes. ``run_kwargs`` are passed to :func:`run_study`.
    """
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    _check_run_kwargs(run_kwargs)
    _check_key(key)
    kind = _field_kind(config, key)
    level = check_confidence(confidence)
    if not isinstance(extend, bool):
        raise InvalidParameter(f"extend must be True or False, got {extend!r}")
    if metric not in ALL_FIELDS or metric in ("confidence", "n_paths"):
        raise InvalidParameter(f"metric {metric!r} is not a summary field; allowed: {sorted(ALL_FIELDS)}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise InvalidParameter(f"threshold must be a finite number, got {threshold!r}")
    top = 1.0 if metric.startswith("p_") else math.inf
    if not 0 <= threshold <= top:
        allowed = "a probability in [0, 1]" if top == 1.0 else "non-negative (every summary metric is)"
        raise InvalidParameter(f"threshold {threshold:g} for {metric} must be {allowed}")
    low, high = _exact("lo", lo), _exact("hi", hi)
    if not low < high:
        raise InvalidParameter(f"lo must be below hi, got lo={low}, hi={high}")
    if tolerance is None:
        step = Decimal(1) if kind is int else Decimal(f"1e{(high - low).adjusted() - 2}")
    else:
        step = _exact("tolerance", tolerance)
        if not step > 0:
            raise InvalidParameter(f"tolerance must be positive, got {tolerance!r}")
    if kind is int and any(v != v.to_integral_value() for v in (low, high, step)):
        raise InvalidParameter(f"{key} is an integer field: lo, hi and tolerance must be integers")
    needed = paths_needed(metric, threshold, level)
    if needed is None:
        raise InvalidParameter(
            f"no number of paths can show {metric} <= 0 at {level:.0%} confidence; give a positive --threshold"
        )
    if config.run.paths < needed:
        if not extend:
            raise InvalidParameter(
                f"{config.run.paths:,} paths cannot resolve {metric} <= {threshold:g}: even with no event on any "
                f"path its {level:.0%} upper bound stays above the target, and resolving it needs at least "
                f"{needed:,} paths; rerun with --paths {needed} or --extend (stored paths are kept)"
            )
        config = config.override({"run.paths": needed})
    with localcontext() as ctx:
        ctx.prec = 100
        n_steps = int(((high - low) / step).to_integral_value(rounding="ROUND_CEILING"))

    def value_at(k: int) -> Decimal:
        if k >= n_steps:
            return high
        with localcontext() as exact:
            exact.prec = 100
            return low + k * step

    def typed(v: Decimal) -> object:
        return int(v) if kind is int else float(v) if kind is float else v

    root = Path(out_dir)
    manifest = {
        "format": _SEARCH_FORMAT,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_fingerprint": config.fingerprint(),
        "base_config": config.to_dict(),
        "key": key,
        "lo": str(low),
        "hi": str(high),
        "tolerance": str(step),
        "metric": metric,
        "threshold": threshold,
        "confidence": level,
        "decision": f"the one-sided {level:.0%} upper bound of {metric} is at most the threshold",
        "assumption": f"{metric} is non-increasing in {key}",
    }
    kwargs = dict(run_kwargs)
    resume = kwargs.pop("resume", True)
    rows: list[dict[str, object]] = []
    evaluated: dict[int, tuple[float, float]] = {}  # k -> (point estimate, upper bound)

    def meets(k: int) -> bool:
        if k not in evaluated:
            v = typed(value_at(k))
            row = _run_point(config, {key: v}, len(rows), root, "search", kwargs, level)
            m = float(row[metric])  # type: ignore[arg-type]
            if math.isnan(m):
                raise InvalidParameter(
                    f"{metric} is undefined at {key} = {v} (no path had the event it conditions on); "
                    "search on another metric"
                )
            upper = upper_bound(row, metric)  # type: ignore[arg-type]
            row["upper"] = upper
            row["satisfies"] = upper <= threshold
            rows.append(row)
            write_parquet_atomic(root / "search.parquet", _table(rows))
            evaluated[k] = (m, upper)
        return evaluated[k][1] <= threshold

    with lock_folder(root), _client_for(kwargs):
        _open_folder(root, "search.json", manifest, resume, "search")
        if not meets(n_steps):
            m, upper = evaluated[n_steps]
            more = (
                f"the point estimate {m:.6g} meets it but its {level:.0%} upper bound {upper:.6g} does not; "
                "add paths (--paths) or raise hi"
                if m <= threshold
                else "raise hi or relax the threshold"
            )
            raise InvalidParameter(f"{metric} misses {threshold:g} even at {key} = {high}: {more}")
        failing, passing = 0, n_steps
        at_lower = meets(0)
        if at_lower:
            passing = 0
        while passing - failing > 1:
            mid = (failing + passing) // 2
            if meets(mid):
                passing = mid
            else:
                failing = mid
    ordered = [evaluated[k][0] for k in sorted(evaluated)]
    monotone = all(a >= b for a, b in itertools.pairwise(ordered))
    found = value_at(passing)
    return SearchResult(
        key=key,
        value=int(found) if kind is int else found,
        metric=metric,
        threshold=threshold,
        tolerance=int(step) if kind is int else step,
        metric_value=evaluated[passing][0],
        metric_upper=evaluated[passing][1],
        confidence=level,
        paths=config.run.paths,
        paths_needed=needed,
        at_lower_bound=at_lower,
        monotone=monotone,
        points=_table(rows).to_pandas(),
        out_dir=root,
    )
