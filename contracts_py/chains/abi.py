"""ABI encoding and decoding shared by every backend (one codec, identical results everywhere).

Decoded values follow the reference model's conventions: addresses are lower-case 0x-hex
strings, integers are Python ints, tuples and arrays are tuples, ``bytesN``/``bytes`` are
``bytes``. An event decodes to a flat dict ``{"event": name, field: value, ...}``, the same shape
as :meth:`protocol.events.Event.to_dict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from eth_utils.crypto import keccak

from protocol.errors import ChainError, InvalidParameter

__all__ = [
    "ERROR_SELECTOR",
    "PANIC_SELECTOR",
    "ContractABI",
    "decode_revert",
    "normalize_address",
]

#: Selector of ``Error(string)``, the encoding of Vyper's ``assert cond, "reason"``.
ERROR_SELECTOR: Final = keccak(text="Error(string)")[:4]
#: Selector of Solidity's ``Panic(uint256)``.
PANIC_SELECTOR: Final = keccak(text="Panic(uint256)")[:4]


def normalize_address(value: str | bytes) -> str:
    """Lower-case 0x-hex form of a 20-byte address given as hex (any case) or raw bytes."""
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    elif isinstance(value, str):
        try:
            raw = bytes.fromhex(value.removeprefix("0x").removeprefix("0X"))
        except ValueError:
            raise InvalidParameter(f"address {value!r} is not hex; pass a 0x-prefixed 20-byte address") from None
    else:
        raise InvalidParameter(f"address must be a hex string or bytes, got {type(value).__name__}")
    if len(raw) != 20:
        raise InvalidParameter(f"address {value!r} must be 20 bytes, got {len(raw)}")
    return "0x" + raw.hex()


def decode_revert(data: bytes) -> str | None:
    """The reason string of revert data, ``"panic: 0x.."`` for a Panic, or None if there is none."""
    data = bytes(data)
    if data[:4] == ERROR_SELECTOR:
        try:
            (reason,) = abi_decode(["string"], data[4:])
        except (DecodingError, UnicodeDecodeError, ValueError):
            return None
        return str(reason)
    if data[:4] == PANIC_SELECTOR and len(data) == 36:
        return f"panic: {int.from_bytes(data[4:], 'big'):#x}"
    return None


def _normalize(value: Any, abi_type: str) -> Any:
    if abi_type == "address":
        return str(value).lower()
    if abi_type.endswith("]"):
        inner = abi_type[: abi_type.rindex("[")]
        return tuple(_normalize(v, inner) for v in value)
    if isinstance(value, tuple):  # tuple type: components already decoded; addresses inside
        return tuple(v.lower() if isinstance(v, str) and v.startswith("0x") and len(v) == 42 else v for v in value)
    return value


def _types(params: Iterable[Mapping[str, Any]]) -> list[str]:
    return [collapse_if_tuple(dict(p)) for p in params]


@dataclass(frozen=True)
class _Function:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    mutates: bool


@dataclass(frozen=True)
class _Event:
    name: str
    topic: bytes
    names: tuple[str, ...]
    types: tuple[str, ...]
    indexed: tuple[bool, ...]

    #: Types of the fields in the log's data, in order.
    data_types: tuple[str, ...]
    #: Per indexed field: whether its topic is the keccak hash of a dynamic value.
    dynamic_topics: tuple[bool, ...]
    #: Types of the indexed fields whose topic holds the value itself, in order.
    static_topic_types: tuple[str, ...]


def _dynamic(abi_type: str) -> bool:
    return abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type.startswith("(")


class ContractABI:
    """Lookup and codec for one contract's ABI (functions by name and arity, events by topic)."""

    def __init__(self, abi: Sequence[Mapping[str, Any]], name: str = "contract") -> None:
        self.name = name
        self.abi = tuple(dict(e) for e in abi)
        self._functions: dict[tuple[str, int], _Function] = {}
        self.events: dict[bytes, _Event] = {}
        self._constructor_types: tuple[str, ...] = ()
        for entry in self.abi:
            kind = entry.get("type")
            if kind == "function":
                fn = _Function(
                    name=entry["name"],
                    selector=function_abi_to_4byte_selector(entry),  # type: ignore[arg-type]
                    input_types=tuple(_types(entry.get("inputs", ()))),
                    output_types=tuple(_types(entry.get("outputs", ()))),
                    mutates=entry.get("stateMutability") not in ("view", "pure"),
                )
                self._functions[(fn.name, len(fn.input_types))] = fn
            elif kind == "event" and not entry.get("anonymous"):
                inputs = entry.get("inputs", ())
                types = tuple(_types(inputs))
                indexed = tuple(bool(p.get("indexed")) for p in inputs)
                topic_types = [t for t, i in zip(types, indexed, strict=True) if i]
                ev = _Event(
                    name=entry["name"],
                    topic=event_abi_to_log_topic(entry),  # type: ignore[arg-type]
                    names=tuple(p["name"] for p in inputs),
                    types=types,
                    indexed=indexed,
                    data_types=tuple(t for t, i in zip(types, indexed, strict=True) if not i),
                    dynamic_topics=tuple(_dynamic(t) for t in topic_types),
                    static_topic_types=tuple(t for t in topic_types if not _dynamic(t)),
                )
                self.events[ev.topic] = ev
            elif kind == "constructor":
                self._constructor_types = tuple(_types(entry.get("inputs", ())))

    def function(self, fn_name: str, n_args: int) -> _Function:
        """The function ``fn_name`` taking ``n_args`` arguments; InvalidParameter if there is none."""
        fn = self._functions.get((fn_name, n_args))
        if fn is None:
            arities = sorted(n for (name, n) in self._functions if name == fn_name)
            if not arities:
                raise InvalidParameter(f"{self.name} has no function {fn_name!r}")
            raise InvalidParameter(f"{self.name}.{fn_name} takes {arities} arguments, got {n_args}")
        return fn

    def is_mutating(self, fn_name: str, n_args: int) -> bool:
        """True unless the function is ``view``/``pure``."""
        return self.function(fn_name, n_args).mutates

    def encode_call(self, fn_name: str, args: Sequence[Any]) -> bytes:
        """Selector plus ABI-encoded arguments."""
        fn = self.function(fn_name, len(args))
        return fn.selector + _encode(fn.input_types, args, f"{self.name}.{fn_name}")

    def decode_call(self, data: bytes) -> tuple[str, tuple[Any, ...]]:
        """The function name and decoded arguments of calldata ``data`` (selector plus
        ABI-encoded arguments), the inverse of :meth:`encode_call`; ChainError when no function
        has its selector or the arguments do not decode."""
        fn = next((f for f in self._functions.values() if f.selector == bytes(data[:4])), None)
        if fn is None:
            raise ChainError(f"{self.name} has no function with selector 0x{bytes(data[:4]).hex()}")
        try:
            values = abi_decode(list(fn.input_types), bytes(data[4:]))
        except (DecodingError, ValueError) as exc:
            raise ChainError(f"cannot decode the arguments of {self.name}.{fn.name}: {exc}") from None
        return fn.name, tuple(_normalize(v, t) for v, t in zip(values, fn.input_types, strict=True))

    def encode_constructor(self, args: Sequence[Any]) -> bytes:
        """ABI-encoded constructor arguments (appended to the init code)."""
        if len(args) != len(self._constructor_types):
            raise InvalidParameter(
                f"{self.name} constructor takes {len(self._constructor_types)} arguments, got {len(args)}"
            )
        return _encode(self._constructor_types, args, f"{self.name} constructor")

    def decode_output(self, fn_name: str, n_args: int, data: bytes) -> Any:
        """Decoded return value: None, one value, or a tuple for several outputs."""
        fn = self.function(fn_name, n_args)
        if not fn.output_types:
            return None
        try:
            values = abi_decode(list(fn.output_types), bytes(data))
        except (DecodingError, ValueError) as exc:
            raise ChainError(f"cannot decode the return data of {self.name}.{fn_name}: {exc}") from None
        out = tuple(_normalize(v, t) for v, t in zip(values, fn.output_types, strict=True))
        return out[0] if len(out) == 1 else out

    def decode_log(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any] | None:
        """Flat event dict for a log emitted by this contract, or None if the topic is unknown."""
        if not topics:
            return None
        ev = self.events.get(bytes(topics[0]))
        if ev is None:
            return None
        try:
            data_values = list(abi_decode(ev.data_types, bytes(data)))
            # one decode of the static topics, joined; dynamic indexed values are stored as their keccak
            # hash: their topic is kept as 32 bytes
            words = b"".join(bytes(t) for t, dynamic in zip(topics[1:], ev.dynamic_topics, strict=True) if not dynamic)
            static_values = iter(abi_decode(ev.static_topic_types, words))
            topic_values = [
                bytes(topic) if dynamic else next(static_values)
                for dynamic, topic in zip(ev.dynamic_topics, topics[1:], strict=True)
            ]
        except (DecodingError, ValueError) as exc:
            raise ChainError(f"cannot decode event {self.name}.{ev.name}: {exc}") from None
        out: dict[str, Any] = {"event": ev.name}
        for name, t, is_indexed in zip(ev.names, ev.types, ev.indexed, strict=True):
            value = topic_values.pop(0) if is_indexed else data_values.pop(0)
            out[name] = value if isinstance(value, bytes) and is_indexed else _normalize(value, t)
        return out


def _encode(types: Sequence[str], args: Sequence[Any], what: str) -> bytes:
    try:
        return abi_encode(list(types), list(args))
    except (EncodingError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidParameter(f"bad arguments for {what} {tuple(types)}: {exc}") from None
