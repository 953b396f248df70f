"""`offrl continual` from the command line: list, collect from the shipped pendulum policies, train, and
a run killed in the middle of the stream that resumes in the task it was in and ends with the same
numbers and the same records as an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ARGS = ["--stream", "pendulum-gain", "--method", "er", "--method-hp", "buffer_size=100", "--seeds", "0", "1",
        "--steps-per-task", "400", "--eval-every", "100", "--chunk", "100", "--eval-episodes", "2",
        "--hp", "hidden=32,32", "--batch-size", "64", "--no-progress"]


def offrl(*args, env, **kw):
    return subprocess.run([sys.executable, "-m", "offrl.cli", *args], env=env, capture_output=True, text=True,
                          timeout=900, **kw)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("continual-cli")
    e = {**os.environ, "OFFRL_DATA_DIR": str(root / "data"), "OFFRL_RESULTS_DIR": str(root / "results"),
         "JAX_PLATFORMS": "cpu", "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    r = offrl("continual", "collect", "--stream", "pendulum-gain", "--quality", "medium", "--steps", "2000", env=e)
    assert r.returncode == 0, r.stderr
    return e


def test_list_names_streams_methods_and_present_data(env):
    r = offrl("continual", "list", env=env)
    assert r.returncode == 0
    assert "pendulum-gain" in r.stdout and "policies shipped; data present: medium" in r.stdout
    for m in ("finetune", "multitask", "l2", "ewc", "er", "scratch"):
        assert f"  {m} " in r.stdout
    bad = offrl("continual", "train", "--stream", "pendulum-gian", env=env)
    assert bad.returncode == 1 and "did you mean 'pendulum-gain'" in bad.stderr and "Traceback" not in bad.stderr
    missing = offrl("continual", "train", "--stream", "pendulum-gain", "--quality", "expert", env=env)
    assert missing.returncode == 1 and "offrl continual collect --stream pendulum-gain --quality expert" in missing.stderr


def rows(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]


@pytest.mark.slow
@pytest.mark.timeout(2400)  # three short continual runs, each compiling its chunks
def test_killed_mid_stream_resumes_in_its_task_with_the_same_numbers(env):
    results = os.path.join(env["OFFRL_RESULTS_DIR"])
    ref = offrl("continual", "train", *ARGS, "--run-id", "ref", env=env)
    assert ref.returncode == 0, ref.stderr
    assert "score after each task" in ref.stdout
    assert f"results in {os.path.join(results, 'ref')}" in ref.stdout  # the folder, not the bare run id

    from pathlib import Path

    run = Path(results) / "killed"
    p = subprocess.Popen([sys.executable, "-m", "offrl.cli", "continual", "train", *ARGS, "--run-id", "killed"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline:  # wait for a checkpointed evaluation inside task 1 (the stream's second)
        if (run / "metrics.jsonl").exists() and any(r["kind"] == "eval" and r["step"] >= 500 for r in rows(run)):
            break
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode != 0 and "rerun the same command to resume" in err
    assert not (run / "final.json").exists()

    again = offrl("continual", "train", *ARGS, "--run-id", "killed", env=env)
    assert again.returncode == 0, again.stderr
    assert "resuming killed in task 2/3 (reversed)" in again.stdout + again.stderr
    a = json.loads((Path(results) / "ref" / "final.json").read_text())
    b = json.loads((run / "final.json").read_text())
    for key in ("matrix", "matrix_return", "curves", "initial", "eval_steps"):
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)
    # the wall time is the run's over both attempts (the killed one's up to its checkpoint, then this one's)
    assert b["resumed_from_step"] >= 500 and "resumed_from_step" not in a
    assert 0 < b["attempt_wall_time_s"] < b["wall_time_s"] and b["machine"] == a["machine"]
    # the per-task lines count the run's time too, with this attempt's beside it
    assert "task 3/3 (weak) done at " in again.stdout and " s since the restart, " in again.stdout
    assert " since the restart" not in ref.stdout
    keys = [(r["kind"], r["step"], r["seed"]) for r in rows(run)]
    assert len(keys) == len(set(keys)) and sorted(keys) == sorted((r["kind"], r["step"], r["seed"])
                                                                  for r in rows(Path(results) / "ref"))
