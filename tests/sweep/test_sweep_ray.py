"""The Ray backend against a real local Ray cluster: one run's worker is killed mid-run, Ray retries
it, it resumes from its checkpoint, and the sweep ends with nothing lost and nothing trained twice; a
`kill` of the launcher stops its runs as Ctrl-C does, and the same command resumes them."""

import json
import os
import signal
import subprocess
import sys
import threading
import types

import numpy as np
import pytest
from sweeptools import REPO, damaged_toy, env, metric_rows, signal_mid_run, toy_data, wait_for, write_sweep

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
    reads, with its progress bar off (the file leaves it to its default); a second call finds both finished and runs
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
        assert config.progress is None  # the file leaves it to its default (a bar on a terminal only)
        assert json.loads((folder / "config.json").read_text())["continual_config"]["progress"] is False
        final = json.loads((folder / "final.json").read_text())
        assert final["kind"] == "continual" and final["method"] == config.method
        assert np.asarray(final["matrix"]).shape == (2, 3, 3) and results[config.run_id]["kind"] == "continual"
        assert set(metric_rows(folder).values()) == {1}  # every record once
    summary = json.loads((continual_report(folders, tmp_path / "rep", reps=100, curve_reps=10, plots=False)
                          .parent / "continual_summary.json").read_text())
    assert {r["label"] for r in summary["rows"]} == {"finetune", "er [buffer_size=50]"}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_a_failed_ray_run_is_shown_failed_in_the_plan(tmp_path, monkeypatch, capsys):
    """The launcher keeps a Ray task's failure in its run folder, as the local backends' (the plan shows it)."""
    from offrl.cli import main
    from offrl.sweep.plan import FAILURE_NAME

    toy_data()
    damaged_toy()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    f = write_sweep(tmp_path / "s.yaml", steps=100, datasets=("local/toy-a-v0", "local/toy-bad-v0"))
    sweep = load_sweep(f, results_dir=tmp_path / "res")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = run_sweep(sweep, backend="ray", retries=0)
    finally:
        ray.shutdown()
    fine, broken = sweep.runs
    assert results[broken.run_id]["error"].startswith("DataIntegrityError: ") and "steps" in results[fine.run_id]
    record = json.loads((tmp_path / "res" / broken.run_id / FAILURE_NAME).read_text())
    assert record["error"] == results[broken.run_id]["error"] and record["attempts"] == 1
    capsys.readouterr()
    assert main(["sweep", "plan", str(f), "--results-dir", str(tmp_path / "res")]) == 0
    assert "failed (attempt 1): DataIntegrityError: " in capsys.readouterr().out


