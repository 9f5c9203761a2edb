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
    "describe_cause",
]

#: Longest text :func:`describe_cause` returns; longer messages are cut at a word boundary.
_MAX_CAUSE_CHARS = 160


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


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps (``__cause__``, ``__context__``, ``reason``, exception
    arguments), depth first, each once."""
    found: list[BaseException] = []
    stack = [exc]
    while stack:
        cur = stack.pop()
        if any(cur is f for f in found):
            continue
        found.append(cur)
        inner = [cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args]
        stack.extend(reversed([e for e in inner if isinstance(e, BaseException)]))
    return found


def describe_cause(exc: BaseException) -> str:
    """A short, whole-word description of why a low-level call failed, for one-sentence errors.

    The operating system's own words are preferred (``"Connection refused"``, ``"Name or service
    not known"``) over a library's wrapper text; a timeout says ``"timed out"``; otherwise the
    first line of the message, cut at a word boundary.
    """
    causes = _causes(exc)
    for cause in reversed(causes):
        if isinstance(cause, TimeoutError) or "timeout" in type(cause).__name__.lower():
            return "timed out"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if len(first) <= _MAX_CAUSE_CHARS:
        return first
    return first[:_MAX_CAUSE_CHARS].rsplit(" ", 1)[0] + " ..."
