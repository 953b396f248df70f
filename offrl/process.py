"""Ending a process that leaves native work running in threads of its own.

An interrupted run can leave such work behind: an XLA compilation (JAX lets a signal's handler run while
it waits for the compiler, but the compilation goes on in its own thread) or an evaluation started beside
training (``--overlap-eval``: its daemon thread steps MuJoCo and runs the policy). The interpreter's exit
then tears JAX's runtime and the envs down under that thread, which crashed the process after the run had
said where it stopped (a segmentation fault, status 139; ``terminate called ... FATAL: exception not
rethrown``, status 134). Such a process, once its own cleanup is done (records closed, checkpoints
written, the message printed), ends with :func:`os._exit` instead: the ``offrl`` program
(:func:`offrl.cli.main`) and a sweep worker (:mod:`offrl.sweep.worker`) do.
"""

from __future__ import annotations

import os
import sys

__all__ = ["exit_now", "leave_running", "left_running", "raised_in_xla_compile"]

_left: list[str] = []


def leave_running(what: str) -> None:
    """Note that ``what`` (``an evaluation``) goes on in a thread of its own as this process ends."""
    _left.append(what)


def left_running() -> list[str]:
    """What :func:`leave_running` noted (empty when nothing was left running)."""
    return list(_left)


def raised_in_xla_compile(error: BaseException) -> bool:
    """Whether ``error`` was raised while JAX waited for XLA to compile a program (the compilation then
    goes on in its own thread)."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__") == "jax._src.compiler":
            return True
        tb = tb.tb_next
    return False


def exit_now(code: int) -> None:
    """End the process with ``code`` without the interpreter's teardown, its output flushed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to write
            pass
    os._exit(code)
