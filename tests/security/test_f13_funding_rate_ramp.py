# ruff: noqa: F811  (fixtures imported from the harness)
"""F-13 (low): the funding operator could jump to the largest rate at any time.

The attack: a compromised (or careless) funding operator moves a market's rate from zero to
``max_funding_rate_per_s`` in one update, and every long pays the maximum from that second on.
The fix (``docs/SPEC.md`` §6): a rate-of-change limit. An update moves the rate at most
``floor(max * (now - last update) / funding_rate_ramp_s)`` from the current rate (the first
update counts from the market's listing), so crossing the whole range takes
``funding_rate_ramp_s`` (default 3,600 s) however the updates are split. Model and contracts
(titanoboa) side by side.
"""

from __future__ import annotations

import itertools

from security_harness import GOV, MAKER, MATCHER, USDC, VICTIM, Differential, deployment, diff, prices  # noqa: F401  (fixtures)

from protocol.actions import AdvanceTime, Deposit, SetFundingRate
from protocol.constants import WAD
from protocol.events import FundingRateSet
from protocol.scenarios import ACTORS, BTC_PERP, default_params

FUNDING = ACTORS["funding_operator"]
CAP = default_params().protocol.max_funding_rate_per_s_wad
RAMP = default_params().protocol.funding_rate_ramp_s


def test_a_jump_to_the_maximum_is_spread_over_the_ramp(diff: Differential) -> None:
    """The operator asks for the maximum 60 s after listing and again every 60 s; the rate
    reaches it only after a whole ramp (61 updates: the floors of 60 steps fall 40 wei short),
    and the long pays what the ramp allows, not the maximum for the whole hour."""
    assert (3_600, diff.actors.governance) == (RAMP, GOV)
    diff.apply_all(
        [
            *prices(diff, 60_000, 3_000),
            Deposit(MAKER, 0, 1_000_000 * USDC),
            Deposit(VICTIM, 0, 100_000 * USDC),
            diff.signer.fill(MATCHER, MAKER, VICTIM, BTC_PERP, WAD, 60_000 * WAD),
        ]
    )
    listed = diff.model.state.markets[BTC_PERP].funding_rate_set_s
    applied = []
    for _ in range(61):
        diff.apply(AdvanceTime(60, 1), compare=False)
        events = diff.apply(SetFundingRate(FUNDING, BTC_PERP, CAP), compare=False)
        assert isinstance(events, list)
        assert isinstance(events[-1], FundingRateSet)
        applied.append(events[-1].applied_per_s_wad)
    diff.compare_state()
    first = CAP * (diff.now - 60 * 60 - listed) // RAMP
    assert applied[0] == first < CAP // 20  # not the maximum: ~2/60 of it (the price push took a minute)
    assert all(b - a <= CAP * 60 // RAMP for a, b in itertools.pairwise(applied))
    assert applied[-1] == CAP  # reached after a whole ramp
    # before the fix the hour cost the long CAP * 3,600 s * 60,000 = 25,000 USD; now about half
    paid = diff.model.state.markets[BTC_PERP].funding_index
    assert paid < CAP * 3_600 * 60_000 * 11 // 20


def test_a_fall_is_limited_alike(diff: Differential) -> None:
    diff.apply_all([*prices(diff, 60_000, 3_000), AdvanceTime(2 * RAMP, 1)])
    diff.apply_all(prices(diff, 60_000, 3_000))
    assert diff.apply(SetFundingRate(FUNDING, BTC_PERP, CAP))[-1] == FundingRateSet(BTC_PERP, CAP, CAP)
    diff.apply(AdvanceTime(RAMP // 4, 1))
    assert diff.apply(SetFundingRate(FUNDING, BTC_PERP, -CAP))[-1] == FundingRateSet(BTC_PERP, -CAP, CAP - CAP // 4)
