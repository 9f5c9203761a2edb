"""Smoke test of the contract mutation tool (``make mutation`` itself is too slow for ``make
test``): on a tiny contract, a comparison flip is killed by a test and a mutant of code the
compiler drops is detected as equivalent without running any test."""

from __future__ import annotations

from pathlib import Path

import pytest
from vyper_mutation import Mutant, Run, line_mutants, mutants, score

TINY = '''# pragma version ~=0.4.3
"""
@title tiny
@notice a >= b (a docstring: never mutated)
"""


@external
@pure
def covers(a: uint256, b: uint256) -> bool:
    return a >= b  # a comment: never mutated


@internal
@pure
def _unused(a: uint256) -> uint256:
    return a + 1
'''

CHECK = """import boa


def test_covers_at_equality():
    assert boa.load("contracts/tiny.vy").covers(1, 1)
"""


def test_operators_on_one_line() -> None:
    found = list(line_mutants('    assert a <= min(b, c), "m: x"'))
    assert ("cmp", '    assert a < min(b, c), "m: x"') in found
    assert ("assert", "    pass") in found
    assert ("swap", '    assert a <= max(b, c), "m: x"') in found
    assert ("swap", '    assert a <= min(c, b), "m: x"') in found
    assert list(line_mutants("@nonreentrant")) == [("lock", "")]


def test_one_mutant_killed_and_one_equivalent(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "tiny.vy").write_text(TINY, encoding="utf-8")
    (tmp_path / "test_tiny_contract.py").write_text(CHECK, encoding="utf-8")
    found = mutants(tmp_path / "contracts", ["tiny.vy"])
    assert [(m.line, m.operator, m.mutated.strip()) for m in found] == [
        (11, "cmp", "return a > b  # a comment: never mutated"),
        (17, "round", "return a - 1"),
    ]
    run = Run(
        tmp_path,
        ("test_tiny_contract.py",),
        tmp_path / "cache",
        contracts_rel="contracts",
        copied=("contracts", "test_tiny_contract.py"),
        sources=("tiny.vy",),
        timeout_s=300,
    )
    results = run.run_all(found, workers=1)
    assert [r.status for r in results] == ["killed", "equivalent"]
    assert score(results) == 1.0


def test_select_the_rest_of_a_sample_or_named_keys() -> None:
    from run_mutation import select

    population = [Mutant("a.vy", n, "cmp", "x < y", "x <= y") for n in range(1, 11)]
    drawn = select(population, 6, 7)
    assert len(set(drawn)) == len(drawn) == 6
    assert select(population, 6, 7, start=4) == drawn[4:]
    assert select(population, 0, 7, start=8) == population[8:]
    keys = (population[3].key, population[0].key)
    assert select(population, 6, 7, keys=keys) == [population[3], population[0]]
    with pytest.raises(ValueError, match=r"no such contract mutant: a\.vy:99"):
        select(population, 6, 7, keys=("a.vy:99:cmp:00000000",))
