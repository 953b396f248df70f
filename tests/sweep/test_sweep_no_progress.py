"""``offrl sweep --no-progress``: no progress bar of the launcher's, and runs that train without theirs, in
this process, in child processes and as Ray tasks (on a real local Ray cluster); the lines per run stay.
``--progress`` draws them anywhere; by default they are drawn only where stderr is a terminal."""

import os
import signal

import pytest
from sweeptools import REPO, toy_data, write_sweep

import offrl.sweep.backends as backends
from offrl.cli import main

# the file asks for each run's bar: --no-progress must win over it
BARS_ON = ("--set", "train.progress=true")


def _bars(err: str) -> list[str]:
    """The lines of tqdm bars in ``err`` (each redraw of a bar ends in '\\r' or a newline)."""
    return [line for line in err.replace("\r", "\n").splitlines() if "%|" in line]


@pytest.fixture
def sweep_file(tmp_path, monkeypatch):
    toy_data()
    # child processes and Ray's workers import this checkout
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return str(write_sweep(tmp_path / "s.yaml", steps=100, every=50))


def test_no_progress_in_this_process_turns_off_the_runs_own_bars(sweep_file, tmp_path, monkeypatch, capsys):
    given = []
    real = backends.execute

    def execute(kind, config):  # what the backend hands the run
        given.append((config.dataset, config.progress))
        return real(kind, config)

    monkeypatch.setattr(backends, "execute", execute)
    res = ["--results-dir", str(tmp_path / "res")]
    assert main(["sweep", sweep_file, *res, *BARS_ON, "--datasets", "toy-a-v0", "--progress"]) == 0
    assert given == [("local/toy-a-v0", True)] and any("bc local/toy-a-v0" in b for b in _bars(capsys.readouterr().err))

    assert main(["sweep", sweep_file, *res, *BARS_ON, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert given[1:] == [("local/toy-b-v0", False)] and _bars(err) == []
    assert "done bc-local_toy-b-v0" in out and "tiny: 2 finished, 0 failed" in out  # the lines per run stay


def test_by_default_the_launchers_bar_is_drawn_only_on_a_terminal(sweep_file, tmp_path, monkeypatch, capsys):
    import offrl.cli

    res = ["--results-dir", str(tmp_path / "res"), "--parallel", "2", "--gpus", ""]
    assert main(["sweep", sweep_file, *res, "--datasets", "toy-a-v0"]) == 0
    assert _bars(capsys.readouterr().err) == []
    monkeypatch.setattr(offrl.cli, "progress_bars_shown", lambda: True)  # as on a terminal
    assert main(["sweep", sweep_file, *res, "--datasets", "toy-b-v0"]) == 0
    assert any(b.startswith("tiny:") for b in _bars(capsys.readouterr().err))


def test_no_progress_in_child_processes_turns_off_the_launchers_bar(sweep_file, tmp_path, capsys):
    res = ["--results-dir", str(tmp_path / "res"), "--parallel", "2", "--gpus", ""]
    assert main(["sweep", sweep_file, *res, *BARS_ON, "--datasets", "toy-a-v0", "--progress"]) == 0
    assert any(b.startswith("tiny:") for b in _bars(capsys.readouterr().err))  # the bar over runs

    assert main(["sweep", sweep_file, *res, *BARS_ON, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert _bars(err) == [] and "done bc-local_toy-b-v0" in out and "tiny: 2 finished, 0 failed" in out
    for log in (tmp_path / "res").glob("*/sweep.log"):  # the runs' output: no bar of theirs either
        assert _bars(log.read_text()) == [], log


@pytest.mark.slow
# ray.init starts Ray's processes with fork+exec from this (JAX-importing) process: exec follows at once
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_no_progress_on_ray_turns_off_the_launchers_bar(sweep_file, tmp_path, monkeypatch, capsys):
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    handed = []
    real = backends._ray_payload

    def payload(kind, config):  # what each task is given (it runs in Ray's worker, out of reach here)
        handed.append((config.dataset, config.progress))
        return real(kind, config)

    monkeypatch.setattr(backends, "_ray_payload", payload)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    res = ["--results-dir", str(tmp_path / "res"), "--backend", "ray"]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["sweep", sweep_file, *res, *BARS_ON, "--datasets", "toy-a-v0", "--progress"]) == 0
        assert any(b.startswith("tiny:") for b in _bars(capsys.readouterr().err))
        assert main(["sweep", sweep_file, *res, *BARS_ON, "--no-progress"]) == 0
        out, err = capsys.readouterr()
    finally:
        ray.shutdown()
        for signum, handler in before.items():  # ray.init's SIGTERM handler outlives ray.shutdown
            signal.signal(signum, handler)
    assert _bars(err) == [] and "done bc-local_toy-b-v0" in out and "tiny: 2 finished, 0 failed" in out
    assert handed == [("local/toy-a-v0", False), ("local/toy-b-v0", False)]
