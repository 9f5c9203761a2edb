"""The keeper's liquidation size, decided by the margin core where its exact signs settle it.

:func:`protocol.liquidation.max_liquidation_size` answers, for an account and one of its
perpetual positions: 0 when the account is not below maintenance (``E >= MM``), the whole
position when it is bankrupt (``E <= 0``), and otherwise (``0 < E < MM``) the largest size whose
predecessor does not restore initial margin, found by exact evaluations of the terms. The first
two answers need only the signs of ``E - MM`` and ``E``, which the margin core decides exactly on
every account (:mod:`protocol.margin_core.batch`: a float64 screen with a proven error bound,
the model's integers where it cannot decide); the size itself is the position's stored integer,
no arithmetic. :func:`liquidation_sizes` gives those answers for many rows at once and leaves
the third case (a solvent account, under 1 % of a crash's liquidations) to the model: None.

The answer is the model's under two conditions the caller guarantees, each of which is what
makes the margin core's evaluation the model's own:

* ``prices`` are the prices liquidation values the accounts at: every feed is trusted (then
  :func:`protocol.oracle_adapter.liquidation_prices` is the last accepted price of every feed);
* ``book`` is current (its rows are the accounts as they are, its markets accrued to its
  ``now_s``), and no market of the book's parameters is an option (settling an account then
  only moves pending funding and loss into its balance, which the core already counts).

With an option market in the parameters every answer is None (the model decides).
``tests/property/test_margin_core_liquidation_size.py`` checks the answers against the model's on
random books and price shocks (hypothesis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from protocol.margin_core.batch import evaluate_rows
from protocol.margin_core.book import MarginBook

__all__ = ["liquidation_sizes"]


def liquidation_sizes(
    book: MarginBook, prices: Mapping[int, int], rows: NDArray[np.integer], market_ids: Sequence[int]
) -> list[int | None]:
    """:func:`protocol.liquidation.max_liquidation_size` of the account at ``rows[k]`` in
    perpetual ``market_ids[k]`` (base units, WAD), where the margin core decides it: 0 for an
    account not below maintenance or without a position there, the whole position for a
    bankrupt account (equity at or below zero); None for a solvent account below maintenance
    (the model sizes it) and for every row when the book's parameters list an option market.

    ``prices`` (feed_id -> price_wad) must be the prices liquidation values the accounts at, and
    ``book`` current (see the module docstring). Raises InvalidParameter for rows and market ids
    of different lengths, a market that is not a perpetual column of the book, and whatever
    :func:`~protocol.margin_core.evaluate_rows` refuses.
    """
    if len(market_ids) != len(rows):
        raise InvalidParameter(f"market_ids has {len(market_ids)} entries but rows has {len(rows)}")
    columns = {mp.market_id for mp in book.perpetuals}
    for m in market_ids:
        if m not in columns:
            raise InvalidParameter(f"market {m!r} is not a perpetual column of the book")
    batch = evaluate_rows(book, prices, rows)
    if any(mp.is_option for mp in book.params.markets):
        return [None] * len(market_ids)
    out: list[int | None] = []
    for k, market_id in enumerate(market_ids):
        position = book.account(int(rows[k])).positions.get(market_id)
        if position is None or not batch.liquidatable[k]:
            out.append(0)
        elif batch.equity[k] <= 0.0:  # the core's sign of equity is the model's
            out.append(abs(position.size))
        else:
            out.append(None)
    return out
