"""``make mutation``: mutation score of the model (mutmut) and of the contracts (vyper_mutation).

Model: ``mutmut run`` over the modules listed in ``[tool.mutmut] only_mutate`` of
pyproject.toml; mutmut records which tests reach each function and runs only those per mutant.
Contracts: the Vyper operators of :mod:`vyper_mutation` over the protocol's modules, each mutant
against the titanoboa model-vs-contract tests of liquidation, ADL, funding and trading. With
``--contract-sample N`` a seeded sample of N mutants runs (numpy SeedSequence; the seed, the
sample and the population size are stored in the report); ``--sample-start K`` runs only the
sample's mutants after its first K in drawn order (the rest of a run stopped by its time budget),
``--contract-keys KEY ...`` only the mutants named.

Writes ``OUT/mutation.json`` and ``OUT/mutation.md`` atomically. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from vyper_mutation import Mutant, Result, Run, mutants, score

from contracts_py.build import atomic_write_text

ROOT = Path(__file__).resolve().parents[2]
_RISK = "tests/chain/test_protocol_risk.py"
_TRADING = "tests/chain/test_protocol_trading.py"
_CONTRACTS = "tests/chain/test_protocol_contracts.py"
_GAPS = "tests/chain/test_chain_mutation_gaps.py"
_CAMPAIGN = "tests/chain/test_protocol_campaign.py"
_LOSS_MENU = "tests/chain/test_protocol_loss_menu.py"
_SEC = "tests/security/test_"
_LIQUIDATION = (
    _GAPS,
    _RISK,
    f"{_SEC}f05_healthy_collateral_sale.py",
    f"{_SEC}f10_stuck_adl.py",
    f"{_SEC}f15_shortfall_per_market.py",
    _LOSS_MENU,
)
_ADL = (
    _RISK,
    f"{_SEC}f04_adl_ranking.py",
    f"{_SEC}f10_stuck_adl.py",
    f"{_SEC}f15_shortfall_per_market.py",
    _LOSS_MENU,
)
_ORACLE = (_GAPS, _RISK, f"{_SEC}f02_oracle_lock.py", f"{_SEC}f09_stale_collateral.py", f"{_SEC}f17_pause_and_grace.py")
_GOVERNANCE = (
    f"{_SEC}f20_onchain_param_bounds.py",
    f"{_SEC}f16_governance_transfer.py",
    f"{_SEC}f17_pause_and_grace.py",
    _CONTRACTS,
)
_DEPOSITS = (f"{_SEC}f06_token_arrival.py", f"{_SEC}f19_account_deposit_cap.py", _CONTRACTS)
_ORDERS = (
    _TRADING,
    f"{_SEC}f07_signed_orders.py",
    f"{_SEC}f08_oi_maintenance.py",
    f"{_SEC}f01_reduce_only_solvency.py",
)
#: the protocol's Vyper modules (mocks, interfaces, views and the oracle prototypes are not
#: mutated) and the tests each one's mutants run, fastest killers first: the titanoboa
#: model-vs-contract tests of the mechanisms the module implements, the security tests of its
#: findings, then the two titanoboa campaigns (HYPOTHESIS_PROFILE=mutation: 6 and 4 sequences)
_MODULE_TESTS: dict[str, tuple[str, ...]] = {
    "adl_engine.vy": _ADL,
    "adl_queue.vy": _ADL,
    "clearing.vy": (_GAPS, _TRADING, _RISK, f"{_SEC}f01_reduce_only_solvency.py"),
    "clearing_house.vy": (_GAPS, _TRADING, *_GOVERNANCE, *_DEPOSITS[:2], _RISK),
    "funding.vy": (_GAPS, _TRADING, _RISK, f"{_SEC}f13_funding_rate_ramp.py"),
    "insurance_fund.vy": (_RISK, _CONTRACTS, f"{_SEC}f15_shortfall_per_market.py"),
    "liquidation.vy": _LIQUIDATION,
    "liquidation_engine.vy": _LIQUIDATION,
    "margin.vy": (
        _GAPS,
        _RISK,
        _TRADING,
        f"{_SEC}f08_oi_maintenance.py",
        f"{_SEC}f01_reduce_only_solvency.py",
        f"{_SEC}f09_stale_collateral.py",
    ),
    "oracle_adapter.vy": _ORACLE,
    "orders.vy": _ORDERS,
    "roles.vy": _GOVERNANCE,
    "socialized_loss.vy": _ADL,
    "trading_engine.vy": _ORDERS,
    "units.vy": (_GAPS, _TRADING, _RISK),
    "vault.vy": (_GAPS, *_DEPOSITS, _RISK, f"{_SEC}f09_stale_collateral.py"),
}
CONTRACT_TESTS = {name: (*tests, _CAMPAIGN) for name, tests in _MODULE_TESTS.items()}
CONTRACT_FILES = tuple(sorted(CONTRACT_TESTS))
#: the contracts the tests deploy (compiled per mutant to detect equivalent mutants)
CONTRACT_SOURCES = ("clearing_house.vy", "liquidation_engine.vy", "trading_engine.vy", "adl_engine.vy")
#: what every mutant run deselects: the node backends (eth-tester, anvil) repeat titanoboa's checks
CONTRACT_PYTEST_ARGS = ("-k", "not anvil and not tester and not on_node")


_SURVIVED = ("survived", "no tests")


def wilson(killed: int, decided: int, z: float = 1.96) -> tuple[float, float] | None:
    """95 % Wilson score interval of a kill rate ``killed / decided`` (None when nothing decided)."""
    if decided == 0:
        return None
    p = killed / decided
    centre = (p + z * z / (2 * decided)) / (1 + z * z / decided)
    half = z * math.sqrt(p * (1 - p) / decided + z * z / (4 * decided * decided)) / (1 + z * z / decided)
    return round(centre - half, 4), round(centre + half, 4)


def model_results(workers: int, *, run: bool = True) -> dict[str, Any]:
    """Run mutmut (resuming its cache in ``mutants/``; ``run=False``: only read what it has
    decided so far) and collect every mutant's status, overall and per module. A mutant no test
    reaches ("no tests") counts as a survivor; one not yet run is "not checked"."""
    started = time.monotonic()
    if run:
        env = {**os.environ, "HYPOTHESIS_PROFILE": "mutation"}
        subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)], cwd=ROOT, env=env, check=False
        )
    listing = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    status: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name:
            status[name] = state
    modules: dict[str, dict[str, int]] = {}
    for name, state in status.items():
        row = modules.setdefault(name.split(".x")[0], {"killed": 0, "survived": 0, "other": 0})
        row["killed" if state in ("killed", "timeout") else "survived" if state in _SURVIVED else "other"] += 1
    killed = sum(row["killed"] for row in modules.values())
    survived = sorted(n for n, s in status.items() if s in _SURVIVED)
    decided = killed + len(survived)
    return {
        "tool": "mutmut",
        "mutants": len(status),
        "killed": killed,
        "survived": len(survived),
        "other": len(status) - decided,
        "score": killed / decided if decided else None,
        "interval": wilson(killed, decided),
        "modules": modules,
        "survivors": [f"{n} ({status[n]})" for n in survived],
        "seconds": round(time.monotonic() - started),
    }


def select(
    population: list[Mutant], sample: int, seed: int, *, start: int = 0, keys: tuple[str, ...] = ()
) -> list[Mutant]:
    """The mutants to run: a seeded sample of ``sample`` (0: all) in drawn order, without its
    first ``start``; or, when ``keys`` are given, exactly those mutants of the population, in the
    order given (an unknown key is a ``ValueError``)."""
    if keys:
        by_key = {m.key: m for m in population}
        unknown = [k for k in keys if k not in by_key]
        if unknown:
            raise ValueError(f"no such contract mutant: {', '.join(unknown)}")
        return [by_key[k] for k in keys]
    chosen = population
    if 0 < sample < len(population):
        rng = np.random.default_rng(np.random.SeedSequence(seed))
        # in the drawn order, so mutants left out by the time budget leave an unbiased subsample
        chosen = [population[i] for i in rng.choice(len(population), size=sample, replace=False)]
    return chosen[start:]


def contract_results(
    sample: int,
    seed: int,
    workers: int,
    out: Path,
    budget_s: float | None,
    *,
    start: int = 0,
    keys: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run a seeded sample (0: all) of the contract mutants, or the part of it after its first
    ``start``, or only the mutants ``keys`` (see :func:`select`), resuming from the checkpoint
    ``out/contracts.jsonl`` (one result a line, appended as each mutant finishes); mutants not
    started within ``budget_s`` are reported as not run."""
    population = mutants(ROOT / "contracts_py/contracts", CONTRACT_FILES)
    chosen = select(population, sample, seed, start=start, keys=keys)
    checkpoint = out / "contracts.jsonl"
    done: dict[str, Result] = {}
    if checkpoint.exists():
        for line in checkpoint.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            mutant = Mutant(row["path"], row["line"], row["operator"], row["original"], row["mutated"])
            done[mutant.key] = Result(mutant, row["status"], row["detail"])
    todo = [m for m in chosen if m.key not in done]
    out.mkdir(parents=True, exist_ok=True)

    def record(result: Result) -> None:
        with checkpoint.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(result.to_json(), sort_keys=True) + "\n")

    run = Run(
        ROOT,
        CONTRACT_TESTS,
        out / "cache",
        sources=CONTRACT_SOURCES,
        pytest_args=CONTRACT_PYTEST_ARGS,
        env={"HYPOTHESIS_PROFILE": "mutation"},
    )
    started = time.monotonic()
    deadline = None if budget_s is None else started + budget_s
    fresh = {r.mutant.key: r for r in run.run_all(todo, workers=workers, on_result=record, deadline=deadline)}
    seconds = time.monotonic() - started
    results: list[Result] = [done.get(m.key) or fresh[m.key] for m in chosen]
    ran = [r for r in fresh.values() if r.status != "not run"]
    statuses = ("killed", "timeout", "survived", "equivalent", "invalid", "not run")
    counts = {s: sum(r.status == s for r in results) for s in statuses}
    return {
        "tool": "tests/mutation/vyper_mutation.py",
        "population": len(population),
        "sample": len(chosen),
        "seed": seed,
        "sample_start": start,
        "keys": list(keys),
        "seconds": round(seconds),
        "seconds_per_mutant": round(seconds / max(len(ran), 1), 1),
        "estimated_full_run_s": round(seconds / max(len(ran), 1) * len(population)),
        **counts,
        "score": score(results),
        "interval": wilson(
            counts["killed"] + counts["timeout"], counts["killed"] + counts["timeout"] + counts["survived"]
        ),
        "results": [r.to_json() for r in results],
    }


