"""Unpickling with an allow-list, for the D5RL files that are pickles (WidowX ``out.npy``, A1 buffers).

Only numpy array/dtype/scalar reconstruction and a few container types may be resolved; classes from
the publishing codebase (``jaxrl2.*``, ``gym.spaces.*``) become inert :class:`Stub` objects whose state
is kept as a plain dict. Any other global raises :class:`~offrl.errors.UnsafeFileError`, so no
arbitrary code runs.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from offrl.errors import UnsafeFileError

_ALLOWED: set[tuple[str, str]] = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("builtins", "slice"), ("builtins", "complex"), ("builtins", "set"), ("builtins", "frozenset"),
    ("_codecs", "encode"),
}
# Classes of the publishing code base, rebuilt as inert stubs instead of being imported.
_STUB_PREFIXES = ("jaxrl2.", "gym.spaces", "gymnasium.spaces")


class Stub:
    """Stands in for a class we will not import; pickle fills ``__dict__`` (or ``state``)."""

    _stub_name = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.state = state

    def __repr__(self) -> str:
        return f"<stub {self._stub_name}>"


_stub_cache: dict[str, type] = {}


def _stub(module: str, name: str) -> type:
    key = f"{module}.{name}"
    if key not in _stub_cache:
        _stub_cache[key] = type(name, (Stub,), {"_stub_name": key})
    return _stub_cache[key]


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module.startswith("numpy") and name in ("dtype", "ndarray"):
            return super().find_class(module, name)
        if module.startswith("numpy.dtypes") and name.endswith("DType"):
            return super().find_class(module, name)
        if module.startswith(_STUB_PREFIXES) or module.startswith("numpy.random"):
            # RandomState/Generator state of a pickled replay buffer is irrelevant to the data.
            return _stub(module, name)
        raise UnsafeFileError(f"refusing to unpickle {module}.{name}: not on the allow-list")


def safe_loads(data: bytes) -> Any:
    """``pickle.loads`` restricted to the allow-list above."""
    try:
        return _AllowListUnpickler(io.BytesIO(data)).load()
    except UnsafeFileError:
        raise
    except Exception as e:  # pickle raises many types on corrupt input
        from offrl.errors import DataIntegrityError

        raise DataIntegrityError(f"corrupt pickle data ({type(e).__name__}: {e})") from None


def safe_load_npy_object(path) -> Any:
    """Read a ``.npy`` file holding an object array (pickled payload) through the allow-list."""
    import numpy as np

    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)
        shape, _fortran, dtype = header(f)
        if dtype != np.dtype(object):
            f.seek(0)
            return np.load(f, allow_pickle=False)
        return safe_loads(f.read())