def _sigint_as(disposition):
    """A ``preexec_fn`` giving the launcher SIGINT's ``disposition``: SIG_DFL as in a terminal, SIG_IGN as
    `offrl sweep ... &` from a script (or nohup) gives it, which the cluster's workers then inherit."""
    def preexec():
        signal.signal(signal.SIGINT, disposition)
    return preexec


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
@pytest.mark.parametrize("sigint", [signal.SIG_DFL, signal.SIG_IGN], ids=["from-a-terminal", "sigint-ignored"])
def test_sigterm_to_a_ray_launcher_stops_its_runs_as_ctrl_c_does(tmp_path, sigint):
    """`kill` of an `offrl sweep --backend ray` launcher (SIGTERM; Ray's own handler would exit at once and
    leave the tasks uncancelled): the runs stop at the end of a chunk, are reported interrupted with the step
    a rerun resumes at, let go of their folders, and the same command resumes them without training anything
    twice. Also for a launcher started with SIGINT ignored: its Ray workers inherit that, and a task's
    cancellation (a KeyboardInterrupt raised through SIGINT's handler) would otherwise not reach the run."""
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=STEPS, every=EVERY)
    res = tmp_path / "res"
    dirs = [res / c.run_id for c in load_sweep(f, results_dir=res).runs]
    cmd = [sys.executable, "-m", "offrl.cli", "sweep", str(f), "--backend", "ray", "--results-dir", str(res)]
    e = {**env(), "RAY_AUTH_MODE": "disabled"}
    launcher = subprocess.Popen(cmd, cwd=tmp_path, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, preexec_fn=_sigint_as(sigint))
    out = signal_mid_run(launcher, dirs, signal.SIGTERM, timeout=300)
    assert launcher.returncode == 130, out
    assert "run the same command again to resume" in out
    wait_for(lambda: all(holder(d) is None for d in dirs), 60, "every run to be let go")
    stopped = {d: checkpoint_step(d) for d in dirs if not (d / "final.json").exists()}
    assert any(stopped.values()), f"no run was stopped mid-way:\n{out}"
    for d, step in stopped.items():  # each says where it stopped
        said = f"a rerun resumes it at step {step:,}" if step else "stopped before"
        assert f"interrupted {d.name}" in out and said in out, out
    for d in dirs:
        if d not in stopped:  # one that finished before the interrupt reached it says so, not interrupted
            assert f"done {d.name}" in out and f"interrupted {d.name}" not in out, out

    again = subprocess.run(cmd, cwd=tmp_path, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stdout
    assert "2 finished, 0 failed" in again.stdout
    resumed = sum(1 for step in stopped.values() if step)
    assert f"({resumed} resume{'s' * (resumed == 1)} from" in again.stdout, again.stdout
    for d in dirs:
        rows = metric_rows(d)
        assert set(rows) == {("train", s, seed) for s in range(EVERY, STEPS + 1, EVERY) for seed in (0, 1)}
        kept = stopped.get(d) or 0  # what a stopped run's checkpoint held was not trained again
        assert all(n == 1 for (_, step, _), n in rows.items() if step <= kept)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_an_interrupted_ray_sweep_reports_how_each_task_ended(tmp_path, monkeypatch):
    """On Ctrl-C the launcher cancels its tasks and reports each as it ended, on a real cluster: one that
    ended before the interrupt reached it, or wrote its final.json first, as finished; one stopped mid-run
    with the step a rerun resumes at; one still queued as not started; one still running after the grace
    period as such."""
    from offrl.sweep import backends
    from offrl.sweep.backends import Outcome, RayBackend

    monkeypatch.setattr(backends, "INTERRUPT_GRACE_S", 8.0)
    names = ("ended", "ends-anyway", "stops", "runs-on", "queued")  # and "busy", which keeps the last CPU
    configs = {n: types.SimpleNamespace(run_id=n, results_dir=str(tmp_path)) for n in names}
    for n in (*names, "busy"):
        (tmp_path / n).mkdir()
    (tmp_path / "stops" / "checkpoints" / "500").mkdir(parents=True)
    (tmp_path / "stops" / "config.json").write_text("{}")

    def task(name, folder):
        # stand-ins for runs that end at once, heed the cancellation's KeyboardInterrupt or ignore it
        import json
        import pathlib
        import signal
        import time

        folder = pathlib.Path(folder)
        if name == "ended":
            return Outcome(name, "finished", final={"steps": 1}).to_dict()
        signal.signal(signal.SIGINT, signal.SIG_IGN if name in ("runs-on", "busy") else signal.default_int_handler)
        (folder / "started").touch()
        try:
            for _ in range(1200):  # short sleeps: the KeyboardInterrupt of a cancellation is raised between
                time.sleep(0.05)  # two of them, never inside one
        except KeyboardInterrupt:
            if name == "ends-anyway":  # a run in its last step: its final.json is written as it stops
                (folder / "final.json").write_text(json.dumps({"steps": 2}))
            raise
        return {}

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(task)
        refs = {remote.remote(n, str(tmp_path / n)): configs[n] for n in names[:4]}
        ended = next(ref for ref, c in refs.items() if c.run_id == "ended")
        ray.wait([ended], timeout=120)  # done but not collected, as between two polls of the launcher
        remote.remote("busy", str(tmp_path / "busy"))  # not the launcher's: it holds its CPU to the end
        for n in ("ends-anyway", "stops", "runs-on", "busy"):
            wait_for(lambda: (tmp_path / n / "started").exists(), 120, f"task {n} to start")
        refs[remote.remote("queued", str(tmp_path / "queued"))] = configs["queued"]
        reports = []
        RayBackend()._stop_tasks(ray, refs, reports.append)
    finally:
        ray.shutdown()
    got = {o.run_id: o for o in reports}
    assert sorted(got) == sorted(names), reports
    assert got["ended"].status == "finished" and got["ended"].final == {"steps": 1}
    assert got["ends-anyway"].status == "finished" and got["ends-anyway"].final == {"steps": 2}
    assert got["stops"].status == "interrupted" and "a rerun resumes it at step 500" in got["stops"].error
    assert got["queued"].status == "interrupted" and got["queued"].error == "stopped before it started"
    assert not (tmp_path / "queued" / "started").exists()
    assert got["runs-on"].status == "interrupted"
    assert got["runs-on"].error.startswith("still running 8 s after it was cancelled: it may go on training")


def test_a_ray_task_gives_sigint_the_default_handler_while_it_runs(tmp_path, monkeypatch):
    """The task's body (run here in the main thread, as a Ray worker runs it) sees SIGINT's default handler
    even where the worker ignores SIGINT, and the worker's own handler is back afterwards."""
    from offrl.sweep import backends

    seen = []
    monkeypatch.setattr(backends, "_ray_task_body", lambda data: seen.append(signal.getsignal(signal.SIGINT)) or {})
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        backends._ray_task({})
        after = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, before)
    assert seen == [signal.default_int_handler] and after is signal.SIG_IGN
