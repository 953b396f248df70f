"""Where a sweep's runs execute: in this process, in K child processes per GPU, or as Ray tasks.

Every backend runs a run the same way, :func:`execute` (the kind's ``run``, which writes
``results/<run_id>/``), so a run's folder does not depend on where it ran, and every backend reports
one :class:`Outcome` per run. Failures are sorted into *expected* ones (an :class:`OffrlError`: a
bad dataset, a diverged run; one line, never retried) and *unexpected* ones (anything else: retried
up to ``retries`` times, then reported with their traceback). A run whose folder is locked by another
launcher (:mod:`offrl.runlock`) is put back and started once that launcher lets go of it; by then it
is usually finished, and the run returns its ``final.json`` (its outcome says it was trained elsewhere).
Where a run executes, the launcher's plugin modules (:mod:`offrl.plugins`) are imported first: a child
process finds them in ``$OFFRL_PLUGINS`` (:func:`child_env`), a Ray task in its payload
(:func:`_ray_payload`).

* :class:`InProcessBackend`: one run after another in this process (``--parallel 1`` on one device).
* :class:`ProcessBackend`: one queue feeding K child processes per GPU (``CUDA_VISIBLE_DEVICES``
  pins each to its GPU; ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` and a memory fraction of 0.95/K let
  K share it, :func:`share_gpu`); on a machine without GPUs, K processes. With ``devices_per_run`` N
  the GPUs are split into groups of N and each run takes a group (its seeds sharded over the N GPUs,
  ``devices=N``; :mod:`offrl.sharding`), K runs per group.
* :class:`RayBackend`: each run a Ray task asking for its GPU fraction and CPUs; Ray's scheduler
  places them and Ray's ``max_retries`` / ``retry_exceptions`` retry them.

Ctrl-C (SIGINT; SIGTERM and SIGHUP too) stops the runs in flight the way an
interrupted ``offrl train`` stops: at the latest at the end of the current chunk, with every checkpoint
written so far intact. Running the same command again skips finished runs and resumes the others. A
child process stopped or killed by anything but the launcher (a ``kill``, the OOM killer) is a lost
worker: its run is retried and resumes from its last checkpoint.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offrl.errors import ConfigError, OffrlError
from offrl.plugins import ENV_VAR as PLUGINS_VAR
from offrl.plugins import PluginError, load_plugins, loaded_plugins, plugin_modules
from offrl.process import in_main_thread
from offrl.sweep.kinds import RunKind, get_kind

__all__ = ["InProcessBackend", "Outcome", "ProcessBackend", "RayBackend", "execute", "gpu_groups", "visible_gpus",
           "without_progress"]

LOCK_POLL_S = 1.0
INTERRUPT_GRACE_S = 120.0  # how long a child may take to stop cleanly after SIGINT before SIGKILL
LOG_NAME = "sweep.log"  # a child process's output, in its run folder


@dataclasses.dataclass
class Outcome:
    """How one run ended."""

    run_id: str
    status: str
    """``finished`` | ``failed`` | ``locked`` (another process trains it) | ``interrupted`` | ``not started``
    (its backend's ``start_until`` had passed)."""
    final: dict | None = None
    error: str | None = None
    """one line: ``ErrorType: message`` (for ``interrupted``: how the run stopped, where that is known)."""
    traceback: str | None = None
    """set for unexpected errors only."""
    attempts: int = 1
    trained_elsewhere: bool = False
    """set for a finished run that was finished when it started here: another process (a launcher whose
    lock it waited for, an ``offrl train``) trained it, and this one only read its ``final.json``."""

    @property
    def expected(self) -> bool:
        return self.status == "failed" and self.traceback is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Report = Callable[[Outcome], None]


def execute(kind: RunKind, config) -> Outcome:
    """Run one config in this process and sort how it ended (KeyboardInterrupt passes through)."""
    from offrl.runlock import RunLockedError

    finished_before = _is_finished(config)
    try:
        return Outcome(config.run_id, "finished", final=kind.run(config), trained_elsewhere=finished_before)
    except RunLockedError as e:
        return Outcome(config.run_id, "locked", error=str(e))
    except OffrlError as e:
        return Outcome(config.run_id, "failed", error=f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - reported with its traceback; the sweep goes on
        return Outcome(config.run_id, "failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())


def payload(kind: RunKind, config) -> dict[str, Any]:
    """A run as plain JSON data (for a child process or a Ray task)."""
    from offrl.logging import to_jsonable

    return {"kind": kind.name, "config": to_jsonable(dataclasses.asdict(config))}


def from_payload(data: dict[str, Any]) -> tuple[RunKind, Any]:
    kind = get_kind(data["kind"])
    return kind, kind.from_dict(data["config"])


def _run_dir(config) -> Path:
    return Path(config.results_dir) / config.run_id


def _is_finished(config) -> bool:
    """Whether the run has its ``final.json``: looked at just before a run starts, so that one another
    process finished meanwhile (the launcher holding its lock) is not reported as trained here."""
    return (_run_dir(config) / "final.json").is_file()


def without_progress(config):
    """``config`` without its progress bar (configs of kinds without one are returned as they are).

    The child processes and Ray tasks of a launcher always run so: they share one output (the launcher's
    terminal, Ray's driver, which prefixes every line of a task's bar), where bars help nobody. Runs in the
    launcher's own process run so under ``offrl sweep --no-progress``."""
    return dataclasses.replace(config, progress=False) if hasattr(config, "progress") else config


class _Deferred:
    """Runs locked by another launcher, handed back once their lock is free."""

    def __init__(self):
        self.items: list[Any] = []

    def add(self, item) -> None:
        self.items.append(item)

    def ready(self, config_of: Callable[[Any], Any] = lambda x: x) -> list:
        from offrl.runlock import is_locked

        free = [x for x in self.items if not is_locked(_run_dir(config_of(x)))]
        self.items = [x for x in self.items if x not in free]
        return free

    def __bool__(self) -> bool:
        return bool(self.items)


def _held_elsewhere(config, deferred: _Deferred, item, report: Report) -> bool:
    """Put a run another process trains aside (before loading its data) and say so."""
    from offrl.runlock import holder

    owner = holder(_run_dir(config))
    if owner is None:
        return False
    deferred.add(item)
    pid = f" (pid {owner['pid']})" if owner.get("pid") else ""
    report(Outcome(config.run_id, "waiting", error=f"another process{pid} is training it"))
    return True


SCRATCH_PREFIX = "offrl-sweep-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def scratch_folder() -> Path:
    """A new folder for this launcher's run specs and outcomes (``$TMPDIR/offrl-sweep-<pid>-*``), removed
    when the launcher ends. Folders of launchers that no longer exist (killed with SIGKILL, which no
    ``finally`` outlives) are removed first, so that they do not pile up."""
    root = Path(tempfile.gettempdir())
    for old in root.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = old.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))


def _too_late(start_until: float | None) -> bool:
    """Whether no run may start any more (``start_until``: a :func:`time.monotonic` value, or None)."""
    return start_until is not None and time.monotonic() >= start_until


def _not_started(items, report: Report, out: dict[str, Outcome]) -> None:
    """Report every run of ``items`` ((config, attempt) pairs) as not started: the time to start runs is
    over; they resume, or start, when the same sweep runs again."""
    for config, attempt in items:
        o = Outcome(config.run_id, "not started", error="the time to start runs (--start-within) was over",
                    attempts=attempt - 1)
        out[config.run_id] = o
        report(o)


# ---------------------------------------------------------------------------- in this process
@dataclasses.dataclass
class InProcessBackend:
    """One run after another in this process (each still trains all its seeds at once).

    ``start_until`` (a :func:`time.monotonic` value): no run starts after it; those left are reported
    ``not started`` (for a job with a time limit, where a run started late would be stopped midway)."""

    retries: int = 1
    wait_locked: bool = True
    start_until: float | None = None

    def run(self, kind: RunKind, configs: list, report: Report) -> dict[str, Outcome]:
        queue = collections.deque((c, 1) for c in configs)
        deferred, out = _Deferred(), {}
        while queue or deferred:
            if _too_late(self.start_until):
                _not_started([*queue, *deferred.items], report, out)
                break
            if not queue:
                time.sleep(LOCK_POLL_S)
                queue.extend(deferred.ready(lambda x: x[0]))
                continue
            config, attempt = queue.popleft()
            if self.wait_locked and _held_elsewhere(config, deferred, (config, attempt), report):
                continue
            res = execute(kind, config)
            res.attempts = attempt
            if res.status == "locked" and self.wait_locked:
                deferred.add((config, attempt))
                report(dataclasses.replace(res, status="waiting"))
                continue
            if res.status == "failed" and res.traceback and attempt <= self.retries:
                report(dataclasses.replace(res, status="retrying"))
                queue.append((config, attempt + 1))
                continue
            out[config.run_id] = res
            report(res)
        return out


# ---------------------------------------------------------------------------- child processes
def visible_gpus(spec: str | None = None) -> list[str]:
    """GPU ids to place runs on: ``spec`` ("0,1"; "" for none), else ``$CUDA_VISIBLE_DEVICES``, else
    what ``nvidia-smi`` lists, else none (CPU)."""
    if spec is None:
        spec = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        smi = shutil.which("nvidia-smi")
        if not smi:
            return []
        try:
            res = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            return []
        return [line.strip() for line in res.stdout.splitlines() if line.strip()]
    return [g.strip() for g in spec.split(",") if g.strip() and g.strip() != "-1"]


def gpu_groups(gpus: list[str], per_run: int) -> list[str]:
    """``gpus`` split into consecutive groups of ``per_run``, each as ``CUDA_VISIBLE_DEVICES`` text
    (``["0", "1", "2", "3"]``, 2 -> ``["0,1", "2,3"]``).

    Raises:
      ConfigError: ``per_run`` < 1, or the GPUs do not split evenly (an idle GPU is a mistake to report,
        not to make silently; ``--gpus`` chooses which ones to use).
    """
    if per_run < 1:
        raise ConfigError(f"--devices-per-run {per_run} must be >= 1")
    if len(gpus) < per_run or len(gpus) % per_run:
        raise ConfigError(f"--devices-per-run {per_run}: the {len(gpus)} visible GPU(s) {','.join(gpus) or '(none)'} "
                          f"do not split into groups of {per_run}; choose a multiple of {per_run} with --gpus "
                          "(or CUDA_VISIBLE_DEVICES)")
    return [",".join(gpus[i:i + per_run]) for i in range(0, len(gpus), per_run)]


def child_env(gpu: str | None, per_gpu: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process on ``gpu`` (None: CPU; ``"0,1"``: a group of GPUs) sharing
    it with ``per_gpu - 1`` others. The XLA memory variables are left alone where the user set them."""
    env = dict(os.environ if base is None else base)
    env["PYTHONUNBUFFERED"] = "1"
    if plugins := plugins_to_pass_on(env):  # the worker imports them (offrl.plugins) before it reads its run
        env[PLUGINS_VAR] = ",".join(plugins)
    env.pop(ASSIGNED_GPU_VAR, None)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
        env[ASSIGNED_GPU_VAR] = gpu  # the worker checks that JAX did not fall back to the CPU
    if per_gpu > 1:
        share_gpu(env, 0.95 / per_gpu)
    return env


def plugins_to_pass_on(env: dict[str, str] | None = None) -> list[str]:
    """The plugin modules a run started from here must import before it reads its run: those this
    process has imported (:func:`offrl.plugins.load_plugins`; a launcher started from Python may have
    passed them as arguments) and those ``env``'s ``$OFFRL_PLUGINS`` names (default: this process's)."""
    named = (os.environ if env is None else env).get(PLUGINS_VAR, "")
    return plugin_modules(",".join([*loaded_plugins(), named]))


#: set by the launcher in a child given GPUs: the worker refuses to train on the CPU instead
#: (:func:`offrl.sweep.worker.gpu_fallback_error`)
ASSIGNED_GPU_VAR = "OFFRL_SWEEP_GPUS"

# JAX's names of the memory cap: the first is read by every JAX version (newer ones as a deprecated
# alias of the second). Only one may be set: JAX's GPU plugin refuses to start when both are, and the
# process then falls back to the CPU.
MEM_FRACTION_VARS = ("XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION")


def share_gpu(env: dict[str, str], fraction: float) -> dict[str, str]:
    """Let a process share its GPU: allocate on demand instead of a fixed 75% up front, capped at
    ``fraction`` of the GPU's memory, unless the user set these variables."""
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if not any(v in env for v in MEM_FRACTION_VARS):
        env[MEM_FRACTION_VARS[0]] = f"{fraction:.3f}"
    return env


@dataclasses.dataclass
class _Child:
    proc: subprocess.Popen
    config: Any
    attempt: int
    result_path: Path
    log_path: Path
    slot: int
    wall_s: float = 0.0
    """seconds it has run, as the launcher counts them (from its start to the poll that saw it end)."""
    alone_s: float = 0.0
    """the same seconds, each divided by the number of children then running on its GPU."""


@dataclasses.dataclass
class ProcessBackend:
    """One queue of runs feeding ``per_gpu`` child processes on each GPU (or ``per_gpu`` processes on
    the CPU). Each child runs :mod:`offrl.sweep.worker` and writes its output to
    ``results/<run_id>/sweep.log``.

    ``devices_per_run`` > 1: each run takes that many GPUs (:func:`gpu_groups`; ``per_gpu`` runs share
    each group) and its config's ``devices`` is set to that count, so that it shards its seeds over
    them: the launcher decides where a run computes, and ``devices`` changes no number."""

    per_gpu: int = 2
    gpus: list[str] = dataclasses.field(default_factory=list)
    retries: int = 1
    wait_locked: bool = True
    poll_s: float = 0.2
    devices_per_run: int = 1
    start_until: float | None = None
    """a :func:`time.monotonic` value after which no run starts (runs in flight go on); those left are
    reported ``not started``."""

    @property
    def slots(self) -> list[str | None]:
        """Where each concurrent child runs: a GPU id, a group ``"0,1"`` of GPUs, or None (CPU)."""
        if not self.gpus:
            return [None] * self.per_gpu
        groups = gpu_groups(self.gpus, self.devices_per_run) if self.devices_per_run > 1 else self.gpus
        return [g for g in groups for _ in range(self.per_gpu)]

    def run(self, kind: RunKind, configs: list, report: Report) -> dict[str, Outcome]:
        from offrl.sweep.plan import record_device_share  # imported where used, as checkpoint_step below

        if self.devices_per_run > 1:
            if not self.gpus:
                raise ConfigError(f"--devices-per-run {self.devices_per_run} needs GPUs; none are visible")
            lacking = sorted({type(c).__name__ for c in configs if not hasattr(c, "devices")})
            if lacking:
                raise ConfigError(f"--devices-per-run: runs of kind {kind.name!r} ({', '.join(lacking)}) have no "
                                  "devices option and cannot use several GPUs")
        slots = self.slots
        queue = collections.deque((c, 1) for c in configs)
        deferred, out = _Deferred(), {}
        running: dict[int, _Child] = {}
        tmp = scratch_folder()
        previous = _catch_stop_signals() if in_main_thread() else {}
        last_tick = time.monotonic()
        try:
            while queue or running or deferred:
                now = time.monotonic()
                _count_sharing(running, slots, now - last_tick)  # the children that ran in that interval
                last_tick = now
                if (queue or deferred) and _too_late(self.start_until):
                    _not_started([*queue, *deferred.items], report, out)
                    queue.clear()
                    deferred.items.clear()
                    continue
                free = [i for i in range(len(slots)) if i not in running]
                while free and not queue and deferred:
                    ready = deferred.ready(lambda x: x[0])
                    if not ready:
                        break
                    queue.extend(ready)
                while free and queue:
                    config, attempt = queue.popleft()
                    if self.wait_locked and _held_elsewhere(config, deferred, (config, attempt), report):
                        continue
                    slot = free.pop(0)
                    running[slot] = self._start(kind, config, attempt, slot, slots[slot], tmp)
                for slot, child in list(running.items()):
                    if child.proc.poll() is None:
                        continue
                    del running[slot]
                    res = _read_outcome(child)
                    if res.status == "interrupted":
                        # the launcher signals its children only in its own stop below, which reads no
                        # outcome: this one was stopped from outside (a `kill`, the OOM killer's
                        # SIGTERM), as a SIGKILLed one is, and is retried the same way
                        res = _lost(child, "was stopped by a signal the launcher did not send (its checkpoints "
                                           "are kept)")
                    if res.status == "locked" and self.wait_locked:
                        deferred.add((child.config, child.attempt))
                        report(dataclasses.replace(res, status="waiting"))
                    elif res.status == "failed" and res.traceback and child.attempt <= self.retries:
                        report(dataclasses.replace(res, status="retrying"))
                        queue.append((child.config, child.attempt + 1))
                    else:
                        if res.status == "finished" and not res.trained_elsewhere and slots[slot] is not None:
                            # not on the CPU: processes there share cores, not one device in turn
                            record_device_share(_run_dir(child.config), gpu=slots[slot], runs_per_gpu=self.per_gpu,
                                                attempt=child.attempt, wall_s=child.wall_s, alone_s=child.alone_s)
                        out[res.run_id] = res
                        report(res)
                time.sleep(self.poll_s)
        except KeyboardInterrupt:
            _stop(list(running.values()))
            for child in running.values():  # read from its folder: one may have finished in the grace wait
                report(dataclasses.replace(_cancelled(child.config), attempts=child.attempt))
            raise
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            shutil.rmtree(tmp, ignore_errors=True)
        return out

    def _start(self, kind: RunKind, config, attempt: int, slot: int, gpu: str | None, tmp: Path) -> _Child:
        config = without_progress(config)
        if gpu is not None and self.devices_per_run > 1:
            config = dataclasses.replace(config, devices=self.devices_per_run)  # its seeds over its GPUs
        spec = tmp / f"{config.run_id}.{attempt}.json"
        # the launcher's pid: the worker asks to be stopped when this process ends (worker.die_with_launcher)
        spec.write_text(json.dumps({**payload(kind, config), "launcher": os.getpid()}))
        result = tmp / f"{config.run_id}.{attempt}.outcome.json"
        log_path = _run_dir(config) / LOG_NAME
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} attempt {attempt}, "
                      f"{'GPU ' + gpu if gpu is not None else 'CPU'}\n".encode())
            log.flush()
            # a process group of its own: Ctrl-C in the terminal reaches the launcher only, which then
            # sends each child exactly one SIGINT (a second one could cut its cleanup short)
            proc = subprocess.Popen([sys.executable, "-m", "offrl.sweep.worker", str(spec), str(result)],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=child_env(gpu, self.per_gpu), start_new_session=True)
        return _Child(proc, config, attempt, result, log_path, slot)


