"""Vyper contracts of the protocol, their build cache and the chain backends (eth-tester,
titanoboa, anvil) that run them. The contracts mirror the modules of :mod:`protocol`."""
