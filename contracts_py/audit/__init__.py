"""Invariant campaigns for auditors: actors (:mod:`~contracts_py.audit.actors`), sequences on
the model or a chain with the model as twin (:mod:`~contracts_py.audit.campaign`), whole
campaigns (:mod:`~contracts_py.audit.runner`) and shrunk reproducers
(:mod:`~contracts_py.audit.reproducer`). ``novation audit`` is the command line."""
