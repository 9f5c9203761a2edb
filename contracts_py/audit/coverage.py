"""Line coverage of the Vyper contracts reached by a campaign (titanoboa's coverage.py plugin).

:func:`campaign_coverage` runs a campaign on titanoboa in this process under ``coverage.py`` with
titanoboa's plugin (``boa.coverage``: every program counter the EVM executes is mapped back to
its Vyper source line) and writes to ``out``:

* ``coverage.json``: per contract file, its statement lines, the reached and the never-reached
  ones, and the totals (lines and percent reached);
* ``coverage.txt``: the same as text, every never-reached line quoted from its source;
* ``html/``: coverage.py's annotated HTML pages of the sources.

Statement lines are the plugin's: every line of a statement inside a function body. Module-level
declarations (storage, constants, events, interfaces) hold no code and are not counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import coverage
from boa import coverage as boa_coverage
from boa.environment import Env

from contracts_py.audit.runner import CampaignConfig, CampaignResult, run_campaign
from contracts_py.build import CONTRACTS_DIR, atomic_write_text
from protocol.errors import InvalidParameter

__all__ = ["CoverageReport", "campaign_coverage"]


@dataclass(frozen=True)
class FileCoverage:
    """One contract file: its statement lines and those the campaign never reached (1-based)."""

    path: str
    statements: tuple[int, ...]
    missing: tuple[int, ...]

    @property
    def reached(self) -> int:
        """Statement lines reached."""
        return len(self.statements) - len(self.missing)


@dataclass(frozen=True)
class CoverageReport:
    """Coverage of every contract file a campaign executed, and the campaign's result."""

    files: tuple[FileCoverage, ...]
    result: CampaignResult

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``coverage.json``)."""
        return {
            "statements": self.statements,
            "reached": self.reached,
            "percent": round(self.percent, 2),
            "files": {
                f.path: {"statements": len(f.statements), "reached": f.reached, "missing": list(f.missing)}
                for f in self.files
            },
        }

    def to_text(self) -> str:
        """``coverage.txt``: totals, then every file with its never-reached lines quoted."""
        out = [f"contract line coverage: {self.reached}/{self.statements} statement lines ({self.percent:.1f} %)", ""]
        for f in self.files:
            out.append(f"{f.path}: {f.reached}/{len(f.statements)} lines")
            source = (CONTRACTS_DIR / f.path).read_text(encoding="utf-8").splitlines()
            out += [f"  {n:5d} | {source[n - 1].rstrip()}" for n in f.missing]
        return "\n".join(out) + "\n"


def campaign_coverage(
    config: CampaignConfig, out: Path, progress: Callable[[int], None] | None = None
) -> CoverageReport:
    """Run ``config`` (``chain='boa'``, one worker, ``trace_sources``) under coverage and write the report to ``out``
    (an existing or new folder); returns it."""
    if config.chain != "boa" or config.workers != 1 or not config.trace_sources:
        raise InvalidParameter(
            f"--coverage measures titanoboa in this process: give --chain boa --workers 1, not "
            f"--chain {config.chain} --workers {config.workers}"
        )
    cov = coverage.Coverage(
        data_file=None,
        config_file=False,
        source_pkgs=["boa.environment"],
        plugins=[lambda registry: boa_coverage.coverage_init(registry, {})],
    )
    cov.start()
    try:
        result = run_campaign(config, progress)
    finally:
        cov.stop()
        Env._coverage_enabled = False  # the plugin switches pc tracing on for every Env
    files = []
    root = CONTRACTS_DIR.resolve()
    for measured in sorted(cov.get_data().measured_files()):
        path = Path(measured).resolve()
        if path.suffix != ".vy" or not path.is_relative_to(root):
            continue
        _, statements, _, missing, _ = cov.analysis2(measured)
        files.append(FileCoverage(str(path.relative_to(root)), tuple(statements), tuple(missing)))
    report = CoverageReport(tuple(files), result)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "coverage.json", json.dumps(report.to_dict(), indent=2) + "\n")
    atomic_write_text(out / "coverage.txt", report.to_text())
    cov.html_report(directory=str(out / "html"), include=[str(root / "*")])
    return report
