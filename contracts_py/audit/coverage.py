"""Line and branch coverage of the Vyper contracts and of the Python model reached by campaigns
(titanoboa's coverage.py plugin and coverage.py).

:func:`campaign_coverage` runs the campaigns of :func:`coverage_configs` on titanoboa in this
process under ``coverage.py`` (branch measurement on) with titanoboa's plugin (``boa.coverage``:
every program counter the EVM executes is mapped back to its Vyper source line), measuring the
model (``protocol/``) at the same time, and writes to ``out``:

* ``coverage.json``: per contract file, its statement lines, the reached and the never-reached
  ones, its branches and the never-taken ones, and the totals (lines, branches, percent);
  the same for the model's files under ``model``;
* ``coverage.txt``: the totals, and every never-reached contract line quoted from its source;
* ``html/``: coverage.py's annotated HTML pages of the contract and model sources.

Statement lines are the plugin's: every line of a statement inside a function body. Module-level
declarations (storage, constants, events, interfaces) hold no code and are not counted; the
model's lines are counted the same way (:func:`function_body_lines`: its modules were imported
before the campaign).
Constructors are measured too: the campaign's chain maps the initcode it deploys to its source
lines (:class:`~contracts_py.chains.BoaChain` with ``trace_sources``). Lines no bytecode maps to,
neither the initcode nor the runtime code of a deployed contract (:func:`code_lines`:
zero-initialised declarations, null ``return`` s, functions nothing calls), are marked in both
reports, with the coverage of the lines that have code beside the plain figure.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import coverage
from boa import coverage as boa_coverage
from boa.environment import Env

import protocol
from contracts_py.audit.runner import CampaignConfig, CampaignResult, run_campaign
from contracts_py.build import CONTRACTS_DIR, atomic_write_text
from contracts_py.chains.boa_chain import initcode_source_map
from contracts_py.deploy import DEPLOYED_CONTRACTS, boa_deployer
from protocol.errors import InvalidParameter
from protocol.params import SocializedLossMethod

__all__ = ["CoverageReport", "FileCoverage", "Totals", "campaign_coverage", "coverage_configs"]


@dataclass(frozen=True)
class FileCoverage:
    """One file: its statement lines and those never reached (1-based), and its branches
    (``from -> to`` line pairs) with those never taken."""

    path: str
    statements: tuple[int, ...]
    missing: tuple[int, ...]
    branches: int = 0
    missing_branches: tuple[tuple[int, int], ...] = ()
    #: Statement lines no bytecode maps to (:func:`code_lines`): no campaign can reach them (a
    #: contract file's; empty for the model's).
    no_code: tuple[int, ...] = ()

    @property
    def reached(self) -> int:
        """Statement lines reached."""
        return len(self.statements) - len(self.missing)


@dataclass(frozen=True)
class Totals:
    """Line and branch coverage of a set of files."""

    files: tuple[FileCoverage, ...]

    @property
    def statements(self) -> int:
        """Statement lines in all the files."""
        return sum(len(f.statements) for f in self.files)

    @property
    def reached(self) -> int:
        """Statement lines reached in all the files."""
        return sum(f.reached for f in self.files)

    @property
    def percent(self) -> float:
        """Reached lines over statement lines, in percent (100 when there are none)."""
        return 100.0 * self.reached / self.statements if self.statements else 100.0

    @property
    def code_statements(self) -> int:
        """Statement lines some bytecode (initcode or runtime code) maps to, in all the files."""
        return self.statements - sum(len(f.no_code) for f in self.files)

    @property
    def code_percent(self) -> float:
        """Reached lines over the statement lines with code, in percent (100 for none)."""
        return 100.0 * self.reached / self.code_statements if self.code_statements else 100.0

    @property
    def branches(self) -> int:
        """Branches in all the files."""
        return sum(f.branches for f in self.files)

    @property
    def branch_percent(self) -> float:
        """Branches taken over branches, in percent (100 when there are none)."""
        missing = sum(len(f.missing_branches) for f in self.files)
        return 100.0 * (self.branches - missing) / self.branches if self.branches else 100.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "statements": self.statements,
            "reached": self.reached,
            "percent": round(self.percent, 2),
            "code_statements": self.code_statements,
            "code_percent": round(self.code_percent, 2),
            "branches": self.branches,
            "branch_percent": round(self.branch_percent, 2),
            "files": {
                f.path: {
                    "statements": len(f.statements),
                    "reached": f.reached,
                    "missing": list(f.missing),
                    "no_code": list(f.no_code),
                    "branches": f.branches,
                    "missing_branches": [list(b) for b in f.missing_branches],
                }
                for f in self.files
            },
        }


@dataclass(frozen=True)
class CoverageReport:
    """Coverage of the contract files and of the Python model (``protocol/``) reached by one or
    more campaigns, and the campaigns' results."""

    contracts: Totals
    model: Totals
    results: tuple[CampaignResult, ...]

    @property
    def statements(self) -> int:
        """Contract statement lines."""
        return self.contracts.statements

    @property
    def reached(self) -> int:
        """Contract statement lines reached."""
        return self.contracts.reached

    @property
    def percent(self) -> float:
        """Contract lines reached, in percent."""
        return self.contracts.percent

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``coverage.json``): the contracts' totals and files at the top level,
        the model's under ``model``."""
        return {**self.contracts.to_dict(), "model": self.model.to_dict()}

    def to_text(self) -> str:
        """``coverage.txt``: totals, then every contract file with its never-reached lines quoted,
        those without code marked ``[no code]``."""
        c, m = self.contracts, self.model
        out = [
            f"contract line coverage: {c.reached}/{c.statements} statement lines ({c.percent:.1f} %), "
            f"branches {c.branch_percent:.1f} % of {c.branches}",
            f"contract lines with code: {c.reached}/{c.code_statements} ({c.code_percent:.1f} %)",
            f"model (protocol/) line coverage: {m.reached}/{m.statements} lines ({m.percent:.1f} %), "
            f"branches {m.branch_percent:.1f} % of {m.branches}",
            "",
        ]
        for f in c.files:
            out.append(f"{f.path}: {f.reached}/{len(f.statements)} lines")
            source = (CONTRACTS_DIR / f.path).read_text(encoding="utf-8").splitlines()
            no_code = set(f.no_code)
            out += [
                f"  {n:5d} | {source[n - 1].rstrip()}" + ("    [no code]" if n in no_code else "") for n in f.missing
            ]
        return "\n".join(out) + "\n"