def _count_sharing(running: dict[int, _Child], slots: list[str | None], seconds: float) -> None:
    """Add ``seconds`` to each running child's wall time, and to its share of its GPU that time divided
    by the children then running on that GPU: they take turns on it (benchmarks/RESULTS.md, "Sweep
    packing"), so each got about that fraction of it."""
    on_device = collections.Counter(slots[s] for s in running)
    for slot, child in running.items():
        child.wall_s += seconds
        child.alone_s += seconds / on_device[slots[slot]]


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _catch_stop_signals() -> dict[int, Any]:
    """Make SIGTERM (a scheduler, ``kill``) and SIGHUP (the launcher's terminal closed) stop the
    children as cleanly as Ctrl-C does; returns the handlers they replaced. The children run in
    process groups of their own, so no terminal signal reaches them: they would train on unattended.
    A SIGHUP that is ignored (``nohup``) or handled by the host application stays so."""
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt)}
    hup = getattr(signal, "SIGHUP", None)  # POSIX only
    if hup is not None and signal.getsignal(hup) is signal.SIG_DFL:
        previous[hup] = signal.signal(hup, _raise_interrupt)
    return previous


def _stop_signal_handlers() -> dict[int, Any]:
    """The handlers of the signals :func:`_catch_stop_signals` may replace, to put back afterwards."""
    return {signum: signal.getsignal(signum)
            for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if signum is not None}


