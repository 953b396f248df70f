"""A finished single-task run: re-requested under its run id it comes back only for the configuration it
was trained and evaluated with, and ``final.json`` (the mark of a finished run) is written after every other
file of the run, so that a run killed at its very end is completed by a rerun."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from offrl.cli import main
from offrl.datasets import save
from offrl.errors import OffrlError


def _config(tmp_path, dataset, **kw):
    from offrl.train import TrainConfig

    ds_path = tmp_path / "toy.npz"
    if not ds_path.exists():
        save(dataset, ds_path)
    base = dict(dataset=str(ds_path), algo="bc", seeds=(0, 1), steps=100, eval_every=50, chunk=50, eval_episodes=1,
                hp=("hidden=16,16", "batch_size=16"), run_id="mine", results_dir=str(tmp_path / "res"),
                progress=False, wandb=False)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.filterwarnings("ignore:.*Hopper-v4 is out of date")
def test_a_finished_run_comes_back_only_for_its_own_configuration(tmp_path, capsys, toy_hopper_dataset):
    """A finished run named by its run id is returned for the same configuration (or one differing only in
    how it computes or reports); another evaluation protocol, env or normalisation is refused by name, as a
    resume would be, and the finished run is left as it was."""
    import dataclasses

    from offrl.train import train

    tc = _config(tmp_path, toy_hopper_dataset)
    final = train(tc)
    run = tmp_path / "res" / "mine"
    before = {p: (run / p).read_bytes() for p in ("final.json", "final_state.npz", "metrics.jsonl")}
    assert train(tc) == final
    assert train(dataclasses.replace(tc, eval_workers=1, checkpoint=False, wandb_tags=("x",))) == final
    for change, name in ((dict(eval_episodes=5), "train_config.eval_episodes"),
                         (dict(eval_every=100, chunk=50), "train_config.eval_every"),
                         (dict(eval_seed=7), "train_config.eval_seed"),
                         (dict(normalize_obs=False), "train_config.normalize_obs"),
                         (dict(env_id="Hopper-v4"), "train_config.env_id")):
        with pytest.raises(OffrlError, match=rf"finished run with a different configuration \(.*{name}: \S+ then, \S+ now"):
            train(dataclasses.replace(tc, **change))
    assert {p: (run / p).read_bytes() for p in before} == before

    # through the CLI: refused (exit 1, the setting named), never "already finished" with the old scores
    argv = ["train", "--algo", "bc", "--dataset", tc.dataset, "--seeds", "0", "1", "--steps", "100", "--eval-every",
            "50", "--chunk", "50", "--hp", "hidden=16,16", "batch_size=16", "--no-progress", "--wandb", "off",
            "--run-id", "mine", "--results-dir", str(tmp_path / "res")]
    capsys.readouterr()
    assert main([*argv, "--eval-episodes", "5"]) == 1
    out, err = capsys.readouterr()
    assert "train_config.eval_episodes" in err and "already finished" not in out
    assert main([*argv, "--eval-episodes", "1"]) == 0
    assert f"already finished: {run}" in capsys.readouterr().out


def test_a_run_killed_while_writing_its_final_files_is_finished_by_a_rerun(tmp_path, monkeypatch, capsys,
                                                                           toy_hopper_dataset):
    """final.json is written last: a run stopped while writing its final state has no final.json, says how to
    resume, and a rerun completes it from its last checkpoint with the numbers of an uninterrupted run."""
    import offrl.train as T

    tc = _config(tmp_path, toy_hopper_dataset)
    run = tmp_path / "res" / "mine"

    def killed(path, states):
        raise KeyboardInterrupt("SIGTERM")  # what `kill` raises inside a run (offrl.logging)

    monkeypatch.setattr(T, "_save_params", killed)
    with pytest.raises(KeyboardInterrupt):
        T.train(tc)
    assert "rerun the same command to resume from the checkpoint of step 100" in capsys.readouterr().err
    assert not (run / "final.json").exists() and not (run / "final_state.npz").exists()
    assert T.finished_results(run) is None
    monkeypatch.undo()

    final = T.train(tc)
    assert (run / "final_state.npz").is_file() and (run / "obs_normalization.npz").is_file()
    assert json.loads((run / "final.json").read_text()) == final
    ref = T.train(_config(tmp_path, toy_hopper_dataset, results_dir=str(tmp_path / "ref")))
    assert final["normalized_score"] == ref["normalized_score"]
    a, b = np.load(run / "final_state.npz"), np.load(tmp_path / "ref" / "mine" / "final_state.npz")
    for k in b.files:
        np.testing.assert_array_equal(a[k], b[k])
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    assert max(Counter((r["kind"], r["step"], r["seed"]) for r in rows).values()) == 1
    # offrl eval reads the completed run
    assert main(["eval", str(run), "--episodes", "1"]) == 0
    capsys.readouterr()
    for bad, said in ((["--eval-seed", "-1"], "--eval-seed -1: env seeds are non-negative"),
                      (["--episodes", "0"], "evaluate at least one episode"), (["--workers", "-1"], "must be >= 0")):
        assert main(["eval", str(run), *bad]) == 1 and said in capsys.readouterr().err
    # a run that normalized observations is not evaluated on raw ones when its statistics are gone
    (run / "obs_normalization.npz").rename(tmp_path / "kept.npz")
    assert main(["eval", str(run), "--episodes", "1"]) == 1
    assert "obs_normalization.npz is missing: the run normalized observations" in capsys.readouterr().err
    (tmp_path / "kept.npz").write_bytes(b"not an npz")
    (tmp_path / "kept.npz").rename(run / "obs_normalization.npz")
    assert main(["eval", str(run), "--episodes", "1"]) == 1
    assert "obs_normalization.npz is damaged" in capsys.readouterr().err


def test_offrl_train_refuses_missing_devices_before_reading_data(tmp_path, capsys):
    """More devices than this host has are refused before the dataset is read (here it does not even
    exist), so that the error names the devices, not the data."""
    import jax

    count = len(jax.local_devices()) + 1
    seeds = [str(s) for s in range(count)]
    argv = ["train", "--algo", "bc", "--dataset", str(tmp_path / "absent.npz"), "--seeds", *seeds,
            "--devices", str(count), "--steps", "100", "--no-progress", "--wandb", "off"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"TrainConfig.devices={count} but this host has" in err and "absent.npz" not in err


def test_an_interrupt_while_an_evaluation_runs_beside_training_is_noted(tmp_path, monkeypatch, toy_hopper_dataset):
    """--overlap-eval: an interrupt while the evaluation thread runs lets it end (its step is checkpointed) and
    leaves nothing running; a second one, while that evaluation is awaited, leaves the thread its envs and notes
    it, so that the offrl program ends without the interpreter's teardown (which aborted under the thread, 134)."""
    import offrl.evaluation.background as bg
    import offrl.train as T
    from offrl import process
    from offrl.sweep.plan import checkpoint_step

    real_start = bg.BackgroundEvaluation.start

    def start_then_interrupt(self, *args, **kwargs):
        real_start(self, *args, **kwargs)
        raise KeyboardInterrupt("SIGINT")  # arrives while the evaluation runs

    monkeypatch.setattr(bg.BackgroundEvaluation, "start", start_then_interrupt)
    monkeypatch.setattr(process, "_left", [])
    with pytest.raises(KeyboardInterrupt):
        T.train(_config(tmp_path, toy_hopper_dataset, overlap_eval=True, run_id="once"))
    assert process.left_running() == []  # the evaluation was waited for and its step checkpointed
    assert checkpoint_step(tmp_path / "res" / "once") == 50

    def interrupted_again(self):
        raise KeyboardInterrupt("SIGINT")  # the second interrupt, while the trainer waits for the evaluation

    monkeypatch.setattr(bg.BackgroundEvaluation, "wait", interrupted_again)
    with pytest.raises(KeyboardInterrupt):
        T.train(_config(tmp_path, toy_hopper_dataset, overlap_eval=True, run_id="twice"))
    assert process.left_running() == ["an evaluation (--overlap-eval)"]
    assert checkpoint_step(tmp_path / "res" / "twice") is None  # stopped before the evaluation's step was saved
