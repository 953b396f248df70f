"""A continual run interrupted while it evaluates every task lets that evaluation end and be checkpointed: the
rerun resumes after it (not one evaluation interval earlier) and ends with an uninterrupted run's numbers.
The logger's side and the single-task trainer's: tests/evaluation/test_interrupt_at_evaluation.py."""

import json

import numpy as np
import pytest
from test_trainer import pendulum_datasets, tiny

from offrl.continual import trainer as C


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]


def test_a_continual_run_interrupted_in_an_evaluation_resumes_after_it(tmp_path, monkeypatch, interrupt_on_call):
    datasets = pendulum_datasets(600)
    ref = C.train_stream(tiny("finetune", tmp_path, seeds=(0,), run_id="ref"), datasets=datasets)
    interrupt_on_call(C.TaskEvaluator, "__call__", 4)  # step 300: inside the second task
    cut = tiny("finetune", tmp_path, seeds=(0,), run_id="cut")
    with pytest.raises(KeyboardInterrupt):
        C.train_stream(cut, datasets=datasets)
    monkeypatch.undo()
    again = C.train_stream(cut, datasets=datasets)
    assert again["resumed_from_step"] == 300
    for key in ("matrix", "curves", "initial", "eval_steps"):
        np.testing.assert_array_equal(np.asarray(again[key]), np.asarray(ref[key]), err_msg=key)
    assert sorted(_steps(tmp_path / "cut" / "metrics.jsonl")) == sorted(_steps(tmp_path / "ref" / "metrics.jsonl"))
