"""A stopped continual run resumed with --eval-learner that it began without is refused before training (its
earlier evaluations have no learner scores); final.json names the data and the machine behind the numbers."""

import dataclasses
import json

import pytest
from test_trainer import METHOD_HP, pendulum_datasets, tiny

from offrl.continual.trainer import train_stream
from offrl.errors import OffrlError


@pytest.fixture(scope="module")
def datasets():
    return pendulum_datasets(600)


@pytest.fixture(scope="module")
def finished(datasets, tmp_path_factory):
    """An OER run trained without eval_learner: (its config, final.json)."""
    cc = tiny("oer", tmp_path_factory.mktemp("runs"), method_hp=METHOD_HP["oer"], seeds=(0,), steps_per_task=100,
              eval_every=100, run_id="stopped")
    return cc, train_stream(cc, datasets=datasets)


def test_final_json_names_the_data_and_the_machine(finished):
    cc, final = finished
    run = f"{cc.results_dir}/stopped"
    config = json.loads(open(f"{run}/config.json").read())
    assert final["dataset_ids"] == config["dataset_ids"] and len(final["dataset_ids"]) == 3
    assert final["dataset_checksums"] == config["dataset_checksums"]
    assert json.loads(open(f"{run}/final.json").read())["dataset_checksums"] == config["dataset_checksums"]
    assert isinstance(final["machine"], str) and final["machine"]


def test_eval_learner_on_resuming_a_run_begun_without_it_is_refused_before_training(finished, datasets, tmp_path):
    import shutil
    from pathlib import Path

    cc, _ = finished
    run = tmp_path / "stopped"
    shutil.copytree(Path(cc.results_dir) / "stopped", run)
    cc = dataclasses.replace(cc, results_dir=str(tmp_path))
    (run / "final.json").unlink()  # stopped after its last checkpoint: the next call resumes it
    records = (run / "metrics.jsonl").read_bytes()
    with pytest.raises(OffrlError, match=r"stopped: --eval-learner .* on resuming a run that began without it: its "
                                         r"earlier evaluations have no learner scores.*--run-id NAME"):
        train_stream(dataclasses.replace(cc, eval_learner=True), datasets=datasets)
    assert (run / "metrics.jsonl").read_bytes() == records and not (run / "final.json").exists()
    assert "learner_curves" not in train_stream(cc, datasets=datasets)  # resumed as it began
