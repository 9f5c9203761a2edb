"""The one exception hierarchy of Novation.

Every public entry point raises a subclass of :class:`NovationError` with one sentence that
names the offending field or condition and, where there is one, the fix.
"""

from __future__ import annotations

__all__ = [
    "ChainError",
    "InvalidParameter",
    "NovationError",
    "OracleError",
    "ProtocolRevert",
]


class NovationError(Exception):
    """Root of every error Novation raises on purpose."""


class InvalidParameter(NovationError, ValueError):
    """A parameter, configuration field, array or action field is malformed or out of range."""


class OracleError(NovationError):
    """A price source failed a guard or could not be read."""


class ChainError(NovationError):
    """A chain backend, RPC endpoint or deployment is unusable."""


class ProtocolRevert(NovationError):
    """The protocol refused an action; nothing changed.

    ``reason`` is the module-prefixed revert string shared by the reference model and the
    contracts, for example ``"margin: below initial"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def module(self) -> str:
        """The module prefix of the reason (the text before the first colon)."""
        return self.reason.split(":", 1)[0]
