"""The local backends: in this process (failures reported, finished runs kept) and --parallel 2."""

import dataclasses
import datetime
import json
import os
import re
import threading
import time

import pytest
from sweeptools import REPO, metric_rows, toy_data, write_sweep

from offrl.cli import main
from offrl.errors import ConfigError
from offrl.runlock import holder
from offrl.sweep import load_sweep, run_sweep
from offrl.sweep.backends import ProcessBackend, child_env, visible_gpus


def test_missing_data_is_one_line_and_a_failure_never_loses_finished_runs(tmp_path, capsys):
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=100, datasets=("local/toy-a-v0", "d4rl/hopper-medium-v2"))
    res = tmp_path / "res"
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 1
    out = capsys.readouterr().out
    hdf5 = os.path.join(os.environ["OFFRL_DATA_DIR"], "d4rl", "hopper_medium-v2.hdf5")
    skipped = [line for line in out.splitlines() if "SKIPPED" in line]
    assert len(skipped) == 1 and "d4rl/hopper-medium-v2" in skipped[0]
    assert f"missing {hdf5}; get it with `offrl datasets download d4rl/hopper-medium-v2`" in skipped[0]
    assert "Traceback" not in out and "download=True" not in out
    assert "1 finished, 0 failed, 1 skipped (data missing)" in out  # skipped, not failed
    done = load_sweep(f, results_dir=res).runs[0]
    final = (res / done.run_id / "final.json").read_text()
    assert json.loads(final)["run_id"] == done.run_id and json.loads(final)["steps"] == 100
    finished_at = datetime.datetime.fromisoformat(json.loads(final)["finished_at"])   # in the file: copies keep it
    assert abs(finished_at.timestamp() - (res / done.run_id / "final.json").stat().st_mtime) < 60
    # started again: the finished run is returned untouched, the missing data reported again
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 1
    out = capsys.readouterr().out
    assert (res / done.run_id / "final.json").read_text() == final
    assert "1 already finished, 1 without their data, 0 to run" in out
    assert "1 finished, 0 failed, 1 skipped (data missing)" in out


def test_unexpected_errors_are_retried_then_reported_with_their_traceback(tmp_path, capsys):
    toy_data()
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=100), results_dir=tmp_path / "res")
    real, calls = sweep.kind.run, []

    def flaky(config):  # the first dataset's run breaks on every attempt, the other trains
        calls.append(config.dataset)
        if config.dataset == "local/toy-a-v0":
            raise RuntimeError("device fell over")
        return real(config)

    sweep.kind = dataclasses.replace(sweep.kind, run=flaky)
    results = run_sweep(sweep, retries=1)
    out = capsys.readouterr().out
    broken, fine = sweep.runs
    assert calls.count("local/toy-a-v0") == 2  # one retry
    assert results[broken.run_id] == {"error": "RuntimeError: device fell over", "status": "failed"}
    assert results[fine.run_id]["steps"] == 100 and (tmp_path / "res" / fine.run_id / "final.json").exists()
    assert "retrying" in out and f"FAILED {broken.run_id}" in out
    assert "Traceback (most recent call last)" in out and 'raise RuntimeError("device fell over")' in out


def test_parallel_two_runs_share_the_machine(tmp_path, monkeypatch, capsys):
    toy_data()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=2000, every=500), results_dir=tmp_path / "res")
    dirs = [tmp_path / "res" / c.run_id for c in sweep.runs]
    together, stop = set(), threading.Event()

    def watch():  # which trainer processes hold their run's lock at the same moment
        while not stop.is_set():
            owners = [holder(d) for d in dirs]
            if all(owners):
                together.add(tuple(o["pid"] for o in owners))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        results = run_sweep(sweep, parallel=2, gpus="")
    finally:
        stop.set()
        watcher.join()
    out = capsys.readouterr().out
    assert "2 to run in child processes (2 at a time)" in out
    # the two runs trained at the same time, each in a process of its own
    assert together and all(a != b and os.getpid() not in (a, b) for a, b in together)
    for config, d in zip(sweep.runs, dirs):
        assert results[config.run_id]["steps"] == 2000 and (d / "final.json").exists()
        rows = metric_rows(d)
        assert set(rows) == {("train", s, seed) for s in range(500, 2001, 500) for seed in (0, 1)}
        assert set(rows.values()) == {1}
        log = (d / "sweep.log").read_text()
        assert "attempt 1, CPU" in log and re.search(r"^jax \S+ on cpu: ", log, re.M)  # where it ran


