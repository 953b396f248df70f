"""Bad input on the command line is refused with a message naming it, before anything is written."""

import re

import pytest

from offrl import algos
from offrl.cli import main
from offrl.errors import ConfigError
from offrl.sweep.wandb_export import agent_args
from offrl.train import TrainConfig, parse_overrides


def test_hyperparameter_overrides_need_a_value_given_once():
    iql = algos.get("iql")
    with pytest.raises(ConfigError, match="'hidden=' has no value"):
        parse_overrides(iql, ["hidden="])  # would have been a network without hidden layers
    with pytest.raises(ConfigError, match="cannot parse ','"):
        parse_overrides(iql, ["hidden=,"])
    with pytest.raises(ConfigError, match="'expectile=' has no value"):
        parse_overrides(iql, ["expectile="])
    with pytest.raises(ConfigError, match="iql.beta is given twice"):
        parse_overrides(iql, ["beta=1", "beta=2"])
    assert parse_overrides(iql, ["hidden=64,64", "beta=2"]) == {"hidden": (64, 64), "beta": 2.0}
    with pytest.raises(ConfigError, match="--hp 'hidden': each override must look like name=value"):
        agent_args(["--hp", "hidden"], TrainConfig)
    with pytest.raises(ConfigError, match="'beta' is given twice"):
        agent_args(["--hp", "beta=1", "beta=2"], TrainConfig)
    with pytest.raises(ConfigError, match="'beta' is given twice"):
        agent_args(["--hp.beta=1", "--hp", "beta=2"], TrainConfig)


def test_train_refuses_an_override_without_a_value(tmp_path, capsys):
    assert main(["train", "--algo", "iql", "--dataset", "local/hopper-medium-v0", "--steps", "100",
                 "--hp", "hidden", "--results-dir", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "each override must look like name=value" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("run_id", [".", "..", "../escaped", "/abs/path", "a/b", ".hidden", "", " x", "a\nb"])
def test_a_run_id_names_one_folder_of_the_results_root(tmp_path, capsys, run_id):
    """`--run-id .` once wrote a run into the results root itself (a report then saw one run and hid the
    others); `../x` and absolute paths wrote outside it."""
    from offrl.paths import run_folder

    with pytest.raises(ConfigError, match="must name one folder of the results root"):
        run_folder(run_id, tmp_path)
    res = tmp_path / "results"
    with pytest.raises(SystemExit) as exit_:  # refused while the options are parsed, as other bad values
        main(["train", "--algo", "bc", "--dataset", "local/hopper-medium-v0", "--steps", "100",
              "--run-id", run_id, "--results-dir", str(res)])
    assert exit_.value.code == 2
    said = capsys.readouterr()
    text = " ".join(said.out.replace("│", " ").split() + said.err.replace("│", " ").split())
    assert "must name one folder of the results root" in text and "Traceback" not in text
    assert not res.exists() and sorted(p.name for p in tmp_path.iterdir()) == []
    assert run_folder("bc-hopper_medium-1a2b3c4d", res) == res / "bc-hopper_medium-1a2b3c4d"


def test_negative_seeds_and_worker_counts_are_refused():
    from offrl.continual.trainer import ContinualConfig

    with pytest.raises(ConfigError, match="seeds are non-negative"):
        TrainConfig(seeds=(0, -1))
    with pytest.raises(ConfigError, match="eval_workers=-1 must be >= 0"):
        TrainConfig(eval_workers=-1)
    with pytest.raises(ConfigError, match="eval_seed=-1: env seeds are non-negative"):  # not after a chunk
        TrainConfig(eval_seed=-1)
    with pytest.raises(ConfigError, match="distinct non-negative seeds"):
        ContinualConfig(seeds=(-1,))
    with pytest.raises(ConfigError, match="eval_seed=-3: env seeds are non-negative"):
        ContinualConfig(eval_seed=-3)
    with pytest.raises(ConfigError, match="eval_workers=-2 must be >= 0"):
        ContinualConfig(eval_workers=-2)
    with pytest.raises(ConfigError, match="must name one folder"):
        ContinualConfig(run_id="../x")


def test_a_key_given_twice_in_a_yaml_file_is_refused(tmp_path):
    """PyYAML keeps the last of two equal keys: a sweep with two `hp:` blocks lost the first one's alpha."""
    from offrl.continual.streams import load_stream
    from offrl.sweep.spec import load_sweep

    sweep = tmp_path / "twice.yaml"
    sweep.write_text("name: twice\nalgo: td3bc\ndatasets: [local/hopper-medium-v0]\nhp: {alpha: 1.0}\n"
                     "seeds: 2\nhp: {batch_size: 64}\n")
    with pytest.raises(ConfigError, match=r"found the key 'hp' twice \(first on line 4\)"):
        load_sweep(sweep)
    stream = tmp_path / "s.yaml"
    stream.write_text("name: s\ntasks:\n  - {name: a, env: offrl/PendulumGain-v0, name: b}\n")
    with pytest.raises(ConfigError, match="found the key 'name' twice"):
        load_stream(str(stream))


@pytest.mark.parametrize("hidden, said", [('"32,32"', "a non-empty list, e.g. [256, 256]; got '32,32'"),
                                          ("32", "a non-empty list, e.g. [256, 256]; got 32"),
                                          ("[]", "hp.hidden: [] cannot be written as name=value"),
                                          ('[32, "a"]', "a list of ints, e.g. [256, 256]; got [32, 'a']"),
                                          ("[32.5, 32]", "a list of ints")])
def test_a_list_hyperparameter_in_a_sweep_must_be_a_list_of_its_items(tmp_path, hidden, said):
    from offrl.sweep.spec import load_sweep

    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: s\nalgo: td3bc\ndatasets: [local/hopper-medium-v0]\nseeds: 2\nhp: {{hidden: {hidden}}}\n")
    with pytest.raises(ConfigError, match=re.escape(said)):
        load_sweep(sweep)


@pytest.mark.parametrize("argv, said", [(["--steps", "0"], "steps=0 must be >= 1"),
                                        (["--steps", "-5"], "steps=-5 must be >= 1"),
                                        (["--n-envs", "0"], "collect: n_envs=0 must be >= 1\n"),  # workers unnamed
                                        (["--workers", "-1"], "workers=-1 must be >= 0")])
def test_collect_refuses_sizes_that_are_not_counts(tmp_path, monkeypatch, capsys, argv, said):
    """`--steps 0` once collected the default 1M transitions; negative sizes crashed or wrote a tiny dataset."""
    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path / "data"))
    assert main(["collect", "hopper-medium-replay", "--no-minari", *argv]) != 0
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.npz"))


