"""Run logging: an append-only local JSONL record, always, plus one Weights & Biases run per seed.

The trainer vmaps seeds into one process, but every seed is an independent experiment for the
statistics, so each seed gets its own log stream: one JSONL line per seed per :meth:`RunLogger.log`
call and one wandb run per seed (named ``<run_id>-seed<k>``, grouped so the wandb UI can average
them). wandb is optional and never blocks training: without an API key it logs offline, with
``WANDB_MODE=disabled`` or without the package it is off, and a failing or slow ``wandb.init``
falls back to disabled with a warning.

Files written under ``run_dir`` (the results contract read by :mod:`offrl.evaluation.results`):
``config.json`` (atomic), ``metrics.jsonl`` (append-only) and ``final.json`` (atomic, written once).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from offrl.errors import ConfigError, OffrlError

__all__ = ["RunLogger", "atomic_write_json", "config_group", "to_jsonable", "wandb_mode"]

# Keys every JSONL line carries; metrics may not reuse them.
_RESERVED = ("kind", "step", "seed", "time")
_INIT_TIMEOUT_S = 30.0
# Config keys that differ between runs of the same experiment; left out of the default wandb group.
_PER_RUN_KEYS = ("seeds", "seed", "run_id", "results_dir")


def to_jsonable(x: Any) -> Any:
    """Plain-JSON version of ``x``: numpy/JAX scalars and arrays become Python numbers and lists,
    non-finite floats become ``None`` (JSON has no NaN), dataclasses and paths become dicts/strings."""
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    if isinstance(x, bool | str) or x is None:
        return x
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "__dataclass_fields__"):
        import dataclasses

        return to_jsonable(dataclasses.asdict(x))
    if hasattr(x, "__array__") or isinstance(x, np.generic):
        a = np.asarray(x)
        if a.dtype.kind in "fc":
            a = a.real.astype(np.float64)
            return to_jsonable(a.tolist()) if a.ndim else to_jsonable(float(a))
        if a.dtype.kind in "iub":
            return a.tolist()
        return to_jsonable(a.tolist())
    return str(x)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` so readers see the old file or the new one, never half of one."""
    from offrl.atomic import atomic_file

    with atomic_file(path) as tmp, open(tmp, "w") as f:
        json.dump(to_jsonable(obj), f, indent=2, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def config_group(config: Mapping[str, Any]) -> str:
    """Default wandb group: ``<algo>-<dataset>-<hash>``, the hash over the config without its seeds,
    run id and results folder (at any nesting level), so runs that differ only in seeds (e.g. a
    sweep split over jobs) share a group."""

    def strip(x: Any) -> Any:
        # nested too: the trainer's train_config repeats the seeds and run id
        if isinstance(x, Mapping):
            return {k: strip(v) for k, v in x.items() if k not in _PER_RUN_KEYS}
        return x

    digest = hashlib.sha1(json.dumps(strip(to_jsonable(config)), sort_keys=True).encode()).hexdigest()[:10]
    parts = [str(config[k]).rsplit("/", 1)[-1] for k in ("algo", "dataset") if config.get(k)]
    return "-".join([*parts, digest])[:128]


def wandb_mode() -> str:
    """The wandb mode to use: ``$WANDB_MODE`` when set, else ``online`` with ``$WANDB_API_KEY``, else
    ``offline`` (runs are stored locally and can be uploaded later with ``wandb sync``)."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode:
        return mode
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def _seed_mean_payload(prefix: str, columns: Mapping[str, list], seeds: Sequence[int]) -> dict[str, float]:
    """One wandb row for all seeds: the mean over seeds under each metric's name, every seed under
    ``seed<k>/<name>`` (non-finite values are NaN; a mean over a NaN is NaN)."""
    out: dict[str, float] = {}
    for name, values in columns.items():
        if not all(v is None or isinstance(v, int | float) for v in values):
            continue
        vals = [float("nan") if v is None else float(v) for v in values]
        out[prefix + name] = float(np.mean(vals))
        out.update({f"seed{s}/{prefix}{name}": v for s, v in zip(seeds, vals)})
    return out


def _wandb_id(run_id: str, seed: int) -> str:
    # wandb run ids allow letters, digits, '-' and '_' only
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{run_id}-seed{seed}")[:128]


class RunLogger:
    """Logs one multi-seed training run to ``run_dir`` and (optionally) wandb.

    Args:
      run_dir: ``results/<run_id>/``; created if missing.
      config: the run's configuration (``algo``, ``dataset``, ``algo_config``, ``train_config`` ...);
        written by :meth:`write_config` with ``run_id``, ``seeds`` and ``offrl_version`` filled in.
      seeds: the seeds trained side by side; metric arrays passed to :meth:`log` are indexed like it.
      project: wandb project.
      group: wandb group; default :func:`config_group` of the config.
      tags: wandb tags of every seed's run.
      use_wandb: ``False`` never touches wandb; ``None`` (default) uses it when installed and
        ``WANDB_MODE`` is not ``disabled``; ``True`` is the same but warns when it cannot.
      resume: continue a killed run, appending to its ``metrics.jsonl``. Without it, a run directory
        that already holds metrics is refused so that nothing is clobbered.

    Raises:
      OffrlError: the run already finished (``final.json`` exists), or it has metrics and
        ``resume`` is off.
    """

    def __init__(
        self,
        run_dir: Path,
        config: dict,
        seeds: list[int],
        *,
        project: str = "offrl",
        group: str | None = None,
        use_wandb: bool | None = None,
        resume: bool = False,
        tags: Sequence[str] = (),
    ):
        self.run_dir = Path(run_dir)
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise ConfigError("seeds: at least one seed is needed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: duplicates in {self.seeds}")
        self.config = dict(config)
        self.config.setdefault("run_id", self.run_dir.name)
        self.config["seeds"] = list(self.seeds)
        if "offrl_version" not in self.config:
            from offrl import __version__

            self.config["offrl_version"] = __version__
        self.run_id = str(self.config["run_id"])
        self.resume = resume
        self.project = project
        self.group = group or config_group(self.config)
        self.tags = [str(t) for t in tags]
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.final_path = self.run_dir / "final.json"
        self.config_path = self.run_dir / "config.json"

        if self.final_path.exists():
            raise OffrlError(f"{self.run_dir} is a finished run (final.json exists); it is never rewritten")
        if not resume and self.metrics_path.exists() and self.metrics_path.stat().st_size > 0:
            raise OffrlError(
                f"{self.metrics_path} already holds metrics; pass resume=True to continue that run "
                "or use a new run directory"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._terminate_partial_line()
        self._file = open(self.metrics_path, "a", encoding="utf-8")
        self._finished = False
        self._wandb_runs: list[Any] = []
        self._agent_run = False
        self.wandb_mode = "disabled"
        if use_wandb is not False:
            self._init_wandb(explicit=bool(use_wandb))

    # ------------------------------------------------------------------ wandb

    def _init_wandb(self, explicit: bool) -> None:
        mode = wandb_mode()
        if mode == "disabled":
            return
        try:
            import wandb
        except ImportError:
            if explicit:
                warnings.warn("use_wandb=True but wandb is not installed; logging to JSONL only", stacklevel=3)
            return
        runs = []
        # Under `wandb agent` (WANDB_SWEEP_ID set) wandb gives every init in the process the agent's
        # run id, project and entity: log to that one run, seed means under the metric names (the
        # sweep's objective) and every seed under seed<k>/...
        self._agent_run = bool(os.environ.get("WANDB_SWEEP_ID"))
        try:
            for seed in self.seeds[:1] if self._agent_run else self.seeds:
                settings = wandb.Settings(
                    init_timeout=_INIT_TIMEOUT_S,
                    silent=True,
                    console="off",
                    x_disable_stats=True,
                    x_disable_machine_info=True,
                )
                run = wandb.init(
                    project=self.project,
                    group=self.group,
                    name=self.run_id if self._agent_run else f"{self.run_id}-seed{seed}",
                    id=_wandb_id(self.run_id, seed),
                    job_type=str(self.config.get("algo", "train")),
                    config={**to_jsonable(self.config), "seed": seed} if not self._agent_run
                    else to_jsonable(self.config),
                    tags=self.tags or None,
                    mode=mode,
                    reinit="create_new",  # one live run per seed in this process
                    resume="allow" if self.resume else None,
                    dir=os.environ.get("WANDB_DIR") or None,
                    settings=settings,
                )
                runs.append(run)
        except Exception as e:  # noqa: BLE001 - any wandb failure must not stop training
            warnings.warn(f"wandb.init failed ({type(e).__name__}: {e}); logging to JSONL only", stacklevel=3)
            for run in runs:
                try:
                    run.finish(exit_code=1)
                except Exception:  # noqa: BLE001
                    pass
            return
        self._wandb_runs = runs
        self.wandb_mode = mode

    # ------------------------------------------------------------------ files

    def _terminate_partial_line(self) -> None:
        # A run killed mid-write can leave a line without its newline; appending straight after it
        # would glue the next record onto the broken one, so close it off first (readers skip it).
        if self.metrics_path.exists() and self.metrics_path.stat().st_size > 0:
            with open(self.metrics_path, "rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def write_config(self) -> Path:
        """Write ``config.json`` atomically. On resume an existing config must match (except
        ``offrl_version``), since a resumed run with other settings would not be the same experiment."""
        if self.config_path.exists() and self.resume:
            try:
                old = json.loads(self.config_path.read_text())
            except (OSError, json.JSONDecodeError):
                old = None
            if isinstance(old, dict):
                new = to_jsonable(self.config)
                diff = sorted(
                    k for k in set(old) | set(new) if k != "offrl_version" and old.get(k) != new.get(k)
                )
                if diff:
                    raise ConfigError(f"resumed run {self.run_id!r}: config differs from config.json in {diff}")
        atomic_write_json(self.config_path, self.config)
        return self.config_path

    def log(self, step: int, metrics: Mapping[str, Any], kind: str = "train") -> None:
        """Append one JSONL line per seed and log the same values to each seed's wandb run.

        Args:
          step: the training step the metrics belong to.
          metrics: name -> array of shape ``(n_seeds,)`` (one value per seed, in ``seeds`` order) or
            a scalar shared by all seeds. Non-finite values are written as ``null``.
          kind: ``"train"`` or ``"eval"``; eval metrics appear in wandb under ``eval/``.
        """
        if self._finished:
            raise OffrlError(f"run {self.run_id!r} is finished; nothing more can be logged")
        n = len(self.seeds)
        columns: dict[str, list] = {}
        for name, value in metrics.items():
            if name in _RESERVED:
                raise ConfigError(f"metric name {name!r} is reserved (reserved: {', '.join(_RESERVED)})")
            a = np.asarray(value)
            if a.ndim == 0:
                columns[name] = [to_jsonable(a)] * n
            elif a.shape == (n,):
                columns[name] = [to_jsonable(v) for v in a]
            else:
                raise ConfigError(f"metric {name!r}: expected a scalar or shape ({n},) for {n} seeds, got {a.shape}")
        now = time.time()
        step = int(step)
        lines = []
        for i, seed in enumerate(self.seeds):
            record = {"kind": kind, "step": step, "seed": seed, "time": now}
            record.update({k: v[i] for k, v in columns.items()})
            lines.append(json.dumps(record, allow_nan=False))
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()
        if self._wandb_runs:
            prefix = "eval/" if kind == "eval" else ("" if kind == "train" else f"{kind}/")
            for i, run in enumerate(self._wandb_runs):
                payload = {
                    prefix + k: (float("nan") if v[i] is None else v[i])
                    for k, v in columns.items()
                    if v[i] is None or isinstance(v[i], int | float)
                }
                if self._agent_run:
                    payload = _seed_mean_payload(prefix, columns, self.seeds)
                try:
                    run.log(payload, step=step)
                except Exception as e:  # noqa: BLE001
                    warnings.warn(f"wandb log failed ({e}); continuing with JSONL only", stacklevel=2)
                    self._close_wandb(exit_code=1)
                    break

    def finish(self, final: dict) -> Path:
        """Write ``final.json`` atomically (once) and close the wandb runs.

        ``run_id``, ``algo``, ``dataset`` and ``seeds`` are filled in from the config when missing.
        Per-seed ``last``/``best`` scores are copied into each wandb run's summary.

        Raises:
          OffrlError: ``final.json`` already exists; a finished run is never rewritten.
        """
        if self.final_path.exists():
            raise OffrlError(f"{self.final_path} exists; a finished run is never rewritten")
        final = dict(final)
        for key in ("run_id", "algo", "dataset"):
            if key in self.config:
                final.setdefault(key, self.config[key])
        final.setdefault("seeds", list(self.seeds))
        self._file.flush()
        os.fsync(self._file.fileno())
        atomic_write_json(self.final_path, final)
        for i, run in enumerate(self._wandb_runs):
            for metric in ("normalized_score", "return"):
                block = final.get(metric)
                if not isinstance(block, Mapping):
                    continue
                for which in ("last", "best"):
                    values = to_jsonable(block.get(which))
                    if isinstance(values, list) and len(values) == len(self.seeds) and values[i] is not None:
                        try:
                            run.summary[f"final/{metric}_{which}"] = values[i]
                        except Exception:  # noqa: BLE001
                            pass
        if self._agent_run:
            for run in self._wandb_runs:
                for metric in ("normalized_score", "return"):
                    block = final.get(metric)
                    values = to_jsonable(block.get("last")) if isinstance(block, Mapping) else None
                    if isinstance(values, list) and values and None not in values:
                        try:
                            run.summary[f"final/{metric}_last"] = float(np.mean(values))
                        except Exception:  # noqa: BLE001
                            pass
        self.close()
        self._finished = True
        return self.final_path

    def _close_wandb(self, exit_code: int = 0) -> None:
        runs, self._wandb_runs = self._wandb_runs, []
        for run in runs:
            try:
                run.finish(exit_code=exit_code)
            except Exception as e:  # noqa: BLE001
                warnings.warn(f"wandb finish failed: {e}", stacklevel=2)

    def close(self, exit_code: int = 0) -> None:
        """Close the JSONL file and the wandb runs without writing ``final.json`` (e.g. on a crash;
        the run can be resumed later)."""
        self._close_wandb(exit_code)
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exit_code=0 if exc_type is None else 1)