def _read_outcome(child: _Child) -> Outcome:
    try:
        data = json.loads(child.result_path.read_text())
        return Outcome(**{**data, "attempts": child.attempt})
    except (OSError, json.JSONDecodeError, TypeError):
        code = child.proc.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return _lost(child, f"ended without a result ({how})")


def _lost(child: _Child, what: str) -> Outcome:
    """A lost worker's outcome: an unexpected failure (retried within ``retries``), its output's tail
    as the traceback."""
    return Outcome(child.config.run_id, "failed", attempts=child.attempt,
                   error=f"worker process {what}; its output: {child.log_path}",
                   traceback=_tail(child.log_path) or "(no output)")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(children: list[_Child]) -> None:
    """SIGINT to every child, then wait for them to stop (SIGKILL after INTERRUPT_GRACE_S)."""
    for c in children:
        if c.proc.poll() is None:
            c.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    for c in children:
        try:
            c.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, stop them now
            for d in children:
                if d.proc.poll() is None:
                    d.proc.kill()
            raise


# ---------------------------------------------------------------------------- Ray
# Environment variables a Ray task gets from the launcher when they are set there: where data and
# wandb files live. Results go to the absolute results root written into each run's config.
FORWARDED_ENV = ("OFFRL_DATA_DIR", "D4RL_DATASET_DIR", "MINARI_DATASETS_PATH", "WANDB_MODE", "WANDB_DIR")


