"""Reliability of the launcher: Ctrl-C stops the runs cleanly and the same command resumes them;
two launchers started on one sweep never train a run twice."""

import signal

import pytest
from sweeptools import launch, metric_rows, signal_mid_run, toy_data, write_sweep

from offrl.runlock import holder
from offrl.sweep import load_sweep
from offrl.sweep.plan import checkpoint_step


@pytest.mark.slow
def test_ctrl_c_stops_runs_cleanly_and_the_same_command_resumes_them(tmp_path):
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=10_000, every=500)
    res = tmp_path / "res"
    dirs = [res / c.run_id for c in load_sweep(f, results_dir=res).runs]
    cmd = ("sweep", str(f), "--parallel", "2", "--gpus", "", "--results-dir", str(res))
    launcher = launch(*cmd, cwd=tmp_path)
    out = signal_mid_run(launcher, dirs, signal.SIGINT)
    assert launcher.returncode == 130, out
    assert "interrupted" in out and "run the same command again to resume" in out
    assert "Traceback" not in out
    assert all(holder(d) is None for d in dirs)  # every child has stopped and let go of its run
    stopped = {d: checkpoint_step(d) for d in dirs if not (d / "final.json").exists()}
    assert any(stopped.values()), "no run was stopped mid-way"

    again = launch(*cmd, cwd=tmp_path)
    out, _ = again.communicate(timeout=400)
    assert again.returncode == 0, out
    assert "2 finished, 0 failed" in out
    for d in dirs:
        assert (d / "final.json").exists()
        rows = metric_rows(d)
        assert set(rows) == {("train", s, seed) for s in range(500, 10_001, 500) for seed in (0, 1)}
        # the stopped runs resumed from their checkpoints: what those held was not trained again
        kept = stopped.get(d) or 0
        assert all(n == 1 for (_, step, _), n in rows.items() if step <= kept)


@pytest.mark.slow
def test_two_launchers_on_one_sweep_never_train_a_run_twice(tmp_path):
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=2000, every=500)
    res = tmp_path / "res"
    runs = load_sweep(f, results_dir=res).runs
    first, second = (launch("sweep", str(f), "--results-dir", str(res), cwd=tmp_path) for _ in range(2))
    outs = []
    for p in (first, second):
        out, _ = p.communicate(timeout=400)
        outs.append(out)
        assert p.returncode == 0, out
    for config in runs:
        d = res / config.run_id
        assert (d / "final.json").exists()
        rows = metric_rows(d)
        # each step of each seed trained exactly once, by whichever launcher held the run
        assert set(rows) == {("train", s, seed) for s in range(500, 2001, 500) for seed in (0, 1)}
        assert set(rows.values()) == {1}
    # both report the whole sweep finished
    assert all("2 finished, 0 failed" in out for out in outs)
