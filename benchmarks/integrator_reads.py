"""Integrator reads from anvil: the lens against one ``eth_call`` per getter (issue 13).

A node is started, the protocol deployed with default parameters, and ``--accounts`` accounts
(default 10,000, addresses drawn from ``numpy.random.SeedSequence(--seed)``, entropy printed)
given state: a USDC deposit each and a WETH deposit for every other one (impersonated senders,
sent in batches; not timed). Then the same accounts are read at one pinned block twice:

* naive: :meth:`NovationClient.account`, one ``eth_call`` per getter (position mask, balance,
  realized PnL, one collateral amount per listed asset), sequential;
* lens: :meth:`NovationClient.accounts`, ``--chunk`` accounts per ``eth_call`` of the lens.

Printed: accounts/s of each, the ratio, and whether both reads are equal (the script exits
non-zero if not). Targets of the issue: lens >= 10,000 accounts/s and >= 20x naive.

Run: ``PATH=$PWD/tools/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH
.venv/bin/python benchmarks/integrator_reads.py``
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts to read (default 10,000)")
    parser.add_argument("--chunk", type=int, default=200, help="accounts per lens eth_call (default 200)")
    parser.add_argument("--seed", type=int, default=13, help="entropy of the SeedSequence of the addresses")
    args = parser.parse_args(argv)
    if args.accounts < 1:
        parser.error("--accounts must be positive")

    from contracts_py.chain_house import mint_test_tokens
    from contracts_py.chains import BatchCall
    from contracts_py.chains.anvil_chain import AnvilChain
    from contracts_py.client import NovationClient
    from contracts_py.deploy import deploy_system
    from protocol.constants import WAD
    from protocol.scenarios import WETH, default_params

    seq = np.random.SeedSequence(args.seed)
    print(f"seed entropy {seq.entropy}; {args.accounts} accounts, lens chunk {args.chunk}")
    raw = np.random.default_rng(seq).integers(0, 256, size=(args.accounts, 20), dtype=np.uint8)
    addresses = ["0x" + bytes(row).hex() for row in raw]
    with AnvilChain(impersonate=True, extra_args=["--auto-impersonate"]) as chain:
        me = chain.accounts[0]
        system = deploy_system(chain, default_params(), me, matchers=[me], oracles=[me], funding_operators=[me])
        chain.set_balances(addresses, 10**20)
        started = time.perf_counter()
        for start in range(0, len(addresses), 1_000):
            part = addresses[start : start + 1_000]
            mint_test_tokens(system, part, 10**30)
            calls = [BatchCall(system.core, "deposit", (0, 1_000 * 10**6 + i), sender=a) for i, a in enumerate(part)]
            calls += [BatchCall(system.core, "deposit", (WETH, WAD + i), sender=a) for i, a in enumerate(part[::2])]
            failed = [r.reason for r in chain.send_batch(calls) if not r.success]
            if failed:
                print(f"set-up failed: {failed[0]}")
                return 1
        print(f"set-up (not timed): {time.perf_counter() - started:.1f} s")
        client = NovationClient(chain.url, system.core.address)
        block = client.block_number()
        gc.collect()
        t0 = time.perf_counter()
        naive = {a: client.account(a, block=block) for a in addresses}
        naive_s = time.perf_counter() - t0
        gc.collect()
        t0 = time.perf_counter()
        lens = client.accounts(addresses, block=block, chunk=args.chunk)
        lens_s = time.perf_counter() - t0
    naive_rate, lens_rate = len(addresses) / naive_s, len(addresses) / lens_s
    equal = lens == naive
    print(f"naive (one eth_call per getter): {naive_rate:10,.0f} accounts/s  ({naive_s:.2f} s)")
    print(f"lens ({args.chunk} accounts per eth_call): {lens_rate:10,.0f} accounts/s  ({lens_s:.2f} s)")
    print(f"lens / naive: {lens_rate / naive_rate:.1f}x; reads equal: {'OK' if equal else 'MISMATCH'}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
