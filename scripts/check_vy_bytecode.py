"""Check that the Vyper contracts compile to the same code as at a git revision (``make
check-vy-bytecode REF=main``): the guard of a formatting-only change (``make format-vy``).

Every deployable contract of ``contracts_py/contracts`` in the working tree and in ``REF``
(extracted with ``git archive``) is compiled; runtime code and init code (its CBOR metadata
trailer aside: it hashes the sources, comments and layout included) must be identical.
Exit status 1 names the contracts that differ.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from contracts_py.build import CONTRACTS_DIR, code_fingerprint

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="git revision to compare with (e.g. main)")
    args = parser.parse_args(argv)
    rel = CONTRACTS_DIR.relative_to(ROOT).as_posix()
    archive = subprocess.run(["git", "archive", args.ref, rel], cwd=ROOT, capture_output=True, check=False)
    if archive.returncode != 0:
        print(f"cannot read {rel} at {args.ref!r}: {archive.stderr.decode().strip()}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vy-ref-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        theirs = code_fingerprint(Path(tmp) / rel)
    ours = code_fingerprint(CONTRACTS_DIR)
    differ = sorted(name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name))
    for name in differ:
        print(f"{name}: code differs from {args.ref}", file=sys.stderr)
    if not differ:
        print(f"{len(ours)} contracts: code identical to {args.ref}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
