"""``detect_format`` reads a native manifest once, and ``offrl datasets info FILE`` hashes a file once where
its integrity check (a ``.sha256`` sidecar, a native manifest) has hashed it already; the output is as
before."""

from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from fixtures import episodes_layout, write_d4rl

import offrl.atomic
import offrl.datasets as D
from offrl.cli import main
from offrl.datasets.api import detect_format
from offrl.errors import DataIntegrityError


@pytest.fixture
def native(tmp_path):
    layout = episodes_layout(np.random.default_rng(7), [5, 6], ["term", "timeout"])
    src = write_d4rl(tmp_path / "src.hdf5", layout)
    return D.save(D.load(src, mode="raw"), tmp_path / "native", format="offrl")


@pytest.fixture
def manifest_reads(monkeypatch):
    """How many times each offrl.json was read."""
    reads: collections.Counter = collections.Counter()
    read_text = Path.read_text

    def counting(self, *a, **kw):
        if self.name == "offrl.json":
            reads[self] += 1
        return read_text(self, *a, **kw)

    monkeypatch.setattr(Path, "read_text", counting)
    return reads


@pytest.fixture
def hashes(monkeypatch):
    """How many times each file was hashed (every checksum offrl computes goes through file_digest)."""
    counts: collections.Counter = collections.Counter()
    digest = offrl.atomic.file_digest

    def counting(path, *a, **kw):
        counts[Path(path)] += 1
        return digest(path, *a, **kw)

    monkeypatch.setattr(offrl.atomic, "file_digest", counting)
    return counts


def test_detect_format_reads_the_manifest_once(native, manifest_reads):
    manifest = native / "offrl.json"
    for path in (native, manifest, native / "data.h5"):
        manifest_reads.clear()
        assert detect_format(path) == "offrl"
        assert manifest_reads == {manifest: 1}, path
    # a damaged manifest is reported as such, from one read too
    manifest.write_text('{"format": "offrl-dataset", "spe')
    for path in (native, manifest):
        manifest_reads.clear()
        with pytest.raises(DataIntegrityError, match=rf"^{manifest}: unreadable manifest"):
            detect_format(path)
        assert manifest_reads == {manifest: 1}, path
    manifest_reads.clear()
    assert detect_format(native / "data.h5") == "d4rl"  # beside a damaged manifest: judged by its content
    assert manifest_reads == {manifest: 1}


def _info(capsys, path) -> dict:
    assert main(["datasets", "info", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_of_a_file_with_a_sidecar_hashes_it_once(tmp_path, hashes, capsys):
    src = write_d4rl(tmp_path / "hm.hdf5", episodes_layout(np.random.default_rng(8), [5, 6], ["term", "timeout"]))
    sha256 = hashlib.sha256(src.read_bytes()).hexdigest()
    src.with_name("hm.hdf5.sha256").write_text(f"sha256:{sha256}\n")
    d = _info(capsys, src)
    assert d["sha256"] == f"sha256:{sha256}"
    assert d["integrity"] == "checked: the file against the checksum in hm.hdf5.sha256"
    assert hashes == {src: 1}
    # a sidecar of another algorithm does not give the sha256 shown: that is hashed on its own
    hashes.clear()
    src.with_name("hm.hdf5.sha256").write_text(f"md5:{hashlib.md5(src.read_bytes()).hexdigest()}\n")
    assert _info(capsys, src)["sha256"] == f"sha256:{sha256}"
    assert hashes == {src: 2}


def test_info_of_a_file_the_manifest_lists_hashes_it_once(native, hashes, capsys):
    data = native / "data.h5"
    d = _info(capsys, data)
    assert d["sha256"] == "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()
    assert d["integrity"] == "checked: its files against the sha256 checksums in offrl.json" and d["format"] == "offrl"
    assert hashes == {data: 1}
    # the manifest itself is no file it lists: hashed once, for the sha256 shown
    hashes.clear()
    manifest = native / "offrl.json"
    assert _info(capsys, manifest)["sha256"] == "sha256:" + hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert hashes == {data: 1, manifest: 1}
