"""Ending a process that leaves native work running in threads of its own.

An interrupted run can leave such work behind: an XLA compilation (JAX lets a signal's handler run while
it waits for the compiler, but the compilation goes on in its own thread) or an evaluation started beside
training (``--overlap-eval``: its daemon thread steps MuJoCo and runs the policy). The interpreter's exit
then tears JAX's runtime and the envs down under that thread, which crashed the process after the run had
said where it stopped (a segmentation fault, status 139; ``terminate called ... FATAL: exception not
rethrown``, status 134). Such a process, once its own cleanup is done (records closed, checkpoints
written, the message printed), ends with :func:`os._exit` instead: the ``offrl`` program
(:func:`offrl.cli.main`) and a sweep worker (:mod:`offrl.sweep.worker`) do.

Work of a few seconds that must not be cut midway once it began (writing what finished runs gave) holds a
first interrupt until it is done: :func:`interrupts_held`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

__all__ = ["HeldInterrupts", "exit_now", "in_main_thread", "interrupts_held", "leave_running", "left_running",
           "raised_in_xla_compile"]

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


def in_main_thread() -> bool:
    """Whether this is the main thread: the only one where Python lets signal handlers be set."""
    return threading.current_thread() is threading.main_thread()


class HeldInterrupts:
    """The signals :func:`interrupts_held` held back (their numbers, in order)."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    @property
    def received(self) -> bool:
        """Whether an interrupt came while the block ran (the caller then stops as if interrupted)."""
        return bool(self.signals)


@contextlib.contextmanager
def interrupts_held(doing: str, out: TextIO | None = None) -> Iterator[HeldInterrupts]:
    """Run the block with a first SIGINT or SIGTERM held back instead of raised, so that short work which
    must not stop midway (a report and the records of runs already finished) is done; the caller reads
    :attr:`HeldInterrupts.received` afterwards and stops. The first one prints that the command stops once
    ``doing`` (worded as a run's logger words its :meth:`~offrl.logging.RunLogger.finishing`); a second one
    raises :class:`KeyboardInterrupt` at once, so a stuck block can still be stopped. A signal that is
    ignored (``nohup``) stays ignored; outside the main thread, where no handler can be set, the block runs
    unguarded."""
    held = HeldInterrupts()
    if not in_main_thread():
        yield held
        return

    def hold(signum, frame):
        if held.signals:
            raise KeyboardInterrupt(f"signal {signum}")
        held.signals.append(signum)
        print(f"{signal.Signals(signum).name}: stopping once {doing} (a few seconds; send it again to stop now)",
              file=out or sys.stderr, flush=True)

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, hold)
    try:
        yield held
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
