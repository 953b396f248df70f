"""Every `offrl` command refuses an option given twice: tyro keeps only the last occurrence, so the earlier
values would be dropped without a word (`--hp hidden=32,32 ... --hp batch_size=128` trained 256x256 networks)."""

import pytest

from offrl.cli import main


@pytest.mark.parametrize("argv, option", [
    (["continual", "train", "--hp", "hidden=32,32", "--batch-size", "64", "--hp", "batch_size=128"], "--hp"),
    (["continual", "train", "--method-hp", "buffer_size=10", "--method_hp", "replay=rl"], "--method-hp"),
    (["train", "--seeds", "0", "1", "--seeds=2"], "--seeds"),
    (["report", "results", "--versus", "oer", "--progress", "--versus", "er"], "--versus"),
    (["continual", "train", "--progress", "--no-progress"], "--progress"),
    (["train", "--steps", "100", "--eval-every", "50", "--steps", "200"], "--steps"),  # a single value too
])
def test_an_option_given_twice_is_refused_in_one_line_before_the_command_runs(argv, option, tmp_path, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"offrl {argv[0]}: error: {option} given twice: give it once, with all its values after one {option}\n"
    assert not (tmp_path / "results").exists()  # nothing trained or written


def test_options_given_once_and_values_after_a_bare_double_dash_pass():
    from offrl.cli import repeated_option

    assert repeated_option(["train", "--hp", "a=1", "b=2", "--seeds", "0", "1", "--no-progress"]) is None
    assert repeated_option(["sweep", "file.yaml", "--", "--hp", "--hp"]) is None
    # wandb agent's --hp.<name>=value arguments name one override each (offrl.sweep.wandb_export.agent_args)
    assert repeated_option(["train", "--hp", "a=1", "--hp.alpha=2", "--hp.beta=3"]) is None
