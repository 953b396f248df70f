"""Signals to a ``--parallel`` sweep, sent for real to real processes: a child stopped by someone other
than the launcher is a lost worker (retried, resumes from its checkpoint); a launcher whose terminal
closes (SIGHUP) stops its children and removes its temporary folder; a launcher killed outright
(SIGKILL) leaves no child training on unattended (Linux)."""

import json
import os
import signal
import subprocess
import sys

import pytest
from sweeptools import env, metric_rows, toy_data, wait_for, write_sweep

from offrl.runlock import holder
from offrl.sweep import load_sweep
from offrl.sweep.plan import checkpoint_step

EVERY = 500

# the launchers start with fork+exec from this (JAX-importing) process, to give them a terminal's signal
# dispositions: exec follows at once
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")


def _as_in_a_terminal() -> None:
    # a suite started in the background (`pytest &`, nohup) ignores SIGINT and SIGHUP, and the launcher
    # would inherit that; in a terminal both have their default action
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _sweep(tmp_path, steps: int):
    """One bc run (``--parallel 2``: in a child process) on a toy dataset; its folder and the command."""
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=steps, every=EVERY, datasets=("local/toy-a-v0",))
    res = tmp_path / "res"
    run_dir = res / load_sweep(f, results_dir=res).runs[0].run_id
    return run_dir, ("sweep", str(f), "--parallel", "2", "--gpus", "", "--results-dir", str(res))


def _launch(tmp_path, *args: str) -> tuple[subprocess.Popen, object]:
    """``offrl ARGS`` in a child process writing to ``tmp_path/launcher.log``, its temporary folders
    under ``tmp_path/tmp``."""
    (tmp_path / "tmp").mkdir()
    e = env()
    e["TMPDIR"] = str(tmp_path / "tmp")
    log = open(tmp_path / "launcher.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "offrl.cli", *args], cwd=tmp_path, env=e, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_as_in_a_terminal)
    return proc, log


def _mid_run(run_dir):
    """The pid of the process training ``run_dir`` once it has a checkpoint and is not finished, else None."""
    owner = holder(run_dir)
    if owner and checkpoint_step(run_dir) and not (run_dir / "final.json").exists():
        return owner["pid"]
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _end(proc: subprocess.Popen, log, *pids: int) -> None:
    """Kill what a failed test left running: the launcher and the trainers it started."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    log.close()


@pytest.mark.slow
def test_a_worker_stopped_by_someone_else_is_retried_and_resumes(tmp_path):
    """`kill PID` of one child (SIGTERM, which it answers as Ctrl-C) is not the launcher's stop: the run
    is retried within --retries, resumes from its checkpoint and finishes; the sweep succeeds."""
    steps = 10_000
    run_dir, cmd = _sweep(tmp_path, steps)
    launcher, log = _launch(tmp_path, *cmd, "--retries", "1")
    pid = None
    try:
        pid = wait_for(lambda: _mid_run(run_dir), 300, "a checkpoint of the run")
        os.kill(pid, signal.SIGTERM)
        launcher.wait(timeout=500)
    finally:
        _end(launcher, log, *[p for p in [pid] if p])
    out = (tmp_path / "launcher.log").read_text()
    assert launcher.returncode == 0, out
    assert "stopped by a signal the launcher did not send" in out and "retrying" in out, out
    assert "1 finished, 0 failed" in out and "interrupted" not in out, out
    final = json.loads((run_dir / "final.json").read_text())
    assert final["steps"] == steps and final["resumed_from_step"] >= EVERY  # went on from its checkpoint
    rows = metric_rows(run_dir)
    assert set(rows) == {("train", s, seed) for s in range(EVERY, steps + 1, EVERY) for seed in (0, 1)}
    assert set(rows.values()) == {1}
    child_log = (run_dir / "sweep.log").read_text()
    assert "attempt 1, CPU" in child_log and "attempt 2, CPU" in child_log


@pytest.mark.slow
def test_sighup_to_the_launcher_stops_its_workers_and_removes_its_temporary_folder(tmp_path):
    """Closing the launcher's terminal stops the sweep as Ctrl-C does: the child stops with its
    checkpoints kept (not retried), the launcher's folder under $TMPDIR is gone, exit code 130."""
    run_dir, cmd = _sweep(tmp_path, 1_000_000)  # never finishes within the test
    launcher, log = _launch(tmp_path, *cmd)
    pid = None
    try:
        pid = wait_for(lambda: _mid_run(run_dir), 300, "a checkpoint of the run")
        launcher.send_signal(signal.SIGHUP)
        launcher.wait(timeout=200)
        # the launcher waited for its child, which let go of its run as it stopped
        wait_for(lambda: holder(run_dir) is None, 30, "the child to stop with its launcher")
    finally:
        _end(launcher, log, *[p for p in [pid] if p])
    out = (tmp_path / "launcher.log").read_text()
    assert launcher.returncode == 130, out
    assert "interrupted" in out and "retrying" not in out and "Traceback" not in out, out
    assert not list((tmp_path / "tmp").glob("offrl-sweep-*"))
    assert checkpoint_step(run_dir) and not (run_dir / "final.json").exists()
    assert "interrupted" in (run_dir / "sweep.log").read_text()  # stopped cleanly, not killed


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children die with their launcher on Linux only")
def test_workers_of_a_killed_launcher_stop_by_themselves(tmp_path):
    """SIGKILL to the launcher (nothing of it runs): its child notices (Linux's parent-death signal,
    SIGTERM), stops at the end of its chunk and lets go of its run, checkpoints kept."""
    run_dir, cmd = _sweep(tmp_path, 1_000_000)
    launcher, log = _launch(tmp_path, *cmd)
    pid = None
    try:
        pid = wait_for(lambda: _mid_run(run_dir), 300, "a checkpoint of the run")
        launcher.kill()
        launcher.wait(timeout=60)
        # its lock is freed as it stops (whoever reaps the orphan, if anyone: a container's init may not)
        wait_for(lambda: holder(run_dir) is None, 120, "the child to stop after its launcher was killed")
    finally:
        _end(launcher, log, *[p for p in [pid] if p])
    assert checkpoint_step(run_dir) and not (run_dir / "final.json").exists()
    assert "interrupted" in (run_dir / "sweep.log").read_text()  # SIGTERM: a clean stop, as Ctrl-C


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children die with their launcher on Linux only")
def test_a_worker_whose_launcher_has_already_gone_does_not_start():
    """The parent-death signal covers a parent alive when the worker asks for it: a launcher gone before
    that is seen by its pid (the worker was re-parented), and the worker does not train unattended."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # in a process of its own: the request would otherwise tie this test process to its parent
    code = ("import os; from offrl.sweep.worker import die_with_launcher; "
            f"print(die_with_launcher(os.getppid()), die_with_launcher({gone.pid}), die_with_launcher(None))")
    res = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == ["True", "False", "True"], res.stderr
