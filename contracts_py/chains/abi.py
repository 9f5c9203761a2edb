"""ABI encoding and decoding shared by every backend (one codec, identical results everywhere).

Decoded values follow the reference model's conventions: addresses are lower-case 0x-hex
strings, integers are Python ints, tuples and arrays are tuples, ``bytesN``/``bytes`` are
``bytes``. An event decodes to a flat dict ``{"event": name, field: value, ...}``, the same shape
as :meth:`protocol.events.Event.to_dict`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


def _int_word(signed: bool) -> Callable[[bytes], int]:
    return lambda w: int.from_bytes(w, "big", signed=signed)


#: One-word ABI types decoded without eth_abi (the getters' common case: a read per block).
_WORD_DECODERS: Final[dict[str, Callable[[bytes], Any]]] = {
    **{f"uint{n}": _int_word(False) for n in range(8, 257, 8)},
    **{f"int{n}": _int_word(True) for n in range(8, 257, 8)},
    "bool": lambda w: w != bytes(32),
    "address": lambda w: "0x" + w[12:].hex(),
    "bytes32": bytes,
}
#: A one-word output's decoder, or a tuple output's word decoders.
_WordDecoder = Callable[[bytes], Any] | tuple[Callable[[bytes], Any], ...]


def _word_outputs(types: Sequence[str]) -> tuple[_WordDecoder, ...] | None:
    """One decoder per output (a tuple's: one per component) when every output is one word or a
    tuple of one-word components; None otherwise (eth_abi decodes those)."""
    out: list[_WordDecoder] = []
    for t in types:
        if t.startswith("(") and t.endswith(")"):
            parts = [_WORD_DECODERS.get(p) for p in t[1:-1].split(",")]
            if "(" in t[1:] or any(p is None for p in parts):
                return None
            out.append(tuple(p for p in parts if p is not None))
        elif t in _WORD_DECODERS:
            out.append(_WORD_DECODERS[t])
        else:
            return None
    return tuple(out)


def _n_words(decoders: Sequence[_WordDecoder]) -> int:
    return sum(len(d) if isinstance(d, tuple) else 1 for d in decoders)


def _decode_words(decoders: Sequence[_WordDecoder], data: bytes) -> Iterator[Any]:
    at = 0
    for d in decoders:
        if isinstance(d, tuple):
            yield tuple(f(data[at + 32 * k : at + 32 * k + 32]) for k, f in enumerate(d))
            at += 32 * len(d)
        else:
            yield d(data[at : at + 32])
            at += 32


def _types(params: Iterable[Mapping[str, Any]]) -> list[str]:
    return [collapse_if_tuple(dict(p)) for p in params]


@dataclass(frozen=True)
class _Function:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    mutates: bool
    #: Outputs as one decoder per word (None unless every output is one word or a tuple of them).
    word_outputs: tuple[_WordDecoder, ...] | None = None
    #: Inputs as one direct encoder each (None when a type has none: eth_abi encodes those).
    input_encoders: tuple[_Encoder, ...] | None = None


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
    #: Word decoders of the data and of the static topics (None unless all are one-word types).
    word_data: tuple[_WordDecoder, ...] | None = None
    word_topics: tuple[_WordDecoder, ...] | None = None


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
                    word_outputs=_word_outputs(_types(entry.get("outputs", ()))),
                    input_encoders=_input_encoders(_types(entry.get("inputs", ()))),
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
                    word_data=_word_outputs([t for t, i in zip(types, indexed, strict=True) if not i]),
                    word_topics=_word_outputs([t for t in topic_types if not _dynamic(t)]),
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
        if fn.input_encoders is not None:
            direct = _encode_direct(fn.input_encoders, args)
            if direct is not None:
                return fn.selector + direct
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
        if fn.word_outputs is not None and len(data) == 32 * _n_words(fn.word_outputs):
            out = tuple(_decode_words(fn.word_outputs, bytes(data)))
            return out[0] if len(out) == 1 else out
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
        if (
            ev.word_data is not None
            and ev.word_topics is not None
            and not any(ev.dynamic_topics)
            and len(topics) == 1 + len(ev.word_topics)
            and len(data) == 32 * _n_words(ev.word_data)
        ):  # every field one word: read the words (the events of the protocol's contracts)
            data_iter = _decode_words(ev.word_data, bytes(data))
            topic_iter = _decode_words(ev.word_topics, b"".join(bytes(t) for t in topics[1:]))
            return {
                "event": ev.name,
                **{n: next(topic_iter if i else data_iter) for n, i in zip(ev.names, ev.indexed, strict=True)},
            }
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


class _Unfit(Exception):
    """A value the direct encoders leave to eth_abi (which encodes it or names what is wrong)."""


#: A direct encoder of one ABI type: ``(dynamic, bytes)``, the head word(s) of a static type or
#: the tail of a dynamic one; raises _Unfit for a value it does not take.
_Encoder = Callable[[Any], tuple[bool, bytes]]


def _int_encoder(bits: int, signed: bool) -> _Encoder:
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)

    def encode(v: Any) -> tuple[bool, bytes]:
        if type(v) is not int or not lo <= v <= hi:
            raise _Unfit
        return False, v.to_bytes(32, "big", signed=signed)

    return encode


def _address_word(v: Any) -> tuple[bool, bytes]:
    if not isinstance(v, str) or len(v) != 42 or v[:2] != "0x" or v != v.lower():
        raise _Unfit
    try:
        return False, bytes(12) + bytes.fromhex(v[2:])
    except ValueError:
        raise _Unfit from None


def _bool_word(v: Any) -> tuple[bool, bytes]:
    if type(v) is not bool:
        raise _Unfit
    return False, bytes(31) + (b"\1" if v else b"\0")


def _bytes_tail(v: Any) -> tuple[bool, bytes]:
    if not isinstance(v, bytes | bytearray):
        raise _Unfit
    return True, len(v).to_bytes(32, "big") + bytes(v) + bytes(-len(v) % 32)


def _string_tail(v: Any) -> tuple[bool, bytes]:
    if not isinstance(v, str):
        raise _Unfit
    return _bytes_tail(v.encode())


def _word_encoder(t: str) -> _Encoder | None:
    for prefix, signed in (("uint", False), ("int", True)):
        if t.startswith(prefix) and t[len(prefix) :].isdigit():
            return _int_encoder(int(t[len(prefix) :]), signed)
    return {"address": _address_word, "bool": _bool_word}.get(t)


def _static_tuple_encoder(parts: tuple[_Encoder, ...]) -> _Encoder:
    def encode(v: Any) -> tuple[bool, bytes]:
        if not isinstance(v, tuple | list) or len(v) != len(parts):
            raise _Unfit
        return False, b"".join(p(x)[1] for p, x in zip(parts, v, strict=True))

    return encode


def _array_encoder(item: _Encoder) -> _Encoder:
    def encode(v: Any) -> tuple[bool, bytes]:
        if not isinstance(v, tuple | list):
            raise _Unfit
        return True, len(v).to_bytes(32, "big") + b"".join(item(x)[1] for x in v)

    return encode


def _type_encoder(t: str) -> _Encoder | None:
    """The direct encoder of ``t``: one-word types, tuples of them, arrays of them, ``bytes``,
    ``string``; None for the rest."""
    if t == "bytes":
        return _bytes_tail
    if t == "string":
        return _string_tail
    if t.endswith("[]"):
        item = _word_encoder(t[:-2])
        return None if item is None else _array_encoder(item)
    if t.startswith("(") and t.endswith(")") and "(" not in t[1:]:
        parts = [_word_encoder(p) for p in t[1:-1].split(",")]
        if any(p is None for p in parts):
            return None
        return _static_tuple_encoder(tuple(p for p in parts if p is not None))
    return _word_encoder(t)


def _input_encoders(types: Sequence[str]) -> tuple[_Encoder, ...] | None:
    encoders = [_type_encoder(t) for t in types]
    return None if any(e is None for e in encoders) else tuple(e for e in encoders if e is not None)


def _encode_direct(encoders: Sequence[_Encoder], args: Sequence[Any]) -> bytes | None:
    """The ABI encoding of ``args`` (head, then the tails of the dynamic values) without eth_abi,
    byte for byte what eth_abi writes; None if a value is not one the encoders take."""
    try:
        parts = [e(a) for e, a in zip(encoders, args, strict=True)]
    except _Unfit:
        return None
    at = sum(32 if dynamic else len(b) for dynamic, b in parts)
    head, tail = [], []
    for dynamic, b in parts:
        if dynamic:
            head.append(at.to_bytes(32, "big"))
            tail.append(b)
            at += len(b)
        else:
            head.append(b)
    return b"".join(head) + b"".join(tail)


def _encode(types: Sequence[str], args: Sequence[Any], what: str) -> bytes:
    try:
        return abi_encode(list(types), list(args))
    except (EncodingError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidParameter(f"bad arguments for {what} {tuple(types)}: {exc}") from None
