"""The Ray backend against a real local Ray cluster: one run's worker is killed mid-run, Ray retries
it, it resumes from its checkpoint, and the sweep ends with nothing lost and nothing trained twice; a
`kill` of the launcher stops its runs as Ctrl-C does, and the same command resumes them."""

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from sweeptools import REPO, env, metric_rows, signal_mid_run, toy_data, wait_for, write_sweep

from offrl.runlock import holder
from offrl.sweep import load_sweep, run_sweep
from offrl.sweep.plan import checkpoint_step

ray = pytest.importorskip("ray")

STEPS, EVERY = 10_000, 500


@pytest.fixture(autouse=True)
def _signal_handlers_given_back():
    # ray.init in a test gives this process Ray's SIGTERM handler, which ray.shutdown leaves in place: later
    # tests that send themselves SIGTERM would meet it
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


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


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_ray_runs_a_continual_sweep(tmp_path, monkeypatch, capsys):
    """A continual sweep (fine-tune and ER through the cheap stream) on a real local Ray cluster: each run
    a Ray task, each writing the folder the continual trainer writes anywhere, which the continual report
    reads, with its progress bar off (the file leaves it on); a second call finds both finished and runs
    nothing, and without a cluster starts none."""
    from offrl.continual_report import continual_report
    from offrl.sweep.plan import get_missing_data

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    tasks = ("forward", "reversed", "weak")
    assert get_missing_data([f"local/pendulum-gain/{t}-medium-v0" for t in tasks], collect=True, workers=1,
                            steps=400, progress=False) == []
    spec = tmp_path / "c.yaml"
    spec.write_text("name: cheap-ray\nkind: continual\nstream: pendulum-gain\nmethod: finetune\nseeds: [0, 1]\n"
                    "hp: {hidden: '16,16'}\nmethod_hp: {}\n"
                    "continual: {steps_per_task: 100, eval_every: 50, chunk: 50, eval_episodes: 1, batch_size: 32}\n"
                    "variants:\n  - {method: finetune}\n  - {method: er, method_hp.buffer_size: 50}\n")
    sweep = load_sweep(spec, results_dir=tmp_path / "res")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = run_sweep(sweep, backend="ray", retries=0)
        out = capsys.readouterr().out
        assert "2 runs: 0 already finished, 0 without their data, 2 to run as Ray tasks" in out
        assert out.count("[cheap-ray] done ") == 2
        again = run_sweep(sweep, backend="ray")
        assert "2 runs: 2 already finished" in capsys.readouterr().out and again.keys() == results.keys()
    finally:
        ray.shutdown()

    def no_cluster(*args, **kwargs):
        raise AssertionError("a Ray cluster was started for a sweep with nothing to run")

    monkeypatch.setattr(ray, "init", no_cluster)
    assert run_sweep(sweep, backend="ray").keys() == results.keys()
    folders = [tmp_path / "res" / c.run_id for c in sweep.runs]
    for config, folder in zip(sweep.runs, folders):
        assert config.progress and not json.loads((folder / "config.json").read_text())["continual_config"]["progress"]
        final = json.loads((folder / "final.json").read_text())
        assert final["kind"] == "continual" and final["method"] == config.method
        assert np.asarray(final["matrix"]).shape == (2, 3, 3) and results[config.run_id]["kind"] == "continual"
        assert set(metric_rows(folder).values()) == {1}  # every record once
    summary = json.loads((continual_report(folders, tmp_path / "rep", reps=100, curve_reps=10, plots=False)
                          .parent / "continual_summary.json").read_text())
    assert {r["label"] for r in summary["rows"]} == {"finetune", "er [buffer_size=50]"}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_sigterm_to_a_ray_launcher_stops_its_runs_as_ctrl_c_does(tmp_path):
    """`kill` of an `offrl sweep --backend ray` launcher (SIGTERM; Ray's own handler would exit at once and
    leave the tasks uncancelled): the runs stop at the end of a chunk, are reported interrupted with their
    checkpoints kept, let go of their folders, and the same command resumes them without training anything
    twice."""
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=STEPS, every=EVERY)
    res = tmp_path / "res"
    dirs = [res / c.run_id for c in load_sweep(f, results_dir=res).runs]
    cmd = [sys.executable, "-m", "offrl.cli", "sweep", str(f), "--backend", "ray", "--results-dir", str(res)]
    e = {**env(), "RAY_AUTH_MODE": "disabled"}
    launcher = subprocess.Popen(cmd, cwd=tmp_path, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    out = signal_mid_run(launcher, dirs, signal.SIGTERM, timeout=300)
    assert launcher.returncode == 130, out
    assert "interrupted" in out and "run the same command again to resume" in out
    wait_for(lambda: all(holder(d) is None for d in dirs), 60, "every run to be let go")
    stopped = {d: checkpoint_step(d) for d in dirs if not (d / "final.json").exists()}
    assert any(stopped.values()), "no run was stopped mid-way"

    again = subprocess.run(cmd, cwd=tmp_path, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stdout
    assert "2 finished, 0 failed" in again.stdout
    for d in dirs:
        rows = metric_rows(d)
        assert set(rows) == {("train", s, seed) for s in range(EVERY, STEPS + 1, EVERY) for seed in (0, 1)}
        kept = stopped.get(d) or 0  # what a stopped run's checkpoint held was not trained again
        assert all(n == 1 for (_, step, _), n in rows.items() if step <= kept)
