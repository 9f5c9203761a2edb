"""Price-feed adapters, guards, historical round loaders and feed models for simulation.

Every price the protocol consumes leaves this package as an exact integer in WAD (1e18 = one
USD per base unit). Feed decimals are converted once, at the boundary (:mod:`protocol.oracle.rounds`).
Guard failures carry module-prefixed reasons (``"oracle: stale"``) shared with the contracts.
"""
