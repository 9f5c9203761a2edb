"""Audit campaigns at scale (issue 14): >= 100,000 protocol actions across model and chain with
zero violations, and a planted invariant found, shrunk to a handful of actions and replayed.

Shares: two model campaigns of 47,000 actions (two seeds, so pytest-xdist splits them), anvil
through the batched fast path (6,000 actions, every block read back and compared to the wei),
titanoboa and eth-tester (a few hundred each: py-evm executes ~15 transactions/s).
"""

from __future__ import annotations

import contextlib
import gc
import json
import runpy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from contracts_py.audit import campaign
from contracts_py.audit.actors import (
    ACTION_KINDS,
    ACTORS,
    COVERAGE_KINDS,
    PROFILES,
    UNDRAWN,
    KindDraw,
    kind_weights,
)
from contracts_py.audit.campaign import (
    ANVIL_HISTORY_BLOCKS,
    T0,
    _check_listing,
    generate_sequence,
    open_target,
    replay_sequence,
)
from contracts_py.audit.coverage import coverage_configs
from contracts_py.audit.reproducer import failing_check, read_log, replay_log, shrink, write_reproducer
from contracts_py.audit.runner import COVERAGE_OI_CAPS, CampaignConfig, run_campaign
from novation.cli import app
from protocol.actions import ACTION_TYPES, AdvanceTime, Deposit, PushPrice
from protocol.constants import WAD
from protocol.errors import ChainError, ProtocolRevert

PLANT = "one_market_per_account"


def test_every_protocol_action_type_is_drawn_or_said_why_not() -> None:
    drawn = {k.action for k in ACTION_KINDS}
    assert drawn | set(UNDRAWN) == set(ACTION_TYPES.values())
    assert not drawn & set(UNDRAWN)
    assert len({k.name for k in ACTION_KINDS}) == len(ACTION_KINDS)


def test_profiles_weigh_known_kinds_and_coverage_splits_the_loss_methods() -> None:
    names = {k.name for k in ACTION_KINDS}
    for profile, factors in PROFILES.items():
        assert set(factors) <= names, profile
        kinds, probs = kind_weights(profile)
        assert kinds == [k.name for k in ACTION_KINDS]
        assert abs(probs.sum() - 1) < 1e-12
        only_coverage = [k.name in {c.name for c in COVERAGE_KINDS} for k in ACTION_KINDS]
        assert ((probs > 0) | (only_coverage if profile != "coverage" else False)).all()
        if profile != "coverage":
            assert not probs[only_coverage].any()  # coverage kinds: the coverage profile only
    config = CampaignConfig(actions=1_001, sequence_length=800, chain="boa", profile="coverage", trace_sources=True)
    split = coverage_configs(config)
    methods = ["pro_rata", "adl", "open_interest", "profit_haircut", "gains"]
    assert [c.loss_method for c in split] == methods
    assert [c.params().protocol.socialized_loss_method.value for c in split] == methods
    assert all(c.actions == 200 and c.sequence_length == 200 for c in split)
    assert coverage_configs(CampaignConfig(chain="boa")) == [CampaignConfig(chain="boa")]


def test_coverage_profile_lowers_the_open_interest_caps_only() -> None:
    """Under the ``coverage`` profile the market that scales its initial fraction does so from
    COVERAGE_OI_CAPS (a campaign's open interest reaches it); nothing else changes, and other
    profiles and given parameters are left alone."""
    coverage, default = CampaignConfig(profile="coverage").params(), CampaignConfig().params()
    scaled = [(m.oi_cap_lower_wad, m.oi_cap_upper_wad) for m in coverage.markets if m.oi_cap_upper_wad]
    assert scaled == [COVERAGE_OI_CAPS]
    assert replace(coverage, markets=default.markets) == default
    assert [m.oi_cap_lower_wad for m in default.markets] == [0, 5 * 10**6 * WAD]


def test_a_deployment_listing_other_than_the_parameters_is_refused() -> None:
    """A campaign checks that the chain lists exactly the feeds, markets and collateral assets
    of its parameters (the listing views), and names the view that differs."""
    params = CampaignConfig().params()
    with open_target("boa", params) as target:
        assert target.chain is not None
        system = target._system
        with pytest.raises(
            ChainError, match=r"deployment: listed_markets\(\) returned \[0, 1\], the parameters list \[0\]"
        ):
            _check_listing(system, replace(params, markets=params.markets[:1]))


