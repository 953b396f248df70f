"""`offrl continual train` options: --buffer is the replay buffer size per task, given once."""

import pytest

from offrl.cli import main
from offrl.continual.cli import make_train_args, train_config
from offrl.continual.trainer import ContinualConfig
from offrl.errors import ConfigError


def _parse(*argv):
    import tyro

    return train_config(tyro.cli(make_train_args(ContinualConfig), args=list(argv)))


def test_buffer_becomes_the_methods_buffer_size():
    cc = _parse("--method", "er", "--buffer", "500", "--method-hp", "replay=rl")
    assert type(cc) is ContinualConfig and cc.method_hp == ("buffer_size=500", "replay=rl")
    assert _parse("--method", "er").method_hp == ()
    with pytest.raises(ConfigError, match="give the buffer size once"):
        _parse("--method", "er", "--buffer", "500", "--method-hp", "buffer_size=10")


def test_buffer_for_a_method_without_one_is_a_clear_error(capsys):
    assert main(["continual", "train", "--method", "finetune", "--buffer", "10", "--steps-per-task", "10",
                 "--eval-every", "10", "--chunk", "10"]) != 0
    assert "method finetune: unknown option(s) 'buffer_size'" in capsys.readouterr().err


def test_collect_with_minari_for_a_stream_minari_cannot_record_fails_before_any_task(tmp_path, capsys):
    """``offrl continual collect --minari``: the task envs cannot be recorded in a Minari dataset, so it
    fails in one line before collecting, instead of after the first task (a half-collected quality)."""
    from offrl.continual.streams import load_stream
    from offrl.datasets import is_present

    argv = ["continual", "collect", "--stream", "pendulum-gain", "--quality", "random", "--steps", "200"]
    assert main([*argv, "--minari"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("offrl continual: error: local/pendulum-gain/") and "no Minari copy can be written" in err
    assert err.count("\n") == 1
    ids = load_stream("pendulum-gain").dataset_ids("random")
    assert not any(is_present(i) for i in ids)
    assert main(argv) == 0  # without --minari: every task collected
    assert all(is_present(i) for i in ids)
