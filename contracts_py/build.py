"""Compile Vyper sources once and cache the artifacts.

An :class:`Artifact` holds what a chain needs to deploy and talk to a contract: its ABI, its
init code (``bytecode``) and its runtime code. :class:`Builder` compiles a source with every
module it imports and caches the artifact on disk under a key that hashes

* the compiler's integrity sum of the source and of every file it imports (so editing an
  imported module changes the key of every contract that imports it),
* the compiler version, and
* the compiler settings passed in (pragmas in the sources are covered by the integrity sum).

The cache lives in ``$NOVATION_CACHE_DIR`` or ``~/.cache/novation/vyper``; every write goes to
a temporary file first and is moved into place with :func:`os.replace`, so concurrent builds
(pytest-xdist workers) never see a half-written artifact.

:func:`export_artifacts` writes ``<name>.json`` files (ABI, init code, runtime code) for
integrators working in other languages; the clearing house's ABI is :func:`house_abi`, which adds
the events its engines emit at the house's address (they run by DELEGATECALL), so plain web3.py,
ethers or viem decode every log of the house from that one file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from protocol.errors import ChainError, InvalidParameter

__all__ = [
    "CONTRACTS_DIR",
    "EIP170_MAX_RUNTIME_BYTES",
    "EIP3860_MAX_INITCODE_BYTES",
    "VYPER_LIBRARIES",
    "Artifact",
    "Builder",
    "atomic_write_text",
    "build",
    "check_code_size",
    "default_cache_dir",
    "deployable_sources",
    "export_artifacts",
    "house_abi",
    "library_roots",
]

#: Root of the Vyper sources; also the import search path (``from interfaces import ...``).
CONTRACTS_DIR: Final = Path(__file__).resolve().parent / "contracts"
#: Vyper libraries the sources import (``from snekmate.utils import ecdsa``), found among the
#: installed Python packages.
VYPER_LIBRARIES: Final = ("snekmate",)
#: EIP-170: largest runtime code a deployment may leave behind, in bytes.
EIP170_MAX_RUNTIME_BYTES: Final = 24_576
#: EIP-3860: largest init code a creation transaction may carry, in bytes.
EIP3860_MAX_INITCODE_BYTES: Final = 2 * EIP170_MAX_RUNTIME_BYTES
#: The core contract and the engines it runs by DELEGATECALL (their events come from its address).
HOUSE: Final = "clearing_house"
HOUSE_ENGINES: Final = ("liquidation_engine", "trading_engine", "adl_engine")
#: Bump when the cached JSON layout changes, so old entries are never misread.
_CACHE_FORMAT: Final = 1
_OUTPUT_FORMATS: Final = ("abi", "bytecode", "bytecode_runtime")


def default_cache_dir() -> Path:
    """``$NOVATION_CACHE_DIR`` if set, else ``~/.cache/novation/vyper``."""
    env = os.environ.get("NOVATION_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "novation" / "vyper"


@dataclass(frozen=True)
class Artifact:
    """A compiled contract.

    ``bytecode`` is the init code (constructor arguments are appended at deployment);
    ``runtime_bytecode`` is the code left at the contract address. Sizes are in bytes.
    """

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    runtime_bytecode: bytes
    source_path: str
    cache_key: str
    compiler_version: str
    from_cache: bool = field(default=False, compare=False)

    @property
    def runtime_size(self) -> int:
        """Runtime code size in bytes (EIP-170 caps it at 24,576)."""
        return len(self.runtime_bytecode)

    @property
    def initcode_size(self) -> int:
        """Init code size in bytes without constructor arguments (EIP-3860 caps it at 49,152)."""
        return len(self.bytecode)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form: ``contractName``, ``abi``, ``bytecode`` and ``deployedBytecode`` as 0x-hex."""
        return {
            "contractName": self.name,
            "abi": list(self.abi),
            "bytecode": "0x" + self.bytecode.hex(),
            "deployedBytecode": "0x" + self.runtime_bytecode.hex(),
            "compiler": f"vyper-{self.compiler_version}",
            "sourcePath": self.source_path,
            "cacheKey": self.cache_key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, from_cache: bool = False) -> Artifact:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=data["contractName"],
            abi=tuple(data["abi"]),
            bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
            runtime_bytecode=bytes.fromhex(data["deployedBytecode"].removeprefix("0x")),
            source_path=data["sourcePath"],
            cache_key=data["cacheKey"],
            compiler_version=data["compiler"].removeprefix("vyper-"),
            from_cache=from_cache,
        )


def check_code_size(artifact: Artifact) -> None:
    """Raise ChainError if the runtime code exceeds EIP-170 or the init code exceeds EIP-3860."""
    if artifact.runtime_size > EIP170_MAX_RUNTIME_BYTES:
        raise ChainError(
            f"{artifact.name}: runtime code is {artifact.runtime_size} bytes, over the EIP-170 limit of "
            f"{EIP170_MAX_RUNTIME_BYTES}; split the contract or move logic into a library module"
        )
    if artifact.initcode_size > EIP3860_MAX_INITCODE_BYTES:
        raise ChainError(
            f"{artifact.name}: init code is {artifact.initcode_size} bytes, over the EIP-3860 limit of "
            f"{EIP3860_MAX_INITCODE_BYTES}"
        )


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def library_roots() -> list[Path]:
    """Import roots of :data:`VYPER_LIBRARIES` (the folders holding the installed packages)."""
    roots: list[Path] = []
    for name in VYPER_LIBRARIES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ChainError(f"the Vyper library {name!r} is not installed: run `make install`")
        roots += [Path(p).parent for p in spec.submodule_search_locations]
    return roots


