"""Greeks of positions and their sums per account and underlying.

A position's Greeks are its size times the per-unit Greeks of
:mod:`protocol.portfolio.black_scholes`; a perpetual has delta = size and no other Greek.
Units: delta in units of the underlying (USD per USD move), gamma in units of the underlying
per USD, vega USD per 1.00 of volatility, theta USD per year, rho USD per 1.00 of the interest
rate; options are priced with their slot's yield (``PositionBook.dividend_yield``). Account sums are kept per
underlying because deltas and gammas of different underlyings are not in the same unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protocol.errors import InvalidParameter
from protocol.portfolio._numba import parallel_kernel, prange
from protocol.portfolio.black_scholes import bs_greeks_nb
from protocol.portfolio.book import PositionBook
from protocol.portfolio.market import Underlyings

__all__ = ["PortfolioGreeks", "Sensitivities", "portfolio_greeks"]


@dataclass(frozen=True, eq=False)
class Sensitivities:
    """Delta, gamma, vega, theta and rho arrays of one shape (units: module docstring)."""

    delta: NDArray[np.float64]
    gamma: NDArray[np.float64]
    vega: NDArray[np.float64]
    theta: NDArray[np.float64]
    rho: NDArray[np.float64]

    @classmethod
    def zeros(cls, shape: tuple[int, ...]) -> Sensitivities:
        """Zero-filled arrays of ``shape``."""
        return cls(*(np.zeros(shape) for _ in range(5)))


@dataclass(frozen=True, eq=False)
class PortfolioGreeks:
    """Per position ``(A, P)`` and per account and underlying ``(A, U)``."""

    position: Sensitivities
    account: Sensitivities


@parallel_kernel
def _greeks_kernel(
    und: NDArray[np.int64],
    kind: NDArray[np.int64],
    size: NDArray[np.float64],
    strike: NDArray[np.float64],
    expiry: NDArray[np.float64],
    ivol: NDArray[np.float64],
    dividend_yield: NDArray[np.float64],
    spot: NDArray[np.float64],
    rate: float,
    pos_delta: NDArray[np.float64],
    pos_gamma: NDArray[np.float64],
    pos_vega: NDArray[np.float64],
    pos_theta: NDArray[np.float64],
    pos_rho: NDArray[np.float64],
    acc_delta: NDArray[np.float64],
    acc_gamma: NDArray[np.float64],
    acc_vega: NDArray[np.float64],
    acc_theta: NDArray[np.float64],
    acc_rho: NDArray[np.float64],
) -> None:
    """Writes every position slot and adds into the zero-initialised account sums."""
    for a in prange(size.shape[0]):
        for p in range(size.shape[1]):
            q = size[a, p]
            delta = gamma = vega = theta = rho = 0.0
            if q != 0.0:
                u = und[a, p]
                if kind[a, p] == 0:
                    delta = q
                else:
                    _, d, g, v, t, r = bs_greeks_nb(
                        kind[a, p] == 1, spot[u], strike[a, p], expiry[a, p], ivol[a, p], rate, dividend_yield[a, p]
                    )
                    delta, gamma, vega, theta, rho = q * d, q * g, q * v, q * t, q * r
                acc_delta[a, u] += delta
                acc_gamma[a, u] += gamma
                acc_vega[a, u] += vega
                acc_theta[a, u] += theta
                acc_rho[a, u] += rho
            pos_delta[a, p] = delta
            pos_gamma[a, p] = gamma
            pos_vega[a, p] = vega
            pos_theta[a, p] = theta
            pos_rho[a, p] = rho


def portfolio_greeks(book: PositionBook, underlyings: Underlyings) -> PortfolioGreeks:
    """Greeks of every position of ``book`` at ``underlyings.spot`` and their per-underlying
    sums per account. Raises :class:`~protocol.errors.InvalidParameter` when the book refers
    to an unknown underlying."""
    if not isinstance(book, PositionBook) or not isinstance(underlyings, Underlyings):
        raise InvalidParameter("portfolio_greeks takes a PositionBook and an Underlyings")
    book.require_underlyings(underlyings.count)
    n_acc, _ = book.shape
    position = Sensitivities.zeros(book.shape)
    account = Sensitivities.zeros((n_acc, underlyings.count))
    _greeks_kernel(
        book.underlying, book.kind, book.size, book.strike, book.expiry_years, book.implied_vol,
        book.dividend_yield, underlyings.spot, underlyings.rate,
        position.delta, position.gamma, position.vega, position.theta, position.rho,
        account.delta, account.gamma, account.vega, account.theta, account.rho,
    )  # fmt: skip
    return PortfolioGreeks(position=position, account=account)
