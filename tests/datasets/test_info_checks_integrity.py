"""``datasets info`` checks data on this machine against their checksums as ``datasets verify`` does (one
check, :func:`offrl.datasets.api.check_recorded`): damaged data are an error, never facts given as sound;
data too large to read quickly are described with a word that they were not checked."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
from fixtures import episodes_layout, write_d4rl

import offrl.datasets as D
import offrl.datasets.api as api
import offrl.datasets.registry as R
from offrl.cli import main
from offrl.datasets.download import read_pins
from offrl.errors import DataIntegrityError


def _flip_a_byte(path, at=-100):
    b = bytearray(path.read_bytes())
    b[at] ^= 0xFF
    path.write_bytes(bytes(b))


@pytest.fixture
def ds(tmp_path):
    layout = episodes_layout(np.random.default_rng(3), [5, 7, 4], ["term", "timeout", "timeout"])
    return D.load(write_d4rl(tmp_path / "src.hdf5", layout), mode="raw")


def _info(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["datasets", "info", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_of_a_damaged_native_path_is_an_error_as_verify_finds_it(ds, tmp_path, capsys):
    d = D.save(ds, tmp_path / "native", format="offrl")
    _flip_a_byte(d / "data.h5")  # the arrays still read: only the checksum tells
    assert D.load(d, verify=False).num_episodes == 3
    (problem,) = D.verify(d)
    assert problem.startswith(f"{d / 'data.h5'}: checksum ")
    for given in (d, d / "offrl.json"):  # the folder, or its manifest, as load and verify take them
        code, out, err = _info(capsys, str(given))
        assert code == 1 and out == ""  # no facts of damaged data
        assert err.count("\n") == 1 and problem in err and f"{given} is damaged or was changed" in err
        with pytest.raises(DataIntegrityError, match="does not match the manifest"):
            D.info(given)
    assert main(["datasets", "verify", str(d / "offrl.json")]) == 1  # the manifest's path is checked too
    assert "does not match the manifest" in capsys.readouterr().out

    intact = D.save(ds, tmp_path / "intact", format="offrl")
    code, out, _ = _info(capsys, str(intact))
    assert code == 0 and json.loads(out)["integrity"] == "checked: its files against the sha256 checksums in offrl.json"


def test_info_of_a_file_checks_the_checksum_recorded_beside_it(ds, tmp_path, capsys):
    f = D.save(ds, tmp_path / "hop.hdf5", format="d4rl")
    side = tmp_path / "hop.hdf5.sha256"  # as offrl <= 0.1 wrote beside a download
    side.write_text("sha256:" + hashlib.sha256(f.read_bytes()).hexdigest())
    assert D.info(f)["integrity"] == "checked: the file against the checksum in hop.hdf5.sha256"
    _flip_a_byte(f)
    code, out, err = _info(capsys, str(f))
    assert code == 1 and out == "" and f"(recorded in {side})" in err
    plain = D.save(ds, tmp_path / "plain.hdf5", format="d4rl")  # nothing recorded: loading is the check
    assert D.info(plain)["integrity"] == "loads; no checksum is recorded with it to check it against"


def test_info_of_a_local_id_checks_it_unless_it_is_large_and_then_says_so(ds, capsys, monkeypatch):
    i = "local/hopper-random-v0"
    d = D.save(ds, i, format="offrl")
    code, out, _ = _info(capsys, i)
    assert code == 0 and json.loads(out)["integrity"] == "checked: its files against the sha256 checksums in offrl.json"
    # the API's default stays quick (`datasets list` describes every id): it says it did not check
    assert D.info(i)["integrity"] == f"not checked (`offrl datasets verify {i}` checks it)"

    _flip_a_byte(d / "data.h5")
    code, out, err = _info(capsys, i)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "does not match the manifest" in err
    assert "collect it again with `offrl collect hopper-random --overwrite`" in err

    # larger than info reads: described, marked as not checked, with the command that checks it
    monkeypatch.setattr(api, "INFO_CHECK_MAX_BYTES", 1)
    code, out, _ = _info(capsys, i)
    assert code == 0
    assert json.loads(out)["integrity"].startswith("not checked: ") and f"`offrl datasets verify {i}`" in out
    code, out, err = _info(capsys, i, "--stats")  # reads all of it anyway: checked
    assert code == 1 and out == "" and "does not match the manifest" in err


def test_info_of_a_registered_file_checks_its_pin_and_pins_nothing(tmp_path, monkeypatch, capsys):
    i, rel = "d4rl/hopper-medium-v2", "d4rl/hopper_medium-v2.hdf5"
    src = write_d4rl(tmp_path / "up.hdf5", episodes_layout(np.random.default_rng(0), [40, 50], ["term", "timeout"]))
    monkeypatch.setitem(R.DATASETS._entries, i, dataclasses.replace(R.DATASETS[i], files=((rel, src.as_uri(), None),)))
    cached = R.data_root() / rel
    cached.parent.mkdir(parents=True)
    cached.write_bytes(src.read_bytes())  # put in place by hand: no pin yet
    code, out, _ = _info(capsys, i)
    assert code == 0 and json.loads(out)["integrity"].startswith("not checked: no checksum is known")
    assert read_pins() == {}  # pinning is load's and verify's, not info's

    assert D.verify(i) == []  # pins it
    code, out, _ = _info(capsys, i)
    assert code == 0 and "pinned at their first download or load" in json.loads(out)["integrity"]
    _flip_a_byte(cached)
    code, out, err = _info(capsys, i)
    assert code == 1 and out == "" and "has changed since it was first seen here" in err
    assert cached.exists()  # left in place, as verify leaves it


def test_a_file_of_a_native_dataset_is_read_described_and_checked_as_its_folder(ds, tmp_path, capsys):
    """Its data.h5 given alone looked like a D4RL file without `terminals` (load, info and verify all failed so)."""
    d = D.save(ds, tmp_path / "native", format="offrl")
    data = d / "data.h5"
    assert api.detect_format(data) == "offrl"
    assert D.load(data).num_episodes == D.load(d).num_episodes == 3
    code, out, _ = _info(capsys, str(data))
    assert code == 0 and json.loads(out)["integrity"] == "checked: its files against the sha256 checksums in offrl.json"
    assert D.verify(data) == []
    _flip_a_byte(data)
    (problem,) = D.verify(data)
    assert "does not match the manifest" in problem
    code, out, err = _info(capsys, str(data))
    assert code == 1 and out == "" and "does not match the manifest" in err
    # a file of the folder that the manifest does not list is no part of the dataset: judged by its own content
    stray = d / "notes.h5"
    stray.write_bytes(data.read_bytes())
    assert api.detect_format(stray) != "offrl"


def test_list_names_a_local_folder_whose_manifest_cannot_be_read(ds, tmp_path, capsys):
    """It was left out of `list --present` without a word: no id holds it, yet it is someone's data."""
    root = tmp_path / "data"
    d = D.save(ds, root / "local" / "mine-v0", format="offrl")
    assert main(["datasets", "list", "local/", "--present", "--root", str(root)]) == 0
    out, err = capsys.readouterr()
    assert "local/mine-v0" in out and err == ""
    (d / "offrl.json").write_text("{")
    assert main(["datasets", "list", "local/", "--present", "--root", str(root)]) == 0
    out, err = capsys.readouterr()
    assert "local/mine-v0" not in out
    assert f"note: {d} holds an offrl.json that cannot be read" in err and f"offrl datasets verify {d}" in err
    assert main(["datasets", "list", "d4rl/", "--root", str(root)]) == 0  # another prefix: not its concern
    assert capsys.readouterr().err == ""
    assert main(["datasets", "verify", str(d)]) == 1 and "unreadable manifest" in capsys.readouterr().out
