"""`offrl train`'s progress bar: by default drawn only where stderr is a terminal (a log file or a pipe would
keep every redraw), --progress draws it anywhere, --no-progress nowhere; runs recorded when the default was
True keep their ids and resume."""

import dataclasses
import json
import sys

import pytest
import tyro

from offrl.cli import main, progress_bar_drawn
from offrl.train import TrainConfig, default_run_id, train


def _bars(err: str) -> list[str]:
    """The lines of tqdm bars in ``err`` (each redraw of a bar ends in '\\r' or a newline)."""
    return [line for line in err.replace("\r", "\n").splitlines() if "%|" in line]


@pytest.fixture
def toy(dataset_without_env_file):
    """A small dataset naming no env (trained without evaluation)."""
    from offrl.datasets import load

    return load(dataset_without_env_file)


def tiny(tmp_path, **kw) -> TrainConfig:
    return TrainConfig(algo="bc", dataset="toy/bar", seeds=(0,), steps=100, eval_every=100, chunk=50,
                       hp=("hidden=16,16", "batch_size=16"), wandb=False, results_dir=str(tmp_path / "res"), **kw)


def test_the_option_has_three_values_and_defaults_to_a_terminal_only():
    assert TrainConfig().progress is None
    assert tyro.cli(TrainConfig, args=[]).progress is None
    assert tyro.cli(TrainConfig, args=["--progress"]).progress is True
    assert tyro.cli(TrainConfig, args=["--no-progress"]).progress is False


def test_the_bar_is_drawn_by_default_only_on_a_terminal(tmp_path, toy, capsys, monkeypatch):
    train(dataclasses.replace(tiny(tmp_path), run_id="piped"), dataset=toy)
    assert _bars(capsys.readouterr().err) == []  # stderr captured: no terminal

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert progress_bar_drawn(None) and not progress_bar_drawn(False)
    train(dataclasses.replace(tiny(tmp_path), run_id="terminal"), dataset=toy)
    assert any("bc toy/bar" in b for b in _bars(capsys.readouterr().err))
    train(dataclasses.replace(tiny(tmp_path, progress=False), run_id="terminal-off"), dataset=toy)
    assert _bars(capsys.readouterr().err) == []


def test_progress_true_draws_the_bar_where_there_is_no_terminal(tmp_path, toy, capsys):
    assert progress_bar_drawn(True)
    train(dataclasses.replace(tiny(tmp_path, progress=True), run_id="asked"), dataset=toy)
    assert any("bc toy/bar" in b for b in _bars(capsys.readouterr().err))


def test_runs_recorded_under_the_old_default_keep_their_id_and_resume(tmp_path, toy, capsys):
    tc = tiny(tmp_path)
    assert default_run_id(tc) == default_run_id(dataclasses.replace(tc, progress=True)) == \
        default_run_id(dataclasses.replace(tc, progress=False))
    final = train(tc, dataset=toy)
    run = tmp_path / "res" / final["run_id"]
    # a record that holds the old default (before progress was left out of records), of a stopped run
    record = json.loads((run / "config.json").read_text())
    assert "progress" not in record["train_config"]
    record["train_config"]["progress"] = True
    (run / "config.json").write_text(json.dumps(record))
    (run / "final.json").unlink()
    assert train(tc, dataset=toy)["run_id"] == final["run_id"]  # resumed under the new default, not refused
    assert "different configuration" not in capsys.readouterr().err


def test_offrl_train_writes_no_bar_into_a_captured_stderr(tmp_path, toy, capsys):
    from offrl.datasets import save

    path = save(toy, tmp_path / "toy")
    argv = ["train", "--algo", "bc", "--dataset", str(path), "--seeds", "0", "--steps", "100", "--eval-every", "100",
            "--hp", "hidden=16,16", "batch_size=16", "--wandb", "off", "--results-dir", str(tmp_path / "res")]
    assert main(argv) == 0
    assert _bars(capsys.readouterr().err) == []
    assert main([*argv, "--progress", "--run-id", "asked"]) == 0
    assert _bars(capsys.readouterr().err) != []
