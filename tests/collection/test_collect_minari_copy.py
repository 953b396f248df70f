"""`offrl collect` without minari (warned before collecting, native dataset written), and the card and the
Minari copy after an interrupt at the very end: never missing or stale beside a complete dataset (item 8)."""

from __future__ import annotations

import json
import sys
import warnings

import pytest

from offrl import collection
from offrl.datasets import load, local_dataset_dir
from offrl.datasets.native import read_manifest, verify_native

NAME, DS_ID = "hopper-random", "local/hopper-random-v0"


def _collect(tmp_path, **kw):
    return collection.collect(NAME, steps=100, n_envs=2, root=tmp_path / "data", progress=False, **kw)


def _card_matches(tmp_path) -> dict:
    """The card inside the dataset directory describes the data beside it."""
    d = local_dataset_dir(NAME, tmp_path / "data")
    manifest = read_manifest(d)
    assert {"data.h5", "card.json", "card.md"} <= set(manifest["files"])  # written and checksummed together
    assert verify_native(d) == []
    card = json.loads((d / "card.json").read_text())
    assert card["checksum"] == manifest["spec"]["checksum"] and card["transitions"] == manifest["transitions"]
    assert card["checksum"] in (d / "card.md").read_text()
    return card


def test_without_minari_warns_before_collecting_then_the_copy_is_made_later(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    real_stream = collection.collect_stream
    seen_before_collecting = []

    def stream(*a, **k):
        seen_before_collecting.append([str(w.message) for w in caught])
        return real_stream(*a, **k)

    monkeypatch.setattr(collection, "collect_stream", stream)
    monkeypatch.setitem(sys.modules, "minari", None)  # `import minari` fails as if it were not installed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = _collect(tmp_path)
    assert seen_before_collecting and any("minari package is not installed" in m for m in seen_before_collecting[0])
    card = _card_matches(tmp_path)
    assert card["checksum"] == ds.spec.checksum and len(load(DS_ID, root=tmp_path / "data")) == 100
    status, copy_path = collection.minari_copy_status(NAME, tmp_path / "data")
    assert status == "missing" and not copy_path.exists()

    # with minari back, collecting again makes the missing copy from the native dataset, collecting nothing
    monkeypatch.delitem(sys.modules, "minari")

    def no_collection(*a, **k):
        raise AssertionError("the copy is derived from the native dataset; nothing is collected")

    monkeypatch.setattr(collection, "collect_stream", no_collection)
    again = _collect(tmp_path)
    assert again.spec.checksum == ds.spec.checksum
    assert collection.minari_copy_status(NAME, tmp_path / "data")[0] == "ok"
    import minari

    copy = minari.load_dataset(collection.minari_copy_id("hopper", "random"))
    assert copy.total_steps == 100
    with pytest.raises(collection.OffrlError, match="already exists"):  # all there: nothing to do
        _collect(tmp_path)


def test_interrupt_at_the_very_end_leaves_no_missing_or_stale_card(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    first = _collect(tmp_path)
    assert collection.minari_copy_status(NAME, tmp_path / "data")[0] == "ok"

    # killed while the new native directory is being finished (its card is being checksummed): the
    # old dataset stays, whole, with its own card
    import offrl.datasets.native as native

    real_digest = native.file_digest

    def killed_at_card(path, *a, **k):
        if str(path).endswith("card.md"):
            raise KeyboardInterrupt
        return real_digest(path, *a, **k)

    monkeypatch.setattr(native, "file_digest", killed_at_card)
    with pytest.raises(KeyboardInterrupt):
        _collect(tmp_path, seed=1, overwrite=True)
    monkeypatch.setattr(native, "file_digest", real_digest)
    assert _card_matches(tmp_path)["checksum"] == first.spec.checksum
    assert not [p for p in (tmp_path / "data" / "local").iterdir() if p.name.startswith(".")]

    # killed while the Minari copy is written: the new dataset and card are complete, the copy is stale
    import offrl.datasets.minari_io as minari_io

    def killed_copy(*a, **k):
        raise KeyboardInterrupt

    real_save = minari_io.save_minari
    monkeypatch.setattr(minari_io, "save_minari", killed_copy)
    with pytest.raises(KeyboardInterrupt):
        _collect(tmp_path, seed=1, overwrite=True)
    monkeypatch.setattr(minari_io, "save_minari", real_save)
    card = _card_matches(tmp_path)
    assert card["checksum"] != first.spec.checksum and card["seed"] == 1
    assert collection.minari_copy_status(NAME, tmp_path / "data")[0] == "stale"
    second = _collect(tmp_path)  # re-makes the stale copy
    assert second.spec.checksum == card["checksum"]
    assert collection.minari_copy_status(NAME, tmp_path / "data")[0] == "ok"


def test_collect_cli_without_minari(tmp_path, monkeypatch, capsys):
    from offrl.cli import main

    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setitem(sys.modules, "minari", None)
    with pytest.warns(UserWarning, match="only the native dataset is written"):
        assert main(["collect", NAME, "--steps", "100", "--n-envs", "2"]) == 0
    assert "local/hopper-random-v0: 100 transitions" in capsys.readouterr().out
    _card_matches(tmp_path)


def test_collect_cli_says_where_the_minari_copy_is_and_its_id(tmp_path, monkeypatch, capsys):
    """The copy is written outside the data root (Minari's own folder): the command names it and the id
    it loads by; without a copy (--no-minari) it names none."""
    pytest.importorskip("minari")
    from offrl.cli import main

    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    assert main(["collect", NAME, "--steps", "100", "--n-envs", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == (f"Minari copy: {tmp_path / 'minari' / 'offrl' / 'hopper-random-v0'} (loads as "
                    "minari/offrl/hopper-random-v0, or minari.load_dataset('offrl/hopper-random-v0'))")
    assert len(load("minari/offrl/hopper-random-v0")) == 100
    assert main(["datasets", "list", "--present"]) == 0  # it loads by that id, so it is listed
    assert "* minari/offrl/hopper-random-v0" in capsys.readouterr().out
    assert main(["collect", NAME, "--steps", "100", "--n-envs", "2", "--no-minari", "--overwrite"]) == 0
    assert "Minari copy" not in capsys.readouterr().out


TASK, TASK_ID = "pendulum-gain/forward-random", "local/pendulum-gain/forward-random-v0"


def test_task_dataset_gets_no_minari_copy_by_default_with_a_one_line_note(tmp_path, capsys):
    """The continual task envs are registered with a callable entry point, which a Minari dataset cannot
    record: the default collect writes the native dataset and says so in one line (it used to raise
    Gymnasium's ValueError after the native dataset was written, on every rerun too)."""
    from offrl.cli import main

    root = tmp_path / "offrl-data"  # the conftest's OFFRL_DATA_DIR
    ds = collection.collect(TASK, steps=200, n_envs=2, root=root, progress=False)
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "Minari" in line]
    assert notes == [f"note: {TASK_ID}: no Minari copy: its env offrl/PendulumGain-v0 is registered with a Python "
                     "callable as its entry point, which a Minari dataset cannot record; only the native dataset "
                     "is written"]
    assert len(load(TASK_ID, root=root)) == 200 and ds.spec.checksum
    assert not collection.minari_copy_status(TASK_ID, root)[1].exists()
    # the rerun: one line saying the dataset exists, no traceback; --overwrite collects it again
    assert main(["collect", TASK, "--steps", "200", "--n-envs", "2"]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["collect", TASK, "--steps", "200", "--n-envs", "2", "--overwrite"]) == 0
    assert "200 transitions" in capsys.readouterr().out
    assert collection.minari_env_problem(TASK) and collection.minari_env_problem(NAME) is None


def test_explicit_minari_copy_of_a_task_dataset_fails_before_collecting(tmp_path, monkeypatch, capsys):
    from offrl.cli import main

    def no_collection(*a, **k):
        raise AssertionError("the Minari copy cannot be written: nothing is collected")

    monkeypatch.setattr(collection, "collect_stream", no_collection)
    with pytest.raises(collection.OffrlError, match="no Minari copy can be written.*without --minari"):
        collection.collect(TASK, steps=200, n_envs=2, root=tmp_path / "offrl-data", minari=True, progress=False)
    assert main(["collect", TASK, "--steps", "200", "--n-envs", "2", "--minari"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"offrl collect: error: {TASK_ID}: no Minari copy can be written") and err.count("\n") == 1
    assert not local_dataset_dir(TASK_ID, tmp_path / "offrl-data").exists()
