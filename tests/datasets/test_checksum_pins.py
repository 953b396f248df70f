"""Checksums where the source publishes none (D4RL): the sha256 of the first download is pinned in the
data root and checked on every later load and verify, with a clear message and a way to re-pin (item
14); `datasets verify` names a path once and `datasets info` takes the paths `load` takes (item 13).
Files are written by the tests and served from file:// URLs: no network."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
from fixtures import episodes_layout, write_d4rl

import offrl.datasets as D
import offrl.datasets.registry as R
from offrl.cli import main
from offrl.datasets.download import pins_path, read_pins
from offrl.errors import DataIntegrityError

ID, REL = "d4rl/hopper-medium-v2", "d4rl/hopper_medium-v2.hdf5"


def _sha(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _serve_from_file(tmp_path, monkeypatch, seed=0):
    """Point the registry's D4RL hopper-medium entry at a file written here (its checksum: none, as D4RL's)."""
    src = tmp_path / "upstream" / "hopper_medium-v2.hdf5"
    src.parent.mkdir(exist_ok=True)
    write_d4rl(src, episodes_layout(np.random.default_rng(seed), [40, 50], ["term", "timeout"]))
    info = R.DATASETS[ID]
    assert info.checksums == [None]
    monkeypatch.setitem(R.DATASETS._entries, ID, dataclasses.replace(info, files=((REL, src.as_uri(), None),)))
    return src


def _flip_a_byte(path, at=-100):
    b = bytearray(path.read_bytes())
    b[at] ^= 0xFF
    path.write_bytes(bytes(b))


def test_first_download_is_pinned_and_checked_on_every_load(tmp_path, monkeypatch, capsys):
    src = _serve_from_file(tmp_path, monkeypatch)
    before = D.info(ID)
    assert before["checksum"] is None and "pinned" in before["checksum_source"] and not before["present"]

    ds = D.load(ID, download=True)
    cached = tmp_path / "offrl-data" / REL
    pins = read_pins()
    assert pins_path() == tmp_path / "offrl-data" / "pinned_checksums.json"
    assert pins[REL]["checksum"] == _sha(src) == _sha(cached) and pins[REL]["source"] == src.as_uri()
    assert pins[REL]["size"] == cached.stat().st_size
    assert ds.spec.checksum == _sha(src)
    after = D.info(ID)
    assert after["checksum"] == _sha(src) and after["checksum_source"].startswith("pinned")
    assert D.verify(ID) == [] and D.load(ID).spec.checksum == _sha(src)
    assert not list(cached.parent.glob("*.sha256"))  # the pin file replaces sidecars

    # the cached file changes: load and verify refuse it, say why and how to accept it; nothing is moved
    _flip_a_byte(cached)
    with pytest.raises(DataIntegrityError, match="has changed since it was first seen") as err:
        D.load(ID)
    assert f"offrl datasets verify {ID} --repin" in str(err.value) and str(pins_path()) in str(err.value)
    with pytest.raises(DataIntegrityError, match="has changed"):
        D.load(ID, download=True)  # not silently replaced either
    assert cached.exists()
    problems = D.verify(ID)
    assert len(problems) == 1 and "--repin" in problems[0]
    assert main(["datasets", "verify", ID]) == 1
    assert "has changed since it was first seen" in capsys.readouterr().out

    # re-pinning accepts the file as it is now
    assert main(["datasets", "verify", ID, "--repin"]) == 0
    assert read_pins()[REL]["checksum"] == _sha(cached) != _sha(src)
    assert D.load(ID).spec.checksum == _sha(cached)


def test_a_file_found_in_place_is_pinned_at_first_use(tmp_path, monkeypatch):
    _serve_from_file(tmp_path, monkeypatch)
    d4 = tmp_path / "d4rl"  # $D4RL_DATASET_DIR (tests/conftest.py)
    d4.mkdir()
    placed = write_d4rl(d4 / "hopper_medium-v2.hdf5", episodes_layout(np.random.default_rng(3), [30], ["term"]))
    assert D.verify(ID) == []  # first use: pinned now
    assert read_pins()[REL]["checksum"] == _sha(placed)
    _flip_a_byte(placed)
    with pytest.raises(DataIntegrityError, match="has changed"):
        D.load(ID)


def test_a_new_download_that_differs_from_the_pin_is_refused(tmp_path, monkeypatch):
    src = _serve_from_file(tmp_path, monkeypatch)
    D.download_dataset(ID, progress=False)
    (tmp_path / "offrl-data" / REL).unlink()
    write_d4rl(src, episodes_layout(np.random.default_rng(9), [20, 20], ["term", "term"]))  # upstream changed
    with pytest.warns(UserWarning, match="moved aside"), pytest.raises(DataIntegrityError) as err:
        D.load(ID, download=True)
    assert "pinned for d4rl/hopper_medium-v2.hdf5 at its first download" in str(err.value)
    assert str(pins_path()) in str(err.value)
    assert not (tmp_path / "offrl-data" / REL).exists()


def test_download_pins_before_the_file_appears(tmp_path):
    from offrl.datasets.download import download

    src = tmp_path / "f.bin"
    src.write_bytes(b"abc" * 1000)
    out = download(src.as_uri(), tmp_path / "root" / "x" / "f.bin", progress=False, pin_as="x/f.bin",
                   root=tmp_path / "root")
    assert read_pins(tmp_path / "root")["x/f.bin"]["checksum"] == _sha(src) == _sha(out)
    download(src.as_uri(), tmp_path / "g.bin", progress=False)  # no pin asked for: none written
    assert set(read_pins(tmp_path / "root")) == {"x/f.bin"} and not (tmp_path / "g.bin.sha256").exists()


def test_verify_names_a_path_once_and_info_takes_paths(tmp_path, capsys):
    good = write_d4rl(tmp_path / "hop.hdf5", episodes_layout(np.random.default_rng(0), [40, 50], ["term", "timeout"]))
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(good.read_bytes()[:3000])
    assert main(["datasets", "verify", str(bad), str(good), str(tmp_path / "none.hdf5")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"FAIL {bad}: truncated or corrupt HDF5") and out[0].count(str(bad)) == 1
    assert out[1] == f"ok   {good}"
    assert out[2] == f"FAIL {tmp_path / 'none.hdf5'}: no such file or directory"
    assert D.verify(bad) == [m.split(": ", 1)[1] for m in out[:1]]

    # info takes what load and verify take
    ds = D.load(good)
    assert main(["datasets", "info", str(good)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["format"] == "d4rl" and d["transitions"] == len(ds) and d["episodes"] == 2 and d["sha256"] == _sha(good)
    assert d["obs_shape"] == [11] and d["present"] is True
    native = D.save(D.load(good), tmp_path / "native", format="offrl")
    d = D.info(str(native))
    assert d["format"] == "offrl" and d["checksum"] == D.load(native).checksum()
    assert main(["datasets", "info", str(bad)]) == 1
    assert "truncated or corrupt" in capsys.readouterr().err
    assert main(["datasets", "info", "hop.hdf5x"]) == 1  # neither an id nor an existing path