def test_a_damaged_checkpoint_falls_back_to_the_one_before_it(tmp_path, capsys):
    """A checkpoint cut short (a full disk, a copy interrupted) once ended a resume in hundreds of lines of
    orbax tracebacks: now the newest readable one is restored, the damaged one deleted (training writes
    that step again), and with none readable the error names the folder."""
    import jax.numpy as jnp
    import numpy as np

    from offrl.errors import DataIntegrityError
    from offrl.train import _Checkpoints

    states, keys = {"w": jnp.arange(6.0).reshape(2, 3)}, jnp.zeros((2, 2), jnp.uint32)
    ckpt = _Checkpoints(tmp_path / "checkpoints")
    for step in (100, 200):
        ckpt.save(step, {"w": states["w"] + step}, keys, {"step": step, "history": []})
    for f in (tmp_path / "checkpoints" / "200").rglob("*"):
        if f.is_file() and "arrays" in f.parts and f.stat().st_size > 20:
            f.write_bytes(f.read_bytes()[:10])
    restored, _, meta = ckpt.restore_latest(states, keys)
    assert meta["step"] == 100 and np.allclose(restored["w"], np.arange(6.0).reshape(2, 3) + 100)
    assert "checkpoint at step 200 cannot be read" in capsys.readouterr().err
    assert ckpt.latest() == 100 and not (tmp_path / "checkpoints" / "200").exists()
    ckpt.save(200, {"w": states["w"] + 200}, keys, {"step": 200, "history": []})  # written again
    for f in (tmp_path / "checkpoints").rglob("*"):
        if f.is_file() and "arrays" in f.parts and f.stat().st_size > 20:
            f.write_bytes(f.read_bytes()[:10])
    with pytest.raises(DataIntegrityError, match="no checkpoint in .*checkpoints can be read"):
        ckpt.restore_latest(states, keys)
    ckpt.close()


def test_the_plan_suggests_the_collectable_id_a_missing_local_id_is_close_to():
    from offrl.datasets.api import missing_data_lines as missing_data

    typo, own = missing_data(["local/hoper-medium-v0", "local/my-own-thing-v0"])
    assert "did you mean 'local/hopper-medium-v0'? If it is a dataset of your own" in typo
    assert "did you mean" not in own and "offrl.datasets.save(dataset, 'local/my-own-thing-v0')" in own


