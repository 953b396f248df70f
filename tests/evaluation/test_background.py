"""offrl.evaluation.background: one evaluation at a time beside training."""

import threading

import jax.numpy as jnp
import numpy as np
import pytest

from offrl.evaluation.background import BackgroundEvaluation, snapshot


def test_runs_in_another_thread_and_returns_tag_and_result():
    bg = BackgroundEvaluation()
    seen = {}

    def fn(states):
        seen["thread"] = threading.current_thread().name
        return float(jnp.sum(states["w"]))

    assert not bg.pending
    bg.start(fn, {"w": jnp.arange(4.0)}, tag=100)
    assert bg.pending
    assert bg.wait() == (100, 6.0)
    assert not bg.pending and seen["thread"] == "offrl-eval-100" and bg.seconds > 0


def test_one_at_a_time_and_errors_reach_the_caller():
    bg = BackgroundEvaluation()
    with pytest.raises(RuntimeError, match="nothing was started"):
        bg.wait()
    release = threading.Event()
    bg.start(lambda s: release.wait(5), {}, tag=1)
    with pytest.raises(RuntimeError, match="not collected"):
        bg.start(lambda s: None, {}, tag=2)
    release.set()
    bg.wait()

    def broken(states):
        raise ValueError("env exploded")

    bg.start(broken, {}, tag=3)
    with pytest.raises(ValueError, match="env exploded"):
        bg.wait()
    assert not bg.pending  # collected: the next may start
    bg.start(lambda s: 1, {}, tag=4)
    assert bg.wait() == (4, 1)


def test_snapshot_is_a_copy_that_outlives_donated_buffers():
    import jax

    x = {"w": jnp.ones(3)}
    snap = snapshot(x)
    step = jax.jit(lambda t: {"w": t["w"] * 2}, donate_argnums=0)
    x = step(x)  # donation may reuse the old buffer (on accelerators); the copy stays
    np.testing.assert_array_equal(np.asarray(snap["w"]), np.ones(3))
    np.testing.assert_array_equal(np.asarray(x["w"]), 2 * np.ones(3))