def test_an_option_of_the_other_backend_is_refused_not_ignored(tmp_path, capsys):
    """--gpu-fraction and --cpus-per-run ask Ray for resources, --gpus places local children: the other
    backend would ignore them without a word. --parallel means something to both and is taken."""
    f = write_sweep(tmp_path / "s.yaml", steps=100, datasets=("d4rl/hopper-medium-v2",))  # absent: nothing runs
    sweep = load_sweep(f, results_dir=tmp_path / "res")
    with pytest.raises(ConfigError, match=r"--gpu-fraction is an option of the ray backend \(add --backend ray\)"):
        run_sweep(sweep, gpu_fraction=0.5)
    with pytest.raises(ConfigError, match=r"--cpus-per-run is an option of the ray backend"):
        run_sweep(sweep, cpus_per_run=2.0)
    with pytest.raises(ConfigError, match=r"--gpus is an option of the local backend"):
        run_sweep(sweep, backend="ray", gpus="0")
    assert main(["sweep", str(f), "--gpu-fraction", "0.5", "--results-dir", str(tmp_path / "res")]) != 0
    assert "--gpu-fraction is an option of the ray backend" in capsys.readouterr().err
    run_id = sweep.runs[0].run_id
    assert "data missing" in run_sweep(sweep, parallel=2, gpus="")[run_id]["error"]
    assert "data missing" in run_sweep(sweep, backend="ray", parallel=2, cpus_per_run=2.0)[run_id]["error"]
    assert not (tmp_path / "res").exists()