def _rate(part: dict[str, Any]) -> str:
    if part["score"] is None:
        return "nothing decided"
    low, high = part["interval"]
    return f"{part['score']:.1%} (95 % Wilson interval {low:.1%} to {high:.1%})"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: scores, then every survivor."""
    m, c = report.get("model"), report.get("contracts")
    out = ["# Mutation report", ""]
    if m:
        out += [
            f"## Model (mutmut): {m['killed']} killed / {m['killed'] + m['survived']} = {_rate(m)}",
            "",
            f"{m['mutants']} mutants, {m['other']} not decided (not checked yet, or mutmut's other states), "
            f"{m['seconds']} s.",
            "",
            "| module | killed | survived | not decided |",
            "|---|---|---|---|",
            *[f"| {k} | {v['killed']} | {v['survived']} | {v['other']} |" for k, v in sorted(m["modules"].items())],
            "",
            "Survivors:",
            "",
            *[f"- `{name}`" for name in m["survivors"]],
            "",
        ]
    if c:
        decided = c["killed"] + c["timeout"] + c["survived"]
        if c.get("keys"):
            chosen = f"{c['sample']} mutants chosen by key of {c['population']}"
        else:
            skipped = c.get("sample_start", 0)
            part = f", its first {skipped} skipped" if skipped else ""
            chosen = f"Sample of {c['sample'] + skipped} of {c['population']} mutants{part} (SeedSequence({c['seed']}))"
        out += [
            f"## Contracts: {c['killed'] + c['timeout']} killed / {decided} = {_rate(c)}",
            "",
            f"{chosen}; "
            f"{c['equivalent']} equivalent (identical code), {c['invalid']} do not compile, "
            f"{c['not run']} not run (time budget); "
            f"{c['seconds']} s, {c['seconds_per_mutant']} s per mutant, full run about "
            f"{c['estimated_full_run_s']} s on this machine. Survivors:",
            "",
        ]
        out += [
            f"- `{r['key']}`: `{r['original'].strip()}` -> `{r['mutated'].strip()}`"
            for r in c["results"]
            if r["status"] == "survived"
        ]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs/mutation")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--contract-sample", type=int, default=150, help="0: every contract mutant")
    parser.add_argument(
        "--sample-start",
        type=int,
        default=0,
        help="skip the first N mutants of the drawn sample (run positions N+1 ... --contract-sample)",
    )
    parser.add_argument(
        "--contract-keys", nargs="+", default=(), metavar="KEY", help="run only these mutants (file:line:op:digest)"
    )
    parser.add_argument("--budget-s", type=float, default=None, help="stop starting contract mutants after this")
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--model-collect-only", action="store_true", help="report mutmut's cache, run nothing")
    parser.add_argument("--skip-contracts", action="store_true")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.contract_sample < 0 or args.sample_start < 0:
        parser.error("--workers must be >= 1, --contract-sample and --sample-start >= 0")
    if args.contract_keys and args.sample_start:
        parser.error("--contract-keys and --sample-start exclude each other")
    report: dict[str, Any] = {}
    if not args.skip_model:
        report["model"] = model_results(args.workers, run=not args.model_collect_only)
    if not args.skip_contracts:
        try:
            report["contracts"] = contract_results(
                args.contract_sample,
                args.seed,
                args.workers,
                args.out,
                args.budget_s,
                start=args.sample_start,
                keys=tuple(args.contract_keys),
            )
        except ValueError as exc:
            parser.error(str(exc))
    atomic_write_text(args.out / "mutation.json", json.dumps(report, indent=1, sort_keys=True) + "\n")
    atomic_write_text(args.out / "mutation.md", markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