def _ray_payload(kind: RunKind, config) -> dict[str, Any]:
    """A run as a Ray task's argument: :func:`payload` plus the plugin modules the task imports first.

    The list travels in the payload, not in the task's environment: a Ray worker has the environment
    of the node that started it, not the launcher's, and one worker serves tasks of several launchers."""
    return {**payload(kind, config), "plugins": plugins_to_pass_on()}


def _ray_task(data: dict[str, Any]) -> dict[str, Any]:
    """The body of one run's Ray task. Expected errors come back as an outcome; anything else is
    raised, so that Ray retries it (``retry_exceptions``). The payload's plugin modules
    (:func:`_ray_payload`) are imported first, once per worker process.

    While it runs, SIGINT has Python's default handler: ``ray.cancel`` stops a running task by raising
    KeyboardInterrupt in it through ``_thread.interrupt_main()``, which does nothing where SIGINT is
    ignored, and Ray's workers inherit an ignored SIGINT from a launcher started so (``nohup``, ``cmd &``
    in a script); the run would then train to its end. The worker's handler is put back afterwards:
    Ray reuses its worker processes for other tasks."""
    if not in_main_thread():  # signal handlers can be set in the main thread only
        return _ray_task_body(data)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _ray_task_body(data)
    finally:
        if previous is not None:  # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGINT, previous)


