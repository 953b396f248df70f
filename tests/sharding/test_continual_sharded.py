"""The continual trainer with its seeds over 2 CPU devices (a child process): 3 seeds (padded to 4)
through the pendulum-gain stream with the l2 method (an end_task hook between tasks) give the score
matrix and records of the same run on one device, up to float32 rounding (test_train_sharded.py says why)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from multidevice import run_scenario  # noqa: E402


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return run_scenario("continual", tmp_path_factory.mktemp("sharded-continual"), devices=2)


def test_a_stream_on_two_devices_matches_one_device(scenario):
    one, two = scenario["runs"]["1dev"], scenario["runs"]["2dev"]
    # one chunk compiled per run (l2's update does not depend on the task): 3 rows on 1 device, 4 on 2
    assert scenario["chunks"] == [{"devices": [1], "rows": 3}, {"devices": [2], "rows": 4}]
    assert "resuming" not in scenario["stderr"]
    f1, f2 = one["final"], two["final"]
    assert f1["run_id"] == f2["run_id"] and f2["seeds"] == [0, 1, 2]
    assert f1["eval_steps"] == f2["eval_steps"] == [0, 100, 200, 300]
    for key in ("matrix", "matrix_return", "curves", "initial"):
        assert np.asarray(f2[key]).shape[0] == 3
        np.testing.assert_allclose(f2[key], f1[key], rtol=1e-4, atol=1e-4, err_msg=key)
    rows = {}
    for name, run in (("1dev", one), ("2dev", two)):
        lines = (Path(run["dir"]) / run["final"]["run_id"] / "metrics.jsonl").read_text().splitlines()
        rows[name] = {(r["kind"], r["step"], r["seed"]): r for r in map(json.loads, lines)}
    assert rows["1dev"].keys() == rows["2dev"].keys() and {k[2] for k in rows["2dev"]} == {0, 1, 2}
    for k, row in rows["2dev"].items():
        for name, value in row.items():
            if isinstance(value, float) and name != "time":
                np.testing.assert_allclose(value, rows["1dev"][k][name], rtol=1e-4, atol=1e-5, err_msg=f"{k} {name}")
    # the l2 anchor set by end_task (on the sharded states) pulls in the second task
    assert max(r["reg/actor_penalty"] for k, r in rows["2dev"].items() if k[0] == "train" and k[1] == 200) > 0