def test_gpu_slots_and_child_environments():
    """What --parallel K does on a host with GPUs (checked without one): K slots per GPU, each child
    pinned to its GPU and capped at 0.95/K of its memory, the user's own XLA settings kept."""
    assert visible_gpus("0,1") == ["0", "1"] and visible_gpus("") == [] and visible_gpus("-1") == []
    assert ProcessBackend(per_gpu=2, gpus=["0", "1"]).slots == ["0", "0", "1", "1"]
    assert ProcessBackend(per_gpu=3).slots == [None, None, None]  # no GPU: K processes
    env = child_env("1", 4, {"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    # one name of the cap only: JAX's GPU plugin refuses to start (and JAX falls back to the CPU) when
    # both XLA_PYTHON_CLIENT_MEM_FRACTION and XLA_CLIENT_MEM_FRACTION are set
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.237" and "XLA_CLIENT_MEM_FRACTION" not in env
    alone = child_env("0", 1, {})
    assert not {"XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION"} & set(alone)
    mine = child_env(None, 2, {"XLA_CLIENT_MEM_FRACTION": "0.3", "CUDA_VISIBLE_DEVICES": "5"})
    assert mine["XLA_CLIENT_MEM_FRACTION"] == "0.3" and "XLA_PYTHON_CLIENT_MEM_FRACTION" not in mine
    assert mine["CUDA_VISIBLE_DEVICES"] == "5"  # a CPU slot leaves the device choice alone
    # the worker is told which GPUs it was given (to refuse a silent CPU fallback); a CPU slot is not
    assert env["OFFRL_SWEEP_GPUS"] == "1" and "OFFRL_SWEEP_GPUS" not in child_env(None, 2, {"OFFRL_SWEEP_GPUS": "0"})


def test_a_run_given_a_gpu_refuses_to_train_on_the_cpu_fallback():
    """JAX that cannot open its GPU trains on the CPU after a warning; a packed sweep would then crawl.
    The worker's rule: given GPUs + JAX on the CPU + a GPU backend that failed (or a GPU plugin) = refuse."""
    from offrl.sweep.worker import gpu_fallback_error

    err = gpu_fallback_error("0", "cpu", {"cuda": "CUDA_ERROR_DEVICE_UNAVAILABLE"}, gpu_plugin=True)
    assert "given GPU 0 but JAX runs on the CPU (cuda: CUDA_ERROR_DEVICE_UNAVAILABLE)" in err
    assert "compute_mode" in err and "--parallel 1" in err
    assert "no GPU backend initialised" in gpu_fallback_error("0", "cpu", {}, gpu_plugin=True)
    assert gpu_fallback_error("0", "cpu", {"cuda": "x"}, gpu_plugin=False) is not None
    assert gpu_fallback_error("0", "gpu", {}, gpu_plugin=True) is None        # on its GPU
    assert gpu_fallback_error(None, "cpu", {"cuda": "x"}, gpu_plugin=True) is None  # a CPU slot
    # a CPU-only JAX (no plugin, nothing failed): GPU ids only name slots, as in the tests on this host
    assert gpu_fallback_error("0", "cpu", {}, gpu_plugin=False) is None


def test_the_gpu_plugins_own_error_is_the_reason_given():
    """A GPU plugin whose initialize() raises is in no backend record: JAX only logs it and runs on the
    CPU. The worker keeps what JAX logs while it sets up (as JAX logs it: an exception through the
    xla_bridge logger) and names it, so the reason is not a guess at compute modes."""
    import logging

    from offrl.sweep.worker import _PluginErrors, gpu_fallback_error

    collected = _PluginErrors()
    logger = logging.getLogger("jax._src.xla_bridge")
    logger.addHandler(collected)
    try:
        try:
            raise ValueError("XLA_CLIENT_MEM_FRACTION is specified together with XLA_PYTHON_CLIENT_MEM_FRACTION.")
        except ValueError:
            logger.exception("Jax plugin configuration error: Exception when calling %s.initialize()",
                             "jax_plugins.xla_cuda13")
        logger.info("not a problem")  # below WARNING: not kept
    finally:
        logger.removeHandler(collected)
    assert collected.errors == ["Jax plugin configuration error: Exception when calling jax_plugins.xla_cuda13"
                                ".initialize() (ValueError: XLA_CLIENT_MEM_FRACTION is specified together with "
                                "XLA_PYTHON_CLIENT_MEM_FRACTION.)"]
    err = gpu_fallback_error("0", "cpu", {}, gpu_plugin=True, plugin_errors=collected.errors)
    assert "JAX runs on the CPU (Jax plugin configuration error:" in err and "no GPU backend" not in err


def test_collect_gets_every_missing_task_dataset_in_worker_processes_then_trains(tmp_path, capsys):
    """`offrl sweep FILE --collect`: the runs' missing local/* data are collected first (here the three
    tasks of the cheap stream, two processes at a time), then the runs train; a second call collects
    nothing."""
    f = tmp_path / "c.yaml"
    f.write_text("name: cheap\nkind: continual\nstream: pendulum-gain\nmethod: finetune\nseeds: [0]\n"
                 "hp: {hidden: '16,16'}\n"
                 "continual: {steps_per_task: 100, eval_every: 100, chunk: 100, eval_episodes: 1, batch_size: 32,"
                 " progress: false}\n")
    res = tmp_path / "res"
    assert main(["sweep", str(f), "--results-dir", str(res), "--collect", "--collect-workers", "2"]) == 0
    out = capsys.readouterr().out
    names = ("forward", "reversed", "weak")
    for t in names:
        assert f"collecting local/pendulum-gain/{t}-medium-v0 (`offrl collect pendulum-gain/{t}-medium`)" in out
    assert "(3/3)" in out  # each finished collection is reported as it finishes
    root = os.path.join(os.environ["OFFRL_DATA_DIR"], "local", "pendulum-gain")
    assert sorted(os.listdir(root)) == [f"{t}-medium-v0" for t in names]
    assert "1 finished, 0 failed" in out
    (run,) = [p for p in res.iterdir() if p.is_dir()]
    assert json.loads((run / "final.json").read_text())["kind"] == "continual"
    assert main(["sweep", str(f), "--results-dir", str(res), "--collect"]) == 0
    assert "collecting" not in capsys.readouterr().out


def test_get_missing_data_reports_what_no_worker_could_collect(tmp_path):
    from offrl.sweep.plan import get_missing_data

    lines = get_missing_data(["local/pendulum-gain/forward-medium-v0", "local/toy-x-v0"], collect=True, workers=2,
                             steps=400, progress=False)
    # the stream task is collected (400 transitions); a local id of no shipped policy cannot be
    assert len(lines) == 1 and lines[0].startswith("local/toy-x-v0: missing")
    from offrl.datasets import load

    assert len(load("local/pendulum-gain/forward-medium-v0")) == 400


def test_the_summary_counts_skipped_and_locked_runs_as_what_they_are(tmp_path, capsys):
    """A run without its data is skipped and one another process trains is not run (--no-wait-locked):
    neither is a failure, and the summary says which; the exit status is 1 as long as a run is not finished."""
    from offrl.runlock import RunLock
    from offrl.sweep.cli import summary

    f = write_sweep(tmp_path / "s.yaml", steps=100)  # no data at all
    res = tmp_path / "res"
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 1
    out = capsys.readouterr().out
    assert out.count("SKIPPED") == 2 and out.rstrip().endswith("tiny: 0 finished, 0 failed, 2 skipped (data missing)")

    toy_data()
    busy, free = load_sweep(f, results_dir=res).runs
    with RunLock(res / busy.run_id):  # held here, as another launcher's trainer would hold it
        assert main(["sweep", str(f), "--results-dir", str(res), "--no-wait-locked"]) == 1
    out = capsys.readouterr().out
    assert f"NOT RUN {busy.run_id}" in out and f"being trained by another process (pid {os.getpid()})" in out
    assert out.rstrip().endswith("tiny: 1 finished, 0 failed, 1 not run (being trained elsewhere)")
    assert (res / free.run_id / "final.json").exists() and not (res / busy.run_id / "final.json").exists()
    assert summary({"a": {"steps": 1}, "b": {"error": "x"}, "c": {"error": "y", "status": "failed"},
                    "d": {"error": "z", "status": "data missing"}}) == "1 finished, 2 failed, 1 skipped (data missing)"
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 0  # the lock is free: the run trains now
    assert "tiny: 2 finished, 0 failed" in capsys.readouterr().out


def test_datasets_are_chosen_with_or_without_their_source_prefix(tmp_path, capsys):
    """`offrl sweep --datasets` takes an id without its source prefix where it names one dataset of the
    sweep (as `offrl reproduce --datasets`, one implementation), and suggests close names for a miss."""
    f = write_sweep(tmp_path / "s.yaml", steps=100, datasets=("local/toy-a-v0", "d4rl/hopper-medium-v2"))
    res = tmp_path / "res"
    hopper = load_sweep(f, results_dir=res).runs[1]
    assert main(["sweep", "plan", str(f), "--results-dir", str(res), "--datasets", "hopper-medium-v2"]) == 0
    out = capsys.readouterr().out
    assert "1 run, in one process" in out and hopper.run_id in out and "toy-a" not in out
    # the launcher: only that run, skipped for its data
    assert main(["sweep", str(f), "--results-dir", str(res), "--datasets", "HOPPER-medium-v2"]) == 1
    assert "0 finished, 0 failed, 1 skipped (data missing)" in capsys.readouterr().out
    assert main(["sweep", "plan", str(f), "--results-dir", str(res), "--datasets", "hoper-medium-v2"]) == 1
    err = capsys.readouterr().err
    assert ("--datasets 'hoper-medium-v2': not a dataset of sweep 'tiny'; did you mean 'd4rl/hopper-medium-v2'? "
            "(its datasets: d4rl/hopper-medium-v2, local/toy-a-v0)") in err
    assert not res.exists()


def test_start_within_starts_no_run_after_its_time_and_the_rerun_starts_them(tmp_path, capsys):
    """--start-within: the runs begun in time finish, the others are reported not started (not failed) and
    start when the same command runs again, in this process and in child processes alike."""
    toy_data()
    f = write_sweep(tmp_path / "s.yaml", steps=100)
    res = tmp_path / "res"
    sweep = load_sweep(f, results_dir=res)
    real = sweep.kind.run

    def slow(config):  # each run outlasts the time to start runs
        time.sleep(0.6)
        return real(config)

    sweep.kind = dataclasses.replace(sweep.kind, run=slow)
    first, second = sweep.runs
    results = run_sweep(sweep, start_until=time.monotonic() + 0.3)
    out = capsys.readouterr().out
    assert results[first.run_id]["steps"] == 100 and (res / first.run_id / "final.json").exists()
    assert results[second.run_id] == {"error": "the time to start runs (--start-within) was over",
                                      "status": "not started"}
    assert f"NOT STARTED {second.run_id}" in out and not (res / second.run_id).exists()
    # the command line: the finished run is kept, the other again not started (exit 1), then it trains
    assert main(["sweep", str(f), "--results-dir", str(res), "--start-within", "0"]) == 1
    assert capsys.readouterr().out.rstrip().endswith("tiny: 1 finished, 0 failed, 1 not started (--start-within)")
    assert main(["sweep", str(f), "--results-dir", str(res)]) == 0
    assert (res / second.run_id / "final.json").exists()
    with pytest.raises(ConfigError, match="--start-within is an option of the local backend"):
        run_sweep(sweep, backend="ray", start_until=time.monotonic())
    assert main(["sweep", str(f), "--start-within", "-5"]) == 1
    assert "--start-within -5.0: give the seconds after the start" in capsys.readouterr().err


def test_start_within_in_child_processes_lets_the_run_in_flight_finish(tmp_path, monkeypatch, capsys):
    toy_data()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=100), results_dir=tmp_path / "res")
    first, second = sweep.runs
    out: dict = {}
    seen = []
    # one child at a time: the first starts at once and takes longer than the time to start runs
    ProcessBackend(per_gpu=1, gpus=[], start_until=time.monotonic() + 1.0).run(
        sweep.kind, sweep.runs, lambda o: (seen.append((o.run_id, o.status)), out.update({o.run_id: o})))
    assert sorted(seen) == sorted([(first.run_id, "finished"), (second.run_id, "not started")])
    assert out[first.run_id].final["steps"] == 100 and not (tmp_path / "res" / second.run_id).exists()
    # past its time, nothing starts (no child process, no run folder)
    seen.clear()
    ProcessBackend(per_gpu=2, gpus=[], start_until=time.monotonic() - 1).run(
        sweep.kind, [second], lambda o: seen.append((o.run_id, o.status)))
    assert seen == [(second.run_id, "not started")] and not (tmp_path / "res" / second.run_id).exists()


