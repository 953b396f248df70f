"""Where offrl keeps data: one cache root, overridable by environment variables."""

from __future__ import annotations

import os
from collections.abc import Sequence
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


def run_folder(run_id: str, root: str | os.PathLike | None = None) -> Path:
    """``results_root(root) / run_id``, for a ``run_id`` that names one folder in it: not empty, no path
    separator, not ``.`` or ``..`` and not hidden (a report skips hidden folders), so that a run id can
    never write into the results root itself, outside it or into another run's folder."""
    from offrl.errors import ConfigError

    rid = str(run_id)
    if (not rid.strip() or rid != rid.strip() or "/" in rid or "\\" in rid or os.sep in rid or rid.startswith(".")
            or any(ord(c) < 32 for c in rid)):
        raise ConfigError(f"run_id {rid!r} must name one folder of the results root: a non-empty name without "
                          "path separators, control characters or surrounding spaces, not starting with '.'")
    return results_root(root) / rid


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


def recorded_run_id(run_id: str, earlier: str | Sequence[str], root: str | os.PathLike | None = None) -> str:
    """``run_id``, or the first of ``earlier`` (one id or several, newest form first) whose folder ``root``
    holds where none of ``run_id`` exists: the ids a run was recorded under in earlier forms (until
    2026-12-05 they also took option strings as written and bookkeeping settings, and ``offrl train``
    digested its options apart from ``offrl sweep``), so that earlier runs are found."""
    base = results_root(root)
    if (base / run_id).exists():
        return run_id
    for old in [earlier] if isinstance(earlier, str) else earlier:
        if old != run_id and (base / old).is_dir():
            return old
    return run_id
