"""Throughput of ``novation audit`` campaigns on anvil against the model alone (issue 14).

The same campaign (``--actions`` protocol actions, default 3,000, in one sequence, ``--per-block``
per block, default 20, ``SeedSequence(--seed)``, default 1) runs first on the model alone and then
on anvil with the model as twin: every action's events or revert compared, every GUIDE §5
invariant on the model and on the state read back from the chain after every block, solvency
and chain == model to the wei. Timed by the campaign's own clock: ``CampaignResult.rate`` leaves
the set-up out (node start-up, compilation, deployment, printed apart), as ``novation audit``
prints it and fuzzers count calls per second. Printed: actions/s of each, the rate with the
set-up included, and the ratio anvil / model (the machine's load affects both alike).

Where the time goes (cProfile of 3,000 actions, 2026-12-05): waiting for anvil to execute and
mine (about half), the model and the draws, event decoding and calldata encoding (direct word
codecs, ``contracts_py.chains.abi``), the per-block state reads (one JSON-RPC batch per 25
blocks). The helper thread of the campaign sends blocks while the model draws the next ones.
On 20,000 actions (2026-12-06) anvil's share grows: its ``evm_mine`` rebuilds the whole state
trie every block while the core's storage grows by every filled order (``benchmarks/README.md``).

Run: ``PATH=$PWD/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH
.venv/bin/python benchmarks/audit_throughput.py``.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts_py.audit.runner import CampaignConfig, CampaignResult, run_campaign  # noqa: E402


def _run(chain: str, actions: int, per_block: int, seed: int) -> CampaignResult:
    gc.collect()
    result = run_campaign(
        CampaignConfig(actions=actions, sequence_length=actions, per_block=per_block, chain=chain, seed=seed)
    )
    if result.violation is not None:
        raise SystemExit(f"{chain}: violation {result.violation.to_dict()}")
    return result


def main() -> None:
    """Parse the options, run both campaigns, print the rates."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=3_000)
    parser.add_argument("--per-block", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    model = _run("model", args.actions, args.per_block, args.seed)
    anvil = _run("anvil", args.actions, args.per_block, args.seed)
    print(f"seed {args.seed}, {args.actions:,} actions, {args.per_block} per block, {anvil.stats.blocks} blocks")
    for label, r in (("model alone ", model), ("anvil + twin", anvil)):
        print(
            f"{label}  {r.rate:10,.0f} actions/s after a {r.stats.setup_s:.2f} s set-up "
            f"({r.stats.actions / r.seconds:,.0f} actions/s with it, {r.seconds:.2f} s)"
        )
    print(f"ratio anvil/model {anvil.rate / model.rate:.2f}; target on anvil: 1,500 actions/s")


if __name__ == "__main__":
    main()
