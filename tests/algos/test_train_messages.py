"""What `offrl train` tells a user who has not read the code: a run that cannot be evaluated says so when it
starts, and the hyperparameter names that `--hp` takes can be looked up."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from offrl.cli import main
from offrl.datasets import DatasetSpec, OfflineDataset, save


def _train_argv(dataset: str, results, *extra: str) -> list[str]:
    return ["train", "--algo", "bc", "--dataset", dataset, "--seeds", "0", "--steps", "20", "--hp", "hidden=8",
            "batch_size=8", "--no-progress", "--wandb", "off", "--results-dir", str(results), *extra]


def _flat(text: str) -> str:
    """Help text without its box drawing and line breaks."""
    return " ".join(text.replace("│", " ").split())


@pytest.mark.filterwarnings("ignore:.*Hopper-v4 is out of date")
def test_a_dataset_without_an_env_says_that_the_run_is_not_evaluated(tmp_path, capsys, dataset_without_env_file):
    """A converted D4RL file names no env: the run used to skip every evaluation silently (final.json with
    no evaluation steps and no score); now it says so in one line, names the evaluation settings it ignores,
    and how to evaluate. With --env-id the same data is evaluated and nothing is said."""
    dataset = dataset_without_env_file
    assert main(_train_argv(dataset, tmp_path / "res", "--eval-every", "10", "--eval-episodes", "3")) == 0
    out, err = capsys.readouterr()
    notes = [line for line in err.splitlines() if "names no evaluation environment" in line]
    assert len(notes) == 1, err
    assert "trains without evaluation and gets no score" in notes[0]
    assert "--eval-episodes ignored" in notes[0] and "--eval-every only sets how often checkpoints" in notes[0]
    assert "--env-id ENV" in notes[0] and "Hopper-v5" in notes[0]
    assert "--env-id ENV" in out.splitlines()[-1]  # the offrl eval hint at the end needs it too
    (run,) = (tmp_path / "res").iterdir()
    final = json.loads((run / "final.json").read_text())
    assert final["eval_steps"] == [] and final["normalized_score"] is None

    assert main(_train_argv(dataset, tmp_path / "res2", "--eval-every", "20", "--eval-episodes", "1",
                            "--env-id", "Hopper-v5")) == 0
    out, err = capsys.readouterr()
    assert "names no evaluation environment" not in err and "--env-id" not in out
    (run,) = (tmp_path / "res2").iterdir()
    assert json.loads((run / "final.json").read_text())["eval_steps"] == [20]


def test_the_note_names_only_the_evaluation_settings_that_were_asked_for(tmp_path):
    from offrl.train import TrainConfig, no_evaluation_note

    plain = no_evaluation_note(TrainConfig(dataset="x.hdf5"), tmp_path / "run")
    assert "ignored" not in plain and "--eval-every" not in plain
    assert f"offrl eval {tmp_path / 'run'} --env-id ENV" in plain
    asked = no_evaluation_note(TrainConfig(dataset="x.hdf5", eval_seed=3, overlap_eval=True), tmp_path / "run")
    assert "(--eval-seed, --overlap-eval ignored; --eval-every only sets how often checkpoints" in asked


def test_an_unknown_hyperparameter_is_answered_with_the_algorithms_names(capsys):
    """`dt: unknown hyperparameter(s) 'foo'` once ended there: now the names dt takes follow, after any close
    match, and the data is never read."""
    assert main(["train", "--algo", "dt", "--dataset", "local/not-read-v0", "--hp", "foo=1"]) == 1
    err = capsys.readouterr().err
    assert "dt: unknown hyperparameter(s) 'foo'; dt hyperparameters: [" in err
    assert "'context_len'" in err and "'embed_dim'" in err and "Traceback" not in err
    assert main(["train", "--algo", "td3bc", "--dataset", "local/not-read-v0", "--hp", "alpah=1"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"'alpah' \(did you mean 'alpha'\?\); td3bc hyperparameters: \[.*'policy_noise'", err)


def test_list_hp_prints_each_hyperparameter_with_its_default_and_help(capsys):
    assert main(["train", "--algo", "td3bc", "--list-hp"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("td3bc hyperparameters (--hp name=value ...):")
    assert re.search(r"^  alpha +2\.5 +BC trade-off", out, re.M)
    assert re.search(r"^  hidden +256,256 +hidden layer sizes", out, re.M)
    # steps_per_call is the algorithm's own structure, not a hyperparameter: not listed, and refused by --hp
    assert "steps_per_call" not in out
    assert main(["train", "--algo", "bc", "--dataset", "local/hopper-medium-v0", "--hp", "steps_per_call=2"]) == 1
    assert "bc.steps_per_call=2: fixed by the algorithm" in capsys.readouterr().err
    # a field without hp(...) help shows the first line of its docstring (a plugin's config, say)
    import dataclasses
    import types

    from offrl.train import hyperparameter_table

    @dataclasses.dataclass(frozen=True)
    class Own:
        width: int = 64
        """units per layer; more is slower."""

    table = hyperparameter_table(types.SimpleNamespace(name="own", config_cls=Own))
    assert re.search(r"^  width +64 +units per layer; more is slower\.", table, re.M)
    assert main(["train", "--algo", "dt", "--list-hp"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  context_len +20 +K: timesteps per window", out, re.M) and "alpha" not in out


def test_the_help_says_where_the_names_are_and_what_happens_without_an_env(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = _flat(capsys.readouterr().out)
    assert "The names depend on --algo: offrl train --algo ALGO --list-hp lists them" in text
    assert "--list-hp: list the hyperparameters of --algo" in text
    assert "trains without evaluation and gets no score unless --env-id is given" in text


def test_discrete_actions_are_refused_before_anything_is_built(tmp_path, capsys):
    """Every learner here outputs continuous actions: data with integer actions (the UAV offloading
    datasets: multi-agent, discrete) is refused by name, with where such data can go, before training."""
    rng = np.random.default_rng(0)
    n = 100
    obs = rng.normal(size=(n, 2, 4)).astype(np.float32)
    term = np.zeros(n, bool)
    term[::25] = True
    spec = DatasetSpec("uav/expert-v0", None, (2, 4), "float32", (2,), "int32")
    path = save(OfflineDataset(obs, rng.integers(0, 5, (n, 2)).astype(np.int32), rng.normal(size=n).astype(np.float32),
                               np.roll(obs, -1, 0), term, np.zeros(n, bool), spec=spec), tmp_path / "uav.npz")
    assert main(_train_argv(str(path), tmp_path / "res")) == 1
    out, err = capsys.readouterr()
    assert "training bc" not in out  # refused before saying it trains
    assert ("bc learns continuous actions, but dataset 'uav/expert-v0' has discrete (int32) actions" in err
            and "load them with offrl.datasets.load" in err and "Traceback" not in err)
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())
