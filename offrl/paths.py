"""Where offrl keeps data: one cache root, overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The offrl data cache: ``root`` if given, else ``$OFFRL_DATA_DIR``, else ``~/.offrl/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("OFFRL_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".offrl" / "data"


def results_root(root: str | os.PathLike | None = None) -> Path:
    """Where training runs write ``results/<run_id>/``: ``root``, ``$OFFRL_RESULTS_DIR`` or ./results."""
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get("OFFRL_RESULTS_DIR", "results")).expanduser()


def compile_cache_root(root: str | os.PathLike | None = None) -> Path:
    """Where compiled XLA programs are kept between processes (:mod:`offrl.compile_cache`): ``root``,
    ``$OFFRL_COMPILE_CACHE`` or ``~/.cache/offrl/jax`` (``OFFRL_COMPILE_CACHE=off`` turns the cache off)."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("OFFRL_COMPILE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "offrl" / "jax"


def assets_dir() -> Path:
    """Files shipped inside the package (behaviour-policy weights, dataset cards)."""
    return Path(__file__).resolve().parent / "assets"
