"""benchmarks/dt_throughput.py at its tiny CPU sizes: the JSON it writes, with and without the baseline."""

import importlib.util
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("dt_throughput", ROOT / "benchmarks" / "dt_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dt_throughput_writes_rates_and_its_settings(tmp_path, monkeypatch):
    script = _script()
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    with_base, without = tmp_path / "base.json", tmp_path / "nobase.json"
    assert script.main(["--quick", "--seeds", "2", "--reps", "1", "--baseline-steps", "3", "--out", str(with_base)]) == 0
    assert script.main(["--quick", "--seeds", "1,2", "--reps", "1", "--no-baseline",
                        "--hp", "activation_dtype=bfloat16", "--out", str(without)]) == 0
    a, b = json.loads(with_base.read_text()), json.loads(without.read_text())
    # the XLA options a sweep ran under are part of its record
    assert a["xla_flags"] == b["xla_flags"] == "--xla_cpu_enable_fast_math=false"
    assert a["unfused"]["steps_per_s"] > 0 and a["fused"][0]["speedup_vs_unfused"] > 0
    assert b["unfused"] is None and b["activation_dtype"] == "bfloat16"
    assert [r["seeds"] for r in b["fused"]] == [1, 2]
    for r in a["fused"] + b["fused"]:
        assert r["seed_steps_per_s"] > 0 and math.isfinite(r["final_loss"])
    assert all(r["speedup_vs_unfused"] is None for r in b["fused"])
