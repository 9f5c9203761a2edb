"""natrix over every ``.vy`` file of ``contracts_py/contracts`` (``make lint``).

natrix lints a file by asking the compiler for its annotated AST, which Vyper refuses for a
module that ``uses:`` ``state`` without initializing it (every protocol module does). So the
modules are linted *through the contracts that initialize them*: each deployable contract is
compiled once, and natrix's rules run on its own AST and on the AST of every module it imports
from this repository (the annotated AST carries them under ``imports``), each module once.
A ``.vy`` file reached by no contract is an error, so nothing is left out silently.

Settings come from ``[tool.natrix]`` in pyproject.toml (``disabled_rules``, ``rule_configs``;
the reasons are written there). Exit status 1 when natrix reports an issue.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

from natrix.rules.common import Issue, RuleRegistry
from vyper.compiler import outputs_from_compiler_data
from vyper.compiler.input_bundle import FilesystemInputBundle
from vyper.compiler.phases import CompilerData
from vyper.exceptions import VyperException

from contracts_py.build import CONTRACTS_DIR, deployable_sources, library_roots

ROOT = Path(__file__).resolve().parent.parent


def _config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        natrix: dict[str, Any] = tomllib.load(fh).get("tool", {}).get("natrix", {})
    return natrix


def _compile(path: Path) -> dict[str, Any]:
    """Annotated AST of ``path`` (with its imports) and, for a contract, its metadata."""
    bundle = FilesystemInputBundle([CONTRACTS_DIR, *library_roots(), path.parent])
    data = CompilerData(bundle.load_file(path), bundle)
    out = outputs_from_compiler_data(data, ("annotated_ast_dict", "metadata"))
    compiled: dict[str, Any] = out["annotated_ast_dict"]
    compiled["metadata"] = out["metadata"]
    return compiled


def _relative(path: str | Path) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def lint() -> tuple[list[Issue], set[Path]]:
    """natrix's issues over every contract and the modules it imports; the files reached.

    The deployable contracts go first; a file still unreached afterwards is compiled on its own
    (a contract whose name a module shadows, e.g. oracle/oracle_adapter.vy) when it compiles.
    """
    config = _config()
    disabled = set(config.get("disabled_rules", []))
    rules = RuleRegistry.get_rules(config.get("rule_configs", {}))
    issues: list[Issue] = []
    reached: set[Path] = set()
    first = [p.resolve() for p in deployable_sources()]
    rest = sorted(p.resolve() for p in CONTRACTS_DIR.rglob("*.vy") if p.resolve() not in first)
    for contract in first + rest:
        if contract in reached:
            continue
        try:
            compiled = _compile(contract)
        except VyperException:
            continue  # a module no contract initializes: reported as missed by main()
        units = [(contract, compiled)]
        for module in compiled.get("imports", []):
            path = Path(module["resolved_path"]).resolve()
            if path.is_relative_to(CONTRACTS_DIR) and path.suffix == ".vy":
                # a module's own AST, linted as natrix lints a file (no metadata: it has no frame)
                units.append((path, {"ast": module, "imports": compiled.get("imports", [])}))
        for path, unit in units:
            if path in reached:
                continue
            reached.add(path)
            unit["contract_name"] = _relative(path)
            for rule in rules:
                issues += [i for i in rule.run(unit) if i.code not in disabled]
    return issues, reached


def main() -> int:
    issues, reached = lint()
    missed = sorted(_relative(p) for p in CONTRACTS_DIR.rglob("*.vy") if p.resolve() not in reached)
    for issue in issues:
        print(issue.cli_format())
    if missed:
        print(f"natrix: no contract reaches {', '.join(missed)}; deploy or import it")
    if issues or missed:
        print(f"natrix: {len(issues)} issue(s) in {len(reached)} Vyper file(s)")
        return 1
    print(f"natrix: {len(reached)} Vyper files lint free")
    return 0


if __name__ == "__main__":
    sys.exit(main())
