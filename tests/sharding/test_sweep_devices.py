"""``offrl sweep --devices-per-run N``: the local backend gives each run N GPUs (checked without GPUs:
the GPU ids only travel in CUDA_VISIBLE_DEVICES), and end to end on 2 CPU host devices that each child
process sees: the run trains its seeds over both and matches the same run on one device."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "sweep"))
from sweeptools import REPO, write_sweep, write_toy  # noqa: E402

from offrl.cli import main  # noqa: E402
from offrl.errors import ConfigError  # noqa: E402
from offrl.sweep import load_sweep, run_sweep  # noqa: E402
from offrl.sweep.backends import ProcessBackend, child_env, gpu_groups  # noqa: E402
from offrl.sweep.cli import _backend  # noqa: E402


def test_gpus_are_grouped_per_run():
    assert gpu_groups(["0", "1", "2", "3"], 2) == ["0,1", "2,3"]
    assert gpu_groups(["4", "5", "6", "7"], 4) == ["4,5,6,7"]
    assert ProcessBackend(per_gpu=2, gpus=["0", "1", "2", "3"], devices_per_run=2).slots == ["0,1", "0,1", "2,3", "2,3"]
    assert ProcessBackend(per_gpu=1, gpus=["0", "1"], devices_per_run=1).slots == ["0", "1"]
    assert child_env("2,3", 1, {})["CUDA_VISIBLE_DEVICES"] == "2,3"
    with pytest.raises(ConfigError, match="do not split into groups of 3; choose a multiple of 3 with --gpus"):
        gpu_groups(["0", "1", "2", "3"], 3)
    with pytest.raises(ConfigError, match="must be >= 1"):
        gpu_groups(["0"], 0)


def test_devices_per_run_is_checked_before_any_run_starts():
    with pytest.raises(ConfigError, match="option of the local backend"):
        _backend("ray", 1, None, None, 1, None, 1.0, True, devices_per_run=2)
    with pytest.raises(ConfigError, match="the 0 visible GPU"):
        _backend("local", 1, "", None, 1, None, 1.0, True, devices_per_run=2)
    engine = _backend("local", 2, "0,1,2,3", None, 1, None, 1.0, True, devices_per_run=2)
    assert isinstance(engine, ProcessBackend) and engine.slots == ["0,1", "0,1", "2,3", "2,3"]
    with pytest.raises(ConfigError, match="needs GPUs"):
        ProcessBackend(per_gpu=1, devices_per_run=2).run(None, [], lambda o: None)


def test_each_run_trains_its_seeds_over_its_gpus(tmp_path, monkeypatch, capsys):
    write_toy("toy-a-v0")
    f = write_sweep(tmp_path / "s.yaml", steps=200, every=100, datasets=("local/toy-a-v0",))
    # the child processes get 2 host devices; "GPUs" 0,1 only reach them as CUDA_VISIBLE_DEVICES
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    shared = tmp_path / "shared"
    assert main(["sweep", str(f), "--results-dir", str(shared), "--gpus", "0,1", "--devices-per-run", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 to run in child processes (1 at a time)" in out and "1 finished, 0 failed" in out
    (config,) = load_sweep(f, results_dir=shared).runs
    log = (shared / config.run_id / "sweep.log").read_text()
    assert "attempt 1, GPU 0,1" in log and "bc: 2 seeds over 2 cpu devices, 1 per device" in log
    # the same run (same id) on one device, in this process: the same numbers up to float32 rounding
    monkeypatch.delenv("XLA_FLAGS")
    (alone,) = load_sweep(f, results_dir=tmp_path / "alone").runs
    assert alone.run_id == config.run_id
    run_sweep(load_sweep(f, results_dir=tmp_path / "alone"))
    a = np.load(shared / config.run_id / "final_state.npz")
    b = np.load(tmp_path / "alone" / config.run_id / "final_state.npz")
    assert a.files == b.files
    for k in a.files:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=k)
