"""Run logging: an append-only local JSONL record, always, plus one Weights & Biases run per seed.

The trainer vmaps seeds into one process, but every seed is an independent experiment for the
statistics, so each seed gets its own log stream: one JSONL line per seed per :meth:`RunLogger.log`
call and one wandb run per seed (named ``<run_id>-seed<k>``, grouped so the wandb UI can average
them).

wandb is used when asked for (``use_wandb=True``, ``offrl train --wandb``) or when the user has
configured it (``$WANDB_MODE``, ``$WANDB_API_KEY``, a ``wandb login`` in ``~/.netrc`` or a wandb
settings file; :func:`wandb_mode`); otherwise the logger says once where the JSONL record is. Asked
for without a login it logs offline (upload later with ``wandb sync``). It never blocks training: a
missing package or a failing or slow ``wandb.init`` falls back to the JSONL record with a warning.

Files written under ``run_dir`` (the results contract read by :mod:`offrl.evaluation.results`):
``config.json`` (atomic), ``metrics.jsonl`` (append-only; rewound atomically on resume) and
``final.json`` (atomic, written once).

Resuming: a trainer that restarts a killed run from a checkpoint of step N passes ``resume=True,
resume_from_step=N``; records after step N are dropped (they are logged again as the run repeats
those steps), the same wandb runs are resumed, and the restart is announced. Used as a context
manager, the logger turns SIGTERM into ``KeyboardInterrupt`` like Ctrl-C, never splits one
:meth:`~RunLogger.log` call, and on an interrupt says how to resume.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import json
import math
import netrc
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import numpy as np
import tyro

from offrl.errors import ConfigError, OffrlError
from offrl.process import in_main_thread

__all__ = ["EVALUATION_CHECKPOINTED", "RunLogger", "TimeSpent", "WandbSwitch", "atomic_write_json", "config_group",
           "run_timing", "to_jsonable", "wandb_configured", "wandb_mode"]

# Keys every JSONL line carries; metrics may not reuse them.
_RESERVED = ("kind", "step", "seed", "time")
_INIT_TIMEOUT_S = 30.0
# Config keys that differ between runs of the same experiment (the code stamp: jobs of one sweep on
# machines with and without a git checkout); left out of the default wandb group.
_PER_RUN_KEYS = ("seeds", "seed", "run_id", "results_dir", "code", "code_resumed_with")


class TimeSpent:
    """Where a run's wall time goes, part by part: ``with spent("eval"): ...`` adds the block's seconds
    to that part; :attr:`seconds` goes into ``final.json`` as ``time_s``; :meth:`line` is one
    human-readable line (``train 80 s, eval 55 s, ...``)."""

    def __init__(self, parts: Sequence[str]):
        self.seconds: dict[str, float] = dict.fromkeys(parts, 0.0)

    @contextlib.contextmanager
    def __call__(self, part: str):
        t = time.time()
        try:
            yield
        finally:
            self.seconds[part] += time.time() - t

    def line(self) -> str:
        return ", ".join(f"{part.replace('_', ' ')} {v:.0f} s" for part, v in self.seconds.items())


#: What a trainer's evaluation and its checkpoint are called in :meth:`RunLogger.finishing`'s message.
EVALUATION_CHECKPOINTED = "this evaluation is done and checkpointed"


def run_timing(t0: float, earlier_wall: float, resumed_from_step: int | None, spent: TimeSpent) -> dict[str, Any]:
    """``final.json``'s timing and machine: ``wall_time_s``, the run's training wall time over all its
    attempts (this one since ``t0``, plus ``earlier_wall``: what the checkpoint it resumed from says the
    attempts before had spent up to it, so work redone after a kill counts once); ``time_s``, where this
    attempt's time went; ``machine`` (:func:`offrl.provenance.machine_card`); ``finished_at`` (UTC,
    ``2026-12-07T12:05:31Z``: in the file itself, since a copied or checked-out run folder loses its
    files' times, and a recorded table row dates the run by it); a resumed run adds ``resumed_from_step``
    and ``attempt_wall_time_s``. Rates read from finished runs (``offrl sweep plan``'s time left) so stay
    true for runs stopped and resumed, on this machine or another."""
    from offrl.provenance import machine_card

    attempt = time.time() - t0
    out: dict[str, Any] = {"wall_time_s": earlier_wall + attempt, "time_s": dict(spent.seconds),
                           "machine": machine_card(),
                           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if resumed_from_step is not None:
        out.update(resumed_from_step=resumed_from_step, attempt_wall_time_s=attempt)
    return out


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


_SWITCH_WORDS = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False,
                 "0": False, "auto": None, "none": None}


def _parse_wandb_switch(args: list[str]) -> bool | None:
    if not args:  # the bare flag: --wandb
        return True
    if len(args) > 1 or args[0].lower() not in _SWITCH_WORDS:
        raise ValueError(f"expected on, off or auto (or the bare flag), got {' '.join(args)!r}")
    return _SWITCH_WORDS[args[0].lower()]


WandbSwitch = Annotated[bool | None, tyro.constructors.PrimitiveConstructorSpec(
    nargs="*", metavar="[on|off|auto]", instance_from_str=_parse_wandb_switch,
    is_instance=lambda x: x is None or isinstance(x, bool),
    str_from_instance=lambda x: ["auto" if x is None else ("on" if x else "off")])]
"""Type of a ``use_wandb`` config field on the command line: ``--wandb`` (or ``--wandb on``) asks for
wandb, ``--wandb off`` refuses it, ``auto`` (the default, ``None``) uses it when configured."""


def _wandb_settings() -> tuple[str | None, Path | None]:
    """``(mode, file)`` from wandb's settings files (``wandb online``/``offline``/``login`` write
    them): the local ``<WANDB_DIR or .>/wandb/settings`` wins over the global one. An ``api_key``
    there counts as ``online``."""
    config_dir = os.environ.get("WANDB_CONFIG_DIR")
    global_file = Path(config_dir).expanduser() / "settings" if config_dir else Path.home() / ".config" / "wandb" / "settings"
    local_file = Path(os.environ.get("WANDB_DIR") or ".").expanduser() / "wandb" / "settings"
    for path in (local_file, global_file):
        parser = configparser.ConfigParser()
        try:
            if not parser.read(path) or not parser.has_section("default"):
                continue
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        mode = parser.get("default", "mode", fallback="").strip().lower()
        if mode:
            return mode, path
        if parser.get("default", "api_key", fallback="").strip():
            return "online", path
    return None, None


def _netrc_login() -> Path | None:
    """The netrc file holding a wandb API key for ``$WANDB_BASE_URL`` (``wandb login`` writes it)."""
    path = Path(os.environ["NETRC"]).expanduser() if os.environ.get("NETRC") else None
    if path is None:
        path = next((p for p in (Path.home() / ".netrc", Path.home() / "_netrc") if p.is_file()), None)
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").netloc
    if path is None or not host:
        return None
    try:
        creds = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    return path if creds and creds[2] else None


def wandb_configured() -> str | None:
    """What configures wandb on this machine, in words (``"WANDB_API_KEY"``, ``"a wandb login in
    ~/.netrc"`` ...), or None when nothing does."""
    for var in ("WANDB_MODE", "WANDB_API_KEY"):
        if os.environ.get(var, "").strip():
            return var
    login = _netrc_login()
    if login is not None:
        return f"a wandb login in {login}"
    mode, path = _wandb_settings()
    return f"mode={mode} in {path}" if mode else None


def wandb_mode(use_wandb: bool | None = None) -> str:
    """The wandb mode of a run.

    ``use_wandb=False``: ``disabled``. Otherwise ``$WANDB_MODE`` when set; else the mode of a wandb
    settings file; else ``online`` with ``$WANDB_API_KEY`` or a ``wandb login``; else, with nothing
    configured, ``offline`` when wandb was asked for (``use_wandb=True``: stored locally, upload later
    with ``wandb sync``) and ``disabled`` when it was not (``None``, the default).
    """
    if use_wandb is False:
        return "disabled"
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode:
        return mode
    mode, _ = _wandb_settings()
    if mode:
        return mode
    if os.environ.get("WANDB_API_KEY", "").strip() or _netrc_login() is not None:
        return "online"
    return "offline" if use_wandb else "disabled"


def _disabled_by() -> str:
    """The setting that disables wandb, in words (``WANDB_MODE=disabled``, ``mode=disabled in <file>``)."""
    mode = os.environ.get("WANDB_MODE", "").strip()
    if mode:
        return f"WANDB_MODE={mode}"
    mode, path = _wandb_settings()
    return f"mode={mode} in {path}" if mode else "wandb settings"


def _say(message: str) -> None:
    """One line for the person running the command (stderr, so piped output stays clean)."""
    print(message, file=sys.stderr, flush=True)


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
      use_wandb: ``True`` logs to wandb (offline when no login is configured; warns when it cannot);
        ``None`` (default) logs to wandb only when the user configured it (:func:`wandb_mode`) and
        otherwise says once where the JSONL record is; ``False`` never touches wandb.
      resume: continue a killed run in the same records: its ``metrics.jsonl`` and the same wandb
        run ids (``<run_id>-seed<k>``, resumed, not new runs). Announced on stderr as ``resuming
        <run_id> from step N``. Without it, a run directory that already holds metrics is refused so
        that nothing is clobbered.
      resume_from_step: with ``resume``, the step of the checkpoint the run restarts from (0: no
        checkpoint, the run starts over; -1: the same for a trainer that logs at step 0 too, such as
        the continual trainer's evaluation before training). Records with a larger step are dropped from
        ``metrics.jsonl`` (one atomic rewrite) since the trainer logs those steps again, so every
        ``(kind, step, seed)`` appears once. Steps that the killed attempt already sent to wandb are
        not sent again: wandb's history only grows, so there they keep the first attempt's values
        (the same values where training is deterministic); ``metrics.jsonl`` is the record.
        ``None`` keeps every record and appends after them. A line cut off by a kill is dropped
        either way.

    Every trainer uses it the same way (the continual trainer too)::

        step0 = checkpoint_step if resuming else 0
        with RunLogger(run_dir, config, seeds, resume=resuming,
                       resume_from_step=step0 if resuming else None) as logger:
            if not resuming:
                logger.write_config()
            for step in ...:
                logger.log(step, metrics)
                save_checkpoint(step); logger.checkpointed(step)
            logger.finish(final)

    Inside ``with`` (or between :meth:`catch_interrupts` and :meth:`close`/:meth:`abort`), SIGTERM
    (``kill``) raises ``KeyboardInterrupt`` as Ctrl-C does, an interrupt arriving during :meth:`log`
    waits until that call has written every seed's line, and on an interrupt the logger prints
    where the run stopped and ``rerun the same command to resume``.

    Attributes:
      last_step: the highest step logged so far (on resume: the step resumed from).
      checkpoint_step: the step of the latest checkpoint reported by :meth:`checkpointed` (on
        resume: ``resume_from_step`` when > 0), or None.
      wandb_mode: ``online``, ``offline`` or ``disabled``, as it ended up.

    Raises:
      OffrlError: the run already finished (``final.json`` exists), or it has metrics and
        ``resume`` is off.
      ConfigError: bad seeds, or ``resume_from_step`` without ``resume`` or negative.
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
        resume_from_step: int | None = None,
        tags: Sequence[str] = (),
    ):
        self.run_dir = Path(run_dir)
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise ConfigError("seeds: at least one seed is needed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: duplicates in {self.seeds}")
        if resume_from_step is not None:
            if not resume:
                raise ConfigError("resume_from_step is only meaningful with resume=True")
            if int(resume_from_step) < -1:
                raise ConfigError(f"resume_from_step={resume_from_step} must be >= -1")
            resume_from_step = int(resume_from_step)
        self.config = dict(config)
        self.config.setdefault("run_id", self.run_dir.name)
        self.config["seeds"] = list(self.seeds)
        if "offrl_version" not in self.config:
            from offrl import __version__

            self.config["offrl_version"] = __version__
        if "code" not in self.config:  # which code trains (offrl.provenance): run ids do not say
            from offrl.provenance import code_stamp

            self.config["code"] = code_stamp()
        self.run_id = str(self.config["run_id"])
        self.resume = resume
        self.resume_from_step = resume_from_step
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
        # highest step per kind that an earlier attempt logged (and sent to wandb)
        self._logged_before: dict[str, int] = {}
        self.last_step: int | None = None
        self.checkpoint_step: int | None = resume_from_step or None
        self.checkpoint_where: str | None = None
        if resume:
            dropped = self._rewind(resume_from_step)
            logged = list(self._logged_before.values())
            self.last_step = resume_from_step if resume_from_step is not None else max(logged, default=None)
            _say(f"resuming {self.run_id} from step {self.last_step or 0} ({self.run_dir})"
                 + (f"; {dropped} record(s) after step {resume_from_step} dropped, they are logged again"
                    if dropped else ""))
        self._file = open(self.metrics_path, "a", encoding="utf-8")
        self._finished = False
        self._wandb_runs: list[Any] = []
        self._signals: dict[int, Any] = {}
        self._writing = 0  # depth of uninterrupted() bodies (a log call, a checkpoint being written)
        self._finishing: str | None = None  # what finishing() lets end before an interrupt, in words
        self._pending_signal: int | None = None
        self._agent_run = False
        self.wandb_mode = "disabled"
        off_because = self._init_wandb(use_wandb)
        if self.wandb_mode == "disabled" and use_wandb is None:
            _say(f"{self.run_id}: metrics are recorded in {self.metrics_path} (wandb off: {off_because})")

    # ------------------------------------------------------------------ wandb

    def _init_wandb(self, use_wandb: bool | None) -> str:
        """Start one wandb run per seed when wandb is wanted; returns why it is off otherwise."""
        explicit = use_wandb is True
        mode = wandb_mode(use_wandb)
        if mode == "disabled":
            if use_wandb is False:
                return "use_wandb=False"
            if wandb_configured() is None:
                return "not configured; pass --wandb (use_wandb=True) or log in with `wandb login` to use it"
            if explicit:
                warnings.warn(f"--wandb on (use_wandb=True), but wandb is disabled by {_disabled_by()}; "
                              "logging to JSONL only", stacklevel=3)
            return f"disabled by {_disabled_by()}"
        try:
            import wandb
        except ImportError:
            if explicit or wandb_configured():
                warnings.warn("wandb is not installed (pip install 'offrl[wandb]'); logging to JSONL only",
                              stacklevel=3)
            return "the wandb package is not installed"
        runs = []
        wandb_dir = os.environ.get("WANDB_DIR") or None
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
                    dir=wandb_dir,
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
            return "wandb.init failed"
        self._wandb_runs = runs
        self.wandb_mode = mode
        if mode == "offline":
            where = Path(wandb_dir or ".") / "wandb"
            _say(f"{self.run_id}: wandb runs stored offline under {where}/offline-run-* (no wandb login found); "
                 f"upload them with `wandb sync {where}/offline-run-*`")
        return ""

    # ------------------------------------------------------------------ files

    def _rewind(self, step: int | None) -> int:
        """Drop records with a step after ``step`` (all of them kept when None) and a last line cut
        off by a kill, in one atomic rewrite; remember the highest step per kind that was logged.
        Returns the number of records dropped."""
        if not self.metrics_path.exists() or self.metrics_path.stat().st_size == 0:
            return 0
        lines = self.metrics_path.read_bytes().split(b"\n")
        cut_off = lines.pop()  # the text after the last newline: empty unless a write was cut off
        kept: list[bytes] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                kind, record_step = str(record["kind"]), int(record["step"])
            except (ValueError, KeyError, TypeError):
                kept.append(line)  # not ours to judge: readers skip what they cannot parse
                continue
            self._logged_before[kind] = max(self._logged_before.get(kind, record_step), record_step)
            if step is None or record_step <= step:
                kept.append(line)
        dropped = sum(1 for line in lines if line.strip()) - len(kept)
        if dropped or cut_off:
            from offrl.atomic import atomic_file

            with atomic_file(self.metrics_path) as tmp, open(tmp, "wb") as f:
                f.write(b"".join(line + b"\n" for line in kept))
                f.flush()
                os.fsync(f.fileno())
        return dropped

    def write_config(self) -> Path:
        """Write ``config.json`` atomically. On resume an existing config must match (except
        ``offrl_version`` and the code stamp), since a resumed run with other settings would not be the
        same experiment. A run resumed on other code keeps the stamp it started with under ``code`` and
        adds the current one to ``code_resumed_with`` (:mod:`offrl.provenance`)."""
        code_keys = ("offrl_version", "code", "code_resumed_with")
        if self.config_path.exists() and self.resume:
            try:
                old = json.loads(self.config_path.read_text())
            except (OSError, json.JSONDecodeError):
                old = None
            if isinstance(old, dict):
                new = to_jsonable(self.config)
                diff = sorted(k for k in set(old) | set(new) if k not in code_keys and old.get(k) != new.get(k))
                if diff:
                    raise ConfigError(f"resumed run {self.run_id!r}: config differs from config.json in {diff}")
                if "code" in old:  # else a run from before stamps: what resumes it is the first code known
                    later = list(old.get("code_resumed_with") or [])
                    if new.get("code") != old["code"] and new.get("code") not in later:
                        later.append(new.get("code"))
                    self.config["code"] = old["code"]
                    if later:
                        self.config["code_resumed_with"] = later
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
        with self.uninterrupted():
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
            self.last_step = step if self.last_step is None else max(self.last_step, step)
            if self._wandb_runs and step > self._logged_before.get(kind, -1):
                self._log_wandb(step, columns, kind)

    def _log_wandb(self, step: int, columns: dict[str, list], kind: str) -> None:
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
                warnings.warn(f"wandb log failed ({e}); continuing with JSONL only", stacklevel=3)
                self._close_wandb(exit_code=1)
                break

    def checkpointed(self, step: int, where: str | None = None) -> None:
        """Note that a checkpoint of ``step`` exists: a rerun resumes from there (said on interrupt).
        ``where``: how to name that point instead of ``step N`` (a continual run's checkpoint after a task's end
        work has a step number of its own, ``the end of task 1``)."""
        self.checkpoint_step = int(step)
        self.checkpoint_where = where

    def interrupt_message(self) -> str:
        """What to tell the person who stopped the run: where it stopped and how to resume."""
        at = f"interrupted at step {self.last_step}" if self.last_step is not None else "interrupted before step 1"
        if self.checkpoint_step:
            where = self.checkpoint_where or f"step {self.checkpoint_step}"
            return (f"{self.run_id}: {at}; rerun the same command to resume from the checkpoint of {where} "
                    f"({self.run_dir})")
        return f"{self.run_id}: {at}, before any checkpoint; rerun the same command to resume (from step 0)"

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
        the run can be resumed later), and give back the signal handlers of :meth:`catch_interrupts`."""
        self._release_signals()
        self._close_wandb(exit_code)
        if not self._file.closed:
            self._file.close()

    def abort(self, error: BaseException) -> None:
        """Close after ``error`` stopped the run; on an interrupt (Ctrl-C, ``kill``) say where the run
        stopped and ``rerun the same command to resume``."""
        if isinstance(error, KeyboardInterrupt) and not self._finished:
            _say(self.interrupt_message())
        self.close(exit_code=1)

    # ------------------------------------------------------------------ interrupts

    def catch_interrupts(self) -> None:
        """Until :meth:`close`: SIGTERM raises ``KeyboardInterrupt`` as Ctrl-C does, and neither
        splits a :meth:`log` call (it is raised once that call has written every seed's line). Only
        in the main thread and only for signals that still have Python's default handler, so a host
        application's own handlers stay in charge. ``with RunLogger(...)`` calls it."""
        if self._signals or not in_main_thread():
            return
        for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
            if signal.getsignal(signum) is default:
                self._signals[signum] = signal.signal(signum, self._on_signal)

    def _release_signals(self) -> None:
        signals, self._signals = self._signals, {}
        for signum, previous in signals.items():
            signal.signal(signum, previous)

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._writing or self._finishing is not None:
            if self._pending_signal is None:
                self._pending_signal = signum  # raised once the write (or what finishing() names) is done
                if self._finishing is not None:
                    print(f"{name}: stopping once {self._finishing} (send it again to stop now; the run then "
                          "resumes from the checkpoint before)", file=sys.stderr, flush=True)
                return
            if not self._writing:  # a second signal while finishing: now, but never inside a write
                self._pending_signal = None
                raise KeyboardInterrupt(name)
            return
        raise KeyboardInterrupt(name)

    def _raise_pending(self) -> None:
        if self._pending_signal is not None and not self._writing and self._finishing is None:
            signum, self._pending_signal = self._pending_signal, None
            raise KeyboardInterrupt(signal.Signals(signum).name)

    @contextlib.contextmanager
    def uninterrupted(self) -> Iterator[None]:
        """Run the body without an interrupt of :meth:`catch_interrupts`'s handlers in between (a
        :meth:`log` call, a checkpoint being written): one arriving meanwhile is raised after it (after
        the enclosing :meth:`finishing` body, inside one)."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1
        self._raise_pending()

    @contextlib.contextmanager
    def finishing(self, what: str) -> Iterator[None]:
        """Let the body (an evaluation and the checkpoint that records it; ``what`` names it, e.g.
        :data:`EVALUATION_CHECKPOINTED`) end before an interrupt of :meth:`catch_interrupts`'s handlers: the
        first one is announced and raised after the body, so that the run resumes from the checkpoint the
        body writes rather than the one before, its training since then kept; a second one is raised at
        once (outside a write)."""
        self._finishing = what
        try:
            yield
        finally:
            self._finishing = None
        self._raise_pending()

    def __enter__(self) -> RunLogger:
        self.catch_interrupts()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)
