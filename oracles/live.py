"""Read a live Chainlink AggregatorV3 feed over any JSON-RPC endpoint (anvil included).

:func:`read_latest_round` returns the feed's latest round as :class:`~protocol.oracle.rounds.RoundData`;
:func:`read_feed` adds the decimals, the proxy's current phase, the description and the node's
latest block time, and :func:`check_live_feed` runs every guard of :mod:`protocol.oracle.guards` on it.

Failures get one sentence each: an unreachable endpoint raises
:class:`~protocol.errors.ChainError`; a malformed address raises
:class:`~protocol.errors.InvalidParameter`; an address without code, or a contract that does not
answer like an AggregatorV3, raises :class:`~protocol.errors.OracleError`. A web3 client is
created per call, never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from protocol.errors import ChainError, InvalidParameter, OracleError, describe_cause
from protocol.oracle.guards import FeedConfig, Verdict, check_round
from protocol.oracle.rounds import RoundData

__all__ = [
    "AGGREGATOR_V3_ABI",
    "LiveFeed",
    "check_live_feed",
    "read_feed",
    "read_latest_round",
]

_ROUND_OUTPUTS: Final = [
    {"name": "roundId", "type": "uint80"},
    {"name": "answer", "type": "int256"},
    {"name": "startedAt", "type": "uint256"},
    {"name": "updatedAt", "type": "uint256"},
    {"name": "answeredInRound", "type": "uint80"},
]


def _view(name: str, outputs: list[dict[str, str]], inputs: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"type": "function", "name": name, "stateMutability": "view", "inputs": inputs or [], "outputs": outputs}


#: The part of Chainlink's AggregatorV3Interface (plus the proxy's ``phaseId``) read here.
AGGREGATOR_V3_ABI: Final = [
    _view("latestRoundData", _ROUND_OUTPUTS),
    _view("getRoundData", _ROUND_OUTPUTS, [{"name": "_roundId", "type": "uint80"}]),
    _view("decimals", [{"name": "", "type": "uint8"}]),
    _view("description", [{"name": "", "type": "string"}]),
    _view("phaseId", [{"name": "", "type": "uint16"}]),
]


@dataclass(frozen=True, slots=True)
class LiveFeed:
    """One reading of a live feed.

    ``round`` is the latest round (answer in feed units); ``decimals`` the feed decimals;
    ``phase_id`` the proxy's current phase; ``block_timestamp_s`` the node's latest block time
    (Unix seconds), the ``now`` against which staleness is judged.
    """

    address: str
    round: RoundData
    decimals: int
    phase_id: int
    description: str
    block_timestamp_s: int

    @property
    def age_s(self) -> int:
        """Seconds between the round's ``updated_at`` and the latest block (negative if in the future)."""
        return self.block_timestamp_s - self.round.updated_at


def _client(rpc_url: str, timeout_s: float) -> Any:
    from web3 import Web3

    if not isinstance(rpc_url, str) or not rpc_url.startswith(("http://", "https://")):
        raise InvalidParameter(f"rpc_url must be an http(s) URL such as http://127.0.0.1:8545, got {rpc_url!r}")
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    try:
        w3.eth.chain_id  # noqa: B018 - the cheapest request that proves a node answers
    except Exception as exc:
        raise ChainError(
            f"cannot reach the JSON-RPC endpoint {rpc_url}: {describe_cause(exc)}; "
            "check that the node is running and the URL is right"
        ) from None
    return w3


def _checksum(feed_address: str) -> str:
    from web3 import Web3

    if not isinstance(feed_address, str) or not Web3.is_address(feed_address):
        raise InvalidParameter(
            f"feed_address must be a 0x-prefixed 20-byte hex address (checksummed or all lower-case), "
            f"got {feed_address!r}"
        )
    return str(Web3.to_checksum_address(feed_address))


