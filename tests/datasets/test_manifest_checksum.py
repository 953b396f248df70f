"""A native manifest (``offrl.json``) checksums its own content: an edited or damaged value (env id, reference
score, time limit) fails ``verify``, ``info`` and a verifying ``load`` like a changed data file, with the same
repair command; a manifest of an earlier offrl, without that checksum, still loads and verifies, with a note."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
from fixtures import episodes_layout, write_d4rl

import offrl.datasets as D
from offrl.cli import main
from offrl.datasets.native import FORMAT_VERSION
from offrl.errors import DataIntegrityError

COLLECT_AGAIN = ("local/hopper-random-v0 was changed or damaged after it was written: collect it again with "
                 "`offrl collect hopper-random --overwrite`")
NO_OWN_CHECKSUM = ("offrl.json has no checksum of its own (written by an earlier offrl): the files it lists were "
                   "checked, a change to the manifest itself cannot be detected; saving the dataset again adds one")


@pytest.fixture
def ds(tmp_path):
    layout = episodes_layout(np.random.default_rng(5), [5, 7, 4], ["term", "timeout", "timeout"])
    ds = D.load(write_d4rl(tmp_path / "src.hdf5", layout), mode="raw")
    ds.spec = dataclasses.replace(ds.spec, env_id="Hopper-v4", ref_min=-20.272305, ref_max=3234.3,
                                  max_episode_steps=1000)
    return ds


def _mismatch(folder) -> str:
    return (f"{folder / 'offrl.json'}: its content does not match its own checksum (manifest_sha256): it was "
            "edited or damaged after it was written")


def _edit(folder, change) -> None:
    """Rewrite the manifest with ``change`` applied to its parsed content (its recorded checksum kept)."""
    p = folder / "offrl.json"
    m = json.loads(p.read_text())
    change(m)
    p.write_text(json.dumps(m, indent=2))


def test_the_manifest_records_the_sha256_of_its_canonical_json(ds, tmp_path):
    # values that a JSON round trip changes (tuples, numpy scalars, int keys) or that need care (NaN, non-ASCII)
    d = D.save(ds, tmp_path / "native", format="offrl",
               metadata={"shape": (3, 4), "seed": np.int64(7), "score": np.float32(0.1), "nan": float("nan"),
                         "by_level": {1: "één", 2: [1.5, None, True]}})
    m = json.loads((d / "offrl.json").read_text())
    assert m["version"] == FORMAT_VERSION == 1  # an added field: older readers ignore it, no new version
    rest = {k: v for k, v in m.items() if k != "manifest_sha256"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    assert m["manifest_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert D.verify(d) == [] and D.verify(d).notes == []
    assert D.load(d).spec.env_id == "Hopper-v4"
    assert json.loads(json.dumps(D.info(d)))["integrity"] == \
        "checked: its files against the sha256 checksums in offrl.json"


@pytest.mark.parametrize("change", [
    lambda m: m["spec"].update(env_id="Walker2d-v4"),
    lambda m: m["spec"].update(ref_max=3234.4),
    lambda m: m["spec"].update(max_episode_steps=500),
    lambda m: m.update(manifest_sha256="0" * 64),
    lambda m: m.update(manifest_sha256=None),
], ids=["env_id", "ref_max", "time_limit", "checksum", "checksum_not_a_string"])
def test_an_edited_manifest_fails_verify_info_and_load(ds, tmp_path, capsys, change):
    d = D.save(ds, tmp_path / "native", format="offrl")
    _edit(d, change)
    assert D.verify(d) == [_mismatch(d)]  # the data files still match: only the manifest's own checksum tells
    assert main(["datasets", "verify", str(d)]) == 1
    assert capsys.readouterr().out == f"FAIL {d}: {_mismatch(d)}\n"
    with pytest.raises(DataIntegrityError) as e:
        D.load(d)
    assert str(e.value) == _mismatch(d)
    assert len(D.load(d, verify=False)) == len(ds)  # unchecked, it is read as it is
    assert main(["datasets", "info", str(d)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and _mismatch(d) in err


def test_a_flipped_byte_in_the_manifest_is_found(ds, tmp_path):
    d = D.save(ds, tmp_path / "native", format="offrl")
    p = d / "offrl.json"
    text = p.read_text()
    assert text.count('"ref_max": 3234.3') == 1
    p.write_text(text.replace('"ref_max": 3234.3', '"ref_max": 3234.2'))  # one bit: "3" is 0x33, "2" 0x32
    assert D.verify(d) == [_mismatch(d)]
    assert D.load(d, verify=False).spec.ref_max == 3234.2


def test_an_edited_local_manifest_names_the_command_that_makes_it_again(ds, capsys):
    d = D.save(ds, "local/hopper-random-v0", format="offrl")
    _edit(d, lambda m: m["spec"].update(ref_min=0.0))
    with pytest.raises(DataIntegrityError) as e:
        D.load("local/hopper-random-v0")
    assert str(e.value) == f"{_mismatch(d)}. {COLLECT_AGAIN}"
    assert D.verify("local/hopper-random-v0") == [_mismatch(d), COLLECT_AGAIN]
    assert main(["datasets", "verify", "local/hopper-random-v0"]) == 1
    assert capsys.readouterr().out == (f"FAIL local/hopper-random-v0: {_mismatch(d)}\n"
                                       f"FAIL local/hopper-random-v0: {COLLECT_AGAIN}\n")
    assert main(["datasets", "info", "local/hopper-random-v0"]) == 1
    assert capsys.readouterr().err.endswith(f"{_mismatch(d)}. {COLLECT_AGAIN}\n")


def _as_an_earlier_offrl_wrote_it(folder) -> None:
    p = folder / "offrl.json"
    m = json.loads(p.read_text())
    del m["manifest_sha256"]
    p.write_text(json.dumps(m, indent=2, allow_nan=True))


def test_a_manifest_without_its_own_checksum_loads_and_verifies_with_a_note(ds, tmp_path, capsys):
    d = D.save(ds, tmp_path / "native", format="offrl")
    _as_an_earlier_offrl_wrote_it(d)
    assert D.load(d).spec.env_id == "Hopper-v4"
    problems = D.verify(d)
    assert problems == [] and problems.notes == [NO_OWN_CHECKSUM]
    assert main(["datasets", "verify", str(d)]) == 0
    assert capsys.readouterr().out == f"ok   {d}\nnote {d}: {NO_OWN_CHECKSUM}\n"
    assert main(["datasets", "info", str(d)]) == 0
    assert json.loads(capsys.readouterr().out)["integrity"] == \
        f"checked: its files against the sha256 checksums in offrl.json; {NO_OWN_CHECKSUM}"
    # its data files are checked all the same
    data = d / "data.h5"
    b = bytearray(data.read_bytes())
    b[-100] ^= 0xFF
    data.write_bytes(bytes(b))
    problems = D.verify(d)
    assert len(problems) == 1 and problems[0].startswith(f"{data}: checksum ") and problems.notes == [NO_OWN_CHECKSUM]
    assert main(["datasets", "verify", str(d)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL {d}: {data}: checksum ") and out.endswith(f"\nnote {d}: {NO_OWN_CHECKSUM}\n")


def test_an_earlier_local_manifest_is_described_by_info_with_a_note(ds, capsys):
    d = D.save(ds, "local/hopper-random-v0", format="offrl")
    _as_an_earlier_offrl_wrote_it(d)
    assert main(["datasets", "info", "local/hopper-random-v0"]) == 0
    assert json.loads(capsys.readouterr().out)["integrity"] == \
        f"checked: its files against the sha256 checksums in offrl.json; {NO_OWN_CHECKSUM}"
    assert len(D.load("local/hopper-random-v0")) == len(ds)
