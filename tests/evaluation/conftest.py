"""Fixtures for the evaluation tests: an importable ``rliable`` for cross-checks."""

from __future__ import annotations

import pytest


def _import_rliable():
    """Import rliable. With pandas >= 3, arch 7.x calls ``deprecate_kwarg`` with pandas 2's signature
    (``arch.univariate`` fails to import; rliable only needs ``arch.bootstrap``): there the pandas
    function is adapted for the duration of the import only. The [dev] extra pins pandas < 3."""
    import pandas

    pd_decorators = pytest.importorskip("pandas.util._decorators")
    original = pd_decorators.deprecate_kwarg
    if int(pandas.__version__.split(".")[0]) >= 3:
        def compat(*args, **kwargs):
            if args and isinstance(args[0], str):
                return original(FutureWarning, *args, **kwargs)
            return original(*args, **kwargs)

        pd_decorators.deprecate_kwarg = compat
    try:
        from rliable import library, metrics
    finally:
        pd_decorators.deprecate_kwarg = original
    return library, metrics


@pytest.fixture(scope="session")
def rliable():
    """``(rliable.library, rliable.metrics)``."""
    return _import_rliable()
