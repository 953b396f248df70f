"""Bad input on the command line is refused with a message naming it, before anything is written."""

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
