"""Mutation testing of the Vyper contracts (``make mutation``).

Operators, applied one occurrence at a time to the code of a ``.vy`` file (never to a comment
or a docstring):

* ``cmp``: comparison boundary flips ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``;
* ``round``: rounding direction ``units.UP`` <-> ``units.DOWN`` and ``+ 1`` <-> ``- 1``;
* ``assert``: a one-line ``assert`` replaced by ``pass``;
* ``swap``: the two arguments of a two-argument call swapped, ``min`` <-> ``max``,
  ``and`` <-> ``or``;
* ``lock``: a ``@nonreentrant`` decorator removed.

Each mutant is written into a copy of the checkout's Python packages and tests under ``work``
(the checkout itself is never edited), every deployable contract is compiled there, and

* a mutant that does not compile is ``invalid``;
* a mutant whose runtime and init code (CBOR metadata trailer aside) equal the original's is
  ``equivalent`` (trivial compiler equivalence: the compiler proved it changes nothing);
* otherwise the selected tests run in the copy (``python -m pytest -x``): a failure ``kills``
  the mutant, a pass means it ``survived``; a run over ``timeout_s`` counts as killed (timeout).

The score is killed / (killed + survived). Artifacts are cached under ``cache_dir`` (the
unmutated contracts compile once for the whole run).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts_py.build import code_fingerprint

#: what a mutant run copies from the checkout (the packages the tests import, the tests, config)
COPIED = ("contracts_py", "protocol", "oracles", "tests", "pyproject.toml")

_CMP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_CMP_RE = re.compile(r"(?<=\s)(<=|>=|==|!=|<|>)(?=\s)")
_ROUND = (("units.UP", "units.DOWN"), ("units.DOWN", "units.UP"), ("+ 1", "- 1"), ("- 1", "+ 1"))
_WORDS = (("min(", "max("), ("max(", "min("), (" and ", " or "), (" or ", " and "))
_CALL2_RE = re.compile(r"\b([a-z_][\w.]*)\(([^(),]+), ([^(),]+)\)")


@dataclass(frozen=True)
class Mutant:
    """One edit: line ``line`` (1-based) of ``path`` (relative to the contracts folder) becomes
    ``mutated``."""

    path: str
    line: int
    operator: str
    original: str
    mutated: str

    @property
    def key(self) -> str:
        """Stable identifier: file, line and a digest of the edit."""
        digest = hashlib.sha256(f"{self.path}:{self.line}:{self.mutated}".encode()).hexdigest()[:8]
        return f"{self.path}:{self.line}:{self.operator}:{digest}"


@dataclass(frozen=True)
class Result:
    """A mutant's fate: killed | survived | equivalent | invalid | timeout | not run."""

    mutant: Mutant
    status: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self.mutant), "key": self.mutant.key, "status": self.status, "detail": self.detail}


def _code_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """``(line number, code, comment)`` of every line outside docstrings; ``code`` has the
    comment removed (a ``#`` inside a string literal is not a comment in these sources)."""
    in_doc = False
    for n, line in enumerate(text.splitlines(), start=1):
        if line.count('"""') % 2 == 1:
            in_doc = not in_doc
            continue
        if in_doc or '"""' in line:
            continue
        code, hash_, comment = line.partition("#")
        if code.lstrip().startswith("# pragma") or not code.strip():
            continue
        yield n, code, hash_ + comment


def line_mutants(code: str) -> Iterator[tuple[str, str]]:
    """``(operator, mutated code)`` for every mutation of one line of code."""
    if code.strip() == "@nonreentrant":
        yield "lock", ""
        return
    if code.lstrip().startswith(("@", "def ", "event ", "struct ", "from ", "import ", "log ")):
        return
    for m in _CMP_RE.finditer(code):
        yield "cmp", code[: m.start()] + _CMP[m.group(1)] + code[m.end() :]
    for old, new in _ROUND:
        for m in re.finditer(re.escape(old) + r"\b", code):
            yield "round", code[: m.start()] + new + code[m.end() :]
    stripped = code.lstrip()
    if stripped.startswith("assert ") and code.rstrip().endswith('"'):
        yield "assert", code[: len(code) - len(stripped)] + "pass"
    for old, new in _WORDS:
        for m in re.finditer(re.escape(old), code):
            yield "swap", code[: m.start()] + new + code[m.end() :]
    for m in _CALL2_RE.finditer(code):
        if m.group(2).strip() != m.group(3).strip():
            swapped = f"{m.group(1)}({m.group(3).strip()}, {m.group(2).strip()})"
            yield "swap", code[: m.start()] + swapped + code[m.end() :]


