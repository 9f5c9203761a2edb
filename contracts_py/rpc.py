"""JSON-RPC transports of the integrator client and the indexer, with typed errors.

An :class:`Rpc` sends one JSON-RPC method (or a batch) and returns its ``result``; every failure
is one :class:`~protocol.errors.ChainError` sentence: an unreachable node, a timeout, an error
the node answers (a revert of ``eth_call`` or ``eth_estimateGas`` is a
:class:`~protocol.errors.ProtocolRevert`).

* :class:`HttpRpc` talks to a node by URL over a keep-alive connection, batches in one request;
* :class:`Web3Rpc` wraps a :class:`web3.Web3` (the in-process eth-tester chain of the tests).

:func:`connect` takes either a URL or a ``Web3``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Final

from eth_utils.address import to_checksum_address
from web3.exceptions import BlockNotFound

from contracts_py.chains.abi import decode_revert
from contracts_py.chains.anvil_process import RpcClient
from protocol.errors import ChainError, InvalidParameter, NovationError, ProtocolRevert

__all__ = ["DEFAULT_TIMEOUT_S", "HttpRpc", "Rpc", "Web3Rpc", "connect"]

#: Seconds an HTTP request may take before it fails.
DEFAULT_TIMEOUT_S: Final = 30.0


def _revert_or_error(where: str, method: str, error: Any) -> ChainError:
    """The typed error of a JSON-RPC ``error`` object: a revert for ``eth_call`` and
    ``eth_estimateGas`` (the call reverts), else ChainError."""
    message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    data = error.get("data") if isinstance(error, dict) else None
    if isinstance(data, dict):
        data = data.get("data")
    if method in ("eth_call", "eth_estimateGas") and ("revert" in message.lower() or data):
        reason = None
        if isinstance(data, str) and data.startswith("0x"):
            try:
                reason = decode_revert(bytes.fromhex(data[2:]))
            except ValueError:
                reason = None
        raise ProtocolRevert(reason or message.removeprefix("execution reverted").strip(": ") or "reverted")
    return ChainError(f"{where} answered {method} with an error: {message}")


class Rpc(ABC):
    """One JSON-RPC endpoint. ``name`` says where it is (for messages)."""

    name: str = "node"

    @abstractmethod
    def request(self, method: str, params: Sequence[Any]) -> Any:
        """The ``result`` of ``method(*params)``; raises ChainError (ProtocolRevert for a reverted call)."""

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """The results of several calls, in order (one round trip where the transport can)."""
        return [self.request(m, p) for m, p in calls]

    def close(self) -> None:  # noqa: B027  (a transport without a connection has nothing to release)
        """Release the connection (nothing by default)."""


class HttpRpc(Rpc):
    """A node by its http(s) URL; ``timeout_s`` bounds every request."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidParameter(f"RPC URL {url!r} must be an http(s) URL, e.g. http://127.0.0.1:8545")
        if not timeout_s > 0:
            raise InvalidParameter(f"RPC timeout {timeout_s!r} must be a positive number of seconds")
        self.name = url
        self._client = RpcClient(url, timeout_s=timeout_s)
        self._id = 0

    def _send(self, payload: Any) -> Any:
        try:
            return self._client.request(payload)
        except TimeoutError:
            raise ChainError(f"the JSON-RPC endpoint {self.name} timed out; is the node overloaded?") from None

    def request(self, method: str, params: Sequence[Any]) -> Any:
        self._id += 1
        answer = self._send({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})
        if not isinstance(answer, dict):
            raise ChainError(f"{self.name} answered {method} with {str(answer)[:120]!r}, not a JSON-RPC response")
        if "error" in answer:
            raise _revert_or_error(self.name, method, answer["error"])
        return answer.get("result")

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        if not calls:
            return []
        payload = []
        for method, params in calls:
            self._id += 1
            payload.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})
        answer = self._send(payload)
        if not isinstance(answer, list) or len(answer) != len(payload):
            raise ChainError(f"{self.name} did not answer a JSON-RPC batch of {len(payload)} calls")
        by_id = {a.get("id"): a for a in answer if isinstance(a, dict)}
        out = []
        for (method, _), p in zip(calls, payload, strict=True):
            a = by_id.get(p["id"])
            if a is None:
                raise ChainError(f"{self.name} left call {p['id']} of a batch unanswered")
            if "error" in a:
                raise _revert_or_error(self.name, method, a["error"])
            out.append(a.get("result"))
        return out

    def close(self) -> None:
        self._client.close()


