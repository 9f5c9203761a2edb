"""The Vyper build cache: compile once, key by every source involved, clear errors, export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts_py.build import (
    EIP170_MAX_RUNTIME_BYTES,
    Artifact,
    Builder,
    check_code_size,
    code_fingerprint,
    deployable_sources,
    export_artifacts,
)
from protocol.errors import ChainError, InvalidParameter

LIB = '''# pragma version ~=0.4.3
@internal
@pure
def double(x: uint256) -> uint256:
    """
    @notice Twice x.
    @param x A number.
    @return 2 * x.
    """
    return 2 * x
'''

MAIN = '''# pragma version ~=0.4.3
import lib

@external
@pure
def f(x: uint256) -> uint256:
    """
    @notice Twice x, through the library module.
    @param x A number.
    @return 2 * x.
    """
    return lib.double(x)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "lib.vy").write_text(LIB)
    (src / "main.vy").write_text(MAIN)
    return src


def test_second_build_is_a_cache_hit(tmp_path: Path, project: Path) -> None:
    first = Builder(tmp_path / "cache", search_paths=[project]).build("main")
    again = Builder(tmp_path / "cache", search_paths=[project])
    second = again.build(project / "main.vy")
    assert (first.from_cache, second.from_cache) == (False, True)
    assert (again.hits, again.misses) == (1, 0)
    assert second == first
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{first.cache_key}.json"]


def test_editing_the_source_or_an_imported_module_changes_the_key(tmp_path: Path, project: Path) -> None:
    b = Builder(tmp_path / "cache", search_paths=[project])
    key0 = b.cache_key("main")
    (project / "main.vy").write_text(MAIN + "\n# a comment\n")
    key1 = b.cache_key("main")
    (project / "lib.vy").write_text(LIB.replace("2 * x", "x + x"))
    key2 = b.cache_key("main")
    assert len({key0, key1, key2}) == 3
    assert not b.build("main").from_cache
    assert (b.hits, b.misses) == (0, 1)


def test_settings_change_the_key(tmp_path: Path, project: Path) -> None:
    gas = Builder(tmp_path, search_paths=[project], settings={"optimize": "gas"}).cache_key("main")
    size = Builder(tmp_path, search_paths=[project], settings={"optimize": "codesize"}).cache_key("main")
    assert gas != size


def test_missing_source_is_an_invalid_parameter(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="not found"):
        Builder(tmp_path).build("testing/no_such_contract")


def test_compile_error_carries_the_compiler_message(tmp_path: Path, project: Path) -> None:
    (project / "broken.vy").write_text("@external\ndef f() -> uint256:\n    return undefined_name\n")
    with pytest.raises(ChainError, match=r"failed to compile .*broken\.vy.*undefined_name"):
        Builder(tmp_path / "cache", search_paths=[project]).build("broken")


def test_unresolvable_import_is_a_chain_error(tmp_path: Path, project: Path) -> None:
    (project / "orphan.vy").write_text("import nowhere\n")
    with pytest.raises(ChainError, match="nowhere"):
        Builder(tmp_path / "cache", search_paths=[project]).build("orphan")


def test_export_writes_abi_and_bytecode_json(tmp_path: Path, project: Path) -> None:
    b = Builder(tmp_path / "cache", search_paths=[project])
    assert deployable_sources(project) == [project / "main.vy"]  # lib is imported: a module
    (path,) = export_artifacts(tmp_path / "out", deployable_sources(project), builder=b)
    data = json.loads(path.read_text())
    artifact = b.build("main")
    assert path.name == "main.json"
    assert data["abi"] == list(artifact.abi)
    assert bytes.fromhex(data["bytecode"][2:]) == artifact.bytecode
    assert bytes.fromhex(data["deployedBytecode"][2:]) == artifact.runtime_bytecode
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["main.json"]  # no temp files left


def test_code_size_check_at_the_eip170_boundary() -> None:
    def artifact(runtime_size: int) -> Artifact:
        return Artifact("big", (), b"\x00", b"\x00" * runtime_size, "big.vy", "k", "0.4.3")

    check_code_size(artifact(EIP170_MAX_RUNTIME_BYTES))
    with pytest.raises(ChainError, match="24577 bytes, over the EIP-170 limit"):
        check_code_size(artifact(EIP170_MAX_RUNTIME_BYTES + 1))


@pytest.mark.parametrize("source", deployable_sources(), ids=lambda p: p.stem)
def test_every_deployable_contract_fits_the_code_size_limit(
    source: Path, builder: Builder, assert_code_size: Callable[[Artifact], None]
) -> None:
    assert_code_size(builder.build(source))


def test_code_fingerprint_ignores_layout_and_sees_code(tmp_path: Path, project: Path) -> None:
    # `make check-vy-bytecode` and the mutation run's equivalence check: a comment changes only
    # the init code's metadata trailer, a code change changes the fingerprint
    before = code_fingerprint(project, tmp_path / "cache")
    (project / "lib.vy").write_text(LIB + "\n# a comment\n")
    assert code_fingerprint(project, tmp_path / "cache") == before
    (project / "lib.vy").write_text(LIB.replace("2 * x", "3 * x"))
    assert code_fingerprint(project, tmp_path / "cache") != before
    assert list(before) == ["main.vy"]
