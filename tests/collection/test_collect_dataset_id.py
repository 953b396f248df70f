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


def test_the_command_line_saves_under_an_id_and_notes_other_data_under_the_default_one(tmp_path, monkeypatch, capsys):
    """`offrl collect NAME --steps N --dataset-id ID`; without --dataset-id a non-default size is noted (runs
    that name the default id expect the default data), and the repair hint for damaged data keeps its size."""
    from offrl.cli import main
    from offrl.datasets import verify

    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path / "data"))
    assert main(["collect", "hopper-random", "--steps", "80", "--n-envs", "2",
                 "--dataset-id", "local/hopper-random-80-v0"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("local/hopper-random-80-v0: 80 transitions") and "note:" not in err
    assert "Minari copy" not in out and not local_dataset_dir("local/hopper-random-v0").exists()
    assert len(load("local/hopper-random-80-v0")) == 80

    assert main(["collect", "hopper-random", "--steps", "60", "--n-envs", "2"]) == 0
    err = capsys.readouterr().err
    assert ("note: local/hopper-random-v0 is saved with transitions 60 (default 1000000), n_envs 2 (default 10): "
            "sweeps, `offrl reproduce` and the reference tables that name this id expect the default data") in err
    data = local_dataset_dir("local/hopper-random-v0") / "data.h5"
    damaged = bytearray(data.read_bytes())
    damaged[len(damaged) // 2] ^= 1
    data.write_bytes(bytes(damaged))
    assert ("collect it again with `offrl collect hopper-random --steps 60 --n-envs 2 --overwrite`"
            in "\n".join(verify("local/hopper-random-v0")))


def test_the_repair_command_gives_a_composites_size_per_part(tmp_path):
    collection.collect("hopper-medium-expert", steps=30, n_envs=2, root=tmp_path, minari=False, progress=False)
    assert len(load("local/hopper-medium-expert-v0", root=tmp_path)) == 60
    # tmp_path is not the default data root: the command writes there
    assert collection.collect_command("hopper-medium-expert", tmp_path) == \
        f"offrl collect hopper-medium-expert --steps 30 --n-envs 2 --data-root {tmp_path}"
    assert collection.collect_command("hopper-expert", tmp_path) == \
        f"offrl collect hopper-expert --data-root {tmp_path}"  # none saved
