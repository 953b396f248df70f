"""offrl.runlock: one trainer per run folder, and a killed owner's lock is free again."""

import os
import signal
import subprocess
import sys

import pytest
from sweeptools import env, toy_data, wait_for

from offrl.runlock import RunLock, RunLockedError, holder, is_locked
from offrl.train import TrainConfig, train

HOLD = """
import sys, time
from offrl.runlock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(600)
"""


def _hold_in_child(run_dir):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], env=env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_names_its_owner_and_dies_with_it(tmp_path):
    run = tmp_path / "run-a"
    child = _hold_in_child(run)
    try:
        assert holder(run)["pid"] == child.pid and is_locked(run)
        message = f"run run-a is being trained by another process \\(pid {child.pid}\\)"
        with pytest.raises(RunLockedError, match=message):
            RunLock(run, wait_s=0.2).acquire()
    finally:
        child.send_signal(signal.SIGKILL)  # no cleanup runs: the OS releases the lock
        child.wait()
    assert not is_locked(run)
    with RunLock(run) as lock:
        assert lock.held and holder(run)["pid"] == os.getpid()
        # the same process opening it again is a second owner too
        with pytest.raises(RunLockedError):
            RunLock(run, wait_s=0).acquire()
    assert holder(run) is None and (run / ".lock").exists()


def test_train_refuses_a_run_another_process_trains(tmp_path):
    toy_data()
    tc = TrainConfig(algo="bc", dataset="local/toy-a-v0", seeds=(0,), steps=100, eval_every=50, chunk=50,
                     hp=("hidden=16,16", "batch_size=16"), run_id="locked-run", results_dir=str(tmp_path),
                     wandb=False, progress=False)
    child = _hold_in_child(tmp_path / "locked-run")
    try:
        message = f"run locked-run is being trained by another process \\(pid {child.pid}\\)"
        with pytest.raises(RunLockedError, match=message):
            train(tc)
        assert not (tmp_path / "locked-run" / "metrics.jsonl").exists()  # nothing written beside the owner
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    final = train(tc)  # the owner is gone: the run is ours
    assert final["run_id"] == "locked-run" and (tmp_path / "locked-run" / "final.json").exists()
    assert holder(tmp_path / "locked-run") is None
    wait_for(lambda: not is_locked(tmp_path / "locked-run"), 5, "the lock to be free after training")
