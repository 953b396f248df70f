"""benchmarks/continual_throughput.py at its CPU size: ER and OER timed through the cheap stream in one
run, against the per-task baseline, with what the results page needs recorded."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_times_each_method_and_the_baseline(tmp_path):
    out = tmp_path / "ct.json"
    env = {**os.environ, "OFFRL_DATA_DIR": str(tmp_path / "data"), "JAX_PLATFORMS": "cpu",
           "WANDB_MODE": "disabled"}
    r = subprocess.run([sys.executable, "benchmarks/continual_throughput.py", "--quick", "--methods", "er",
                        "oer:variance_lambda=1.2", "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads(out.read_text())
    assert rec["stream"] == "pendulum-gain" and rec["tasks"] == 3 and rec["seeds"] == 2
    assert rec["command"].startswith("python benchmarks/continual_throughput.py --quick") and rec["date"]
    assert [m["method"] for m in rec["methods"]] == ["er", "oer"]
    er, oer = rec["methods"]
    assert "buffer_size=100" in er["method_hp"] and "variance_lambda=1.2" in oer["method_hp"]
    assert "dynamics_steps=100" in oer["method_hp"]  # the quick sizes come first, the user's options after
    for m in rec["methods"]:
        assert m["wall_s"] > 0 and {"per", "bwt"} <= set(m["summary"]) and len(m["per_seed"]["per"]) == 2
        assert 0 < m["time_s"]["train"] and sum(m["time_s"].values()) <= m["wall_s"]  # where its time went
    assert er["x_first_method"] == 1.0 and oer["x_first_method"] == oer["wall_s"] / er["wall_s"]
    assert rec["baseline_s"] > 0 and len(rec["baseline_per_task_s"]) == 3
    # the printed table names every run
    assert "| continual er (buffer_size=100), every task evaluated |" in r.stdout
    assert "(baseline)" in r.stdout
    # one dataset per task, into the data root given
    assert r.stdout.count("collecting local/pendulum-gain/") == 3
    assert len(list((tmp_path / "data" / "local" / "pendulum-gain").iterdir())) == 3