def test_kind_draw_is_generator_choice_on_the_same_stream() -> None:
    """The campaign's kind draw gives the index ``rng.choice(n, p=probs)`` gives, draw after
    draw, and leaves the random stream where ``choice`` leaves it (seeds replay the same
    sequences)."""
    for profile in PROFILES:
        _, probs = kind_weights(profile)
        draw, by_choice, by_draw = KindDraw(probs), np.random.default_rng(11), np.random.default_rng(11)
        assert [int(by_choice.choice(len(probs), p=probs)) for _ in range(20_000)] == [
            draw(by_draw) for _ in range(20_000)
        ]
        assert by_choice.random() == by_draw.random()


def test_collector_settings_are_restored_after_a_sequence() -> None:
    before = gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()
    result = run_campaign(CampaignConfig(actions=200, sequence_length=100, chain="model", seed=5))
    assert result.violation is None
    assert (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()) == before


def test_anvil_batch_across_a_gap_longer_than_the_node_history() -> None:
    """anvil keeps ANVIL_HISTORY_BLOCKS past states: a block after a longer gap sends the blocks
    before it first, so every block's state is still read back and compared."""
    gap = ANVIL_HISTORY_BLOCKS + 44
    log = [
        AdvanceTime(1, 1),
        PushPrice(ACTORS.oracle, 0, 60_000 * WAD, T0 + 1),
        Deposit(ACTORS.traders[0], 0, 10**9),
        AdvanceTime(2 * gap, gap),
        PushPrice(ACTORS.oracle, 1, 3_000 * WAD, T0 + 1 + 2 * gap),
        AdvanceTime(1, 1),
        Deposit(ACTORS.traders[1], 0, 10**9),
    ]
    with open_target("anvil", CampaignConfig().params()) as target:
        stats, violation = replay_sequence(target, log)
    assert violation is None, violation
    assert (stats.blocks, stats.actions) == (3, 4)
    assert not stats.reverts


@pytest.mark.parametrize("planted_block", [1, 9, 30])
def test_anvil_reports_the_first_chain_difference_with_later_batches_in_flight(
    monkeypatch: pytest.MonkeyPatch, planted_block: int
) -> None:
    """On anvil the helper thread works on one batch while the previous one is checked and the
    model draws on: a difference planted in the chain state read at model block
    ``planted_block`` (the first, a middle and the last batch of the sequence) is the violation
    reported, and the log is cut at the end of that block, whatever was drawn or sent after it."""
    compare = campaign.state_differences

    def planted(chain, model, addresses):  # type: ignore[no-untyped-def]
        return ["planted difference"] if model.block == planted_block else compare(chain, model, addresses)

    monkeypatch.setattr(campaign, "state_differences", planted)
    with open_target("anvil", CampaignConfig().params()) as target:
        log, stats, violation = generate_sequence(target, np.random.SeedSequence(1407), 700, 20)
    assert violation is not None
    assert (violation.check, violation.where, violation.detail) == ("chain == model", "chain", "planted difference")
    assert violation.action_index == len(log) - 1
    assert stats.blocks >= planted_block + 2  # the model went on beyond the block while it was in flight
    with open_target("model", CampaignConfig().params()) as model_target:
        model = model_target.fresh()
        for action in log:
            with contextlib.suppress(ProtocolRevert):
                model.apply(action)
    assert model.state.block == planted_block


def test_coverage_profile_draws_every_coverage_kind_and_the_default_none() -> None:
    """A model campaign under the ``coverage`` profile draws every coverage kind (refused variants
    of the contract entries, the ADL clock steps) and their refusals; the default profile none
    (chain == model on them: ``novation audit --chain boa --coverage``, README)."""
    result = run_campaign(
        CampaignConfig(actions=3_000, sequence_length=500, chain="model", seed=1406, profile="coverage")
    )
    assert result.violation is None, result.violation
    assert {k.name for k in COVERAGE_KINDS} <= set(result.stats.kinds)
    assert {"vault: unknown asset", "clearing: order expired", "roles: caller is not governance"} <= set(
        result.stats.reverts
    )
    default = run_campaign(CampaignConfig(actions=3_000, sequence_length=500, chain="model", seed=1406))
    assert not {k.name for k in COVERAGE_KINDS} & set(default.stats.kinds)


@pytest.mark.parametrize(
    ("chain", "actions", "seed"),
    [
        ("model", 47_000, 1401),
        ("model", 47_000, 1402),
        ("anvil", 6_000, 1403),
        ("boa", 300, 1404),
        ("eth-tester", 200, 1405),
    ],
)
def test_campaign_holds_every_invariant(chain: str, actions: int, seed: int) -> None:
    result = run_campaign(CampaignConfig(actions=actions, sequence_length=1_000, per_block=20, chain=chain, seed=seed))
    assert result.violation is None, result.violation
    assert result.stats.actions == actions
    # every block's state invariants ran on the model (and on a chain also on the chain's state)
    assert result.stats.checks > result.stats.blocks * 6
    assert result.stats.reverts  # refused actions are part of the campaign
    assert len(result.stats.kinds) >= 20  # nearly every action kind was drawn