def _ray_task_body(data: dict[str, Any]) -> dict[str, Any]:
    from offrl.runlock import RunLockedError

    try:
        load_plugins(data.get("plugins") or ())
    except PluginError as e:  # not retried: every attempt would fail the same way
        return Outcome(data["config"]["run_id"], "failed", error=f"{type(e).__name__}: {e}").to_dict()
    kind, config = from_payload(data)
    finished_before = _is_finished(config)
    try:
        final = kind.run(config)
    except RunLockedError as e:
        return Outcome(config.run_id, "locked", error=str(e)).to_dict()
    except OffrlError as e:
        return Outcome(config.run_id, "failed", error=f"{type(e).__name__}: {e}").to_dict()
    return Outcome(config.run_id, "finished", final=final, trained_elsewhere=finished_before).to_dict()


def _cancelled(config) -> Outcome:
    """The outcome of a run the launcher stopped (a cancelled Ray task, a child sent SIGINT), read from its
    folder: finished where the run wrote its ``final.json`` before the stop reached it (Ray still calls
    the task cancelled), else interrupted, saying what a rerun starts from (its newest checkpoint)."""
    from offrl.sweep.plan import checkpoint_step

    folder = _run_dir(config)
    try:
        return Outcome(config.run_id, "finished", final=json.loads((folder / "final.json").read_text()))
    except (OSError, json.JSONDecodeError):
        pass
    step = checkpoint_step(folder)
    if step is not None:
        why = f"its checkpoints are kept; a rerun resumes it at step {step:,}"
    elif (folder / "config.json").exists():
        why = "stopped before its first checkpoint; a rerun starts it again from step 0"
    else:
        why = "stopped before it started"
    return Outcome(config.run_id, "interrupted", error=why)


