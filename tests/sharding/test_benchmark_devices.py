"""``benchmarks/train_throughput.py --devices 1,2`` (the hook of the several-GPU measurement in
benchmarks/RESULTS.md) at its --quick CPU size with tiny networks, on 2 host devices in a child process."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "train_throughput.py"


def test_quick_run_measures_one_and_two_devices_in_one_run(tmp_path):
    out = tmp_path / "devices.json"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--devices", "1,2", "--parts", "fused",
                           "--algos", "td3bc,iql", "--seeds", "2", "--hp", "hidden=16,16", "batch_size=16",
                           "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    record = json.loads(out.read_text())
    assert record["info"]["local_devices"] == 2 and record["info"]["device_counts"] == [1, 2]
    rows = {(r["algo"], r["devices"]): r for r in record["results"]}
    assert set(rows) == {("td3bc", 1), ("td3bc", 2), ("iql", 1), ("iql", 2)}
    for (algo, devices), r in rows.items():
        assert r["seeds"] == 2 and r["seed_steps_per_s"] > 0 and r["compile_s"] > 0
        # the speed-up over one device, measured in the same run
        one = rows[(algo, 1)]["seed_steps_per_s"]
        assert abs(r["x_one_device"] - r["seed_steps_per_s"] / one) < 1e-6 * r["x_one_device"]
    assert rows[("iql", 2)]["structure"] == "fused jit(vmap(scan)), seeds over 2 devices"
    assert "| x one device |" in proc.stdout


def test_more_devices_than_the_host_has_is_refused(capsys):
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    import jax

    n = len(jax.local_devices())
    assert script.main(["--quick", "--devices", f"1,{n + 1}", "--parts", "fused"]) == 2
    assert f"this host has {n} local device(s)" in capsys.readouterr().err
