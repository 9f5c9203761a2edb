"""The execution context one action runs in: state, parameters and the event list it appends to."""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.errors import ProtocolRevert
from protocol.events import Event
from protocol.params import MarketParams, Params
from protocol.state import MarketState, ProtocolState

__all__ = ["Context", "require"]


def require(condition: bool, reason: str) -> None:
    """Revert with the module-prefixed ``reason`` unless ``condition`` holds (Vyper's assert)."""
    if not condition:
        raise ProtocolRevert(reason)


@dataclass
class Context:
    """Mutable view the mechanism modules work on while applying one action."""

    state: ProtocolState
    params: Params
    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        """Record an event."""
        self.events.append(event)

    def market(self, market_id: int, module: str) -> tuple[MarketParams, MarketState]:
        """Parameters and state of a listed market, or revert ``"<module>: unknown market"``."""
        require(market_id in self.state.markets, f"{module}: unknown market")
        return self.params.market(market_id), self.state.markets[market_id]

    def require_not_paused(self, module: str) -> None:
        """Revert ``"<module>: paused"`` while governance has paused the protocol."""
        require(not self.state.paused, f"{module}: paused")