def _feed_contract(w3: Any, rpc_url: str, feed_address: str) -> Any:
    address = _checksum(feed_address)
    try:
        code = w3.eth.get_code(address)
    except Exception as exc:
        raise ChainError(f"cannot read code at {address} from {rpc_url}: {describe_cause(exc)}") from None
    if not code:
        raise OracleError(
            f"no contract at {address} on {rpc_url} (chain id {w3.eth.chain_id}): "
            "check the feed address and that the URL points at the right network"
        )
    return w3.eth.contract(address=address, abi=AGGREGATOR_V3_ABI)


def _call(feed: Any, fn: str, rpc_url: str) -> Any:
    from web3.exceptions import ContractLogicError

    try:
        return getattr(feed.functions, fn)().call()
    except ContractLogicError as exc:
        raise OracleError(
            f"{fn}() reverted at {feed.address} ({exc.message or 'no reason'}): "
            "the contract is not an AggregatorV3 feed or has no data"
        ) from None
    except (ConnectionError, OSError) as exc:
        raise ChainError(f"lost the JSON-RPC endpoint {rpc_url} while calling {fn}(): {describe_cause(exc)}") from None
    except Exception as exc:  # BadFunctionCallOutput, decoding errors: wrong ABI
        raise OracleError(
            f"{fn}() at {feed.address} did not answer like an AggregatorV3 feed ({type(exc).__name__}): "
            "check that the address is a Chainlink price feed proxy"
        ) from None


def _round(values: Any, address: str) -> RoundData:
    try:
        round_id, answer, started_at, updated_at, answered_in_round = (int(v) for v in values)
        return RoundData(round_id, answer, started_at, updated_at, answered_in_round)
    except (TypeError, ValueError, InvalidParameter) as exc:
        raise OracleError(f"latestRoundData() at {address} returned a malformed round: {exc}") from None


def read_latest_round(rpc_url: str, feed_address: str, *, timeout_s: float = 10.0) -> RoundData:
    """``latestRoundData()`` of the feed at ``feed_address`` (answer in feed units, times in s)."""
    w3 = _client(rpc_url, timeout_s)
    feed = _feed_contract(w3, rpc_url, feed_address)
    return _round(_call(feed, "latestRoundData", rpc_url), feed.address)


def read_feed(rpc_url: str, feed_address: str, *, timeout_s: float = 10.0) -> LiveFeed:
    """Latest round, decimals, current phase, description and the node's latest block time.

    A feed without ``phaseId()`` (a bare aggregator rather than a proxy) reports the phase packed
    in its latest round id.
    """
    w3 = _client(rpc_url, timeout_s)
    feed = _feed_contract(w3, rpc_url, feed_address)
    rd = _round(_call(feed, "latestRoundData", rpc_url), feed.address)
    decimals = int(_call(feed, "decimals", rpc_url))
    try:
        phase_id = int(_call(feed, "phaseId", rpc_url))
    except OracleError:
        phase_id = rd.phase_id
    description = str(_call(feed, "description", rpc_url))
    try:
        now_s = int(w3.eth.get_block("latest")["timestamp"])
    except Exception as exc:
        raise ChainError(f"cannot read the latest block from {rpc_url}: {describe_cause(exc)}") from None
    return LiveFeed(str(feed.address).lower(), rd, decimals, phase_id, description, now_s)


def check_live_feed(
    rpc_url: str,
    feed_address: str,
    config: FeedConfig,
    *,
    last_good_price_wad: int | None = None,
    now_s: int | None = None,
    timeout_s: float = 10.0,
) -> tuple[LiveFeed, Verdict]:
    """Read the feed and run every guard at ``now_s`` (default: the node's latest block time).

    Raises OracleError if the feed's decimals differ from ``config.decimals`` (a misconfigured
    feed would scale every price wrongly).
    """
    live = read_feed(rpc_url, feed_address, timeout_s=timeout_s)
    if live.decimals != config.decimals:
        raise OracleError(
            f"feed {live.address} has {live.decimals} decimals but FeedConfig.decimals is {config.decimals}"
        )
    verdict = check_round(
        config,
        live.round,
        now_s=live.block_timestamp_s if now_s is None else now_s,
        current_phase_id=max(live.phase_id, 1),
        last_good_price_wad=last_good_price_wad,
    )
    return live, verdict
