"""Algorithms: pure functions over pytrees behind one registry (:data:`ALGORITHMS`).

``get("td3bc")`` returns an :class:`~offrl.algos.base.Algorithm`; ``names()`` lists them. Importing
this package registers the built-in algorithms.
"""

from offrl.algos.base import ALGORITHMS, Algorithm, register

_BUILTIN = ("bc", "td3bc", "iql", "cql", "sac", "dt")


def _load_builtins() -> None:
    import importlib

    for mod in _BUILTIN:
        try:
            importlib.import_module(f"offrl.algos.{mod}")
        except ModuleNotFoundError as e:  # a module still being written must not break the others
            if e.name != f"offrl.algos.{mod}":
                raise


def get(name: str) -> Algorithm:
    """The registered algorithm ``name`` (unknown names raise with close-match suggestions)."""
    return ALGORITHMS[name]


def names() -> list[str]:
    return ALGORITHMS.names()


_load_builtins()

__all__ = ["ALGORITHMS", "Algorithm", "get", "names", "register"]
