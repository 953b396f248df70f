"""Data collected under another id than ``local/<env>-<level>-v0`` (the quick check's and the quickstart's
sized ids): saved and labelled under that id, the progress bar included, and never under the default one."""

import json

import pytest

from offrl import collection
from offrl.datasets import load, local_dataset_dir
from offrl.errors import OffrlError


@pytest.fixture
def bar_labels(monkeypatch):
    """The ``desc`` of every progress bar a collection opens."""
    import tqdm.auto

    labels = []
    real = tqdm.auto.tqdm

    def recording_tqdm(*args, **kwargs):
        labels.append(kwargs.get("desc"))
        return real(*args, **{**kwargs, "disable": True})

    monkeypatch.setattr(tqdm.auto, "tqdm", recording_tqdm)
    return labels


def test_data_saved_under_a_sized_id_are_named_so_everywhere(tmp_path, bar_labels):
    ds = collection.collect("hopper-medium", steps=60, n_envs=2, root=tmp_path, dataset_id="local/hopper-medium-60-v0")
    assert bar_labels == ["collect local/hopper-medium-60-v0"]     # the id written, not local/hopper-medium-v0
    assert ds.spec.id == "local/hopper-medium-60-v0"
    saved = load("local/hopper-medium-60-v0", root=tmp_path)
    assert len(saved) == 60 and saved.spec.id == "local/hopper-medium-60-v0" and saved.checksum() == ds.spec.checksum
    card = json.loads((local_dataset_dir("local/hopper-medium-60-v0", tmp_path) / "card.json").read_text())
    assert card["id"] == "local/hopper-medium-60-v0" and card["transitions"] == 60
    assert not local_dataset_dir("local/hopper-medium-v0", tmp_path).exists()   # the default id is left alone
    assert not (tmp_path / "minari").exists()                                  # no copy under the default's name
    # the same transitions as under the default id
    plain = collection.collect("hopper-medium", steps=60, n_envs=2, save=False)
    assert plain.spec.checksum == ds.spec.checksum


def test_a_collection_that_writes_nothing_names_no_id(bar_labels):
    collection.collect("hopper-medium", steps=20, n_envs=2, save=False)
    assert bar_labels == ["collect hopper-medium"]


@pytest.mark.parametrize("dataset_id, minari, message", [
    ("local/hopper-expert-v0", None, "another registered dataset's id"),
    ("d4rl/hopper-medium-v2", None, "must be a local/... id"),
    ("local/hopper medium", None, "invalid local dataset name"),
    ("local/hopper-medium-60-v0", True, "no Minari copy"),
])
def test_other_ids_that_would_stand_in_for_other_data_are_refused(tmp_path, dataset_id, minari, message, bar_labels):
    with pytest.raises(OffrlError, match=message):
        collection.collect("hopper-medium", steps=20, root=tmp_path, dataset_id=dataset_id, minari=minari)
    assert bar_labels == [] and not (tmp_path / "local").exists()            # refused before collecting


def test_the_quick_checks_data_bar_names_its_sized_id(tmp_path, monkeypatch, bar_labels):
    """`offrl reproduce offrl-local-v0 --quick` collects its data under local/hopper-medium-<N>k-v0 (here a
    smaller N); the bar says so, and a second call reuses the data."""
    from offrl.quickstart import dataset_id
    from offrl.reproduce import targets

    monkeypatch.setattr(targets, "QUICK_TRANSITIONS", 2000)
    monkeypatch.setattr(targets, "QUICK_DATASET_ID", dataset_id(2000))
    path = targets.prepare_quick_data(tmp_path, progress=True)
    assert bar_labels == ["collect local/hopper-medium-2k-v0"]
    assert path == local_dataset_dir("local/hopper-medium-2k-v0", tmp_path)
    assert len(load("local/hopper-medium-2k-v0", root=tmp_path)) == 2000
    assert targets.prepare_quick_data(tmp_path, progress=True) == path and len(bar_labels) == 1


def test_the_quickstarts_data_bar_names_its_sized_id(tmp_path, bar_labels):
    """`offrl quickstart` collects local/hopper-medium-<N>-v0; its bar names that id, and the data are
    loaded back under it with the collection's card."""
    from offrl.quickstart import quickstart_dataset

    ds, collected = quickstart_dataset(300, root=tmp_path, progress=True)
    assert collected and bar_labels == ["collect local/hopper-medium-300-v0"]
    assert ds.spec.id == "local/hopper-medium-300-v0" == load(ds.spec.id, root=tmp_path).spec.id
    assert json.loads((local_dataset_dir(ds.spec.id, tmp_path) / "card.json").read_text())["id"] == ds.spec.id
