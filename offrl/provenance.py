"""Which code, and which machine, made a run.

Run ids are digests of a run's configuration, not of the code that trained it: a finished run keeps its
id (and a sweep skips it) after a change to its method. So every run records its code in
``config.json`` under ``code``: the digest of the package's Python source (``source``, known wherever
the package runs, a copied tree on a remote machine included) and the git commit of its checkout
(``git``, where there is one). A run resumed on other code keeps the stamp of its start and lists the
later ones under ``code_resumed_with``. ``offrl report`` and ``offrl sweep plan`` read the stamps back:
a table whose runs come from different code says so (:func:`code_versions`), and a finished run made
by other code than the current is marked.

The machine goes into ``final.json`` (``machine``, :func:`machine_card`: ``1x NVIDIA H200``, or the CPU
model and its cores), so that a run's wall time can be read for what it is wherever its folder goes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["checkout_version", "code_label", "code_stamp", "code_versions", "git_version", "machine_card", "run_code",
           "source_digest", "stamp_version", "tree_digest"]

_PACKAGE = Path(__file__).resolve().parent


def tree_digest(root: str | os.PathLike) -> str:
    """The first 12 hex digits of the SHA-256 of the Python source under ``root`` (every ``**/*.py``
    outside ``__pycache__``, relative path and content, in path order)."""
    root = Path(root)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.relative_to(root).parts):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


@functools.cache
def source_digest() -> str:
    """:func:`tree_digest` of the package (``offrl/``): equal for equal code whether or not it runs from a
    git checkout; computed once per process."""
    return tree_digest(_PACKAGE)


def git_version(root: str | os.PathLike | None = None) -> str:
    """``git <commit>`` of the checkout the package runs from (``+dirty`` with uncommitted changes to
    tracked files); empty when it is not a git checkout."""
    root = Path(root) if root is not None else _PACKAGE.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"git {commit}{'+dirty' if dirty else ''}" if commit else ""


def checkout_version() -> str:
    """One string for the code that runs: :func:`git_version`, or ``source <digest>`` outside git."""
    return git_version() or f"source {source_digest()}"


def stamp_version(stamp: Mapping[str, Any] | None) -> str:
    """:func:`checkout_version`'s form of a recorded stamp (a run's ``config.json`` ``code``: the code that
    started it): ``git <commit>``, else ``source <digest>``; empty when the run recorded none."""
    stamp = stamp or {}
    return str(stamp.get("git") or (f"source {stamp['source']}" if stamp.get("source") else ""))


def code_stamp() -> dict[str, Any]:
    """``{"source": <digest>, "git": "git <commit>[+dirty]"}`` of the running package (``git`` left out
    outside a git checkout), and ``"plugins": {module: <digest of its source file>}`` for the modules
    ``$OFFRL_PLUGINS`` loaded (:mod:`offrl.plugins`; left out when none): a run id covers a run's options,
    not a plugin's code, so this is what tells runs of an edited plugin apart. Each digest is computed once
    per process, so that edits made while a command runs are not credited to its runs; the plugins are
    looked up at each call, since a process may load them after its first stamp."""
    plugins = plugin_digests()
    return {**_package_stamp(), **({"plugins": plugins} if plugins else {})}


@functools.cache
def _package_stamp() -> dict[str, str]:
    git = git_version()
    return {"source": source_digest(), **({"git": git} if git else {})}


def plugin_digests() -> dict[str, str]:
    """``{module: 12 hex digits}``: the sha256 of the source file of each plugin module loaded in this
    process (``unknown`` where it has none, e.g. a namespace package)."""
    from offrl.plugins import loaded_plugins

    import sys

    paths = {name: getattr(sys.modules.get(name), "__file__", None) for name in loaded_plugins()}
    return {name: _file_digest(path) if path and Path(path).is_file() else "unknown" for name, path in paths.items()}


@functools.cache
def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def code_label(stamp: Mapping[str, Any] | None) -> str:
    """``source 1a2b3c4d5e6f (git 0123abcd45)``; ``not recorded`` for runs made before stamps existed."""
    if not stamp or not stamp.get("source"):
        return "not recorded"
    git = stamp.get("git")
    return f"source {stamp['source']}" + _plugins_part(stamp) + (f" ({git})" if git else "")


def _plugins_part(stamp: Mapping[str, Any]) -> str:
    """`` + plugins mypkg.bcreg 1a2b3c4d5e6f`` for a stamp that records plugin modules, else empty."""
    plugins = stamp.get("plugins") or {}
    return (" + plugins " + ", ".join(f"{k} {v}" for k, v in sorted(plugins.items()))) if plugins else ""


def run_code(config: Mapping[str, Any]) -> str | None:
    """The source digest a run's ``config.json`` records (None: not recorded)."""
    stamp = config.get("code")
    return stamp.get("source") if isinstance(stamp, Mapping) and stamp.get("source") else None


def _version_key(stamp: Any) -> tuple[str, str]:
    """What tells a run's code apart: its source digest where recorded (equal digests are equal code, whatever
    the commits: a ``+dirty`` checkout of unchanged offrl source included), else its git commit, else nothing."""
    if not isinstance(stamp, Mapping):
        return ("", "")
    if stamp.get("source"):  # with the plugins' code: an edited plugin is other code
        return ("source", str(stamp["source"]) + _plugins_part(stamp))
    if stamp.get("git"):
        return ("git", str(stamp["git"]))
    return ("", "")


def _same_code(first: Any, later: Any) -> bool:
    """Whether two stamps name the same code: equal source digests where both record one, else equal git
    commits where both record one (a dirty checkout's commit says nothing of its changes)."""
    if not isinstance(first, Mapping) or not isinstance(later, Mapping):
        return False
    if first.get("source") and later.get("source"):
        return (first["source"], first.get("plugins") or {}) == (later["source"], later.get("plugins") or {})
    git = first.get("git")
    return bool(git) and git == later.get("git") and not str(git).endswith("+dirty")


def code_versions(configs: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """The code versions of runs (``run_id -> config``): ``(summary, warning)``.

    Runs are one version when they record the same source digest, whatever their git commits (the label
    lists the commits seen: ``source 1a2b3c4d5e6f (git 0123abcd45, git 0123abcd45+dirty)``); a run that
    records no digest falls back on its git commit, and joins the digest version whose runs recorded that
    commit clean (a clean commit fixes the source).
    ``summary`` maps each version's label to its run ids (runs not recorded under ``not recorded``; a
    run resumed on other code counts under its first stamp and is listed in ``resumed_on_other_code``,
    unless each later stamp is the same code by the same rule);
    ``warning`` is a sentence for a report when the runs come from more than one version (or some
    resumed on other code), else None. Different code need not mean different numbers, but only the
    reader can tell which changes matter.
    """
    members: dict[tuple[str, str], list[str]] = {}
    commits: dict[tuple[str, str], list[str]] = {}  # per version, the git commits its runs recorded
    resumed = []
    stamps = {run_id: config.get("code") for run_id, config in sorted(configs.items())}
    # runs with a digest first, so that the commits each digest was seen with are known to those without one
    for run_id, stamp in sorted(stamps.items(), key=lambda kv: (_version_key(kv[1])[0] != "source", kv[0])):
        key = _version_key(stamp)
        if key[0] == "git" and not key[1].endswith("+dirty"):
            key = next((k for k, seen in commits.items() if k[0] == "source" and key[1] in seen), key)
        members.setdefault(key, []).append(run_id)
        git = stamp.get("git") if isinstance(stamp, Mapping) else None
        if git and git not in commits.setdefault(key, []):
            commits[key].append(git)
        if any(not _same_code(stamp, other) for other in configs[run_id].get("code_resumed_with") or []):
            resumed.append(run_id)
    resumed.sort()
    by_label: dict[str, list[str]] = {}
    for key, run_ids in sorted(members.items(), key=lambda kv: min(kv[1])):
        run_ids = sorted(run_ids)
        kind, value = key
        gits = sorted(commits.get(key, []))
        if kind == "source":
            label = f"source {value}" + (f" ({', '.join(gits)})" if gits else "")
        else:
            label = value or "not recorded"
        by_label[label] = run_ids
    summary: dict[str, Any] = {"versions": by_label, "resumed_on_other_code": resumed}
    parts = []
    if len(by_label) > 1:
        counts = ", ".join(f"{label} ({len(ids)} run{'s' * (len(ids) > 1)})" for label, ids in by_label.items())
        parts.append(f"the runs come from {len(by_label)} code versions: {counts}")
    if resumed:
        parts.append(f"{len(resumed)} run{'s' * (len(resumed) > 1)} resumed on other code than "
                     f"{'they' if len(resumed) > 1 else 'it'} started with ({', '.join(resumed)})")
    if not parts:
        return summary, None
    text = "; ".join(parts)
    return summary, (text[0].upper() + text[1:] + ". Rows may differ by code as well as by setting: "
                     "code_versions in the summary JSON says which run is which.")


@functools.cache
def machine_card() -> str:
    """The machine, in words: the accelerators JAX uses (``1x NVIDIA H200``), else the CPU model and
    its core count; computed once per process."""
    try:
        import jax

        devices = jax.devices()
        if devices and devices[0].platform != "cpu":
            kinds = sorted({d.device_kind for d in devices})
            return f"{len(devices)}x {', '.join(kinds)}"
    except Exception:  # noqa: BLE001  (no JAX, or no backend: the CPU is the machine)
        pass
    return f"CPU: {_cpu_model()}, {os.cpu_count()} cores"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
