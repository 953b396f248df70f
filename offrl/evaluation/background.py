"""Evaluation beside training: one evaluation at a time in a background thread.

Why: an evaluation steps MuJoCo on the host's cores and calls the policy once per env step; run in
line, the accelerator waits for it (on an H200 a 1M-step TD3+BC run evaluated every 5k steps spends
about as long evaluating as training). Run in a thread, the next chunks train meanwhile.

Why the policy runs on the host CPU while training runs on an accelerator: the policy calls of the
evaluation would queue on the accelerator behind the training chunks (one chunk each, ~0.1 s), which
serialises the two again. On a CPU-only machine the evaluation runs on the same (CPU) device.

The evaluated states are a copy taken when the evaluation starts (the training chunks donate their
input buffers): the states of that step, as when evaluating in line. On a CPU-only machine the scores
are bitwise those of evaluating in line; with an accelerator the CPU's float rounding of the policy
differs from the accelerator's, and episodes (chaotic MuJoCo dynamics) can end with other returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def evaluation_device():
    """The device evaluations run on beside training: the host CPU (``None`` when the default backend is
    the CPU already, i.e. evaluate where the states are)."""
    import jax

    if jax.default_backend() == "cpu":
        return None
    try:
        return jax.devices("cpu")[0]
    except RuntimeError:  # no CPU backend: evaluate on the training device, still beside training
        return None


def snapshot(tree):
    """A copy of ``tree``'s arrays on their devices: unaffected by later donated (in-place) updates."""
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), tree)


class BackgroundEvaluation:
    """Runs ``fn(states)`` in a daemon thread, one call at a time, on :func:`evaluation_device`.

    ``start(fn, states, tag)`` begins (the previous one must have been collected with :meth:`wait`);
    ``wait()`` blocks until it ends and returns ``(tag, result)``, re-raising its exception.
    ``seconds`` adds up how long the evaluations themselves took. A daemon thread never holds up the
    interpreter's exit when the run is interrupted.
    """

    def __init__(self, device: Any = "auto"):
        self.device = evaluation_device() if device == "auto" else device
        self.seconds = 0.0
        self._thread: threading.Thread | None = None
        self._tag: Any = None
        self._result: Any = None
        self._error: BaseException | None = None

    @property
    def pending(self) -> bool:
        """An evaluation was started and not yet collected."""
        return self._thread is not None

    def start(self, fn: Callable[[Any], Any], states: Any, tag: Any = None) -> None:
        if self.pending:
            raise RuntimeError("BackgroundEvaluation.start: the previous evaluation was not collected (wait())")
        self._tag, self._result, self._error = tag, None, None

        def run() -> None:
            import jax

            t = time.time()
            try:
                if self.device is None:
                    self._result = fn(states)
                else:
                    with jax.default_device(self.device):  # thread-local: training keeps its device
                        self._result = fn(jax.device_put(states, self.device))
            except BaseException as e:  # handed to the trainer by wait()
                self._error = e
            finally:
                self.seconds += time.time() - t

        self._thread = threading.Thread(target=run, name=f"offrl-eval-{tag}", daemon=True)
        self._thread.start()

    def wait(self) -> tuple[Any, Any]:
        """Block until the pending evaluation ends; ``(tag, result)``. Raises what the evaluation raised."""
        if self._thread is None:
            raise RuntimeError("BackgroundEvaluation.wait: nothing was started")
        self._thread.join()
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._tag, self._result
