"""The seed axis sharded over 4 CPU devices (XLA's host-platform device count, in a child process):
TD3+BC and IQL on 4 devices give the numbers of 1 device; a run checkpointed on 2 devices resumes on 1;
3 seeds on 2 devices are padded and dropped; checkpoints move between placements to the bit.

Tolerance: the same numbers up to float32 rounding, not to the bit. Each device runs the one-device
program compiled for its own share of the seed axis, and XLA chooses its dot and reduction kernels by
shape: the batch sums of a gradient then add in another order (measured: states differ by at most
~3e-5 relative after 200 steps; even one seed trained alone differs that much from the same seed
vmapped with three others on one device). Seeds never read each other's data (the compiled chunk has
no collective), so nothing beyond rounding can differ.
"""

import collections
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from multidevice import run_scenario  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5  # float32 rounding after 200 steps of tiny nets (module docstring)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return run_scenario("train", tmp_path_factory.mktemp("sharded-train"), devices=4)


def _run(scenario, name):
    run = scenario["runs"][name]
    run_dir = Path(run["dir"]) / run["final"]["run_id"]
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return run, run_dir, np.load(run_dir / "final_state.npz"), rows


def _assert_same_numbers(a, b, n_seeds):
    """final.json, final_state.npz and metrics.jsonl of two runs agree for the first ``n_seeds`` seeds."""
    (ra, _, sa, rows_a), (rb, _, sb, rows_b) = a, b
    assert sa.files == sb.files
    for k in sa.files:
        np.testing.assert_allclose(sa[k][:n_seeds], sb[k][:n_seeds], rtol=RTOL, atol=ATOL, err_msg=k)
    fa, fb = ra["final"], rb["final"]
    assert fa["eval_steps"] == fb["eval_steps"] == [100, 200]
    for key in ("return", "normalized_score"):
        np.testing.assert_allclose(np.asarray(fa[key]["curve"])[:n_seeds], fb[key]["curve"], rtol=RTOL)
    index_a = {(r["kind"], r["step"], r["seed"]): r for r in rows_a}
    index_b = {(r["kind"], r["step"], r["seed"]): r for r in rows_b}
    assert set(index_b) == {k for k in index_a if k[2] < n_seeds}
    for k, row in index_b.items():
        assert row.keys() == index_a[k].keys()
        for name, value in row.items():
            if isinstance(value, float) and name != "time":
                np.testing.assert_allclose(value, index_a[k][name], rtol=RTOL, atol=ATOL, err_msg=f"{k} {name}")


@pytest.mark.parametrize("algo", ["td3bc", "iql"])
def test_four_seeds_on_four_devices_equal_four_seeds_on_one(scenario, algo):
    one, four = _run(scenario, f"{algo}-4seeds-1dev"), _run(scenario, f"{algo}-4seeds-4dev")
    # the runs really were placed as asked: one seed per device, and all four on one device
    assert one[0]["chunks"] == [{"devices": [1], "rows": 4}]
    assert four[0]["chunks"] == [{"devices": [4], "rows": 4}]
    assert f"{algo}: 4 seeds over 4 cpu devices, 1 per device" in scenario["stderr"]
    _assert_same_numbers(one, four, 4)
    # same run id and the same recorded config: the device count is where a run computes, not what
    assert one[0]["final"]["run_id"] == four[0]["final"]["run_id"]
    assert (one[1] / "config.json").read_text() == (four[1] / "config.json").read_text()


def test_the_sharded_chunk_never_communicates_between_devices(scenario):
    assert scenario["local_devices"] == 4 and scenario["hlo_seen"]
    assert scenario["collectives"] == []


def test_a_run_checkpointed_on_two_devices_resumes_on_one_with_the_same_numbers(scenario):
    killed = scenario["runs"]["iql-killed-2dev"]
    assert killed["killed"] and killed["chunks"] == [{"devices": [2], "rows": 4}]
    resumed = _run(scenario, "iql-resumed-1dev")
    assert resumed[0]["chunks"] == [{"devices": [1], "rows": 4}]
    assert "resuming" in scenario["stderr"] and "from step 100" in scenario["stderr"]
    _assert_same_numbers(_run(scenario, "iql-4seeds-1dev"), resumed, 4)
    # the records continue: every (kind, step, seed) row once
    counts = collections.Counter((r["kind"], r["step"], r["seed"]) for r in resumed[3])
    assert set(counts.values()) == {1} and len(counts) == 2 * 2 * 4


def test_checkpoints_restore_into_any_placement_to_the_bit(scenario):
    saved_on_two = scenario["checkpoint"]
    assert saved_on_two["1dev"] == {"bit_equal": True, "devices": [1], "step": 7}
    assert saved_on_two["4dev"] == {"bit_equal": True, "devices": [4], "step": 7}


def test_seeds_the_devices_do_not_divide_are_padded_and_dropped(scenario):
    padded = _run(scenario, "td3bc-3seeds-2dev")
    # 3 seeds over 2 devices train as 4 rows (a copy of seed 2), and only the 3 real seeds come out
    assert padded[0]["chunks"] == [{"devices": [2], "rows": 4}]
    assert "3 seeds over 2 cpu devices, 2 per device" in scenario["stderr"]
    assert "1 padding slot(s)" in scenario["stderr"]
    final = padded[0]["final"]
    assert final["seeds"] == [0, 1, 2] and len(final["return"]["last"]) == 3
    assert {padded[2][k].shape[0] for k in padded[2].files} == {3}
    assert {r["seed"] for r in padded[3]} == {0, 1, 2}
    assert scenario["padded_checkpoint"] == {"step": 200, "rows": [3], "equals_final_state": True}
    # the real seeds train as they do without padding (seeds 0-2 of the 4-seed run on one device)
    _assert_same_numbers(_run(scenario, "td3bc-4seeds-1dev"), padded, 3)


def test_placement_rule_on_four_devices(scenario):
    rules = scenario["placements"]
    assert rules["4/4"] == {"devices": 4, "slots": 4, "padding": 0}
    assert rules["2/3"] == {"devices": 2, "slots": 4, "padding": 1}
    assert rules["3/5"] == {"devices": 3, "slots": 6, "padding": 1}
    # all: every device, but not more devices than seeds
    assert rules["all/2"] == {"devices": 2, "slots": 2, "padding": 0}
    assert rules["all/5"] == {"devices": 4, "slots": 8, "padding": 3}
    assert rules["all/8"] == {"devices": 4, "slots": 8, "padding": 0}
    assert "TrainConfig.devices=4 is more devices than the 2 seed(s)" in rules["4/2"]["error"]
    assert "TrainConfig.devices=8 but this host has 4 local devices (cpu)" in rules["8/8"]["error"]
    assert "xla_force_host_platform_device_count" in rules["8/8"]["error"]