@dataclasses.dataclass
class RayBackend:
    """Each run one Ray task (``num_gpus=gpu_fraction``, ``num_cpus=cpus``), on the cluster at
    ``address`` (``"auto"``: the one this machine belongs to; ``None``: a new local one, unless Ray
    is already initialised in this process). Every node must see the results root at the same path.
    ``retries`` is the task's ``max_retries`` (worker or node lost) and its ``retry_exceptions``
    budget (unexpected errors)."""

    address: str | None = None
    retries: int = 1
    gpu_fraction: float | None = None
    cpus: float = 1.0
    wait_locked: bool = True
    per_gpu: int = 1

    def run(self, kind: RunKind, configs: list, report: Report) -> dict[str, Outcome]:
        if not configs:  # nothing to run: no cluster to join or start
            return {}
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray backend needs Ray: pip install 'offrl[ray]'") from None
        main = in_main_thread()
        before = _stop_signal_handlers() if main else {}
        started = False
        try:
            if not ray.is_initialized():
                ray.init(address=self.address, include_dashboard=False if self.address is None else None,
                         log_to_driver=True)
                started = True
            # ray.init gives this process a SIGTERM handler of Ray's that exits at once: a `kill` of the
            # launcher would leave its tasks uncancelled (on a cluster it joined, training on unattended)
            # and nothing reported; it stops as Ctrl-C does instead, as the local backend's launcher does
            if main:
                _catch_stop_signals()
            return self._run(ray, kind, configs, report)
        finally:
            if started:
                ray.shutdown()
            for signum, handler in before.items():  # neither Ray's handlers nor ours stay behind
                signal.signal(signum, handler)

    def _options(self, ray) -> dict[str, Any]:
        gpus = self.gpu_fraction
        if gpus is None:
            gpus = 1.0 / self.per_gpu if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        if 0 < gpus < 1:
            env.update({k: os.environ[k] for k in ("XLA_PYTHON_CLIENT_PREALLOCATE", *MEM_FRACTION_VARS)
                        if k in os.environ})
            share_gpu(env, 0.95 * gpus)
        opts: dict[str, Any] = {"num_cpus": self.cpus, "num_gpus": gpus, "max_retries": self.retries,
                                "retry_exceptions": True}
        if env:
            opts["runtime_env"] = {"env_vars": env}
        return opts

    def _run(self, ray, kind: RunKind, configs: list, report: Report) -> dict[str, Outcome]:
        task = ray.remote(_ray_task).options(**self._options(ray))
        deferred, out = _Deferred(), {}
        refs = {task.remote(_ray_payload(kind, without_progress(c))): c for c in configs
                if not (self.wait_locked and _held_elsewhere(c, deferred, c, report))}
        try:
            while refs or deferred:
                if deferred:
                    for config in deferred.ready():
                        refs[task.remote(_ray_payload(kind, without_progress(config)))] = config
                if not refs:
                    time.sleep(LOCK_POLL_S)
                    continue
                done, _ = ray.wait(list(refs), num_returns=1, timeout=LOCK_POLL_S)
                for ref in done:
                    config = refs.pop(ref)
                    res = self._result(ray, ref, config)
                    if res.status == "locked" and self.wait_locked:
                        deferred.add(config)
                        report(dataclasses.replace(res, status="waiting"))
                        continue
                    out[config.run_id] = res
                    report(res)
        except KeyboardInterrupt:
            self._stop_tasks(ray, refs, report)
            raise
        return out

    def _stop_tasks(self, ray, refs: dict, report: Report) -> None:
        """Cancel the tasks of ``refs`` (``{ref: config}``), wait up to :data:`INTERRUPT_GRACE_S` for them to
        end, and report how each ended: a running task gets KeyboardInterrupt and stops at the end of its
        chunk (``interrupted``, with what a rerun starts from), one still queued never starts, and one
        that ended before the interrupt reached it (or wrote its ``final.json`` first) is reported as it
        ended (``finished``, ``failed``)."""
        if not refs:
            return
        # newest first: a queued task is cancelled before a running one stops and frees the room it waits for
        for ref in reversed(list(refs)):
            ray.cancel(ref)
        ended, _ = ray.wait(list(refs), num_returns=len(refs), timeout=INTERRUPT_GRACE_S)
        ended = set(ended)
        for ref, config in refs.items():
            if ref in ended:
                report(self._result(ray, ref, config))
            else:
                report(Outcome(config.run_id, "interrupted",
                               error=f"still running {INTERRUPT_GRACE_S:.0f} s after it was cancelled: it may go "
                                     "on training on its node until it ends (`offrl sweep plan` shows it running "
                                     "while it does)"))

    def _result(self, ray, ref, config) -> Outcome:
        try:
            return Outcome(**ray.get(ref))
        except ray.exceptions.TaskCancelledError:  # ray.cancel: stopped by the launcher, never retried
            return _cancelled(config)
        except ray.exceptions.RayTaskError as e:  # an unexpected error, after its retries
            cause = e.cause if getattr(e, "cause", None) is not None else e
            return Outcome(config.run_id, "failed", error=f"{type(cause).__name__}: {cause}".splitlines()[0],
                           traceback=str(e), attempts=self.retries + 1)
        except ray.exceptions.RayError as e:  # the worker or its node died, after its retries
            return Outcome(config.run_id, "failed", error=f"{type(e).__name__}: {str(e).splitlines()[0]}",
                           traceback=str(e), attempts=self.retries + 1)
