# pragma version ~=0.4.3
"""
@title multicall
@notice Read-only: many static calls answered by one `eth_call`, so a set of reads is one
        consistent snapshot at one block and costs the node one request
        (contracts_py/chains/anvil_chain.py runs it through a state override: never deployed).
@dev Views only, no storage. A call that reverts answers empty bytes (every getter it serves
     returns at least one word), so the caller names the failed call.
"""

# calls per request
MAX_CALLS: constant(uint256) = 256
# calldata of one call: a selector and up to four words
MAX_CALL_DATA: constant(uint256) = 132
# answer of one call: up to twenty words
MAX_ANSWER: constant(uint256) = 640


struct Call:
    target: address
    data: Bytes[MAX_CALL_DATA]


@external
@view
def aggregate(calls: DynArray[Call, MAX_CALLS]) -> DynArray[Bytes[MAX_ANSWER], MAX_CALLS]:
    """
    @notice Every call's answer, in order, from one state.
    @param calls Targets and calldata (at most MAX_CALLS).
    @return Each call's return data; empty bytes where the call reverted.
    """
    out: DynArray[Bytes[MAX_ANSWER], MAX_CALLS] = []
    for call: Call in calls:
        ok: bool = False
        answer: Bytes[MAX_ANSWER] = b""
        ok, answer = raw_call(call.target, call.data, max_outsize=MAX_ANSWER, is_static_call=True, revert_on_failure=False)
        if ok:
            out.append(answer)
        else:
            out.append(b"")
    return out