def coverage_configs(config: CampaignConfig) -> list[CampaignConfig]:
    """The campaigns ``novation audit --coverage`` runs for ``config``: the campaign itself, or,
    under the ``coverage`` profile, its actions split evenly between every socialized-loss method
    (:class:`~protocol.params.SocializedLossMethod`: each method's code is reached only under it)."""
    if config.profile != "coverage":
        return [config]
    share = max(config.actions // len(SocializedLossMethod), 1)
    return [
        replace(config, actions=share, sequence_length=min(config.sequence_length, share), loss_method=method.value)
        for method in SocializedLossMethod
    ]


def campaign_coverage(
    config: CampaignConfig, out: Path, progress: Callable[[int], None] | None = None
) -> CoverageReport:
    """Run the campaigns of :func:`coverage_configs` (``chain='boa'``, one worker,
    ``trace_sources``) under coverage.py, line and branch, over the contracts (titanoboa's
    plugin) and the Python model, and write the report to ``out`` (an existing or new folder);
    returns it."""
    if config.chain != "boa" or config.workers != 1 or not config.trace_sources:
        raise InvalidParameter(
            f"--coverage measures titanoboa in this process: give --chain boa --workers 1, not "
            f"--chain {config.chain} --workers {config.workers}"
        )
    cov = coverage.Coverage(
        data_file=None,
        config_file=False,
        branch=True,
        source_pkgs=["boa.environment", "protocol"],
        plugins=[lambda registry: boa_coverage.coverage_init(registry, {})],
    )
    # protocol/ was imported before: its import-time lines are not counted (function_body_lines)
    cov.set_option("run:disable_warnings", ["module-not-measured"])
    cov.start()
    try:
        results = tuple(run_campaign(c, progress) for c in coverage_configs(config))
    finally:
        cov.stop()
        Env._coverage_enabled = False  # the plugin switches pc tracing on for every Env
    contracts, model = [], []
    code = code_lines()
    root, protocol_root = CONTRACTS_DIR.resolve(), Path(protocol.__file__).resolve().parent
    for measured in sorted(cov.get_data().measured_files()):
        path = Path(measured).resolve()
        if path.suffix == ".vy" and path.is_relative_to(root):
            name = str(path.relative_to(root))
            found = _file(cov, measured, name)
            # a reached line has code, whatever the source maps attribute to it
            missing, mapped = set(found.missing), code.get(name, set())
            no_code = tuple(n for n in found.statements if n in missing and n not in mapped)
            contracts.append(replace(found, no_code=no_code))
        elif path.suffix == ".py" and path.is_relative_to(protocol_root):
            name = str(path.relative_to(protocol_root.parent))
            model.append(_file(cov, measured, name, function_body_lines(path)))
    report = CoverageReport(Totals(tuple(contracts)), Totals(tuple(model)), results)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "coverage.json", json.dumps(report.to_dict(), indent=2) + "\n")
    atomic_write_text(out / "coverage.txt", report.to_text())
    cov.html_report(directory=str(out / "html"), include=[str(root / "*"), str(protocol_root / "*")])
    return report