def test_planted_invariant_is_found_shrunk_and_replayed(tmp_path: Path) -> None:
    result = run_campaign(CampaignConfig(actions=5_000, sequence_length=100, chain="model", seed=7, plant=PLANT))
    assert result.violation is not None
    assert result.violation.check == f"planted:{PLANT}"
    with open_target("model", CampaignConfig().params()) as target:
        small = shrink(
            result.violation_log, failing_check(target, result.violation.check, PLANT), time_s=600
        )  # a cap: ddmin converges in seconds
        _, violation = replay_log(target, small, PLANT)
    assert violation is not None
    assert violation.check == result.violation.check
    assert len(small) <= 12, small  # two prices, deposits, two fills and the clock
    assert sum(not isinstance(a, AdvanceTime) for a in small) >= 4
    log, test = write_reproducer(tmp_path, small, violation, {"plant": PLANT, "chain": "model"})
    header, actions = read_log(log)
    assert header["plant"] == PLANT
    assert actions == small
    # the written pytest file fails while the bug is there, on the model and on titanoboa
    module = runpy.run_path(str(test))
    for chain in ("model", "boa"):
        with pytest.raises(AssertionError, match=PLANT):
            module["test_reproducer"](chain)
    # and `novation replay LOG --chain anvil` replays it on a node with the model as twin
    answer = CliRunner().invoke(app, ["replay", str(log), "--chain", "anvil"])
    assert answer.exit_code == 1, answer.output
    assert f"planted:{PLANT}" in answer.output


def test_cli_audit_writes_summary_and_reproducer(tmp_path: Path) -> None:
    out = tmp_path / "run"
    answer = CliRunner().invoke(
        app, ["audit", "--actions", "2000", "--seed", "3", "--plant", PLANT, "--out", str(out), "--shrink-time", "30"]
    )
    assert answer.exit_code == 1, answer.output
    assert "actions/s" in answer.output
    assert "reverts" in answer.output
    assert {p.name for p in out.iterdir()} == {"summary.json", "repro.jsonl", "test_repro.py"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed_entropy"] == 3
    assert summary["violation"]["check"] == f"planted:{PLANT}"


def test_coverage_report_lists_never_reached_contract_lines(tmp_path: Path) -> None:
    """``novation audit --coverage`` (a tiny campaign on titanoboa): the report exists, a line
    every campaign reaches (the core's deposit into the vault) is marked reached, and every
    never-reached line is quoted in the text report."""
    out = tmp_path / "cov"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            "--chain",
            "boa",
            "--actions",
            "40",
            "--sequence-length",
            "40",
            "--seed",
            "1",
            "--coverage",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "contract line coverage:" in result.output
    report = json.loads((out / "coverage.json").read_text())
    house = report["files"]["clearing_house.vy"]
    source = (Path(__file__).parents[2] / "contracts_py/contracts/clearing_house.vy").read_text().splitlines()
    deposit = next(n for n, line in enumerate(source, 1) if "vault.deposit(msg.sender" in line)
    assert deposit not in house["missing"]
    assert house["reached"] > 0
    assert 0 < report["reached"] < report["statements"]
    assert report["branches"] > 0
    assert all(len(arc) == 2 for arc in house["missing_branches"])
    model = report["model"]  # the Python model, measured in the same run (function-body lines)
    assert 0 < model["reached"] < model["statements"]
    assert model["files"]["protocol/clearing_house.py"]["reached"] > 0
    text = (out / "coverage.txt").read_text()
    assert all(f"  {n:5d} | " in text for n in house["missing"])
    # the constructor runs from the initcode: its lines are reached like any other
    init = next(n for n, line in enumerate(source, 1) if line.startswith("def __init__("))
    checks = [n for n, line in enumerate(source, 1) if n > init and "roles: protocol parameters out of" in line]
    assert checks
    assert checks[0] not in house["missing"]
    # lines no bytecode maps to are never reached, and marked so
    assert set(house["no_code"]) <= set(house["missing"])
    assert report["reached"] <= report["code_statements"] <= report["statements"]
    assert all(f"  {n:5d} | " in text and "[no code]" in text for n in house["no_code"])
    assert "lines with code:" in text
    assert (out / "html" / "index.html").is_file()
