"""UAV dataset ids: registered, loadable by id, the preset in the id, existing destinations refused early."""

import json
import os

import pytest

import offrl.datasets as D
from offrl.datasets import registry as R
from offrl.envs.uav import PRESETS, make_params
from offrl.envs.uav import data as uav_data
from offrl.envs.uav.baselines import TabularConfig
from offrl.envs.uav.data import DatasetConfig, build_datasets, load_dataset, save_datasets
from offrl.errors import OffrlError

TINY = DatasetConfig(episodes=1, tabular=TabularConfig(episodes=2, chunks=1), ref_episodes=1)


def test_registry_lists_every_preset_and_level():
    assert set(R.UAV_PRESETS) == set(PRESETS) and R.UAV_LEVELS == uav_data.LEVELS
    ids = R.list_datasets("uav/")
    assert len(ids) == len(PRESETS) * len(uav_data.LEVELS)
    assert "uav/expert-v0" in ids and "uav/dense/expert-v0" in ids and "uav/urban/expert-v0" not in ids
    assert R.get_info("uav/dense/mixed-v0").options == {"preset": "dense", "level": "mixed"}
    assert "offrl uav datasets --preset dense --levels mixed" in R.get_info("uav/dense/mixed-v0").description


def test_datasets_load_by_id_and_presets_never_share_an_id(capsys):
    from offrl.cli import main

    urban = build_datasets(make_params("urban", episode_len=5), TINY, levels=("poor",))["datasets"]
    dense = build_datasets(make_params("dense", episode_len=5), TINY, levels=("poor",), preset="dense")["datasets"]
    assert urban["poor"].spec.id == "uav/poor-v0" and dense["poor"].spec.id == "uav/dense/poor-v0"
    assert urban["poor"].metadata["preset"] == "urban" and dense["poor"].metadata["preset"] == "dense"
    root = os.environ["OFFRL_DATA_DIR"]
    paths = {**save_datasets(urban), "dense": save_datasets(dense)["poor"]}
    assert str(paths["poor"]) == os.path.join(root, "uav", "poor-v0")
    assert str(paths["dense"]) == os.path.join(root, "uav", "dense", "poor-v0")

    for dataset_id, preset in (("uav/poor-v0", "urban"), ("uav/dense/poor-v0", "dense")):
        ds = D.load(dataset_id)
        assert ds.spec.id == dataset_id and ds.metadata["preset"] == preset and len(ds) == 5
        assert ds.spec.ref_min is not None  # the dataset's own reference scores survive loading by id
        assert load_dataset("poor", preset=preset).spec.id == dataset_id
        assert main(["datasets", "info", dataset_id]) == 0
        assert json.loads(capsys.readouterr().out)["present"] is True
    assert main(["datasets", "list", "uav/"]) == 0
    listed = capsys.readouterr().out
    assert "* uav/poor-v0" in listed and "* uav/dense/poor-v0" in listed and "  uav/expert-v0" in listed

    # a second save of either preset is refused before anything is written
    with pytest.raises(OffrlError, match="poor-v0 already exists; pass --overwrite"):
        save_datasets(dense)


def test_missing_dataset_names_the_command_that_makes_it():
    with pytest.raises(OffrlError, match=r"uav/dense/expert-v0 is not on this machine .*"
                                         r"`offrl uav datasets --preset dense --levels expert`"):
        load_dataset("expert", preset="dense")
    with pytest.raises(OffrlError, match=r"`offrl uav datasets --levels mixed`"):
        load_dataset("mixed")


def test_datasets_command_refuses_existing_folders_before_training(monkeypatch, capsys):
    from offrl.cli import main

    def training_starts(*args, **kwargs):
        raise OffrlError("training would start now")

    monkeypatch.setattr(uav_data, "build_datasets", training_starts)
    root = os.environ["OFFRL_DATA_DIR"]
    for name in ("expert-v0", "mixed-v0", os.path.join("dense", "expert-v0")):
        os.makedirs(os.path.join(root, "uav", name))
    assert main(["uav", "datasets", "--levels", "poor", "expert", "mixed"]) == 1
    err = capsys.readouterr().err
    assert "training would start" not in err
    assert (f"{os.path.join(root, 'uav', 'expert-v0')}, {os.path.join(root, 'uav', 'mixed-v0')} already exist; "
            "pass --overwrite") in err
    # the suburban expert is neither the urban nor the dense one: nothing in its way
    assert main(["uav", "datasets", "--preset", "suburban", "--levels", "expert"]) == 1
    assert "training would start now" in capsys.readouterr().err
    assert main(["uav", "datasets", "--preset", "dense", "--levels", "expert"]) == 1
    assert f"{os.path.join(root, 'uav', 'dense', 'expert-v0')} already exists" in capsys.readouterr().err


def test_a_missing_uav_dataset_by_id_names_its_make_command_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path / "data"))
    where = tmp_path / "data" / "uav" / "dense" / "expert-v0"
    assert D.info("uav/dense/expert-v0")["paths"] == [str(where)]
    with pytest.raises(OffrlError, match=rf"uav/dense/expert-v0 is not on this machine \(looked in {where}\); make it "
                                         r"with `offrl uav datasets --preset dense --levels expert`"):
        D.load("uav/dense/expert-v0")
