"""Cross-margined books: study configuration of several markets, feeds following the lead,
collateral-asset deposits and the traders' orders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.margin import account_health
from protocol.oracle_adapter import trusted_prices
from protocol.scenarios import BTC_PERP, ETH_PERP, WETH
from simulator.agents import price_paths, trader_orders
from simulator.config import FeedPath, StudyConfig, load_study
from simulator.engine import build_book, simulate_path
from simulator.paths import PathSet, correlated_follower, merton_jump_diffusion, scale_returns
from simulator.report import config_toml

ETH = {"ETH/USD": {"spot": 3_000.0, "sigma": 1.0}}
CROSS = {
    "protocol.markets": [BTC_PERP, ETH_PERP],
    "price.feeds": ETH,
    "traders.collateral_asset_share": 0.3,
    "run.accounts": 120,
    "run.steps": 50,
}


def test_a_cross_margined_study_round_trips_through_toml_and_dicts(tmp_path: Path) -> None:
    config = StudyConfig().override(CROSS)
    assert config.protocol.markets == (BTC_PERP, ETH_PERP)
    assert config.price.feeds == (FeedPath("ETH/USD", 3_000.0, 1.0),)
    params = config.book_params()
    assert [m.market_id for m in params.markets] == [BTC_PERP, ETH_PERP]
    assert [f.symbol for f in params.feeds] == ["BTC/USD", "ETH/USD"]
    assert [c.asset_id for c in params.collaterals] == [WETH]
    assert StudyConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "study.toml"
    path.write_text(config_toml(config))
    assert load_study(path) == config
    assert load_study(path).fingerprint() == config.fingerprint()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"protocol.markets": [BTC_PERP, ETH_PERP]}, "price.feeds has no path for \\['ETH/USD'\\]"),
        ({"price.feeds": ETH}, "does not read"),
        ({"protocol.markets": []}, "protocol.markets must be a non-empty list"),
        ({"protocol.markets": [0, 0]}, "lists a market twice"),
        ({"protocol.markets": [7]}, "protocol.markets: 7 is not a market"),
        ({"protocol.markets": "0"}, "protocol.markets must be a non-empty list"),
        ({"price.feeds": {"ETH/USD": {"spot": 3_000.0}}}, "a table of spot and sigma"),
        ({"price.feeds": {"ETH/USD": {"spot": -1.0, "sigma": 1.0}}}, "price.feeds.'ETH/USD'.spot"),
        ({"price.feeds": [1, 2]}, "price.feeds must be a table"),
        ({"price.correlation": 1.5}, "price.correlation"),
        ({"traders.collateral_asset_share": 0.2, "traders.collateral_asset_id": 9}, "collateral_asset_id = 9"),
        ({"traders.collateral_asset_share": 1.5}, "traders.collateral_asset_share"),
        ({"keepers.gas_budget_per_block": 200_000}, "costliest keeper transaction"),
    ],
)
def test_bad_cross_margin_settings_name_the_field(changes: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidParameter, match=named):
        StudyConfig().override(changes)


def test_a_follower_moves_with_the_lead_at_its_own_volatility() -> None:
    lead = merton_jump_diffusion(
        np.random.SeedSequence(3), n_paths=1, n_steps=20_000, dt_s=60, spot=30_000.0, sigma=0.8,
        jumps_per_year=2_000.0, jump_mean=-0.02, jump_std=0.03,
    )  # fmt: skip
    r_lead = np.diff(np.log(lead.prices[0, :, 0]))
    year_steps = 365 * 24 * 60
    for corr in (0.0, 0.6, 0.95):
        f = correlated_follower(np.random.SeedSequence(4), lead, spot=3_000.0, sigma=1.2, corr=corr)
        assert f.prices[0, 0, 0] == 3_000.0
        r = np.diff(np.log(f.prices[0, :, 0]))
        assert np.corrcoef(r_lead, r)[0, 1] == pytest.approx(corr, abs=0.03)
        assert r.std() * np.sqrt(year_steps) == pytest.approx(1.2, rel=0.03)
    # correlation 1: exactly the lead's returns scaled by the realised volatility ratio
    one = correlated_follower(np.random.SeedSequence(4), lead, spot=3_000.0, sigma=1.2, corr=1.0)
    ratio = 1.2 * np.sqrt(60 / (365 * 86_400)) / r_lead.std()
    scaled = scale_returns(lead, vol_ratio=float(ratio), spot=3_000.0)
    np.testing.assert_allclose(one.prices, scaled.prices, rtol=1e-9)
    flat = PathSet(np.full((1, 5, 1), 7.0), 60, "flat", None)
    assert np.all(correlated_follower(np.random.SeedSequence(1), flat, spot=2.0, sigma=0.0, corr=0.5).prices == 2.0)
    with pytest.raises(InvalidParameter, match="corr"):
        correlated_follower(np.random.SeedSequence(1), lead, spot=1.0, sigma=1.0, corr=2.0)
    with pytest.raises(InvalidParameter, match="finite numbers"):
        correlated_follower(np.random.SeedSequence(1), lead, spot=1.0, sigma=float("nan"), corr=0.5)
    with pytest.raises(InvalidParameter, match="lead must be a PathSet"):
        correlated_follower(np.random.SeedSequence(1), lead.prices, spot=1.0, sigma=1.0, corr=0.5)  # type: ignore[arg-type]


def test_price_paths_start_at_each_spot_and_are_reproducible() -> None:
    config = StudyConfig().override(CROSS)
    params = config.book_params()
    a = price_paths(config, params, config.path_seed(0).spawn(1)[0])
    b = price_paths(config, params, config.path_seed(0).spawn(1)[0])
    assert sorted(a) == [0, 1]
    assert a[0][0] == 30_000.0
    assert a[1][0] == 3_000.0
    assert a[0].shape == a[1].shape == (config.run.steps + 1,)
    for f in a:
        np.testing.assert_array_equal(a[f], b[f])


def test_traders_are_cross_margined_within_initial_margin() -> None:
    config = StudyConfig().override(CROSS | {"traders.cross_market_probability": 0.7})
    params = config.book_params()
    spots = {0: 30_000 * WAD, 1: 3_000 * WAD}
    orders = trader_orders(config, params, spots, np.random.default_rng(5))
    assert len(orders) == config.run.accounts
    held = [len(o.sizes) for o in orders]
    assert min(held) >= 1
    assert max(held) == 2
    assert 0.5 < sum(h == 2 for h in held) / len(held) < 0.9  # 0.7 of the other market, given one
    assert all(o.collateral_units > 0 and o.deposit_units > 0 for o in orders)
    longs = sum(size > 0 for o in orders for _, size in o.sizes) / sum(held)
    assert 0.45 < longs < 0.75  # long_fraction 0.6


def test_the_book_is_set_up_through_the_model_and_every_trader_meets_initial_margin() -> None:
    config = StudyConfig().override(CROSS)
    book = build_book(config)
    st, params = book.setup_state, book.params
    prices = trusted_prices(st, params)
    assert book.refused_openings == 0
    traders = book.accounts[: config.run.accounts]
    both = 0
    for address in traders:
        acct = st.accounts[address]
        assert acct.collateral.get(WETH, 0) > 0
        assert account_health(acct, params, st.markets, prices, now_s=st.now_s).meets_initial
        both += len(acct.positions) == 2
    assert both > 0
    for mp in params.markets:  # the market maker took the other side of every opening
        ms = st.markets[mp.market_id]
        assert ms.oi_long == ms.oi_short > 0


USDT = """
[[feed]]
feed_id = 2
symbol = "USDT/USD"
heartbeat_s = 3600
max_move = "0.5"

