"""Run a study's paths on local processes or a Dask cluster, streaming results to a store.

:func:`run_study` skips the paths already in the output folder (resume), splits the rest into
chunks of consecutive path indices, and runs the chunks

* in this process when ``workers=1`` (no pool, nothing pickled),
* on a local :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers`` processes (started
  with ``spawn``, so worker state never depends on what the caller's process holds), or
* on Dask distributed when ``scheduler`` is an address (``"tcp://10.0.0.5:8786"``) or a
  :class:`distributed.Client`.

Each finished chunk is written at once (:meth:`ResultStore.write`), so an interrupted run loses
at most the chunks in flight, and running it again resumes. Every path is a pure function of the
configuration and its index (seeded by :meth:`StudyConfig.path_seed`), so the stored table is
the same whatever the backend, the number of workers, the chunk size or the interruptions.

Worker processes are started with ``spawn``: a script that calls :func:`run_study` with several
workers needs the usual ``if __name__ == "__main__":`` guard, and a task passed to local
workers must be importable (a module-level function).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import pickle
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from protocol.errors import InvalidParameter, NovationError
from simulator.config import MAX_PATHS, StudyConfig
from simulator.results import PathResult
from simulator.store import PathRecord, ResultStore, lock_folder

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = [
    "MAX_DEFAULT_CHUNK",
    "SimulationError",
    "StudyRun",
    "Task",
    "check_scheduler_address",
    "connect_scheduler",
    "run_study",
]

#: A path simulator: ``task(config, path_index)`` must be deterministic and seed the path with
#: ``config.path_seed(path_index)``. It must be picklable (a module-level function) to run on
#: worker processes.
Task = Callable[[StudyConfig, int], PathResult]

#: Upper bound of the default chunk size (paths per part file; what an interruption can lose
#: per worker).
MAX_DEFAULT_CHUNK = 32
#: Chunks per worker the default chunk size aims at (load balance vs. per-chunk overhead).
_CHUNKS_PER_WORKER = 4


class SimulationError(NovationError):
    """A path could not be simulated; every finished chunk is stored, and a rerun resumes.

    ``path_index`` is the failing path (or the first path of the chunk whose worker died);
    ``remote_traceback`` is the traceback text from where the path ran (a worker process, or this
    process for ``workers=1``), when there is one.
    The original exception is chained as ``__cause__``.
    """

    def __init__(self, message: str, path_index: int | None = None, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.path_index = path_index
        self.remote_traceback = remote_traceback


@dataclass(frozen=True)
class StudyRun:
    """What :func:`run_study` did. Durations in seconds."""

    out_dir: Path
    #: Paths of the study (``run.paths``); all of them are stored when ``run_study`` returns.
    n_paths: int
    #: Paths simulated by this call.
    n_run_now: int
    #: Paths found already stored and skipped.
    n_resumed: int
    #: Wall-clock time of the call (s).
    elapsed_s: float
    #: ``"in-process"``, ``"processes"`` or ``"dask"``.
    backend: str = "in-process"
    #: Worker processes / Dask threads used (1 in-process).
    workers: int = 1
    #: Paths per chunk (0 when nothing was left to run).
    chunk_size: int = 0
    #: The scheduler address for Dask runs.
    scheduler: str = field(default="")

    def store(self) -> ResultStore:
        """The results folder, opened for reading."""
        return ResultStore(self.out_dir)

    def metrics(self) -> pd.DataFrame:
        """Per-path metrics (:meth:`ResultStore.read_metrics`)."""
        return self.store().read_metrics()


# --------------------------------------------------------------------------------------------
# what a worker runs


@dataclass(frozen=True)
class _ChunkOutcome:
    """A chunk's finished paths, and the failure that stopped it, if any (always picklable)."""

    records: list[PathRecord]
    failed_index: int | None = None
    error: BaseException | None = None
    traceback: str = ""


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _check(config: StudyConfig, index: int, result: object) -> PathResult:
    if not isinstance(result, PathResult):
        raise TypeError(f"the task returned {type(result).__name__}, not a PathResult")
    if result.path_index != index:
        raise ValueError(f"the task returned path {result.path_index} when asked for path {index}")
    seed = config.path_seed(index)
    if int(result.seed_entropy) != seed.entropy or tuple(result.spawn_key) != tuple(seed.spawn_key):
        raise ValueError(
            f"the task seeded path {index} with entropy {result.seed_entropy}, spawn key {tuple(result.spawn_key)}; "
            f"it must use config.path_seed({index}) (spawn key {tuple(seed.spawn_key)})"
        )
    return result


