"""A run trained on one data set never resumes on, or is found finished for, data collected again with other
settings: the recorded checksums must agree (offrl.train.data_difference)."""

import pytest

from offrl.collection import collect
from offrl.errors import OffrlError


def test_a_finished_train_run_is_not_passed_off_for_other_data(tmp_path):
    from offrl.train import TrainConfig, train

    collect("hopper-medium", steps=2000, minari=False, progress=False)
    tc = TrainConfig(algo="bc", dataset="local/hopper-medium-v0", seeds=(0,), steps=200, chunk=100, eval_every=100,
                     eval_episodes=1, hp=("hidden=16,16",), progress=False, results_dir=str(tmp_path / "results"))
    first = train(tc)
    assert train(tc)["run_id"] == first["run_id"]  # the same data: found finished
    collect("hopper-medium", steps=3000, minari=False, progress=False, overwrite=True)
    with pytest.raises(OffrlError, match="holds a finished run, but the dataset changed since it trained "
                                         r"\(checksum sha256:\w+ then, sha256:\w+ now"):
        train(tc)


def test_a_continual_run_is_not_resumed_or_found_finished_on_other_data(tmp_path):
    from offrl.continual.streams import load_stream
    from offrl.continual.trainer import ContinualConfig, train_stream

    stream = load_stream("pendulum-gain")
    for task in stream.task_names:
        collect(f"pendulum-gain/{task}-medium", steps=600, minari=False, progress=False)
    cc = ContinualConfig(stream="pendulum-gain", method="finetune", seeds=(0,), steps_per_task=100, eval_every=100,
                         chunk=100, eval_episodes=1, batch_size=32, hp=("hidden=16,16",), progress=False,
                         results_dir=str(tmp_path / "results"))
    train_stream(cc)
    collect(f"pendulum-gain/{stream.task_names[1]}-medium", steps=700, minari=False, progress=False, overwrite=True)
    with pytest.raises(OffrlError, match="holds a finished continual run, but the data of task\\(s\\) 1 changed"):
        train_stream(cc)
