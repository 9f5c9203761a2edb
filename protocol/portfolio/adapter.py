"""Engine inputs from reference-model state: the portfolio-margined groups of model accounts.

The model (:func:`protocol.margin.account_health`) margins an account's positions on one feed
as a portfolio when the account holds an option on that feed whose settlement price is not
fixed yet (:func:`protocol.option_margin.needs_portfolio_margin`). The group then holds every
position of the account on that feed (perpetuals included) except options whose settlement
price is fixed (their payout is known: no risk). Feeds without such an option are margined
exactly per position and are not part of these inputs (the batch margin core's job).

:meth:`ModelPortfolios.from_model` converts those groups, once, from WAD integers to the
engine's floats (one division by ``WAD`` per field, the market's ``dividend_yield_wad``
included; time to expiry ``max(expiry_s - now_s, 0) / SECONDS_PER_YEAR``), with the model's
scan ranges and its SPAN grid (:func:`protocol.portfolio.span_grid` with its defaults). Slots keep the order of the
account's positions, which is the order the model sums them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.black_scholes import SECONDS_PER_YEAR
from protocol.constants import WAD
from protocol.errors import InvalidParameter
from protocol.option_margin import needs_portfolio_margin, requirements_wad
from protocol.params import MarketKind, Params, ProtocolParams
from protocol.portfolio.book import OPTION_FIELDS, Instrument, PositionBook
from protocol.portfolio.engine import MarginResult
from protocol.portfolio.market import Underlyings
from protocol.portfolio.scenarios import ScenarioGrid, span_grid
from protocol.state import ProtocolState

__all__ = ["ModelPortfolios"]


def _portfolio_legs(state: ProtocolState, params: Params, address: str) -> list[tuple[int, int]]:
    """``(feed_id, market_id)`` of every position of ``address`` in a portfolio-margined group,
    in position order."""
    legs: list[tuple[int, int]] = []
    portfolio_feeds: set[int] = set()
    for market_id in state.accounts[address].positions:
        mp = params.market(market_id)
        ms = state.markets[market_id]
        if mp.is_option and ms.settlement_price_wad:
            continue
        legs.append((mp.feed_id, market_id))
        if needs_portfolio_margin(mp, ms):
            portfolio_feeds.add(mp.feed_id)
    return [(feed, market) for feed, market in legs if feed in portfolio_feeds]


@dataclass(frozen=True, eq=False)
class ModelPortfolios:
    """The portfolio-margined groups of model accounts as engine inputs.

    Row ``a`` of :attr:`book` is account ``accounts[a]``; underlying ``u`` is feed
    ``feeds[u]``; slot ``(a, p)`` holds model market ``market_ids[a, p]`` (-1: empty slot).
    """

    book: PositionBook
    underlyings: Underlyings
    grid: ScenarioGrid
    accounts: tuple[str, ...]
    feeds: tuple[int, ...]
    market_ids: NDArray[np.int64]
    protocol: ProtocolParams

    @classmethod
    def from_model(
        cls,
        state: ProtocolState,
        params: Params,
        now_s: int,
        *,
        prices: Mapping[int, int] | None = None,
    ) -> ModelPortfolios:
        """Inputs for every account of ``state`` with a portfolio-margined group, at ``prices``
        (feed_id -> USD WAD; default: each feed's last accepted price) and time ``now_s`` (s).

        Raises :class:`~protocol.errors.InvalidParameter` when a feed a group needs has no
        positive price.
        """
        if not isinstance(state, ProtocolState) or not isinstance(params, Params):
            raise InvalidParameter("ModelPortfolios.from_model takes a ProtocolState and a Params")
        if isinstance(now_s, bool) or not isinstance(now_s, int) or now_s < 0:
            raise InvalidParameter(f"now_s must be a non-negative integer, got {now_s!r}")
        groups = {addr: legs for addr in state.accounts if (legs := _portfolio_legs(state, params, addr))}
        feeds = tuple(sorted({feed for legs in groups.values() for feed, _ in legs}))
        price_of = {f: (prices[f] if prices is not None and f in prices else state.feeds[f].price_wad) for f in feeds}
        for feed, price in price_of.items():
            if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
                raise InvalidParameter(f"feed {feed} has no positive price (got {price!r}); pass prices")
        shape = (len(groups), max((len(legs) for legs in groups.values()), default=0))
        market_ids = np.full(shape, -1, dtype=np.int64)
        underlying = np.zeros(shape, dtype=np.int64)
        kind = np.zeros(shape, dtype=np.int64)
        fields = {name: np.zeros(shape) for name in ("size", *OPTION_FIELDS)}
        index = {feed: u for u, feed in enumerate(feeds)}
        for a, (address, legs) in enumerate(groups.items()):
            positions = state.accounts[address].positions
            for p, (feed, market_id) in enumerate(legs):
                mp = params.market(market_id)
                market_ids[a, p] = market_id
                underlying[a, p] = index[feed]
                fields["size"][a, p] = positions[market_id].size / WAD
                if mp.is_option:
                    kind[a, p] = Instrument.CALL if mp.kind is MarketKind.CALL else Instrument.PUT
                    fields["strike"][a, p] = mp.strike_wad / WAD
                    fields["expiry_years"][a, p] = max(mp.expiry_s - now_s, 0) / SECONDS_PER_YEAR
                    fields["implied_vol"][a, p] = mp.volatility_wad / WAD
                    fields["dividend_yield"][a, p] = mp.dividend_yield_wad / WAD
        pp = params.protocol
        n = len(feeds)
        underlyings = Underlyings(
            spot=np.array([price_of[f] / WAD for f in feeds], dtype=np.float64),
            price_scan_range=np.full(n, pp.option_price_scan_range_wad / WAD),
            vol_scan_up=np.full(n, pp.option_vol_scan_range_wad / WAD),
            vol_scan_down=np.full(n, pp.option_vol_scan_range_wad / WAD),
            short_option_minimum=np.full(n, pp.short_option_minimum_wad / WAD),
        )
        market_ids.flags.writeable = False
        return cls(
            book=PositionBook(underlying=underlying, kind=kind, **fields),
            underlyings=underlyings,
            grid=span_grid(),
            accounts=tuple(groups),
            feeds=feeds,
            market_ids=market_ids,
            protocol=pp,
        )

    def groups(self) -> dict[str, dict[int, tuple[int, ...]]]:
        """Group composition: account -> feed -> model market ids on that feed, in slot order."""
        composition: dict[str, dict[int, tuple[int, ...]]] = {}
        for a, address in enumerate(self.accounts):
            per_feed: dict[int, list[int]] = {}
            for p in range(self.market_ids.shape[1]):
                if self.market_ids[a, p] >= 0:
                    per_feed.setdefault(self.feeds[self.book.underlying[a, p]], []).append(int(self.market_ids[a, p]))
            composition[address] = {feed: tuple(ids) for feed, ids in per_feed.items()}
        return composition

    def requirements_wad(self, result: MarginResult) -> dict[str, tuple[int, int]]:
        """``(initial, maintenance)`` in USD WAD per account: the sum over its groups of
        :func:`protocol.option_margin.requirements_wad` of ``max(scan_risk, short_option_floor)``,
        the model's conversion, applied to ``result`` of :func:`~protocol.portfolio.portfolio_margin`
        on :attr:`book`."""
        if not isinstance(result, MarginResult) or result.scan_risk.shape != (len(self.accounts), len(self.feeds)):
            raise InvalidParameter("result must be the MarginResult of portfolio_margin on this book")
        held = self.market_ids >= 0
        out: dict[str, tuple[int, int]] = {}
        for a, address in enumerate(self.accounts):
            initial = maintenance = 0
            for u in sorted({int(u) for u in self.book.underlying[a][held[a]]}):
                im, mm = requirements_wad(
                    max(float(result.scan_risk[a, u]), float(result.short_option_floor[a, u])), self.protocol
                )
                initial += im
                maintenance += mm
            out[address] = (initial, maintenance)
        return out
