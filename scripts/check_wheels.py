"""Check that every locked dependency installs from wheels on each supported Python and platform.

``make check-wheels`` runs it (it queries PyPI, so it is not part of ``make test``). For every
Python version in ``SUPPORTED_PYTHONS`` and every platform in ``PLATFORMS`` it exports the exact
versions of ``uv.lock`` (runtime and dev extras) and asks uv to resolve them with source builds
disabled (``--only-binary :all:``, ``--no-deps``), so a pinned version that ships no wheel for
that interpreter and platform is reported by name. Required platforms fail the check (exit 1);
the others are reported as information (a source build there needs a C compiler).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UV = os.environ.get("UV", str(ROOT / "tools" / "uv" / "bin" / "uv"))
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
#: uv ``--python-platform`` targets: (name, required)
PLATFORMS = (
    ("x86_64-manylinux_2_28", True),
    ("aarch64-manylinux_2_28", True),
    ("aarch64-apple-darwin", False),
    ("x86_64-pc-windows-msvc", False),
)
_NO_WHEEL = re.compile(r"Because (\S+?)(?:\{[^}]*\})?==(\S+) has no usable wheels")


def _export(requirements: Path) -> None:
    subprocess.run(
        [UV, "export", "--frozen", "--no-hashes", "--extra", "dev", "--no-emit-project", "-q", "-o", str(requirements)],
        cwd=ROOT,
        check=True,
    )


def _missing_wheels(requirements: Path, python: str, platform: str) -> list[str]:
    """Pinned packages without a wheel for ``python`` on ``platform`` (empty when all install)."""
    missing: list[str] = []
    pins = requirements.read_text(encoding="utf-8")
    while True:
        result = subprocess.run(
            [
                UV,
                "pip",
                "compile",
                "-",
                "--python-version",
                python,
                "--python-platform",
                platform,
                "--only-binary",
                ":all:",
                "--no-deps",
                "-q",
                "-o",
                os.devnull,
            ],
            input=pins,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            check=False,
        )
        if result.returncode == 0:
            return missing
        match = _NO_WHEEL.search(result.stderr)
        if match is None:
            raise SystemExit(f"uv could not resolve the lock for Python {python} on {platform}:\n{result.stderr}")
        name = match.group(1)
        missing.append(f"{name}=={match.group(2)}")
        # drop that pin and look for the next one
        pins = "\n".join(line for line in pins.splitlines() if not line.lower().startswith(f"{name.lower()}=="))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        _export(requirements)
        failed = False
        for python in SUPPORTED_PYTHONS:
            for platform, required in PLATFORMS:
                missing = _missing_wheels(requirements, python, platform)
                if not missing:
                    print(f"ok       Python {python} {platform}: every locked package has a wheel")
                    continue
                failed |= required
                label = "MISSING " if required else "note    "
                print(f"{label} Python {python} {platform}: no wheel for {', '.join(missing)} (builds from source)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
