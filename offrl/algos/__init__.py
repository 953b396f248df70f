"""Algorithms: pure functions over pytrees behind one registry (:data:`ALGORITHMS`).

``get("td3bc")`` returns an :class:`~offrl.algos.base.Algorithm`; ``names()`` lists them. Importing
this package registers the built-in algorithms (each module registers itself on import).
"""

from offrl.algos import bc, cql, dt, iql, sac, td3bc  # noqa: F401  (registration side effect)
from offrl.algos.base import ALGORITHMS, Algorithm, register


def get(name: str) -> Algorithm:
    """The registered algorithm ``name`` (unknown names raise with close-match suggestions)."""
    return ALGORITHMS[name]


def names() -> list[str]:
    return ALGORITHMS.names()


__all__ = ["ALGORITHMS", "Algorithm", "get", "names", "register"]
