"""`offrl continual` options that must say what they do: the batch size given twice, an eval_every that does
not fit, a data root of one's own in the missing-data hint and in `collect`, the help and summary lines."""

import dataclasses

import pytest

from offrl import algos
from offrl.cli import main
from offrl.continual.trainer import ContinualConfig, learner_config
from offrl.errors import ConfigError, OffrlError


def test_hp_batch_size_is_the_recorded_batch_size_and_a_different_one_beside_it_is_refused():
    cc = ContinualConfig(hp=("hidden=32,32", "batch_size=128"))
    assert cc.batch_size == 128 == learner_config(cc, algos.get(cc.algo)).batch_size
    assert ContinualConfig(batch_size=128, hp=("batch_size=128",)).batch_size == 128
    with pytest.raises(ConfigError, match=r"batch_size=64 and hp batch_size=128 disagree: give the batch size "
                                          r"once \(--batch-size 128"):
        ContinualConfig(batch_size=64, hp=("batch_size=128",))
    # the record is what trained: continual_config.batch_size is the learner's
    assert dataclasses.asdict(cc)["batch_size"] == 128


def test_an_eval_every_that_does_not_divide_the_task_suggests_one_that_does():
    """The documented CPU-sized command without --eval-every: 10,000 does not divide 5,000 steps per task."""
    with pytest.raises(ConfigError, match=r"eval_every=10000 must divide steps_per_task=5000 .*pass --eval-every "
                                          r"5000 \(continual.eval_every: 5000 in a sweep file\)"):
        ContinualConfig(steps_per_task=5000, batch_size=256)
    with pytest.raises(ConfigError, match="pass --eval-every 300 "):  # a multiple of the chunk, below 400
        ContinualConfig(steps_per_task=900, eval_every=400, chunk=100)
    ContinualConfig(steps_per_task=5000, eval_every=1000)  # the doc's command as written now
    # a first CPU try: the interval that fits needs a smaller chunk too; both said at once, not one refusal each
    with pytest.raises(ConfigError, match=r"pass --eval-every 500 --chunk 500 \(continual.eval_every: 500 and "
                                          r"continual.chunk: 500 in a sweep file\)"):
        ContinualConfig(steps_per_task=500)
    ContinualConfig(steps_per_task=500, eval_every=500, chunk=500)


@pytest.mark.parametrize("kwargs, named", [
    ({"eval_episodes": 0}, "--eval-episodes / ContinualConfig.eval_episodes=0 must be >= 1"),
    ({"seeds": (0, 0)}, "--seeds / ContinualConfig.seeds=(0, 0) must name distinct"),
    ({"eval_seed": -1}, "--eval-seed / ContinualConfig.eval_seed=-1: env seeds"),
    ({"heads": "many"}, "--heads / ContinualConfig.heads='many' is not one of"),
])
def test_errors_name_the_option_as_typed_and_the_field(kwargs, named):
    """`offrl continual train --eval-episodes 0` is refused naming --eval-episodes, not only the field."""
    with pytest.raises(ConfigError) as e:
        ContinualConfig(**kwargs)
    assert str(e.value).startswith(named), e.value


def test_missing_data_under_a_data_root_of_ones_own_is_made_there(tmp_path, capsys):
    """The hint names the same root (`--data-root` of `offrl continual collect`), and that command writes there,
    not into the default root."""
    from offrl.continual.streams import load_stream
    from offrl.datasets import is_present

    root = tmp_path / "my data"
    train = ["continual", "train", "--stream", "pendulum-gain", "--quality", "random", "--data-root", str(root),
             "--steps-per-task", "100", "--eval-every", "100", "--chunk", "100", "--seeds", "0", "--no-progress"]
    assert main(train) == 1
    hint = (f"offrl continual collect --stream pendulum-gain --quality random --data-root '{root}'")
    assert hint in capsys.readouterr().err
    collect = ["continual", "collect", "--stream", "pendulum-gain", "--quality", "random", "--steps", "200",
               "--data-root", str(root)]
    assert main(collect) == 0
    ids = load_stream("pendulum-gain").dataset_ids("random")
    assert all(is_present(i, root=root) for i in ids) and not any(is_present(i) for i in ids)


def test_a_stream_files_missing_data_hint_sets_the_data_root_of_offrl_collect(tmp_path):
    from offrl.continual.data import load_datasets
    from offrl.continual.streams import load_stream

    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\nenv: offrl/PendulumGain-v0\ntasks:\n"
                 "  - {name: forward, kwargs: {gain: 1.0}, dataset: 'local/pendulum-gain/forward-{quality}-v0'}\n")
    with pytest.raises(OffrlError, match=f"`offrl collect pendulum-gain/forward-medium --data-root {tmp_path / 'd'}`"):
        load_datasets(load_stream(str(f)), "medium", root=tmp_path / "d")


def test_list_names_random_data_and_collect_help_names_stream_files(capsys, tmp_path):
    from offrl.continual.cli import list_all

    assert main(["continual", "collect", "--stream", "pendulum-gain", "--quality", "random", "--steps", "200"]) == 0
    line = next(x for x in list_all().splitlines() if x.strip().startswith("pendulum-gain"))
    assert line.endswith("data present: random]")
    # another data root: what is present there, not under the default root
    other = tmp_path / "other-root"
    assert main(["continual", "collect", "--stream", "pendulum-gain", "--quality", "medium-random", "--steps", "200",
                 "--data-root", str(other)]) == 0
    capsys.readouterr()
    assert main(["continual", "list", "--data-root", str(other)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("pendulum-gain"))
    assert line.endswith("data present: medium-random]")
    with pytest.raises(SystemExit) as done:
        main(["continual", "collect", "--help"])
    assert done.value.code == 0
    assert "stream YAML file" in " ".join(capsys.readouterr().out.split())


def test_the_summary_line_counts_one_seed_as_one(monkeypatch, tmp_path, capsys):
    from offrl.continual import trainer

    def fake_train_stream(cc):
        return {"method": cc.method, "stream": cc.stream, "seeds": list(cc.seeds), "summary": {"per": 1.0},
                "run_id": "r", "run_dir": str(tmp_path / "r"), "tasks": ["a"], "matrix": [[[1.0]]]}

    monkeypatch.setattr(trainer, "train_stream", fake_train_stream)
    assert main(["continual", "train", "--seeds", "0", "--steps-per-task", "100", "--eval-every", "100",
                 "--chunk", "100"]) == 0
    assert "finetune on pendulum-gain (1 seed): per 1.0" in capsys.readouterr().out
