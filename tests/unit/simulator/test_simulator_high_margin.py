"""A study of a market margined above 100 % of notional: traders' leverage stays below
``1 / IMF`` and the book opens every order (the market maker is funded at that fraction)."""

from __future__ import annotations

import numpy as np

from protocol.constants import WAD
from protocol.margin import account_health, notional
from protocol.oracle_adapter import trusted_prices
from simulator.agents import trader_orders
from simulator.config import StudyConfig
from simulator.engine import build_book

STUDY = {"protocol.initial_margin_fraction": "1.5", "run.accounts": 60}


def test_leverage_is_drawn_below_one_over_the_initial_fraction() -> None:
    config = StudyConfig().override(STUDY)
    params = config.book_params()
    assert {m.initial_margin_fraction_wad for m in params.markets} == {3 * WAD // 2}
    spots = {f.feed_id: 30_000 * WAD for f in params.feeds}
    orders = trader_orders(config, params, spots, np.random.default_rng(np.random.SeedSequence(17)))
    cap = config.traders.max_leverage_share / 1.5
    unit = 10.0**-params.protocol.settlement_decimals
    for o in orders:
        assert o.collateral_units == 0  # all backing is the deposit, rounded down to a token unit
        exposure = sum(abs(size) for _, size in o.sizes) * 30_000 / WAD
        assert exposure <= cap * (o.deposit_units * unit + unit)


def test_every_trader_opens_within_150_percent_initial_margin() -> None:
    book = build_book(StudyConfig().override(STUDY))
    assert book.refused_openings == 0
    st, params = book.setup_state, book.params
    prices = trusted_prices(st, params)
    for address in book.accounts[:60]:
        acct = st.accounts[address]
        h = account_health(acct, params, st.markets, prices, now_s=st.now_s)
        assert h.meets_initial
        exposure = sum(notional(p.size, prices[params.market(m).feed_id]) for m, p in acct.positions.items())
        assert 0 < exposure < h.equity  # leverage below 1