def test_a_killed_launchers_scratch_folder_is_removed_by_the_next(tmp_path, monkeypatch):
    """SIGKILL outlives no `finally`: the next launcher removes the folders of launchers no longer running,
    never a running one's."""
    import subprocess
    import sys
    import tempfile

    from offrl.sweep.backends import scratch_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"offrl-sweep-{gone.pid}-abc"
    alive = tmp_path / f"offrl-sweep-{os.getppid()}-def"
    other = tmp_path / "offrl-sweep-notapid-x"
    for d in (dead, alive, other):
        d.mkdir()
        (d / "run.1.json").write_text("{}")
    mine = scratch_folder()
    assert not dead.exists() and alive.exists() and other.exists()
    assert mine.parent == tmp_path and mine.name.startswith(f"offrl-sweep-{os.getpid()}-")


def test_a_missing_minari_dataset_names_where_it_was_looked_for(tmp_path, monkeypatch):
    from offrl.datasets.api import missing_data_lines as missing_data

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    line, = missing_data(["minari/mujoco/hopper/medium-v0"])
    assert str(tmp_path / 'minari' / 'mujoco/hopper/medium-v0') in line and "(no local path)" not in line
    assert "offrl datasets download minari/mujoco/hopper/medium-v0" in line


def test_runs_sharing_a_gpu_record_their_share_of_it(tmp_path, monkeypatch):
    """Two children on one GPU take turns on it: each finished run's folder says which share of the GPU
    it had (every second divided by the runs then on it), so that a rate measured two at once is not
    taken for half the speed. Runs on the CPU record none."""
    from offrl.sweep.plan import DEVICE_SHARE_NAME, device_share, run_states

    toy_data()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", steps=100), results_dir=tmp_path / "res")
    seen = []
    # "GPU 0" is only a name to the launcher here: JAX computes on the CPU, the launcher counts the same
    ProcessBackend(per_gpu=2, gpus=["0"]).run(sweep.kind, sweep.runs, lambda o: seen.append(o.status))
    assert seen == ["finished", "finished"]
    records = [json.loads((tmp_path / "res" / c.run_id / DEVICE_SHARE_NAME).read_text()) for c in sweep.runs]
    assert all(r["gpu"] == "0" and r["runs_per_gpu"] == 2 and r["attempt"] == 1 for r in records)
    # started together, so together their shares cover the longer one's time exactly once
    walls, alone = [r["wall_s"] for r in records], [r["alone_s"] for r in records]
    assert sum(alone) == pytest.approx(max(walls), abs=0.05)
    assert all(0.5 <= r["share"] < 1 and r["share"] == pytest.approx(r["alone_s"] / r["wall_s"], abs=1e-3)
               for r in records)
    assert [s.device_share for s in run_states(sweep)] == [r["share"] for r in records]
    # a damaged record is no record; on the CPU, none is written
    (tmp_path / "res" / sweep.runs[0].run_id / DEVICE_SHARE_NAME).write_text("{not json")
    assert device_share(tmp_path / "res" / sweep.runs[0].run_id) is None
    cpu = load_sweep(write_sweep(tmp_path / "c.yaml", steps=100), results_dir=tmp_path / "cpu")
    ProcessBackend(per_gpu=2, gpus=[]).run(cpu.kind, cpu.runs, lambda o: None)
    assert all((tmp_path / "cpu" / c.run_id / "final.json").exists() for c in cpu.runs)
    assert not list((tmp_path / "cpu").glob(f"*/{DEVICE_SHARE_NAME}"))
