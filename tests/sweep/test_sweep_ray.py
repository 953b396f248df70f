"""The Ray backend against a real local Ray cluster: one run's worker is killed mid-run, Ray retries
it, it resumes from its checkpoint, and the sweep ends with nothing lost and nothing trained twice."""

import json
import os
import signal
import threading

import pytest
from sweeptools import REPO, metric_rows, toy_data, wait_for, write_sweep

from offrl.runlock import holder
from offrl.sweep import load_sweep, run_sweep
from offrl.sweep.plan import checkpoint_step

ray = pytest.importorskip("ray")

STEPS, EVERY = 10_000, 500


def _kill_between_checkpoint_and_next_row(run_dir, killed: dict, stop: threading.Event) -> None:
    """SIGKILL the process training ``run_dir`` at a moment when its newest checkpoint holds every row
    it has written: pause it (SIGSTOP) right after a checkpoint appears, and kill it only if no later
    row got out before the pause (else let it go on and try at the next checkpoint)."""
    seen = None
    while not stop.is_set():
        owner = holder(run_dir)
        step = checkpoint_step(run_dir)
        if not owner or not step or step == seen or (run_dir / "final.json").exists():
            stop.wait(0.01)
            continue
        seen, pid = step, owner["pid"]
        os.kill(pid, signal.SIGSTOP)
        rows = metric_rows(run_dir)
        if checkpoint_step(run_dir) == step and max(s for _, s, _ in rows) == step:
            killed.update(pid=pid, step=step)
            os.kill(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGCONT)
            return
        os.kill(pid, signal.SIGCONT)


@pytest.mark.slow
# ray.init starts Ray's processes with fork+exec from this (JAX-importing) process: exec follows at once
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_ray_sweep_survives_a_killed_worker(tmp_path, monkeypatch, capsys):
    toy_data()
    # the cluster's workers import this checkout
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=STEPS, every=EVERY), results_dir=tmp_path / "res")
    target = tmp_path / "res" / sweep.runs[0].run_id
    killed, stop = {}, threading.Event()
    killer = threading.Thread(target=_kill_between_checkpoint_and_next_row, args=(target, killed, stop), daemon=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        killer.start()
        results = run_sweep(sweep, backend="ray", retries=2)
    finally:
        stop.set()
        killer.join()
        ray.shutdown()
    out = capsys.readouterr().out
    assert killed, "the run finished before its worker could be killed"
    assert "2 to run as Ray tasks" in out and "FAILED" not in out
    for config in sweep.runs:
        d = tmp_path / "res" / config.run_id
        assert results[config.run_id]["steps"] == STEPS and (d / "final.json").exists()
        rows = metric_rows(d)
        # nothing lost: every step of every seed; nothing twice: the killed run went on from its
        # checkpoint instead of starting again
        assert set(rows) == {("train", s, seed) for s in range(EVERY, STEPS + 1, EVERY) for seed in (0, 1)}
        assert set(rows.values()) == {1}
    # another worker process finished the killed run (the lock file names its last owner)
    assert killed["step"] < STEPS
    wait_for(lambda: holder(target) is None, 10, "the lock to be free")
    assert json.loads((target / ".lock").read_text())["pid"] != killed["pid"]
