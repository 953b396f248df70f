"""What ``info`` and ``list`` say of data on this machine (read as ``load`` reads them, without the arrays),
which id a dataset loaded by id carries, and progress bars that leave nothing behind."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from fixtures import episodes_layout, write_d4rl

import offrl.datasets as D
from offrl.cli import main
from offrl.datasets import registry as R

MINARI_ID = "minari/walk/hopper-med-v0"
SPEC_FIELDS = ("env_id", "ref_min", "ref_max", "max_episode_steps")


@pytest.fixture
def ds(tmp_path):
    """A small Hopper-shaped dataset whose spec has env and reference scores, loaded from a file (so its
    spec id is the file's, as `offrl datasets convert FILE local/...` keeps it)."""
    layout = episodes_layout(np.random.default_rng(3), [5, 7, 4], ["term", "timeout", "timeout"])
    ds = D.load(write_d4rl(tmp_path / "src.hdf5", layout), mode="raw")
    ds.spec = dataclasses.replace(ds.spec, env_id="Hopper-v5", ref_min=-20.0, ref_max=3000.0, max_episode_steps=1000)
    return ds


@pytest.fixture
def walkthrough(ds):
    """local/hopper-medium-v0 saved, and a Minari copy of it saved under Minari's root (as `offrl datasets
    convert local/hopper-medium-v0 minari/walk/hopper-med-v0 --to minari` writes it)."""
    pytest.importorskip("minari")
    D.save(ds, "local/hopper-medium-v0", format="offrl")
    D.save(D.load("local/hopper-medium-v0"), MINARI_ID, format="minari")
    return R.minari_write_root() / "walk" / "hopper-med-v0"


def _no_loading(monkeypatch):
    """``info`` must stay cheap: reading any dataset's arrays fails the test."""
    import offrl.datasets.api as api
    import offrl.datasets.minari_io as minari_io
    import offrl.datasets.native as native

    def refuse(*a, **k):
        raise AssertionError("info loaded the data")

    for mod, name in ((api, "load_path"), (minari_io, "load_minari"), (native, "load_native")):
        monkeypatch.setattr(mod, name, refuse)


# ---------------------------------------------------------------------------- finding 1: info of a Minari id
def test_info_of_a_present_minari_dataset_says_what_load_says(walkthrough, monkeypatch, capsys):
    loaded = D.load(MINARI_ID).spec
    with monkeypatch.context() as m:
        _no_loading(m)
        d = D.info(MINARI_ID)
    assert d["present"] and d["source"] == "minari"
    assert {k: d[k] for k in SPEC_FIELDS} == {k: getattr(loaded, k) for k in SPEC_FIELDS}
    assert d["env_id"] == "Hopper-v5" and d["ref_min"] == -20.0 and d["ref_max"] == 3000.0
    assert (d["obs_dim"], d["act_dim"]) == (int(np.prod(loaded.obs_shape)), int(np.prod(loaded.action_shape))) == (11, 3)
    # only where the data are: not the empty candidate under the offrl data root
    assert d["paths"] == [str(walkthrough)] and "looked_in" not in d
    # the command line and `list` say the same
    assert main(["datasets", "info", MINARI_ID]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(d))
    assert main(["datasets", "list", "minari/walk", "--present"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split() == ["*", MINARI_ID, "Hopper-v5", "ref", "[-20,", "3000]"]


def test_info_of_an_absent_minari_dataset_names_where_it_was_looked_for():
    d = D.info("minari/walk/nothing-here-v0")
    assert not d["present"] and d["paths"] == []
    assert d["looked_in"] == [str(r / "walk" / "nothing-here-v0") for r in R.minari_roots()]
    assert d["env_id"] is None and d["ref_min"] is None


def test_minari_facts_size_flattened_spaces_as_load_flattens_them():
    from offrl.datasets.minari_io import metadata_facts

    box = {"type": "Box", "shape": [2, 3]}
    meta = {"observation_space": json.dumps({"type": "Dict", "subspaces": {"a": box, "b": {"type": "Discrete"}}}),
            "action_space": json.dumps({"type": "Discrete", "n": 4}),
            "env_spec": json.dumps({"id": "X-v0", "max_episode_steps": 7}), "ref_min_score": 1, "ref_max_score": 2}
    assert metadata_facts(meta) == {"env_id": "X-v0", "max_episode_steps": 7, "ref_min": 1.0, "ref_max": 2.0,
                                    "obs_dim": 7, "act_dim": 1}
    assert metadata_facts({"observation_space": json.dumps({"type": "Text"})})["obs_dim"] is None


# ---------------------------------------------------------------------------- finding 2: dims of native data
def test_info_of_present_native_datasets_reads_their_manifest(ds, monkeypatch):
    D.save(ds, "local/hopper-medium-v0", format="offrl")
    D.save(ds, "local/my-own-v0", format="offrl")  # saved under an id the registry does not list
    ds.spec = dataclasses.replace(ds.spec, env_id=R.UAV_ENV_ID, ref_min=-5.0, ref_max=7.0)
    D.save(ds, R.data_root() / "uav" / "expert-v0", format="offrl")
    loaded = {i: D.load(i).spec for i in ("local/hopper-medium-v0", "local/my-own-v0", "uav/expert-v0")}
    _no_loading(monkeypatch)
    for i, spec in loaded.items():
        d = D.info(i)
        assert d["present"] and (d["obs_dim"], d["act_dim"]) == (11, 3), i
        assert {k: d[k] for k in SPEC_FIELDS} == {k: getattr(spec, k) for k in SPEC_FIELDS}, i
    assert D.info("uav/expert-v0")["ref_max"] == 7.0  # the registry has none: the dataset's own
    assert D.info("local/my-own-v0")["env_id"] == "Hopper-v5"
    # absent: the registry's facts, nothing read
    d = D.info("local/walker2d-medium-v0")
    assert not d["present"] and d["obs_dim"] is None and d["env_id"] == "Walker2d-v5"


# ---------------------------------------------------------------------------- finding 3: spec.id of a load by id
def test_an_id_that_is_also_a_relative_path_to_its_own_data_is_the_id(walkthrough, ds, tmp_path, monkeypatch):
    assert ds.spec.id == "file:src.hdf5"
    monkeypatch.chdir(tmp_path)  # the parent of Minari's root: MINARI_ID is also the relative path of its data
    assert Path(MINARI_ID).resolve() == walkthrough.resolve()
    got = D.load(MINARI_ID)
    assert got.spec.id == MINARI_ID and got.spec.env_id == "Hopper-v5"
    assert D.info(MINARI_ID)["source"] == "minari" and D.verify(MINARI_ID) == []
    out = D.convert(MINARI_ID, tmp_path / "native")  # a native copy keeps the id it was loaded by
    assert D.load(out).spec.id == MINARI_ID
    # run from the data root: local/<name> is the relative path of its own folder
    monkeypatch.chdir(R.data_root())
    assert Path("local/hopper-medium-v0").is_dir()
    assert D.load("local/hopper-medium-v0").spec.id == "local/hopper-medium-v0"
    assert D.info("local/hopper-medium-v0")["source"] == "local"


def test_an_id_like_path_to_other_data_stays_a_path(ds, tmp_path, monkeypatch):
    D.save(ds, "local/hopper-medium-v0", format="offrl")
    elsewhere = tmp_path / "cwd"
    D.save(ds, elsewhere / "local" / "hopper-medium-v0", format="offrl")  # not the data root's folder
    monkeypatch.chdir(elsewhere)
    from offrl.datasets.api import is_registry_id

    assert not is_registry_id("local/hopper-medium-v0") and is_registry_id("local/hopper-expert-v0")
    assert D.load("local/hopper-medium-v0").spec.id == "file:src.hdf5"  # the path's own
    assert D.info("local/hopper-medium-v0")["source"] == "path"


# ---------------------------------------------------------------------------- finding 4: convert adds -v0
def test_convert_to_a_local_name_without_version_adds_v0_as_documented(tmp_path, capsys):
    src = write_d4rl(tmp_path / "hm.hdf5", episodes_layout(np.random.default_rng(0), [5, 6], ["term", "timeout"]))
    assert main(["datasets", "convert", str(src), "local/hm-from-d4rl"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(str(R.data_root() / "local" / "hm-from-d4rl-v0"))
    assert len(D.load("local/hm-from-d4rl")) == len(D.load("local/hm-from-d4rl-v0")) == 10
    assert R.saved_local_ids() == ["local/hm-from-d4rl-v0"]
    docs = (Path(__file__).parents[2] / "docs" / "datasets.md").read_text()
    assert "`offrl datasets convert hm.hdf5 local/hm-from-d4rl` writes\n`<data root>/local/hm-from-d4rl-v0`" in docs


# ---------------------------------------------------------------------------- finding 5: no stray progress lines
def test_cli_leaves_no_progress_bar_lines_where_stderr_is_no_terminal(walkthrough, tmp_path, capsys):
    assert main(["datasets", "verify", "local/hopper-medium-v0"]) == 0
    assert main(["datasets", "list", "--present"]) == 0
    assert main(["datasets", "convert", MINARI_ID, str(tmp_path / "copy")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok   local/hopper-medium-v0\n")
    assert err == "", err


def test_api_shows_no_bar_for_quick_work_but_does_for_long_work(walkthrough, monkeypatch, capsys):
    import offrl.datasets.api as api
    import offrl.datasets.minari_io as minari_io

    d = R.local_dataset_dir("local/hopper-medium-v0")
    assert D.verify(d, progress=True) == [] and D.verify("local/hopper-medium-v0", progress=True) == []
    D.load(MINARI_ID, progress=True)
    assert capsys.readouterr().err == ""
    # the bars are still there for work that takes a while
    monkeypatch.setattr(api, "PROGRESS_MIN_BYTES", 1)
    monkeypatch.setattr(minari_io, "PROGRESS_DELAY_S", 0)
    assert D.verify(d, progress=True) == []
    D.load(MINARI_ID, progress=True)
    err = capsys.readouterr().err
    assert "sha256 data.h5" in err and "reading hopper-med-v0" in err


def test_cli_shows_bars_on_a_terminal(monkeypatch):
    import io
    import sys

    import offrl.datasets.api as api

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    asked = []
    monkeypatch.setattr(api, "verify", lambda s, **kw: asked.append(kw["progress"]) or [])
    assert main(["datasets", "verify", "local/hopper-medium-v0"]) == 0
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert main(["datasets", "verify", "local/hopper-medium-v0"]) == 0
    assert asked == [False, True]
