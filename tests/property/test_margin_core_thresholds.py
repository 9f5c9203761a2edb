"""Property: on adversarial near-threshold states, every margin core decision and sign is the model's.

Hypothesis draws parameters (1-3 perpetuals with or without open-interest scaling, 0-2 collateral
assets with haircuts and caps), market indices, a price vector and accounts whose magnitudes
range from one wei to ~1e40 wei, then moves each account's balance so that its equity lands
within a few wei of its maintenance requirement, its initial requirement or zero. Both ways of
building a book (model state, exact limb arrays) must agree with
:func:`protocol.margin.account_health` on every flag and every sign.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import MAX_INITIAL_MARGIN_FRACTION, MIN_INITIAL_MARGIN_FRACTION, WAD
from protocol.margin import Health, account_health
from protocol.margin_core import MarginBatch, MarginBook, WadLimbs, evaluate
from protocol.params import CollateralParams, FeedParams, MarketParams, Params, ProtocolParams
from protocol.state import Account, MarketState, Position, ProtocolState, Roles

LIMB_RANGE = 2**63 * WAD


#: Initial fractions up to 100 % and beyond it, up to the bound (SPEC §2).
initial_fractions = st.one_of(
    st.integers(MIN_INITIAL_MARGIN_FRACTION, WAD), st.integers(WAD, MAX_INITIAL_MARGIN_FRACTION)
)


def magnitudes(max_exp: int) -> st.SearchStrategy[int]:
    """Non-negative integers whose decimal size is uniform in [0, max_exp] digits."""
    return st.integers(0, max_exp).flatmap(lambda e: st.integers(0, 10**e))


def signed(max_exp: int, *, nonzero: bool = False) -> st.SearchStrategy[int]:
    low = int(nonzero)
    digits = st.integers(0, max_exp).flatmap(lambda e: st.integers(low, max(low, 10**e)))
    return st.tuples(digits, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


@st.composite
def market_params(draw: st.DrawFn, market_id: int) -> MarketParams:
    scaling = draw(st.booleans())
    lo = draw(magnitudes(30)) if scaling else 0
    hi = lo + draw(st.integers(1, 10**30)) if scaling else 0
    return MarketParams(
        market_id,
        f"M{market_id}",
        market_id,
        initial_margin_fraction_wad=draw(initial_fractions),
        maintenance_share_wad=draw(st.integers(1, WAD - 1)),
        oi_cap_lower_wad=lo,
        oi_cap_upper_wad=hi,
    )


@st.composite
def collateral_params(draw: st.DrawFn, asset_id: int, feed_id: int) -> CollateralParams:
    return CollateralParams(
        asset_id,
        f"C{asset_id}",
        18,
        feed_id,
        haircut_wad=draw(st.integers(0, WAD - 1)),
        liquidation_discount_wad=0,
        deposit_cap=10**60,
        value_cap_wad=draw(st.integers(1, 10**40)),
        account_deposit_cap=10**60,
    )


@dataclasses.dataclass(frozen=True)
class World:
    params: Params
    markets: dict[int, MarketState]
    prices: dict[int, int]
    accounts: list[Account]


@st.composite
def near_threshold_worlds(draw: st.DrawFn) -> World:
    m = draw(st.integers(1, 3))
    c = draw(st.integers(0, 2))
    feeds = tuple(FeedParams(f, f"F{f}", 3_600, WAD) for f in range(m + c))
    markets = tuple(draw(market_params(j)) for j in range(m))
    collaterals = tuple(draw(collateral_params(k + 1, m + k)) for k in range(c))
    params = Params(ProtocolParams(), feeds, markets, collaterals)
    states = {
        j: MarketState(
            funding_index=draw(signed(28)),
            loss_index_long=draw(magnitudes(26)),
            loss_index_short=draw(magnitudes(26)),
            oi_long=draw(magnitudes(30)),
        )
        for j in range(m)
    }
    prices = {f: draw(st.integers(1, 10 ** draw(st.integers(0, 30)))) for f in range(m + c)}
    accounts = []
    for _ in range(draw(st.integers(1, 5))):
        positions = {}
        for j in draw(st.sets(st.integers(0, m - 1), max_size=m)):
            size = draw(signed(30, nonzero=True))
            index = states[j].loss_index_long if size > 0 else states[j].loss_index_short
            positions[j] = Position(
                size=size,
                open_notional=draw(signed(36)),
                funding_snapshot=draw(signed(28)),
                loss_snapshot=index - draw(magnitudes(20)),  # the loss index only grows
            )
        collateral = {k + 1: draw(magnitudes(30)) for k in range(c) if draw(st.booleans())}
        acct = Account(balance=0, collateral=collateral, positions=positions)
        h = account_health(acct, params, states, prices, now_s=0)
        target = draw(st.sampled_from(["maintenance", "initial", "zero", "free"]))
        goal = {"maintenance": h.maintenance, "initial": h.initial, "zero": 0, "free": h.equity}[target]
        acct.balance = goal + draw(st.integers(-3, 3)) - h.equity
        accounts.append(acct)
    return World(params, states, prices, accounts)


def sign(x: float | int) -> int:
    return int(x > 0) - int(x < 0)


def assert_decisions_are_the_models(batch: MarginBatch, world: World) -> None:
    shortfall, free = batch.shortfall(), batch.free_collateral()
    for i, acct in enumerate(world.accounts):
        h: Health = account_health(acct, world.params, world.markets, world.prices, now_s=0)
        assert bool(batch.liquidatable[i]) is h.liquidatable, (i, h)
        assert bool(batch.meets_initial[i]) is h.meets_initial, (i, h)
        assert sign(batch.equity[i]) == sign(h.equity), (i, h)
        assert sign(shortfall[i]) == sign(h.maintenance - h.equity), (i, h)
        assert sign(free[i]) == sign(h.free_collateral), (i, h)
        if i in batch.exact:
            assert batch.exact[i] == h


def fits_limbs(world: World) -> bool:
    values = [a.balance for a in world.accounts] + [v for a in world.accounts for v in a.collateral.values()]
    for a in world.accounts:
        for p in a.positions.values():
            values += [p.size, p.open_notional, p.funding_snapshot, p.loss_snapshot]
    return all(abs(v) < LIMB_RANGE for v in values)


def limb_book(world: World) -> MarginBook:
    n, m, c = len(world.accounts), len(world.params.markets), len(world.params.collaterals)

    def field(name: str) -> WadLimbs:
        rows = [[getattr(a.positions[j], name) if j in a.positions else 0 for j in range(m)] for a in world.accounts]
        return WadLimbs.from_ints(rows, shape=(n, m))

    return MarginBook.from_arrays(
        world.params,
        world.markets,
        balance=WadLimbs.from_ints([a.balance for a in world.accounts], shape=(n,)),
        size=field("size"),
        open_notional=field("open_notional"),
        funding_snapshot=field("funding_snapshot"),
        loss_snapshot=field("loss_snapshot"),
        collateral=WadLimbs.from_ints(
            [[a.collateral.get(k + 1, 0) for k in range(c)] for a in world.accounts], shape=(n, c)
        ),
    )


@given(near_threshold_worlds())
def test_model_state_book_decides_like_the_model(world: World) -> None:
    state = ProtocolState(
        roles=Roles("0x" + "11" * 20),
        accounts={f"0x{i:040x}": a for i, a in enumerate(world.accounts)},
        markets=world.markets,
    )
    assert_decisions_are_the_models(evaluate(MarginBook.from_state(state, world.params), world.prices), world)


@given(near_threshold_worlds().filter(fits_limbs))
def test_limb_book_decides_like_the_model(world: World) -> None:
    assert_decisions_are_the_models(evaluate(limb_book(world), world.prices), world)