[[collateral]]
asset_id = 2
symbol = "USDT"
decimals = 6
feed_id = 2
haircut = "0.02"
liquidation_discount = "0.01"
deposit_cap = 100000000000000
value_cap = "100000000"
account_deposit_cap = 10000000000000
"""


def test_a_stablecoin_collateral_feed_reverts_to_its_peg(tmp_path: Path) -> None:
    params = tmp_path / "params.toml"
    params.write_text((Path(__file__).resolve().parents[3] / "protocol/examples/default.toml").read_text() + USDT)
    config = StudyConfig().override(
        {
            "protocol.params": str(params),
            "price.feeds": {"USDT/USD": {"spot": 1.0, "sigma": 0.5, "model": "ou", "reversion_per_day": 48.0}},
            "traders.collateral_asset_id": 2,
            "traders.collateral_asset_share": 0.5,
            "run.accounts": 40,
            "run.steps": 2_000,
        }
    )
    book_params = config.book_params()
    assert [f.symbol for f in book_params.feeds] == ["BTC/USD", "USDT/USD"]
    usdt = price_paths(config, book_params, config.path_seed(0))[2]
    # stationary sd = sigma / sqrt(2 k) = 0.5 / sqrt(2 * 48 * 365) = 0.0027 around the peg
    assert abs(float(usdt.mean()) - 1.0) < 0.002
    assert 0.0015 < float(usdt.std()) < 0.004
    book = build_book(config.override({"run.steps": 10}))
    assert all(book.setup_state.accounts[t].collateral.get(2, 0) > 0 for t in book.accounts[:40])
    with pytest.raises(InvalidParameter, match="model = 'levy'"):
        config.override({"price.feeds": {"USDT/USD": {"spot": 1.0, "sigma": 0.5, "model": "levy"}}})


def test_bad_arguments_of_the_public_entries_are_typed_errors(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text('[run]\nname = "x"\n')
    with pytest.raises(InvalidParameter, match="overrides must be a mapping"):
        load_study(study, ["run.paths=3"])  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"override 'paths'"):
        load_study(study, {"paths": 3})
    assert load_study(study, {"run.paths": 3}).run.paths == 3
    config = StudyConfig().override({"run.accounts": 5, "run.steps": 2})
    with pytest.raises(InvalidParameter, match="log must be a list"):
        build_book(config, log=())  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="log must be a list"):
        simulate_path(config, 0, log=())  # type: ignore[arg-type]
