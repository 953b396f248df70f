"""One sweep run in a child process: ``python -m offrl.sweep.worker RUN.json OUTCOME.json``.

Started by :class:`offrl.sweep.backends.ProcessBackend`. Reads the run (kind + config), runs it with
:func:`offrl.sweep.backends.execute` and writes the :class:`~offrl.sweep.backends.Outcome` as JSON
(atomically); the modules ``$OFFRL_PLUGINS`` names (:mod:`offrl.plugins`) are imported first, so that
a run of a plugin's algorithm, method or kind is known here. On SIGINT the run stops at the end of its
current chunk with its checkpoints intact and the outcome says ``interrupted`` (exit code 130). On
Linux the worker stops the same way (SIGTERM) when its launcher ends, however it ends
(:func:`die_with_launcher`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

#: JAX's GPU plugins: with one installed, a JAX on the CPU means the GPU failed to initialise
GPU_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin", "jax_rocm7_plugin")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_launcher(launcher: int | None) -> bool:
    """Have Linux send this process SIGTERM when its launcher (pid ``launcher``, its parent) ends.

    The launcher stops its workers itself on Ctrl-C, SIGTERM and SIGHUP, but not when it is killed
    (SIGKILL, the OOM killer); its workers run in process groups of their own, out of reach of the
    terminal, so they would then train on unattended. SIGTERM, not SIGKILL: the run stops at the end of
    its chunk as an interrupted ``offrl train`` does. Returns False when the launcher has already gone
    (it ended before the request was made); elsewhere than on Linux, or without a launcher's pid, it
    does nothing and returns True.
    Linux sends the signal when the launcher's *thread* that started this process ends: the process
    backend waits for its children in that thread, so that thread ends only after them.
    """
    if launcher is None or not sys.platform.startswith("linux"):
        return True
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return True  # refused (a sandbox's seccomp filter): the launcher's own stop still works
    except (OSError, AttributeError):
        return True
    if os.getppid() == launcher:
        return True
    # the request covers the parent alive when it is made: one that ended before re-parented this process
    # (a parent other than the launcher that is still there: an interpreter wrapper that forked)
    try:
        os.kill(launcher, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def gpu_fallback_error(gpus: str | None, backend: str, backend_errors: dict[str, str],
                       gpu_plugin: bool, plugin_errors: list[str] | tuple[str, ...] = ()) -> str | None:
    """Why a run given ``gpus`` by the launcher must not start, or None.

    JAX that cannot open a GPU (it is held in exclusive-process compute mode by another process, out of
    memory, a driver mismatch) logs a warning and runs on the CPU; a packed sweep then trains its runs
    on a few shared CPU cores, tens of times slower, without a word. ``backend``: JAX's default backend
    in this process; ``backend_errors``: JAX's record of backends that failed to initialise;
    ``gpu_plugin``: whether a GPU plugin of JAX is installed (without one, the CPU is all there is: the
    launcher's GPU ids then only name slots, as on a machine without GPUs); ``plugin_errors``: what
    JAX logged while loading its plugins (a plugin that raised in its ``initialize``, e.g. on
    contradictory ``XLA_*`` variables, is in no backend record, only in that log).
    """
    if not gpus or backend != "cpu":
        return None
    failed = {k: v for k, v in backend_errors.items() if k in ("cuda", "rocm", "gpu")}
    if not (failed or gpu_plugin):
        return None
    why = "; ".join([*(f"{k}: {v}" for k, v in failed.items()), *plugin_errors]) or "no GPU backend initialised"
    return (f"this run was given GPU {gpus} but JAX runs on the CPU ({why}). If other runs share the GPU, "
            "check that its compute mode allows several processes (`nvidia-smi --query-gpu=compute_mode "
            "--format=csv`: Default) and that --parallel runs fit in its memory; otherwise use --parallel 1")


def _check_gpu() -> str | None:
    """Say where this process's JAX runs (the first line of the run's ``sweep.log``); the reason to refuse
    the run when the launcher gave it GPUs that JAX could not open, else None."""
    from offrl.sweep.backends import ASSIGNED_GPU_VAR

    import jax

    # JAX logs (and otherwise swallows) a GPU plugin that fails to initialise; keep those lines to say why
    plugin_log = _PluginErrors()
    bridge_logger = logging.getLogger("jax._src.xla_bridge")
    bridge_logger.addHandler(plugin_log)
    try:
        backend = jax.default_backend()
    finally:
        bridge_logger.removeHandler(plugin_log)
    print(f"jax {jax.__version__} on {backend}: {', '.join(str(d) for d in jax.devices())}", flush=True)
    gpus = os.environ.get(ASSIGNED_GPU_VAR)
    if not gpus:
        return None
    try:
        from jax._src import xla_bridge  # JAX's record of failed backends is private; read it if it is there

        errors = {str(k): str(v) for k, v in getattr(xla_bridge, "_backend_errors", {}).items()}
    except ImportError:
        errors = {}
    plugin = any(importlib.util.find_spec(name) is not None for name in GPU_PLUGINS)
    return gpu_fallback_error(gpus, backend, errors, plugin, plugin_log.errors)


class _PluginErrors(logging.Handler):
    """Collects the warnings JAX logs while it sets up its backends, each with its exception's message."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        self.errors.append(text)


def main(argv: list[str]) -> int:
    from offrl.errors import EXIT_INTERRUPTED
    from offrl.logging import atomic_write_json
    from offrl.plugins import PluginError, load_plugins
    from offrl.process import exit_now, leave_running, left_running, raised_in_xla_compile
    from offrl.sweep.backends import Outcome, execute, from_payload

    # the launcher stops a run with SIGINT, also when it was itself started with SIGINT ignored
    # (nohup, `cmd &` in a script), which children would otherwise inherit
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if len(argv) != 2:
        print("usage: python -m offrl.sweep.worker RUN.json OUTCOME.json", file=sys.stderr)
        return 2
    data = json.loads(Path(argv[0]).read_text())
    run_id = data.get("config", {}).get("run_id", "?")
    if not die_with_launcher(data.get("launcher")):
        print(f"{run_id}: the launcher (pid {data['launcher']}) has gone; not started", flush=True)
        return 1
    code = 0
    try:
        # the launcher's $OFFRL_PLUGINS reaches this process in its environment: the run's algorithm (or
        # kind, or method) may be one a plugin registers, which this process knows only once it is imported
        load_plugins()
        kind, config = from_payload(data)
        refused = _check_gpu()
        outcome = Outcome(run_id, "failed", error=refused) if refused else execute(kind, config)
    except KeyboardInterrupt as e:
        outcome, code = Outcome(run_id, "interrupted"), EXIT_INTERRUPTED
        if raised_in_xla_compile(e):
            leave_running("an XLA compilation")
        print(f"{run_id}: interrupted; its checkpoints are kept and a rerun resumes it", flush=True)
    except PluginError as e:  # one line, not retried: another attempt would fail the same way
        outcome = Outcome(run_id, "failed", error=f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - e.g. an unreadable run description
        outcome = Outcome(run_id, "failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    if outcome.traceback:
        print(outcome.traceback, flush=True)
    atomic_write_json(Path(argv[1]), outcome.to_dict())
    if left_running():  # as the offrl program does (offrl.process)
        exit_now(code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