def test_a_value_out_of_range_names_the_algorithm_or_method():
    from offrl.continual.methods import METHODS

    with pytest.raises(ConfigError, match=r"^td3bc\.alpha=-1\.0 must be >= 0$"):
        algos.get("td3bc").make_config(alpha=-1.0)
    with pytest.raises(ConfigError, match=r"^er\.buffer_size=-1 must be >= 1$"):
        METHODS["er"].make_config(buffer_size=-1)


def test_continual_options_say_what_is_wrong_in_the_users_terms(tmp_path, capsys):
    """An empty --seeds, a forgetting window of 0 (refused before any metric is computed) and the help of
    `offrl continual train --buffer`."""
    from offrl.continual.trainer import ContinualConfig

    with pytest.raises(ConfigError, match=r"seeds is empty: name at least one seed \(--seeds 0 1 2 3 4\)"):
        ContinualConfig(stream="pendulum-gain", seeds=())
    (tmp_path / "results").mkdir()
    assert main(["report", str(tmp_path / "results"), "--forgetting-window", "0"]) == 1
    assert "--forgetting-window 0: the evaluations averaged at each end of forgetting" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["continual", "train", "--help"])
    assert re.search(r"--buffer N\s+replay buffer size per task", capsys.readouterr().out)


def _train(dataset: str, results) -> list[str]:
    return ["train", "--algo", "bc", "--dataset", dataset, "--seeds", "0", "--steps", "20", "--hp", "hidden=8",
            "--no-progress", "--wandb", "off", "--results-dir", str(results)]


@pytest.mark.parametrize("results, said", [("afile", "--results-dir {tmp}/afile is not a directory"),
                                           ("afile/runs", "--results-dir {tmp}/afile/runs cannot be created: "
                                                          "{tmp}/afile is not a directory")])
def test_a_results_dir_in_the_way_of_a_file_is_refused_before_the_data_is_read(tmp_path, monkeypatch, capsys,
                                                                                 results, said):
    """`--results-dir afile` (a regular file) ended in a NotADirectoryError traceback from the run lock."""
    import offrl.datasets

    (tmp_path / "afile").write_text("not a folder")

    def not_read(*args, **kwargs):
        raise AssertionError("the dataset was read")

    monkeypatch.setattr(offrl.datasets, "load", not_read)
    assert main(_train("local/hopper-medium-v0", tmp_path / results)) == 1
    err = capsys.readouterr().err
    assert said.format(tmp=tmp_path) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "afile").read_text() == "not a folder"


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_results_dir_that_cannot_be_created_is_refused_before_anything_compiles(dataset_without_env_file, monkeypatch,
                                                                                   capsys):
    """`--results-dir /proc/nope` ended in a FileNotFoundError traceback: only creating it finds out (for root
    /proc looks writable), which the run lock does before anything is compiled."""
    import offrl.train

    def not_compiled(*args, **kwargs):
        raise AssertionError("compiled")

    monkeypatch.setattr(offrl.train, "make_chunk_fn", not_compiled)
    assert main(_train(dataset_without_env_file, "/proc/nope")) == 1
    err = capsys.readouterr().err
    assert re.search(r"^offrl train: error: run folder /proc/nope/\S+ cannot be created \(No such file or directory",
                     err, re.M)
    assert "Traceback" not in err


def test_a_results_dir_without_write_permission_is_refused(tmp_path, monkeypatch, capsys):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    access = os.access
    # as for a user without write permission there (root may write anywhere, so chmod would not show it)
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != str(locked) and access(path, mode))
    assert main(_train("local/hopper-medium-v0", locked)) == 1
    assert main(_train("local/hopper-medium-v0", locked / "runs")) == 1
    err = capsys.readouterr().err
    assert f"--results-dir {locked} is not writable" in err
    assert f"--results-dir {locked / 'runs'} cannot be created: {locked} is not writable" in err
    assert "Traceback" not in err and not any(locked.iterdir())


def test_the_run_lock_names_a_run_folder_it_cannot_create(tmp_path):
    from offrl.runlock import RunFolderError, RunLock, folder_problem

    (tmp_path / "afile").write_text("")
    with pytest.raises(RunFolderError, match=r"^run folder .*afile/run cannot be created: .*afile is not a directory$"):
        RunLock(tmp_path / "afile" / "run").acquire()
    assert folder_problem(tmp_path / "afile") == "is not a directory"
    assert folder_problem(tmp_path / "new" / "deeper") is None and folder_problem(tmp_path) is None
    with RunLock(tmp_path / "new" / "run"):
        assert (tmp_path / "new" / "run" / ".lock").is_file()