def _file(cov: coverage.Coverage, measured: str, name: str, only: set[int] | None = None) -> FileCoverage:
    """The coverage of ``measured``, its lines limited to ``only`` (None: all)."""
    analysis = cov._analyze(measured)  # the public analysis2 has no branches
    keep = (lambda n: True) if only is None else only.__contains__
    exits = analysis.exit_counts
    branches = sum(n for line, n in exits.items() if n > 1 and keep(line))
    missing_arcs = tuple(sorted((a, b) for a, bs in analysis.missing_branch_arcs().items() if keep(a) for b in bs))
    return FileCoverage(
        name,
        tuple(sorted(n for n in analysis.statements if keep(n))),
        tuple(sorted(n for n in analysis.missing if keep(n))),
        branches,
        missing_arcs,
    )


def code_lines() -> dict[str, set[int]]:
    """Per contract file (its path under ``contracts/``), the source lines the initcode or the
    runtime code of the deployed contracts (:data:`~contracts_py.deploy.DEPLOYED_CONTRACTS`) maps
    program counters to. A statement line outside them has no code and no campaign can reach it:
    a zero-initialised declaration, a null ``return`` (compiled into the function's exit jump,
    which maps to the ``def``), a function nothing calls."""
    root = CONTRACTS_DIR.resolve()
    lines: dict[str, set[int]] = {}
    for name in DEPLOYED_CONTRACTS:
        data = boa_deployer(name).compiler_data
        initcode = initcode_source_map(data)["pc_raw_ast_map"]
        for node in (*initcode.values(), *data.source_map["pc_raw_ast_map"].values()):
            path = Path(node.module_node.resolved_path).resolve()
            if path.is_relative_to(root):
                end = node.end_lineno or node.lineno
                lines.setdefault(str(path.relative_to(root)), set()).update(range(node.lineno, end + 1))
    return lines


def function_body_lines(path: Path) -> set[int]:
    """Lines of the statements inside function bodies of a Python file (nested ones included):
    what runs when the model acts, the contracts' convention; module and class level lines run
    once at import, before any campaign, and are not counted."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, ast.stmt) and not isinstance(sub, ast.FunctionDef | ast.ClassDef):
                        lines.add(sub.lineno)
    return lines
