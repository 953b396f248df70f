"""What `offrl train` and `offrl report` say in a new user's terms: errors name the option that was typed
(`--eval-every`) beside the Python field (`TrainConfig.eval_every`), `--list-hp` without `--algo` says whose
list it is, and warnings reach the terminal as one `offrl CMD: warning: ...` line each, not Python's two-line form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from offrl.cli import main
from offrl.errors import ConfigError
from offrl.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def _flat(text: str) -> str:
    """Output without tyro's box drawing and line breaks."""
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


def _offrl(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`offrl ARGS` as the program (its own interpreter), as a user runs it."""
    environ = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **env)
    return subprocess.run([sys.executable, "-m", "offrl.cli", *args], capture_output=True, text=True, env=environ,
                          timeout=300)


# ------------------------------------------------------------------ errors name the option
@pytest.mark.parametrize("kwargs, said", [
    (dict(steps=0), "--steps / TrainConfig.steps=0 must be >= 1"),
    (dict(eval_every=0), "--eval-every / TrainConfig.eval_every=0 must be >= 1"),
    (dict(eval_episodes=0), "--eval-episodes / TrainConfig.eval_episodes=0 must be >= 1"),
    (dict(unroll=0), "--unroll / TrainConfig.unroll=0 must be >= 1"),
    (dict(seeds=()), "--seeds / TrainConfig.seeds must name at least one seed"),
    (dict(seeds=(0, 0)), "--seeds / TrainConfig.seeds=(0, 0) has duplicates"),
    (dict(seeds=(0, -1)), "--seeds / TrainConfig.seeds=(0, -1): seeds are non-negative"),
    (dict(eval_workers=-1), "--eval-workers / TrainConfig.eval_workers=-1 must be >= 0"),
    (dict(eval_seed=-1), "--eval-seed / TrainConfig.eval_seed=-1: env seeds are non-negative"),
    (dict(devices=0), "--devices / TrainConfig.devices=0 must be a device count"),
    (dict(steps=100, eval_every=100, chunk=30),
     "--eval-every / TrainConfig.eval_every=100 must be a multiple of chunk=30 (--chunk / TrainConfig.chunk)"),
    (dict(steps=90, eval_every=30, chunk=60),
     "--eval-every / TrainConfig.eval_every=30 must be a multiple of chunk=60 (--chunk / TrainConfig.chunk)"),
    (dict(steps=90, eval_every=60, chunk=60),
     "--steps / TrainConfig.steps=90 must be a multiple of chunk=60 (--chunk / TrainConfig.chunk)"),
])
def test_a_bad_train_option_is_named_as_typed_and_as_the_python_field(kwargs, said):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**kwargs)
    assert str(e.value).startswith(said), str(e.value)


def test_a_chunk_the_algorithm_cannot_split_is_named_as_typed_and_as_the_python_field():
    with pytest.raises(ConfigError, match=r"^--chunk / TrainConfig\.chunk=3 must be a multiple of td3bc's "):
        TrainConfig(steps=300, eval_every=300, chunk=3).resolved_chunk(2)
    with pytest.raises(ConfigError, match=r"^--steps / TrainConfig\.steps=101 and --eval-every / "
                                          r"TrainConfig\.eval_every=5000 have no common divisor"):
        TrainConfig(steps=101, eval_every=5_000).resolved_chunk(2)


def test_the_options_the_errors_name_are_the_ones_offrl_train_takes(capsys):
    """An error's `--x` is tyro's spelling of field x: each field's option is in `offrl train --help`."""
    import dataclasses

    from offrl.errors import field_name

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = _flat(capsys.readouterr().out)
    for f in dataclasses.fields(TrainConfig):
        option = field_name("TrainConfig", f.name).split(" / ")[0]
        assert f" {option} " in help_text or f" {option}, " in help_text, option


def test_offrl_train_names_the_option_typed(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--steps", "0"])
    said = capsys.readouterr()
    assert "--steps / TrainConfig.steps=0 must be >= 1" in _flat(said.out + said.err)

    import jax

    count = len(jax.local_devices()) + 1
    argv = ["train", "--algo", "bc", "--dataset", str(tmp_path / "absent.npz"), "--seeds",
            *map(str, range(count)), "--devices", str(count), "--steps", "100", "--no-progress", "--wandb", "off"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"offrl train: error: --devices / TrainConfig.devices={count} but this host has ")
    assert "or give 'all'" in err and "devices=all" not in err


# ------------------------------------------------------------------ --list-hp without --algo
def test_list_hp_without_algo_says_it_lists_the_default_algorithms(capsys):
    assert main(["train", "--list-hp"]) == 0
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.startswith(f"hyperparameters of {TrainConfig.algo}, the default --algo (--algo NAME --list-hp")
    assert "bc, cql" in first and second.startswith(f"{TrainConfig.algo} hyperparameters (--hp name=value ...):")
    for given in (["--algo", TrainConfig.algo], [f"--algo={TrainConfig.algo}"], ["--algo", "iql"]):
        assert main(["train", *given, "--list-hp"]) == 0
        out = capsys.readouterr().out
        assert "the default --algo" not in out and out.startswith(f"{given[-1].split('=')[-1]} hyperparameters")


# ------------------------------------------------------------------ warnings: one line each, once
def test_a_warning_is_one_line_without_colours_shown_once(capsys):
    from offrl.cli import show_warnings_as_lines, warning_line

    assert warning_line(UserWarning("skipping x:\n  broken")) == "offrl: warning: skipping x: broken"
    coloured = "\x1b[33mWARN: The environment Hopper-v4 is out of date.\x1b[0m"
    assert warning_line(DeprecationWarning(coloured)) == "offrl: warning: The environment Hopper-v4 is out of date."
    before = warnings.showwarning
    with warnings.catch_warnings():  # gives the showwarning in place back afterwards
        warnings.simplefilter("always")
        show_warnings_as_lines()
        warnings.warn("same words")
        warnings.warn("same words", RuntimeWarning)  # from another line and category: still said once
        warnings.warn("other words")
    assert warnings.showwarning is before
    assert capsys.readouterr().err == "offrl: warning: same words\noffrl: warning: other words\n"
    assert warning_line("x", "offrl report") == "offrl report: warning: x"  # as the command's errors read


def test_main_called_from_python_leaves_the_callers_warnings_alone():
    """A caller of main() (a test recording warnings, a notebook) keeps its own warning display."""
    before = warnings.showwarning
    assert main(["train", "--algo", "bc", "--list-hp"]) == 0
    assert warnings.showwarning is before


def _finished_run(root: Path, algo: str) -> None:
    d = root / f"{algo}-run"
    d.mkdir(parents=True)
    scores = [40.0, 50.0]
    cfg = {"run_id": d.name, "algo": algo, "dataset": "d4rl/hopper-medium-v2", "seeds": [0, 1], "algo_config": {},
           "train_config": {"steps": 200}}
    (d / "config.json").write_text(json.dumps(cfg))
    curve = [[s / 2, s] for s in scores]
    final = {"run_id": d.name, "algo": algo, "dataset": cfg["dataset"], "seeds": [0, 1], "eval_steps": [100, 200],
             "normalized_score": {"last": scores, "best": scores, "curve": curve},
             "return": {"last": scores, "best": scores, "curve": curve}, "steps": 200}
    (d / "final.json").write_text(json.dumps(final))
    # a line cut short (a run killed while writing) is skipped with a warning
    (d / "metrics.jsonl").write_text('{"kind": "eval", "ste\n')


def test_offrl_report_shows_its_warnings_as_one_line_each(tmp_path):
    root = tmp_path / "results"
    _finished_run(root, "iql")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{")
    p = _offrl("report", str(root), "--out", str(tmp_path / "rep"), "--reps", "100", "--no-plots")
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert f"offrl report: warning: skipping {root / 'broken'}: {root / 'broken' / 'config.json'}: not valid JSON" in p.stderr
    assert f"offrl report: warning: {root / 'iql-run' / 'metrics.jsonl'}: skipped 1 malformed line(s)" in lines
    assert "UserWarning" not in p.stderr and not any(line.startswith(" ") for line in lines), p.stderr


def test_offrl_train_shows_its_warnings_as_one_line_each_once(tmp_path, dataset_without_env_file):
    """`--wandb on` where WANDB_MODE disables wandb, and an env version that gymnasium calls out of date (made
    twice: checked against the data, then evaluated): each warning one line, once, without colour codes."""
    data = dataset_without_env_file
    p = _offrl("train", "--algo", "bc", "--dataset", data, "--env-id", "Hopper-v4", "--seeds", "0", "--steps", "10",
               "--eval-episodes", "1", "--hp", "hidden=8", "batch_size=8", "--no-progress", "--wandb", "on",
               "--results-dir", str(tmp_path / "res"), WANDB_MODE="disabled")
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert lines.count("offrl train: warning: The environment Hopper-v4 is out of date. You should consider upgrading "
                       "to version `v5`.") == 1, p.stderr
    assert ("offrl train: warning: --wandb on (use_wandb=True), but wandb is disabled by WANDB_MODE=disabled; logging to "
            "JSONL only") in lines
    assert "Warning:" not in p.stderr and "\x1b[" not in p.stderr and not any(line.startswith(" ") for line in lines)