class Web3Rpc(Rpc):
    """The read methods of the client and the indexer through a :class:`web3.Web3`'s own API
    (e.g. the in-process eth-tester, whose provider takes Python values, not JSON-RPC hex)."""

    def __init__(self, w3: Any) -> None:
        self.w3 = w3
        self.name = type(w3.provider).__name__

    def request(self, method: str, params: Sequence[Any]) -> Any:
        handler = getattr(self, "_" + method, None)
        if handler is None:
            raise ChainError(f"{self.name} does not serve {method} through web3")
        try:
            return _as_json_rpc(handler(*params))
        except NovationError:
            raise
        except Exception as exc:  # a provider raises its own errors; a revert is one of them
            from contracts_py.chains.web3_chain import revert_from_exception

            revert = revert_from_exception(exc)
            if revert is not None:
                raise revert from None
            raise ChainError(f"{self.name} failed {method}: {str(exc).strip() or type(exc).__name__}") from None

    @staticmethod
    def _tag(tag: str) -> Any:
        return int(tag, 16) if tag.startswith("0x") else tag

    def _eth_chainId(self) -> int:  # noqa: N802  (JSON-RPC method name)
        return int(self.w3.eth.chain_id)

    def _eth_blockNumber(self) -> int:  # noqa: N802
        return int(self.w3.eth.block_number)

    def _eth_getCode(self, address: str, tag: str) -> Any:  # noqa: N802
        return self.w3.eth.get_code(to_checksum_address(address), self._tag(tag))

    def _eth_getBlockByNumber(self, tag: str, full: bool) -> Any:  # noqa: N802
        try:
            return self.w3.eth.get_block(self._tag(tag), full)
        except BlockNotFound:
            return None

    def _eth_call(self, tx: dict[str, Any], tag: str, overrides: Any = None) -> Any:
        # eth-tester charges a read's gas to its sender: read from its first funded account
        call = {"to": to_checksum_address(tx["to"]), "data": tx["data"], "from": self.w3.eth.accounts[0]}
        if overrides is not None:
            raise ChainError(f"{self.name} does not take eth_call state overrides")
        return self.w3.eth.call(call, self._tag(tag))

    def _eth_getLogs(self, flt: dict[str, Any]) -> Any:  # noqa: N802
        params = dict(flt, address=to_checksum_address(flt["address"]))
        params["fromBlock"], params["toBlock"] = self._tag(flt["fromBlock"]), self._tag(flt["toBlock"])
        return self.w3.eth.get_logs(params)


def _as_json_rpc(value: Any) -> Any:
    """A provider's Python values as a node sends them: quantities and bytes as 0x-hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _as_json_rpc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json_rpc(v) for v in value]
    return value


def connect(rpc: str | Rpc | Any, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Rpc:
    """An :class:`Rpc` for a URL, an :class:`Rpc` (returned as is) or a :class:`web3.Web3`."""
    if isinstance(rpc, Rpc):
        return rpc
    if isinstance(rpc, str):
        return HttpRpc(rpc, timeout_s=timeout_s)
    if hasattr(rpc, "provider"):
        return Web3Rpc(rpc)
    raise InvalidParameter(f"rpc must be a URL, an Rpc or a web3.Web3, got {type(rpc).__name__}")
