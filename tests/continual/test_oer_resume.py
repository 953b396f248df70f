"""OER stopped in the middle of its third task resumes from its checkpoint with everything it carries (the clone,
the learner, both earlier tasks' selected buffers and their stored actions) and ends with the numbers of a run
that was never stopped."""

import json

import numpy as np
import pytest
from test_trainer import METHOD_HP, pendulum_datasets, tiny

from offrl.continual.trainer import train_stream


@pytest.fixture(scope="module")
def datasets():
    return pendulum_datasets(600)


def test_oer_stopped_mid_stream_resumes_to_the_same_numbers(datasets, tmp_path, monkeypatch, capsys):
    import offrl.train as trainer  # the continual trainer takes its host_metrics from there as it starts

    def config(run_id):
        return tiny("oer", tmp_path, method_hp=METHOD_HP["oer"], steps_per_task=300, run_id=run_id)

    ref = train_stream(config("ref"), datasets=datasets)

    real = trainer.host_metrics
    reached = []

    def stopped_in_task_3(metrics, seeds, step, *args, **kwargs):
        reached.append(step)
        if step > 700:  # past the checkpoint at step 700, inside the third task (600-900)
            raise KeyboardInterrupt
        return real(metrics, seeds, step, *args, **kwargs)

    monkeypatch.setattr(trainer, "host_metrics", stopped_in_task_3)
    with pytest.raises(KeyboardInterrupt):
        train_stream(config("cut"), datasets=datasets)
    assert max(reached) > 700 and not (tmp_path / "cut" / "final.json").exists()
    monkeypatch.setattr(trainer, "host_metrics", real)
    capsys.readouterr()

    again = train_stream(config("cut"), datasets=datasets)
    out = capsys.readouterr()
    assert "resuming cut in task 3/3" in out.out + out.err, out
    assert 600 < again["resumed_from_step"] <= 700
    for key in ("matrix", "matrix_return", "curves", "initial", "eval_steps", "task_boundaries"):
        np.testing.assert_array_equal(np.asarray(again[key]), np.asarray(ref[key]), err_msg=key)
    assert again["summary"] == ref["summary"]
    # the evaluation records of the stopped attempt are continued, none twice
    def evals(run):
        rows = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines() if line]
        return [(r["step"], r["seed"]) for r in rows if r["kind"] == "eval"]

    keys = evals("cut")
    assert len(keys) == len(set(keys)) and sorted(keys) == sorted(evals("ref"))
    assert {step for step, _ in keys} == {100 * i for i in range(10)}
