"""Collection from the shipped policies: determinism, loading, atomicity, bad input."""

import json

import numpy as np
import pytest

from offrl import collection
from offrl.datasets import load, local_dataset_dir
from offrl.errors import OffrlError, UnknownIdError


def test_shipped_policies_and_reference_scores():
    for env in collection.ENVS:
        pols, meta = collection.load_behaviour(env)
        assert {"expert", "medium"} <= set(pols)
        assert meta["medium_step"] < meta["expert_step"]
        replay = [k for k in pols if k.startswith("replay_")]
        assert replay and max(int(k.split("_")[1]) for k in replay) < meta["medium_step"]
        ref = json.loads((collection.policy_file(env).parent / "reference.json").read_text())
        assert ref["ref_min"] < meta["returns_100"]["medium"]["mean"] < ref["ref_max"]


def test_tiny_collection_is_deterministic_and_loads(tmp_path):
    a = collection.collect("hopper-medium", steps=300, n_envs=3, root=tmp_path / "a", minari=False, progress=False)
    b = collection.collect("hopper-medium", steps=300, n_envs=3, workers=2, root=tmp_path / "b", minari=False,
                           progress=False)
    assert a.spec.checksum == b.spec.checksum  # worker processes do not change the data
    c = collection.collect("hopper-medium", steps=300, n_envs=3, seed=1, save=False, progress=False)
    assert c.spec.checksum != a.spec.checksum
    ds = load("local/hopper-medium-v0", root=tmp_path / "a")
    assert len(ds) == 300 and ds.checksum() == a.spec.checksum
    assert ds.spec.env_id == "Hopper-v5" and ds.spec.ref_max is not None
    # each env's share ends with a cut (truncated) row unless it terminated there
    ends = np.flatnonzero(ds.terminations | ds.truncations)
    assert 99 in ends and 199 in ends and 299 in ends
    card = json.loads((local_dataset_dir("hopper-medium", tmp_path / "a") / "card.json").read_text())
    assert card["checksum"] == a.spec.checksum and card["transitions"] == 300
    assert card["policy"]["returns_100"]["medium"]["mean"] > 0


def test_levels_random_replay_and_medium_expert(tmp_path):
    r = collection.collect("walker2d-random", steps=200, n_envs=2, save=False, progress=False)
    assert np.abs(r.actions).max() <= 1.0 and len(r) == 200
    mr = collection.collect("hopper-medium-replay", steps=400, n_envs=2, save=False, progress=False)
    assert len(mr) >= 390  # scaled segment sizes are rounded
    collection.collect("hopper-medium", steps=100, n_envs=2, root=tmp_path, minari=False, progress=False)
    collection.collect("hopper-expert", steps=100, n_envs=2, root=tmp_path, minari=False, progress=False)
    me = collection.collect("hopper-medium-expert", steps=100, n_envs=2, root=tmp_path, minari=False, progress=False)
    assert len(me) == 200
    med = load("local/hopper-medium-v0", root=tmp_path)
    np.testing.assert_array_equal(me.observations[:100], med.observations)


def test_interrupted_collection_registers_nothing(tmp_path, monkeypatch):
    real = collection.collect_stream

    def dying(*a, **k):
        real(*a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(collection, "collect_stream", dying)
    with pytest.raises(KeyboardInterrupt):
        collection.collect("hopper-medium", steps=50, n_envs=2, root=tmp_path, minari=False, progress=False)
    assert not local_dataset_dir("hopper-medium", tmp_path).exists()
    with pytest.raises(OffrlError, match="offrl collect hopper-medium"):
        load("local/hopper-medium-v0", root=tmp_path)


def test_bad_names():
    with pytest.raises(UnknownIdError, match="did you mean 'hopper'"):
        collection.parse_name("hoper-medium")
    with pytest.raises(UnknownIdError, match="medium-replay"):
        collection.parse_name("hopper-medium-replya")
    assert collection.parse_name("local/walker2d-medium-expert-v0") == ("walker2d", "medium-expert")


def test_collect_cli_checksum_check(tmp_path, monkeypatch, capsys):
    from offrl.cli import main

    monkeypatch.setenv("OFFRL_DATA_DIR", str(tmp_path))
    assert main(["collect", "hopper-random", "--steps", "50", "--n-envs", "2", "--no-minari",
                 "--expect-checksum", "sha256:0"]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not local_dataset_dir("hopper-random", tmp_path).exists()  # nothing registered


def test_recorded_checksum_is_reproduced_or_flagged(recwarn):
    """The shipped record for hopper-medium (2000 steps, seed 0, 10 envs) is reproduced bit for bit
    under the recorded library versions; under other versions a mismatch must be reported."""
    recs = json.loads((collection.policy_file("hopper").parent / "checksums.json").read_text())
    rec = next(r for r in recs if r["transitions"] == 2000)
    ds = collection.collect("hopper-medium", steps=2000, save=False, progress=False)
    status = ds.metadata["card"]["recorded_checksum"]
    if rec["versions"] == collection._versions():
        assert ds.spec.checksum == rec["checksum"] and status["matches"]
    else:
        assert status["matches"] == (ds.spec.checksum == rec["checksum"])
        if not status["matches"]:
            assert any("differs from the recorded" in str(w.message) for w in recwarn)


def test_progress_bar_follows_tqdm_disable():
    """Logs of unattended runs set TQDM_DISABLE=1: a collection asked for its bar must still print none.
    tqdm reads the variable when it is imported, hence a fresh interpreter per case."""
    import os
    import subprocess
    import sys

    code = ("from offrl import collection; "
            "collection.collect('hopper-medium', steps=40, n_envs=2, save=False, progress=True)")
    for disabled in (True, False):
        env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"} | ({"TQDM_DISABLE": "1"} if disabled else {})
        err = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stderr
        assert ("collect hopper-medium" in err) is not disabled, err[-2000:]