def _run_chunk(
    config: StudyConfig, indices: Sequence[int], task: Task | None, keep_series: int, remote: bool = True
) -> _ChunkOutcome:
    """Simulate ``indices`` in order; stop at the first failure and return what finished.

    Without a task the engine runs, sharing one trader book across the chunk. A ``remote``
    chunk's exception is replaced by a RuntimeError with its text if it cannot be pickled."""
    records: list[PathRecord] = []
    current = indices[0]
    try:
        if task is None:
            from simulator import engine

            book = engine.build_book(config)

            def run(i: int) -> PathResult:
                return engine.simulate_path(config, i, book=book)
        else:

            def run(i: int) -> PathResult:
                return task(config, i)

        for current in indices:
            result = _check(config, current, run(current))
            records.append(PathRecord.of(result, keep_series=current < keep_series))
    except Exception as exc:
        return _ChunkOutcome(records, current, _picklable(exc) if remote else exc, traceback.format_exc())
    return _ChunkOutcome(records)


# --------------------------------------------------------------------------------------------
# argument checks


def _positive_int(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameter(f"{name} must be a positive integer, got {value!r}")
    return value


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _default_chunk(n_remaining: int, slots: int) -> int:
    return max(1, min(MAX_DEFAULT_CHUNK, math.ceil(n_remaining / (_CHUNKS_PER_WORKER * slots))))


# --------------------------------------------------------------------------------------------
# progress


@contextlib.contextmanager
def _progress(enabled: bool, name: str, total: int, done: int) -> Iterator[Callable[[int], None]]:
    """A rich bar (paths done / total, paths per second, elapsed, ETA) on stderr; yields ``advance(n)``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Task as BarTask
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task: BarTask) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.2f} paths/s", style="progress.data.speed")

    bar: Progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("paths"),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with bar:
        handle = bar.add_task(name, total=total, completed=done)
        yield lambda n: bar.advance(handle, n)


# --------------------------------------------------------------------------------------------
# backends: each yields chunk outcomes as they finish; ``stop()`` cancels what has not started


class _Stoppable:
    stopped = False

    def stop(self) -> None:
        self.stopped = True


def _in_process(
    config: StudyConfig, chunks: list[list[int]], task: Task | None, keep: int, ctl: _Stoppable
) -> Generator[tuple[list[int], _ChunkOutcome], None, None]:
    for chunk in chunks:
        if ctl.stopped:
            return
        yield chunk, _run_chunk(config, chunk, task, keep, remote=False)


def _one_numba_thread() -> None:
    """Pool workers already fill the cores: parallel numba kernels inside them would oversubscribe."""
    import numba

    numba.set_num_threads(1)


def _process_pool(
    config: StudyConfig, chunks: list[list[int]], task: Task | None, keep: int, ctl: _Stoppable, workers: int
) -> Generator[tuple[list[int], _ChunkOutcome], None, None]:
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_numba_thread
    )
    try:
        futures: dict[Future[_ChunkOutcome], list[int]] = {
            executor.submit(_run_chunk, config, chunk, task, keep): chunk for chunk in chunks
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=lambda f: futures[f][0]):
                if f.cancelled():
                    continue
                try:
                    outcome = f.result()
                except BrokenProcessPool as exc:
                    first = futures[f][0]
                    raise SimulationError(
                        f"a worker process died (killed, out of memory, or a script without the "
                        f"`if __name__ == '__main__':` guard) while running paths {first}-{futures[f][-1]}; "
                        "the finished paths are stored and a rerun resumes",
                        first,
                    ) from exc
                yield futures[f], outcome
            if ctl.stopped:
                pending = {f for f in pending if not f.cancel()}  # running chunks still finish
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


#: Transports a Dask scheduler address may name.
_DASK_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def check_scheduler_address(scheduler: object) -> str:
    """``scheduler`` if it is a Dask scheduler address (``tcp://host:port``), else InvalidParameter at once
    (before any connection attempt, so a typo does not cost a connect timeout)."""
    from urllib.parse import urlsplit

    ok = isinstance(scheduler, str) and scheduler.strip() == scheduler and bool(scheduler)
    if ok:
        parts = urlsplit(str(scheduler))
        try:
            port_ok = parts.scheme == "inproc" or parts.port is not None
        except ValueError:
            port_ok = False
        ok = parts.scheme in _DASK_SCHEMES and bool(parts.hostname or parts.scheme == "inproc") and port_ok
    if not ok:
        raise InvalidParameter(
            f"scheduler {scheduler!r} is not a Dask scheduler address; give one such as tcp://127.0.0.1:8786 "
            f"(transports: {', '.join(_DASK_SCHEMES)})"
        )
    return str(scheduler)


def connect_scheduler(scheduler: object, timeout_s: float = 10.0) -> tuple[Any, bool]:
    """A :class:`distributed.Client` for ``scheduler`` (an address, reached within ``timeout_s``
    seconds, or a client, returned as is) and whether the caller owns it (must close it)."""
    import distributed

    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    check_scheduler_address(scheduler)
    try:
        client = distributed.Client(scheduler, timeout=timeout_s, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise InvalidParameter(
            f"scheduler {scheduler!r}: no Dask scheduler answered within {timeout_s:g} s ({type(exc).__name__}); "
            "start one with `dask scheduler`, fix the address, or leave scheduler unset to use local processes"
        ) from None
    return client, True


def _dask_slots(client: Any) -> int:
    try:
        workers = client.scheduler_info().get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
    except Exception:  # a scheduler without workers yet, or an older info layout
        return 1


def _dask(
    config: StudyConfig, chunks: list[list[int]], task: Task | None, keep: int, ctl: _Stoppable, client: Any
) -> Generator[tuple[list[int], _ChunkOutcome], None, None]:
    import distributed

    futures = {client.submit(_run_chunk, config, chunk, task, keep, pure=False): chunk for chunk in chunks}
    done_iter = distributed.as_completed(list(futures), loop=client.loop)  # type: ignore[no-untyped-call]
    try:
        for f in done_iter:
            chunk = futures[f]
            if f.cancelled():
                continue
            try:
                outcome = f.result()
            except Exception as exc:  # a killed worker, a lost connection
                raise SimulationError(
                    f"the Dask cluster could not run paths {chunk[0]}-{chunk[-1]} ({type(exc).__name__}: {exc}); "
                    "the finished paths are stored and a rerun resumes",
                    chunk[0],
                ) from exc
            yield chunk, outcome
            if ctl.stopped:
                client.cancel([g for g in futures if not g.done()])
                done_iter.clear()  # type: ignore[no-untyped-call]
    finally:
        client.cancel([g for g in futures if not g.done()])


# --------------------------------------------------------------------------------------------
# the entry point


def run_study(
    config: StudyConfig,
    out_dir: str | Path,
    *,
    task: Task | None = None,
    workers: int | None = None,
    scheduler: object = None,
    chunk_size: int | None = None,
    resume: bool = True,
    keep_series: int = MAX_PATHS,
    progress: bool = True,
    connect_timeout_s: float = 10.0,
    extra: Mapping[str, object] | None = None,
    label: str | None = None,
) -> StudyRun:
    """Simulate every path of ``config`` not yet stored in ``out_dir`` and store it there.

    ``task(config, path_index) -> PathResult`` simulates one path (default: the engine's
    :func:`~simulator.engine.simulate_path`, imported when a chunk runs and sharing one
    trader book per chunk). ``workers`` local processes (default: the CPUs this process may use;
    1 runs in this process) unless ``scheduler`` names a Dask scheduler (``"tcp://host:8786"``,
    reached within ``connect_timeout_s`` seconds) or is a :class:`distributed.Client`; the cluster
    then decides its own workers, so ``workers`` must be left unset. ``chunk_size`` paths are
    stored per part file (default: about four chunks per worker, at most
    :data:`MAX_DEFAULT_CHUNK`). ``resume=False`` replaces results already in ``out_dir``; with
    ``resume=True`` a folder holding another study is refused. The first ``keep_series`` paths (default: all)
    keep their per-step series for plots. ``extra`` (JSON-able) is recorded in a new manifest;
    ``label`` names the progress bar (default ``run.name``).

    Raises :class:`InvalidParameter` for bad arguments or an unreachable scheduler, and
    :class:`SimulationError` naming the path when a path fails — after storing every chunk that
    finished, so running the same call again resumes.
    """
    started = time.perf_counter()
    if not isinstance(config, StudyConfig):
        raise InvalidParameter(f"config must be a StudyConfig, got {type(config).__name__}")
    if not isinstance(out_dir, str | Path) or not str(out_dir):
        raise InvalidParameter(f"out_dir must be a folder path, got {out_dir!r}")
    if task is not None and not callable(task):
        raise InvalidParameter(f"task must be a callable task(config, path_index) -> PathResult, got {task!r}")
    workers = _positive_int("workers", workers)
    chunk_size = _positive_int("chunk_size", chunk_size)
    for name, flag in (("resume", resume), ("progress", progress)):
        if not isinstance(flag, bool):
            raise InvalidParameter(f"{name} must be True or False, got {flag!r}")
    if (
        isinstance(connect_timeout_s, bool)
        or not isinstance(connect_timeout_s, int | float)
        or not 0 < connect_timeout_s < math.inf
    ):
        raise InvalidParameter(f"connect_timeout_s must be a positive number of seconds, got {connect_timeout_s!r}")
    if scheduler is not None and workers is not None:
        raise InvalidParameter("workers applies to local processes; leave it unset when a Dask scheduler is given")
    if isinstance(scheduler, str):
        check_scheduler_address(scheduler)
    elif scheduler is not None:
        import distributed

        if not isinstance(scheduler, distributed.Client):
            raise InvalidParameter(
                "scheduler must be a Dask scheduler address such as 'tcp://127.0.0.1:8786' or a distributed.Client, "
                f"got {type(scheduler).__name__}"
            )

    with lock_folder(out_dir):
        store = ResultStore(out_dir, config, resume=resume, keep_series=keep_series, extra=extra)
        n = config.run.paths
        done = store.completed()
        remaining = [i for i in range(n) if i not in done]
        n_resumed = n - len(remaining)
        if not remaining:
            return StudyRun(Path(out_dir), n, 0, n_resumed, time.perf_counter() - started)

        client: Any = None
        owns_client = False
        address = ""
        try:
            if scheduler is not None:
                client, owns_client = connect_scheduler(scheduler, float(connect_timeout_s))
                backend, slots = "dask", _dask_slots(client)
                address = str(getattr(client.scheduler, "address", ""))
            else:
                slots = workers if workers is not None else _local_cpus()
                backend = "in-process" if slots == 1 else "processes"
            size = chunk_size or _default_chunk(len(remaining), slots)
            chunks = [remaining[k : k + size] for k in range(0, len(remaining), size)]
            ctl = _Stoppable()
            if backend == "processes":
                slots = min(slots, len(chunks))
                if task is not None:
                    try:
                        pickle.dumps(task)
                    except Exception:
                        raise InvalidParameter(
                            f"task {task!r} cannot be sent to worker processes (define it at module level); "
                            "pass workers=1 to run it in this process"
                        ) from None
                outcomes = _process_pool(config, chunks, task, keep_series, ctl, slots)
            elif backend == "dask":
                outcomes = _dask(config, chunks, task, keep_series, ctl, client)
            else:
                outcomes = _in_process(config, chunks, task, keep_series, ctl)

            failure: _ChunkOutcome | None = None
            n_run = 0
            with _progress(progress, label or config.run.name, n, n_resumed) as advance, contextlib.closing(outcomes):
                for _chunk, outcome in outcomes:
                    store.write(outcome.records)
                    n_run += len(outcome.records)
                    advance(len(outcome.records))
                    if outcome.error is not None and (
                        failure is None or (outcome.failed_index or 0) < (failure.failed_index or 0)
                    ):
                        failure = outcome
                        ctl.stop()
            if failure is not None:
                assert failure.error is not None
                error = failure.error
                if backend != "in-process" and failure.traceback:
                    error.add_note(f"traceback in the worker:\n{failure.traceback}")
                stored = n_resumed + n_run
                raise SimulationError(
                    f"path {failure.failed_index} of study {config.run.name!r} failed "
                    f"({type(error).__name__}: {error}); {stored} of {n} paths are stored in {out_dir}, "
                    "and running the study again resumes from them",
                    failure.failed_index,
                    failure.traceback,
                ) from error
        finally:
            if owns_client:
                client.close()
        if n_run != len(remaining):  # every chunk reports back unless one failed (raised above)
            raise SimulationError(
                f"only {n_run} of the {len(remaining)} paths to run came back; {n_resumed + n_run} of {n} paths are "
                f"stored in {out_dir}, and running the study again resumes from them"
            )
        return StudyRun(
            Path(out_dir), n, n_run, n_resumed, time.perf_counter() - started, backend, slots, size, address
        )
