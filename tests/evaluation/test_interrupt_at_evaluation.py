"""An interrupt (Ctrl-C, SIGTERM) that arrives while a run evaluates lets that evaluation end and be
checkpointed, so the rerun resumes after it with the training before it kept (it used to resume from the
checkpoint one evaluation interval earlier); a second interrupt stops at once, never inside a write. The
numbers of the resumed run equal an uninterrupted run's."""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import numpy as np
import pytest

from offrl.logging import RunLogger

CONFIG = {"algo": "bc", "dataset": "toy", "algo_config": {}, "train_config": {}}


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()]


def test_finishing_lets_its_body_end_then_raises_and_says_so(tmp_path, capsys):
    done = []
    with pytest.raises(KeyboardInterrupt), RunLogger(tmp_path / "r", CONFIG, [0], use_wandb=False) as log:
        with log.finishing("this evaluation is done and checkpointed"):
            os.kill(os.getpid(), signal.SIGINT)
            done.append("evaluated")
            log.log(100, {"score": [1.0]}, kind="eval")
            log.checkpointed(100)
            done.append("checkpointed")
        pytest.fail("the interrupt should be raised once the body ended")
    assert done == ["evaluated", "checkpointed"]
    err = capsys.readouterr().err
    assert "SIGINT: stopping once this evaluation is done and checkpointed (send it again to stop now" in err
    assert "rerun the same command to resume from the checkpoint of step 100" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers given back


def test_a_second_interrupt_stops_at_once_but_never_inside_a_write(tmp_path):
    done = []
    with pytest.raises(KeyboardInterrupt), RunLogger(tmp_path / "r", CONFIG, [0, 1], use_wandb=False) as log:
        with log.finishing("this evaluation is done and checkpointed"):
            os.kill(os.getpid(), signal.SIGTERM)
            with log.uninterrupted():  # a write: both signals wait for it
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("written")
            done.append("after the write")
            os.kill(os.getpid(), signal.SIGTERM)  # the second outside a write: raised here
            done.append("never")
    assert done == ["written", "after the write"]
    # nothing raised from a log call inside finishing: every seed's row of it is written
    with RunLogger(tmp_path / "s", CONFIG, [0, 1], use_wandb=False) as log:
        with pytest.raises(KeyboardInterrupt), log.finishing("x"):
            os.kill(os.getpid(), signal.SIGINT)
            log.log(10, {"loss": [1.0, 2.0]})
    assert _steps(tmp_path / "s" / "metrics.jsonl") == [10, 10]


def test_a_training_run_interrupted_in_an_evaluation_resumes_after_it(tmp_path, monkeypatch, toy_hopper_dataset,
                                                                      interrupt_on_call):
    import offrl.evaluation.rollout as R
    import offrl.train as T

    tc = T.TrainConfig(algo="bc", dataset="toy", seeds=(0, 1), steps=400, eval_every=100, chunk=50,
                       eval_episodes=1, hp=("hidden=16,16", "batch_size=16"), results_dir=str(tmp_path),
                       progress=False, wandb=False, eval_workers=1)
    ref = T.train(dataclasses.replace(tc, run_id="ref"), dataset=toy_hopper_dataset)

    interrupt_on_call(R, "evaluate", 2)  # the evaluation of step 200 (train imports it as it starts)
    cut = dataclasses.replace(tc, run_id="cut")
    with pytest.raises(KeyboardInterrupt):
        T.train(cut, dataset=toy_hopper_dataset)
    monkeypatch.undo()
    again = T.train(cut, dataset=toy_hopper_dataset)
    assert again["resumed_from_step"] == 200  # not 100: the interrupted evaluation ended and was checkpointed
    for key in ("last", "best", "curve"):
        np.testing.assert_array_equal(again["normalized_score"][key], ref["normalized_score"][key], err_msg=key)
    assert sorted(_steps(tmp_path / "cut" / "metrics.jsonl")) == sorted(_steps(tmp_path / "ref" / "metrics.jsonl"))


def test_with_overlap_eval_an_interrupt_waits_for_the_evaluation_under_way(tmp_path, monkeypatch, capsys,
                                                                           toy_hopper_dataset):
    """--overlap-eval checkpoints a step when its evaluation, run beside training, is collected (at the next
    evaluation step): an interrupt in between lets the evaluation under way end and checkpoints its step."""
    import offrl.train as T

    tc = T.TrainConfig(algo="bc", dataset="toy", seeds=(0, 1), steps=400, eval_every=100, chunk=50,
                       eval_episodes=1, hp=("hidden=16,16", "batch_size=16"), results_dir=str(tmp_path),
                       progress=False, wandb=False, eval_workers=1, overlap_eval=True)
    ref = T.train(dataclasses.replace(tc, run_id="ref"), dataset=toy_hopper_dataset)

    real = T.host_metrics

    def interrupted_at_250(metrics, seeds, step, *args, **kwargs):
        if step == 250:  # the evaluation of step 200 runs (or waits to be collected); the last checkpoint is 100
            os.kill(os.getpid(), signal.SIGINT)
        return real(metrics, seeds, step, *args, **kwargs)

    monkeypatch.setattr(T, "host_metrics", interrupted_at_250)
    cut = dataclasses.replace(tc, run_id="cut")
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        T.train(cut, dataset=toy_hopper_dataset)
    err = capsys.readouterr().err
    assert "cut: stopping once the evaluation under way is done and checkpointed" in err
    assert "resume from the checkpoint of step 200" in err, err
    monkeypatch.undo()
    again = T.train(cut, dataset=toy_hopper_dataset)
    assert again["resumed_from_step"] == 200
    for key in ("last", "best", "curve"):
        np.testing.assert_array_equal(again["normalized_score"][key], ref["normalized_score"][key], err_msg=key)
    assert sorted(_steps(tmp_path / "cut" / "metrics.jsonl")) == sorted(_steps(tmp_path / "ref" / "metrics.jsonl"))
