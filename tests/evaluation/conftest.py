"""Fixtures for the evaluation tests: an importable ``rliable`` for cross-checks."""

from __future__ import annotations

import pytest


def _import_rliable():
    """Import rliable, working around arch 7.x calling pandas 3's ``deprecate_kwarg`` with the old
    signature (``arch.univariate`` fails to import otherwise; rliable only needs ``arch.bootstrap``).
    The pandas function is patched only for the duration of the import."""
    pd_decorators = pytest.importorskip("pandas.util._decorators")
    original = pd_decorators.deprecate_kwarg

    def compat(*args, **kwargs):
        if args and isinstance(args[0], str):
            return original(FutureWarning, *args, **kwargs)
        return original(*args, **kwargs)

    pd_decorators.deprecate_kwarg = compat
    try:
        from rliable import library, metrics
    except ImportError as e:  # rliable is a [dev] extra: skip the cross-checks without it
        pytest.skip(f"rliable not importable: {e}")
    finally:
        pd_decorators.deprecate_kwarg = original
    return library, metrics


@pytest.fixture(scope="session")
def rliable():
    """``(rliable.library, rliable.metrics)``."""
    return _import_rliable()
