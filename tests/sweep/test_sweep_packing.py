"""benchmarks/sweep_packing.py at its CPU size: both phases run the same sweep and agree."""

import importlib.util
import json

from sweeptools import REPO


def test_packing_benchmark_times_both_phases_and_they_agree(tmp_path):
    spec = importlib.util.spec_from_file_location("sweep_packing", REPO / "benchmarks" / "sweep_packing.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "packing.json"
    assert script.main(["--quick", "--out", str(out), "--workdir", str(tmp_path / "work")]) == 0
    rec = json.loads(out.read_text())
    assert rec["runs"] == 2 and rec["seeds"] == 2 and rec["parallel"] == 2
    assert rec["one_at_a_time_s"] > 0 and rec["packed_s"] > 0
    assert rec["speedup"] == rec["one_at_a_time_s"] / rec["packed_s"]
    # the same runs came out of both phases, number for number (CPU runs repeat exactly)
    assert rec["runs_compared"] == 2 and rec["max_final_loss_diff"] == 0.0
    for phase in ("one", "packed"):
        finals = sorted((tmp_path / "work" / phase).glob("*/final.json"))
        assert len(finals) == 2 and all(json.loads(f.read_text())["steps"] == 100 for f in finals)
    assert "benchmarks/sweep_packing.py --quick" in rec["command"] and rec["machine"]["cpus"]