def mutants(contracts_dir: Path, files: Sequence[str]) -> list[Mutant]:
    """Every mutant of ``files`` (paths relative to ``contracts_dir``), in file and line order."""
    out: list[Mutant] = []
    for rel in files:
        text = (contracts_dir / rel).read_text(encoding="utf-8")
        lines = text.splitlines()
        for n, code, comment in _code_lines(text):
            for operator, mutated in line_mutants(code):
                out.append(Mutant(rel, n, operator, lines[n - 1], mutated + comment))
    return out


@dataclass(frozen=True)
class Run:
    """Where and how mutants run: ``project`` is the checkout (or any folder holding
    ``contracts_rel`` and the ``copied`` entries); ``tests`` the test files every mutant runs, or
    per mutated file (its path relative to the contracts folder), in the order given;
    ``pytest_args`` added to each run and ``env`` to its environment."""

    project: Path
    tests: tuple[str, ...] | Mapping[str, tuple[str, ...]]
    cache_dir: Path
    contracts_rel: str = "contracts_py/contracts"
    copied: tuple[str, ...] = COPIED
    timeout_s: float = 900.0
    sources: tuple[str, ...] | None = None  # contracts to compile (default: the deployable ones)
    pytest_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def tests_of(self, mutant: Mutant) -> tuple[str, ...]:
        """The test files ``mutant`` runs against."""
        return self.tests if isinstance(self.tests, tuple) else self.tests[mutant.path]

    def _sources(self, contracts: Path) -> list[Path] | None:
        return None if self.sources is None else [contracts / s for s in self.sources]

    def baseline(self) -> dict[str, str]:
        """Fingerprint of the unmutated contracts."""
        contracts = self.project / self.contracts_rel
        return code_fingerprint(contracts, self.cache_dir, self._sources(contracts))

    def run(self, mutant: Mutant, baseline: dict[str, str]) -> Result:
        """Compile and test one mutant in a temporary copy of the project."""
        from protocol.errors import ChainError

        with tempfile.TemporaryDirectory(prefix="vyper-mutant-") as tmp:
            root = Path(tmp)
            for name in self.copied:
                src = self.project / name
                if src.is_dir():
                    shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", ".*"))
                else:
                    shutil.copy2(src, root / name)
            target = root / self.contracts_rel / mutant.path
            lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
            assert lines[mutant.line - 1].rstrip("\n") == mutant.original, f"stale mutant {mutant.key}"
            lines[mutant.line - 1] = mutant.mutated + "\n"
            target.write_text("".join(lines), encoding="utf-8")
            contracts = root / self.contracts_rel
            try:
                if code_fingerprint(contracts, self.cache_dir, self._sources(contracts)) == baseline:
                    return Result(mutant, "equivalent", "identical runtime and init code")
            except ChainError as exc:
                return Result(mutant, "invalid", str(exc).splitlines()[0][:200])
            env = {**os.environ, **self.env, "PYTHONPATH": str(root), "NOVATION_CACHE_DIR": str(self.cache_dir)}
            cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
            try:
                proc = subprocess.run(
                    [*cmd, *self.pytest_args, *self.tests_of(mutant)],
                    cwd=root,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout_s,
                )
            except subprocess.TimeoutExpired:
                return Result(mutant, "timeout", f"tests ran over {self.timeout_s:.0f} s")
            last = (proc.stdout.strip().splitlines() or [""])[-1]
            return Result(mutant, "survived" if proc.returncode == 0 else "killed", last[:200])

    def run_all(
        self,
        selected: Sequence[Mutant],
        *,
        workers: int = 2,
        on_result: Callable[[Result], None] | None = None,
        deadline: float | None = None,
    ) -> list[Result]:
        """Every mutant of ``selected``, ``workers`` at a time, in input order; ``on_result`` sees
        each result as it comes (a checkpoint). A mutant not started by ``deadline``
        (``time.monotonic()``) is ``not run``."""
        baseline = self.baseline()
        lock = threading.Lock()

        def one(m: Mutant) -> Result:
            if deadline is not None and time.monotonic() > deadline:
                return Result(m, "not run", "time budget spent")
            result = self.run(m, baseline)
            if on_result is not None:
                with lock:
                    on_result(result)
            return result

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, selected))


def score(results: Sequence[Result]) -> float | None:
    """killed (timeouts included) / (killed + survived); None with nothing decided."""
    killed = sum(r.status in ("killed", "timeout") for r in results)
    decided = killed + sum(r.status == "survived" for r in results)
    return killed / decided if decided else None
