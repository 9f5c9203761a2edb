"""The margin core: the model's margin and liquidation decisions for millions of accounts.

* :class:`MarginBook` — accounts x markets x collateral assets as structure-of-arrays, built
  from model state (:meth:`MarginBook.from_state`) or exact arrays (:meth:`MarginBook.from_arrays`
  with :class:`WadLimbs`);
* :func:`evaluate` — equity, initial and maintenance requirements, free collateral,
  liquidatable flags and shortfall at a price vector (``feed_id -> price_wad``), into reusable
  :class:`MarginOutputs`; :func:`evaluate_rows` for chosen rows only;
* :func:`liquidation_candidates` — liquidatable rows ordered by shortfall;
* :class:`LiveBook` and :class:`LiquidationWatch` — a book following a live model state and a
  step-after-step liquidation screen that re-screens only accounts the market could have moved
  below maintenance (simulations);
* :func:`liquidation_sizes` — the keeper's liquidation size where the exact signs decide it
  (healthy: 0, bankrupt: the whole position), None where the model must size it;
* :func:`adl_pool` — the opposite positions in profit a keeper should rank exactly for
  auto-deleveraging.

Decisions and signs equal :func:`protocol.margin.account_health` on every account: a float64
screen with a proven error bound (:mod:`protocol.margin_core.screen`) decides almost all, and
the model re-evaluates the rest exactly. Values are USD (floats in whole units).
"""

from __future__ import annotations

from protocol.margin_core.batch import MarginBatch, MarginOutputs, evaluate, evaluate_rows, liquidation_candidates
from protocol.margin_core.book import MarginBook, ScreenArrays
from protocol.margin_core.limbs import WadLimbs
from protocol.margin_core.liquidation_size import liquidation_sizes
from protocol.margin_core.live import LiveBook
from protocol.margin_core.socialized_loss import adl_pool
from protocol.margin_core.watch import LiquidationWatch

__all__ = [
    "LiquidationWatch",
    "LiveBook",
    "MarginBatch",
    "MarginBook",
    "MarginOutputs",
    "ScreenArrays",
    "WadLimbs",
    "adl_pool",
    "evaluate",
    "evaluate_rows",
    "liquidation_candidates",
    "liquidation_sizes",
]