class Builder:
    """Compile Vyper sources with an on-disk artifact cache.

    ``search_paths`` are the import roots (default: :data:`CONTRACTS_DIR` and the roots of
    :data:`VYPER_LIBRARIES`); the directory of the
    compiled file is always searched too. ``settings`` are keyword arguments of
    ``vyper.compiler.settings.Settings`` (``optimize`` as a string: ``"gas"``, ``"codesize"``,
    ``"none"``); empty means the compiler defaults plus the sources' pragmas. ``hits`` and
    ``misses`` count cache lookups of this builder.
    """

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        *,
        search_paths: Sequence[Path | str] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        roots = [CONTRACTS_DIR, *library_roots()] if search_paths is None else [Path(p) for p in search_paths]
        self.search_paths: tuple[Path, ...] = tuple(p.resolve() for p in roots)
        self.settings: dict[str, Any] = dict(settings or {})
        self.hits = 0
        self.misses = 0

    # --- key -----------------------------------------------------------------------------------

    def _resolve_source(self, source: Path | str) -> Path:
        path = Path(source)
        if not path.is_absolute() and not path.exists():
            candidates = [root / path for root in self.search_paths]
            candidates += [root / f"{path}.vy" for root in self.search_paths if path.suffix == ""]
            path = next((c for c in candidates if c.is_file()), path)
        if not path.is_file():
            roots = ", ".join(str(r) for r in self.search_paths)
            raise InvalidParameter(
                f"Vyper source {str(source)!r} not found (searched the working directory and {roots})"
            )
        if path.suffix != ".vy":
            raise InvalidParameter(f"Vyper source {str(path)!r} must be a .vy file")
        return path.resolve()

    def compiler_data(self, artifact: Artifact) -> Any:
        """Vyper's ``CompilerData`` of ``artifact``'s source under these settings (its source map);
        the source is the one under ``contracts/`` of this checkout (a cached artifact names the
        checkout that built it). ChainError if it does not compile to the artifact's code."""
        path = Path(artifact.source_path)
        if "/contracts_py/contracts/" in path.as_posix():
            path = CONTRACTS_DIR / path.as_posix().rsplit("/contracts_py/contracts/", 1)[1]
        data = self._compiler_data(self._resolve_source(path))
        if bytes(data.bytecode_runtime) != artifact.runtime_bytecode:
            raise ChainError(f"{path} does not compile to the runtime code of artifact {artifact.name}")
        return data

    def _compiler_data(self, path: Path) -> Any:
        from vyper.compiler.input_bundle import FilesystemInputBundle
        from vyper.compiler.phases import CompilerData

        bundle = FilesystemInputBundle([*self.search_paths, path.parent])
        file_input = bundle.load_file(path)
        return CompilerData(file_input, bundle, settings=self._vyper_settings())

    def _vyper_settings(self) -> Any:
        from vyper.compiler.settings import OptimizationLevel, Settings

        kwargs = dict(self.settings)
        if isinstance(kwargs.get("optimize"), str):
            kwargs["optimize"] = OptimizationLevel.from_string(kwargs["optimize"])
        try:
            return Settings(**kwargs)
        except (TypeError, AssertionError, ValueError) as exc:
            raise InvalidParameter(f"invalid Vyper settings {self.settings!r}: {exc}") from None

    def cache_key(self, source: Path | str) -> str:
        """Hex SHA-256 over all sources involved (the compiler's integrity sum), version and settings."""
        path = self._resolve_source(source)
        return self._key(self._compiler_data(path), path)

    def _key(self, data: Any, path: Path) -> str:
        import vyper

        try:
            integrity = data.integrity_sum
        except Exception as exc:
            raise ChainError(f"Vyper cannot resolve the imports of {path}: {_compiler_message(exc)}") from None
        material = json.dumps(
            {
                "format": _CACHE_FORMAT,
                "vyper": vyper.__version__,
                "integrity": integrity,
                "settings": sorted((k, str(v)) for k, v in self.settings.items()),
                "outputs": list(_OUTPUT_FORMATS),
            },
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()

    # --- build ---------------------------------------------------------------------------------

    def build(self, source: Path | str) -> Artifact:
        """Artifact of ``source`` (a path, or a name relative to the search paths, ``.vy`` optional).

        Raises InvalidParameter for a missing source and ChainError (with the compiler's
        message) when the source does not compile.
        """
        import vyper
        from vyper.compiler import outputs_from_compiler_data

        path = self._resolve_source(source)
        data = self._compiler_data(path)
        key = self._key(data, path)
        entry = self.cache_dir / f"{key}.json"
        cached = self._load(entry)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        try:
            out = outputs_from_compiler_data(data, _OUTPUT_FORMATS)
        except Exception as exc:
            raise ChainError(f"Vyper failed to compile {path}: {_compiler_message(exc)}") from None
        artifact = Artifact(
            name=path.stem,
            abi=tuple(out["abi"]),
            bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
            runtime_bytecode=bytes.fromhex(out["bytecode_runtime"].removeprefix("0x")),
            source_path=str(path),
            cache_key=key,
            compiler_version=vyper.__version__,
        )
        try:
            atomic_write_text(entry, json.dumps(artifact.to_json(), sort_keys=True))
        except OSError as exc:
            raise ChainError(
                f"cannot write the artifact cache at {self.cache_dir}: {exc}; set NOVATION_CACHE_DIR"
            ) from None
        return artifact

    @staticmethod
    def _load(entry: Path) -> Artifact | None:
        try:
            return Artifact.from_json(json.loads(entry.read_text(encoding="utf-8")), from_cache=True)
        except (OSError, ValueError, KeyError):
            return None  # missing or unreadable entry: rebuild and overwrite it


def _compiler_message(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def build(source: Path | str, *, cache_dir: Path | str | None = None) -> Artifact:
    """Compile ``source`` (cached) with the default search paths; see :meth:`Builder.build`."""
    return Builder(cache_dir).build(source)


_IMPORT_RE: Final = re.compile(r"^\s*(?:from\s+([\w.]+)\s+)?import\s+([\w.]+)", re.MULTILINE)
_EXTERNAL_RE: Final = re.compile(r"^\s*@(external|deploy)\b", re.MULTILINE)


def deployable_sources(root: Path | str = CONTRACTS_DIR) -> list[Path]:
    """Every ``.vy`` file under ``root`` that has an ``@external``/``@deploy`` function and is not
    imported by another ``.vy`` file under ``root`` (imported files are modules, not contracts).

    Sorted by path. Files under ``interfaces/`` (``.vyi``) are never deployable.
    """
    base = Path(root)
    files = sorted(p for p in base.rglob("*.vy") if p.is_file())
    imported: set[str] = set()
    for path in files:
        text = path.read_text(encoding="utf-8")
        for package, name in _IMPORT_RE.findall(text):
            imported.add(name.rsplit(".", 1)[-1])
            if package and package != ".":
                imported.add(package.rsplit(".", 1)[-1])
    return [p for p in files if p.stem not in imported and _EXTERNAL_RE.search(p.read_text(encoding="utf-8"))]


def code_fingerprint(
    contracts_dir: Path, cache_dir: Path | str | None = None, sources: Sequence[Path] | None = None
) -> dict[str, str]:
    """Hex SHA-256 of the runtime code and of the init code without its CBOR metadata trailer
    (which carries the sources' integrity hash, so it changes with comments and formatting), for
    every deployable contract under ``contracts_dir`` (or for ``sources``), keyed by the path
    relative to ``contracts_dir``. Equal fingerprints: the compiler produced the same code."""
    builder = Builder(cache_dir, search_paths=[contracts_dir, *library_roots()])
    out: dict[str, str] = {}
    for src in sources if sources is not None else deployable_sources(contracts_dir):
        artifact = builder.build(src)
        init = artifact.bytecode
        trailer = int.from_bytes(init[-2:], "big")
        code = (init[:-trailer] if 0 < trailer < len(init) else init) + b"|" + artifact.runtime_bytecode
        out[Path(src).relative_to(contracts_dir).as_posix()] = hashlib.sha256(code).hexdigest()
    return out


def house_abi(builder: Builder | None = None) -> list[dict[str, Any]]:
    """ABI of the clearing house plus every event its engines emit from the house's address
    (``Liquidated``, ``CollateralLiquidated``, ``Deleveraged``, ``FillSettled``, ...): one event
    entry per name, the house's own entries first."""
    b = builder or Builder()
    abi = list(b.build(HOUSE).abi)
    names = {e["name"] for e in abi if e["type"] == "event"}
    for engine in HOUSE_ENGINES:
        for e in b.build(engine).abi:
            if e["type"] == "event" and e["name"] not in names:
                abi.append(e)
                names.add(e["name"])
    return abi


def export_artifacts(
    out_dir: Path | str,
    sources: Iterable[Path | str] | None = None,
    *,
    builder: Builder | None = None,
) -> list[Path]:
    """Write ``<name>.json`` (ABI, init code, runtime code) for each source; returns the paths.

    ``sources`` defaults to :func:`deployable_sources` (protocol contracts and test mocks). The
    clearing house's file carries :func:`house_abi`.
    """
    b = builder or Builder()
    out = Path(out_dir)
    paths: list[Path] = []
    for source in deployable_sources() if sources is None else sources:
        artifact = b.build(source)
        target = out / f"{artifact.name}.json"
        data = artifact.to_json()
        data.pop("sourcePath")  # machine-specific
        if artifact.name == HOUSE:
            data["abi"] = house_abi(b)
        atomic_write_text(target, json.dumps(data, indent=2, sort_keys=True) + "\n")
        paths.append(target)
    return paths
