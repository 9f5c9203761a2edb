"""The oracle specification the contracts mirror (``contracts_py/contracts/oracle/``).

* :mod:`~protocol.oracle.rounds` — what a source reports (Chainlink rounds, Pyth prices) and the
  conversion of feed decimals to WAD, once, at the boundary;
* :mod:`~protocol.oracle.guards` — every guard on one reading (``guards.vy``);
* :mod:`~protocol.oracle.machine` — the Liquity v1 primary/fallback state machine (``machine.vy``);
* :mod:`~protocol.oracle.oracle_adapter` — feed specs, the OSM and the reference twin of the
  adapter's ``poke`` (``oracle_adapter.vy``).

The core's acceptance of pushed prices is :mod:`protocol.oracle_adapter` (``oracle_adapter.vy``).
"""
