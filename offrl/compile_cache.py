"""JAX's persistent compilation cache, for the many runs of a sweep.

Why: every run of a sweep compiles its programs (the fused training chunk, a continual method's update
for each task, the evaluation policy) although runs that differ only in seeds' values, hyperparameter
values or datasets of the same shape compile exactly the same programs. With the cache on, a run finds
what an earlier run (in this process or another) compiled: on the 2-vCPU CPU, the second of two ER runs
through the pendulum-gain stream took 12.2 s instead of 35.5 s (its first chunks 3.1 s instead of
15.5 s), with the same numbers (docs/sweeps.md, "Compiled programs are kept").

Every compilation is cached (JAX's default keeps only those over a second, which leaves out most of a
small run's programs). A cache the user set up for JAX (``JAX_COMPILATION_CACHE_DIR`` or
``jax_compilation_cache_dir``) is used as it is. Entries are keyed by the program, the compile options,
the device kind and the jax version, so a stale entry is never used for another program; an unreadable
entry (e.g. one half-written by a process that was killed) makes JAX warn and compile again.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["enable", "wanted"]

#: the variables that carry the setting to child processes (JAX reads them when it is imported)
ENV_DIR, ENV_MIN_TIME = "JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"


def wanted() -> bool:
    """False when ``$OFFRL_COMPILE_CACHE`` is ``off`` (e.g. a test suite, whose runs share few programs
    and would only pay for writing them)."""
    return os.environ.get("OFFRL_COMPILE_CACHE", "").strip().lower() != "off"


def enable(path: str | os.PathLike | None = None) -> Path:
    """Turn the persistent cache on in this process and in the processes it starts; returns its folder.

    ``path``: the folder (default :func:`offrl.paths.compile_cache_root`), unless JAX is already given one.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    from offrl.paths import compile_cache_root

    configured = jax.config.jax_compilation_cache_dir or os.environ.get(ENV_DIR)
    if configured:
        return Path(configured)
    folder = compile_cache_root(path)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[ENV_DIR] = str(folder)
    os.environ[ENV_MIN_TIME] = "0"
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # JAX decides once per process whether the cache is used, at its first compilation: start over in
    # case something compiled before this call
    compilation_cache.reset_cache()
    return folder
