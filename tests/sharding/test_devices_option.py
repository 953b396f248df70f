"""The ``devices`` option in this process (whatever its device count): parsing from the command line,
sweep files and Python, clear errors before anything is loaded or written, and run ids that do not
depend on it."""

import dataclasses

import jax
import pytest
import tyro

from offrl.continual.trainer import ContinualConfig
from offrl.errors import ConfigError
from offrl.sharding import SeedPlacement, parse_devices
from offrl.sweep.kinds import coerce_fields, get_kind
from offrl.sweep.spec import run_id_of
from offrl.train import TrainConfig, default_run_id, train


def test_devices_parse_as_a_count_or_all():
    assert parse_devices(1) == 1 and parse_devices("3") == 3 and parse_devices(" All ") == "all"
    for bad in (0, -2, "two", "", 1.5, True, None):
        with pytest.raises(ConfigError, match="must be a device count >= 1 or 'all'"):
            parse_devices(bad)
    assert TrainConfig(devices="2").devices == 2 and ContinualConfig(devices="all").devices == "all"
    with pytest.raises(ConfigError, match="TrainConfig.devices=0"):
        TrainConfig(devices=0)
    with pytest.raises(ConfigError, match="ContinualConfig.devices='many'"):
        ContinualConfig(devices="many")


def test_devices_from_the_command_line_and_sweep_files():
    assert tyro.cli(TrainConfig, args=["--devices", "all"]).devices == "all"
    assert tyro.cli(TrainConfig, args=["--devices", "4"]).devices == 4
    assert tyro.cli(TrainConfig, args=[]).devices == 1
    assert tyro.cli(ContinualConfig, args=["--devices", "2"]).devices == 2
    with pytest.raises(SystemExit):
        tyro.cli(TrainConfig, args=["--devices", "two"])
    # a sweep file's train: {devices: ...} and a child process's JSON copy of a config
    assert coerce_fields(TrainConfig, {"devices": "all"}) == {"devices": "all"}
    assert coerce_fields(TrainConfig, {"devices": 2}) == {"devices": 2}
    with pytest.raises(ConfigError, match="TrainConfig.devices"):
        coerce_fields(TrainConfig, {"devices": "two"})


def test_one_device_changes_nothing():
    one = SeedPlacement.create(1, 5)
    assert not one.sharded and one.n_slots == 5 and one.mesh is None
    tree = {"w": jax.numpy.ones((5, 2))}
    assert one.place(tree) is tree and one.unpad(tree) is tree


def test_more_devices_than_the_host_has_is_refused_before_anything_is_written(tmp_path):
    too_many = len(jax.local_devices()) + 1
    tc = TrainConfig(algo="bc", dataset="toy/none", seeds=tuple(range(too_many)), steps=100, eval_every=100,
                     chunk=100, devices=too_many, results_dir=str(tmp_path), wandb=False, progress=False)
    with pytest.raises(ConfigError, match=f"TrainConfig.devices={too_many} but this host has .* local device"):
        train(tc)  # refused before the dataset is loaded (toy/none does not exist)
    assert list(tmp_path.iterdir()) == []


def test_run_ids_and_records_do_not_depend_on_the_device_count():
    from offrl import algos

    tc = TrainConfig(algo="td3bc", dataset="d4rl/hopper-medium-v2")
    cfg = algos.get("td3bc").make_config()
    assert default_run_id(tc, cfg) == default_run_id(dataclasses.replace(tc, devices="all"), cfg)
    kind = get_kind("train")
    assert run_id_of(kind, tc) == run_id_of(kind, dataclasses.replace(tc, devices=4))
    cont = get_kind("continual")
    cc = ContinualConfig()
    assert run_id_of(cont, cc) == run_id_of(cont, dataclasses.replace(cc, devices=2))
