"""Minimal reproducers: delta debugging over an action log, the JSONL log and a pytest file.

:func:`shrink` is Zeller's ddmin over the actions of a failing sequence: it removes ever smaller
chunks while the same check still fails on a fresh target, bounded by ``time_s`` seconds (it
returns the smallest failing log found so far when time runs out). :func:`write_reproducer`
writes the result as a JSONL action log (a header line ``{"audit": {...}}``, then one action
record per line: what ``novation replay LOG --chain model|boa|eth-tester|anvil`` takes) and a
standalone pytest file that replays it on the model and on titanoboa. Fills carry orders signed
with the campaign's public test keys; a replay signs them again for the target's EIP-712 domain.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from contracts_py.audit.actors import campaign_signer, resign
from contracts_py.audit.campaign import T0, CampaignStats, Target, Violation, planted, replay_sequence
from protocol.actions import Action, action_from_dict
from protocol.clearing_house import ClearingHouse
from protocol.errors import ChainError, InvalidParameter

__all__ = ["LOG_VERSION", "failing_check", "read_log", "replay_log", "shrink", "write_reproducer"]

#: Version of the action-log header.
LOG_VERSION: Final = 1


def _resign_for(action: Action, model: ClearingHouse) -> Action:
    return resign(action, campaign_signer(model.state.order_domain))


def replay_log(
    target: Target, actions: Sequence[Action], plant: str | None = None
) -> tuple[CampaignStats, Violation | None]:
    """Replay ``actions`` on ``target`` with every campaign check (and the planted invariant
    ``plant`` of :data:`~contracts_py.audit.campaign.PLANTED`, if given), fills signed again
    for the target's order domain. Raises ChainError when the chain cannot honour the log's clock."""
    return replay_sequence(target, actions, planted(plant), resign=_resign_for)


def shrink(
    actions: Sequence[Action],
    fails: Callable[[Sequence[Action]], bool],
    *,
    time_s: float = 60.0,
) -> list[Action]:
    """The smallest sub-sequence of ``actions`` (order kept) found within ``time_s`` seconds for
    which ``fails`` still holds (ddmin: chunks of size n/2, n/4, ... removed while it fails,
    then single actions). ``fails(actions)`` must hold on entry."""
    deadline = time.monotonic() + time_s
    current = list(actions)
    n = 2
    while len(current) >= 2 and time.monotonic() < deadline:
        chunk = -(-len(current) // n)
        removed = False
        for start in range(0, len(current), chunk):
            if time.monotonic() >= deadline:
                break
            candidate = current[:start] + current[start + chunk :]
            if candidate and fails(candidate):
                current, n, removed = candidate, max(n - 1, 2), True
                break
        if not removed:
            if chunk == 1:
                break
            n = min(n * 2, len(current))
    return current


def failing_check(target: Target, check: str, plant: str | None = None) -> Callable[[Sequence[Action]], bool]:
    """The predicate :func:`shrink` needs: replaying a log on ``target`` fails ``check`` (an
    impossible clock on a chain counts as not failing)."""

    def fails(actions: Sequence[Action]) -> bool:
        try:
            _, violation = replay_log(target, actions, plant)
        except ChainError:
            return False
        return violation is not None and violation.check == check

    return fails


def write_reproducer(
    folder: Path, actions: Sequence[Action], violation: Violation, header: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``repro.jsonl`` (the header and the actions) and ``test_repro.py`` (replays it on
    the model and on titanoboa and expects ``violation.check`` to fail) into ``folder``; returns
    both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "repro.jsonl"
    head = {"audit": {"version": LOG_VERSION, "start_time_s": T0, "violation": violation.to_dict(), **header}}
    lines = [json.dumps(head), *(json.dumps(a.to_dict()) for a in actions)]
    _write(log, "\n".join(lines) + "\n")
    test = folder / "test_repro.py"
    _write(test, _PYTEST.format(check=violation.check, n=len(actions)))
    return log, test


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read_log(path: Path) -> tuple[dict[str, Any], list[Action]]:
    """The header (``{}`` for a plain action log) and the actions of a JSONL action log;
    InvalidParameter naming the line of a malformed record."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidParameter(f"cannot read {path}: {exc.strerror}") from None
    header: dict[str, Any] = {}
    actions: list[Action] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidParameter(f"{path}:{number}: not JSON ({exc.msg})") from None
        if number == 1 and isinstance(raw, dict) and "audit" in raw:
            header = raw["audit"] if isinstance(raw["audit"], dict) else {}
            continue
        try:
            actions.append(action_from_dict(raw))
        except InvalidParameter as exc:
            raise InvalidParameter(f"{path}:{number}: {exc}") from None
    return header, actions


_PYTEST = '''"""Reproducer written by `novation audit`: {n} actions that break `{check}`.

Run: pytest test_repro.py (from a checkout of Novation, with its venv). It replays repro.jsonl
on the reference model and on titanoboa (the model as twin) with every campaign check.
"""

from pathlib import Path

import pytest

from contracts_py.audit.campaign import open_target
from contracts_py.audit.reproducer import read_log, replay_log
from protocol.scenarios import default_params

LOG = Path(__file__).with_name("repro.jsonl")


@pytest.mark.parametrize("chain", ["model", "boa"])
def test_reproducer(chain):
    header, actions = read_log(LOG)
    with open_target(chain, default_params()) as target:
        _, violation = replay_log(target, actions, header.get("plant"))
    assert violation is None, f"{{violation.check}} broken: {{violation.detail}}"
'''
