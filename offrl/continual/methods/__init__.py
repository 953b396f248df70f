"""Continual methods, registered by name (``offrl continual list`` shows them).

Each method's own pieces live in its module; what they share (the state, the interface, replay
buffers, quadratic anchors) lives in :mod:`offrl.continual.methods.base`.
"""

from offrl.continual.methods import basic, oer, regularization, replay  # noqa: F401  (registration)
from offrl.continual.methods.base import HEADS, METHODS, ContinualState, Context, Method

__all__ = ["HEADS", "METHODS", "ContinualState", "Context", "Method"]
