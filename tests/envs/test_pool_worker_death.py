"""An EnvPool whose worker process dies says so at once (which worker, which envs, how it ended) instead of
waiting forever for the dead worker's reply."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from offrl.envs.pool import EnvPool
from offrl.errors import OffrlError


def test_a_worker_killed_between_steps_is_reported_on_the_next_step():
    pool = EnvPool("Pendulum-v1", 4, workers=2)
    try:
        pool.reset([0, 1, 2, 3])
        pool.step(np.zeros((4, 1), np.float32))  # both workers answer while alive
        os.kill(pool._procs[1].pid, signal.SIGKILL)
        pool._procs[1].join(timeout=10)
        t0 = time.monotonic()
        with pytest.raises(OffrlError) as err:
            pool.step(np.zeros((4, 1), np.float32))
        assert time.monotonic() - t0 < 10
    finally:
        pool.close()
    msg = str(err.value)
    assert "env worker 1 (envs 2-3 of 'Pendulum-v1') died during step" in msg, msg
    assert f"killed by signal {int(signal.SIGKILL)}" in msg, msg
    assert pool._procs == [] and pool._conns == []  # the surviving worker was closed with the pool


def test_a_script_without_a_main_guard_gets_an_error_not_a_hang(tmp_path):
    # spawned workers import the main module again: unguarded, each one's own EnvPool start fails in the
    # child, which exits before serving; the parent must say so rather than block in recv() forever
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent("""
        from offrl.envs.pool import EnvPool
        pool = EnvPool("Pendulum-v1", 2, workers=1)
        pool.close()
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "env worker 0 (envs 0-1 of 'Pendulum-v1') died during start (exit code 1)" in proc.stderr, proc.stderr[-3000:]
    assert '__name__ == "__main__"' in proc.stderr
