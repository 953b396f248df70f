"""NeoRL-2 npz and the D5RL formats (kitchen npz, WidowX out.npy, A1 replay-buffer pickle)."""

import pickle
import re
import sys
import types

import numpy as np
import pytest
from fixtures import write_neorl2

import offrl.datasets as D
from offrl.errors import DataIntegrityError, UnsafeFileError


def test_neorl2_layout(tmp_path):
    rng = np.random.default_rng(0)
    a = write_neorl2(tmp_path / "Pipeline-train.npz", rng, reward_2d=True, int_done=True)
    assert D.detect_format(tmp_path / "Pipeline-train.npz") == "neorl2"
    ds = D.load(tmp_path / "Pipeline-train.npz")
    assert ds.spec.id == "neorl2/Pipeline-train" and ds.spec.ref_min == -296.0 and ds.spec.ref_max == 751.0
    assert len(ds) == 16 and ds.num_episodes == 3
    np.testing.assert_array_equal(ds.terminations, a["done"].reshape(-1).astype(bool))
    assert ds.truncations[4] and ds.truncations[15] and not ds.truncations[11]
    np.testing.assert_allclose(D.normalized_score("neorl2/Pipeline-val", [429.007]), [69.246], atol=1e-3)


def test_neorl2_index_only_and_registry_md5(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    write_neorl2(tmp_path / "x.npz", rng, truncated=False)
    ds = D.load(tmp_path / "x.npz")
    assert ds.num_episodes == 3 and ds.truncations.sum() == 2  # ends from `index`, minus the done one
    # registry id: the file sits in our cache, its MD5 is checked and a mismatch is reported
    cache = tmp_path / "offrl-data" / "neorl2"
    cache.mkdir(parents=True)
    (cache / "DMSD-train.npz").write_bytes((tmp_path / "x.npz").read_bytes())
    with pytest.warns(UserWarning, match="moved aside"), pytest.raises(DataIntegrityError, match="checksum"):
        D.load("neorl2/DMSD-train")
    assert not (cache / "DMSD-train.npz").exists() and any(p.name.startswith("DMSD-train.npz.corrupt") for p in cache.iterdir())


def test_neorl2_default_truncation(tmp_path):
    rng = np.random.default_rng(2)
    lengths = [3] * 30
    write_neorl2(tmp_path / "Fusion-train.npz", rng, task_dims=(15, 6), lengths=lengths, done_last=[False] * 30)
    ds = D.load(tmp_path / "Fusion-train.npz")
    assert ds.num_episodes == 20 and len(ds) == 60
    assert D.load(tmp_path / "Fusion-train.npz", traj_num="all").num_episodes == 30
    (tmp_path / "Fusion-val.npz").write_bytes((tmp_path / "Fusion-train.npz").read_bytes())
    assert D.load(tmp_path / "Fusion-val.npz").num_episodes == 5
    with pytest.raises(DataIntegrityError, match="do not match"):
        write_neorl2(tmp_path / "Pipeline-train.npz", rng, task_dims=(5, 1))
        D.load(tmp_path / "Pipeline-train.npz")


def test_neorl2_corrupt(tmp_path):
    rng = np.random.default_rng(3)
    write_neorl2(tmp_path / "Pipeline-train.npz", rng)
    b = (tmp_path / "Pipeline-train.npz").read_bytes()
    (tmp_path / "Pipeline-train.npz").write_bytes(b[: len(b) // 2])
    with pytest.raises(DataIntegrityError):
        D.load(tmp_path / "Pipeline-train.npz")


def test_d5rl_kitchen(tmp_path):
    rng = np.random.default_rng(4)
    d = tmp_path / "kitchen" / "sub"
    d.mkdir(parents=True)
    for i, T in enumerate([5, 7]):
        arrays = {"action": rng.standard_normal((T, 9)).astype(np.float32), "proprio": rng.standard_normal((T, 9)),
                  "image_128": np.zeros((T, 4, 4, 3), np.uint8), "extra_image_camera_0_rgb": np.zeros((T, 2, 2, 3), np.uint8),
                  "observation": rng.standard_normal((T, 60)), "terminal": np.zeros(T)}
        for obj in ("microwave", "kettle", "light switch", "slide cabinet", "bottom burner"):
            arrays[f"reward {obj}"] = (rng.random(T) > 0.5).astype(np.float32)
        np.savez(d / f"ep{i}.npz", **arrays)
        if i == 0:
            ep0 = arrays
    ds = D.load(tmp_path / "kitchen")
    assert D.detect_format(tmp_path / "kitchen") == "d5rl-kitchen"
    assert len(ds) == 4 + 6 and ds.num_episodes == 2 and ds.terminations.sum() == 2
    np.testing.assert_allclose(ds.actions[0], ep0["action"][1])
    want = sum(ep0[f"reward {o}"] for o in ("microwave", "kettle", "light switch", "slide cabinet"))[1:]
    np.testing.assert_allclose(ds.rewards[:4], want)
    ood = D.load(tmp_path / "kitchen", task="outofdistribution")
    assert not np.allclose(ood.rewards, ds.rewards)


def test_d5rl_widowx_needs_opt_in(tmp_path):
    rng = np.random.default_rng(5)
    trajs = []
    for T in (3, 4):
        trajs.append({"observations": [{"image": np.zeros((2, 2, 3)), "state": rng.standard_normal(6)} for _ in range(T)],
                      "next_observations": [{"image": np.zeros((2, 2, 3)), "state": rng.standard_normal(6)} for _ in range(T)],
                      "actions": rng.standard_normal((T, 7)), "rewards": rng.random(T), "terminals": [0] * (T - 1) + [1],
                      "agent_infos": [{}] * T, "env_infos": [{}] * T})
    p = tmp_path / "train" / "out.npy"
    p.parent.mkdir()
    np.save(p, np.array(trajs, dtype=object), allow_pickle=True)
    assert D.detect_format(p.parent) == "d5rl-widowx"
    with pytest.raises(UnsafeFileError, match="allow_pickle=True"):
        D.load(p)
    ds = D.load(p, allow_pickle=True)
    assert len(ds) == 7 and ds.terminations.sum() == 2 and ds.observations.shape == (7, 6)


class _Evil:
    def __reduce__(self):
        import os

        # os.system, not print: a process that imported Ray has builtins.print replaced by Ray's own
        return (os.system, ("echo pwned",))


def test_d5rl_a1_buffer_allow_list(tmp_path, monkeypatch):
    mod = types.ModuleType("jaxrl2.data.replay_buffer")

    class ReplayBuffer:
        pass

    ReplayBuffer.__module__ = "jaxrl2.data.replay_buffer"
    ReplayBuffer.__qualname__ = "ReplayBuffer"
    mod.ReplayBuffer = ReplayBuffer
    for name in ("jaxrl2", "jaxrl2.data", "jaxrl2.data.replay_buffer"):
        monkeypatch.setitem(sys.modules, name, mod if name.endswith("replay_buffer") else types.ModuleType(name))
    cap, size = 20, 12
    rng = np.random.default_rng(6)
    buf = ReplayBuffer()
    masks = np.ones(cap, np.float32)
    masks[5] = 0
    dones = np.zeros(cap, bool)
    dones[[5, 11]] = True
    buf.dataset_dict = {"observations": rng.standard_normal((cap, 4)).astype(np.float32),
                        "next_observations": rng.standard_normal((cap, 4)).astype(np.float32),
                        "actions": rng.standard_normal((cap, 2)).astype(np.float32),
                        "rewards": rng.standard_normal(cap).astype(np.float32), "masks": masks, "dones": dones}
    buf._size, buf._capacity, buf._np_random = size, cap, np.random.RandomState(0)
    p = tmp_path / "a1" / "buffers" / "buffer.pkl"
    p.parent.mkdir(parents=True)
    p.write_bytes(pickle.dumps(buf))
    monkeypatch.delitem(sys.modules, "jaxrl2.data.replay_buffer")
    with pytest.raises(UnsafeFileError):
        D.load(tmp_path / "a1")
    ds = D.load(tmp_path / "a1", allow_pickle=True)
    assert len(ds) == 12 and ds.terminations.tolist().index(True) == 5 and ds.truncations[11]
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"dataset_dict": _Evil()}))
    with pytest.raises(UnsafeFileError, match=r"refusing to unpickle (posix|os)\.system"):
        D.load(evil, allow_pickle=True)


def test_registry_d5rl_entries():
    assert {"d5rl/a1-hiking-v0", "d5rl/standardkitchen-indistribution"} <= set(D.list_datasets("d5rl/"))
    assert D.info("d5rl/a1-hiking-v0")["urls"][0].endswith("a1/a1_hiking.zip")


def test_neorl2_bad_arrays_index_and_empty_file(tmp_path):
    rng = np.random.default_rng(7)
    a = write_neorl2(tmp_path / "x.npz", rng)  # 16 rows
    for key, value, msg in (("reward", np.array(["a"] * 16), "reward has dtype <U1, not numbers"),
                            ("done", np.array([b"0"] * 16), "done has dtype |S1, not numbers"),
                            ("obs", a["obs"].astype(str), "obs has dtype <U"),
                            ("index", np.array([0, 1000]), "index holds 1 trajectory start(s) that are not rows "
                                                           "of obs (0..15); first: 1000"),
                            ("index", np.array([0, -3, 5]), "index holds 1 trajectory start(s) that are not rows "
                                                            "of obs (0..15); first: -3"),
                            ("index", np.array([0, 2.5]), "index holds 1 trajectory start(s) that are not rows "
                                                          "of obs (0..15); first: 2.5")):
        p = tmp_path / f"bad-{key}.npz"
        np.savez(p, **{**a, key: value})
        with pytest.raises(DataIntegrityError, match=re.escape(f"{p}: {msg}")):
            D.load(p)
    p = tmp_path / "empty.npz"
    np.savez(p, **{k: v[:0] for k, v in a.items()})
    with pytest.raises(DataIntegrityError, match=re.escape(f"{p}: holds no transitions")):
        D.load(p)


def _a1_buffer_dict(rng, n=6):
    """The minimal pickled A1 buffer load_a1 reads: a dict holding ``dataset_dict``."""
    return {"dataset_dict": {
        "observations": rng.standard_normal((n, 4)).astype(np.float32),
        "next_observations": rng.standard_normal((n, 4)).astype(np.float32),
        "actions": rng.standard_normal((n, 2)).astype(np.float32), "rewards": rng.standard_normal(n).astype(np.float32),
        "masks": np.ones(n, np.float32), "dones": np.eye(1, n, n - 1, dtype=bool)[0]}}


def test_d5rl_a1_non_numeric_flags_are_refused(tmp_path):
    buf = _a1_buffer_dict(np.random.default_rng(9))
    buf["dataset_dict"]["dones"] = np.array([b"0"] * 6)  # would all become True episode ends
    p = tmp_path / "buffer.pkl"
    p.write_bytes(pickle.dumps(buf))
    with pytest.raises(DataIntegrityError, match=re.escape(f"{p}: dones has dtype |S1, not numbers")):
        D.load(p, allow_pickle=True)


def test_verify_reports_an_unopened_pickle(tmp_path, capsys):
    from offrl.cli import main

    bad = tmp_path / "bad" / "buffer.pkl"
    bad.parent.mkdir()
    bad.write_bytes(pickle.dumps({"x": 1}))
    assert D.verify(bad) == ["not verified: its data is stored with pickle, which is only opened with "
                             "allow_pickle=True (`--allow-pickle` on the command line)"]
    assert main(["datasets", "verify", str(bad)]) == 1
    assert capsys.readouterr().out.startswith(f"FAIL {bad}: not verified")
    # with the opt-in it is opened and checked like any other format
    assert main(["datasets", "verify", str(bad), "--allow-pickle"]) == 1
    assert "not a jaxrl2 replay buffer" in capsys.readouterr().out
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps(_a1_buffer_dict(np.random.default_rng(8))))
    assert D.verify(good, allow_pickle=True) == []
    assert main(["datasets", "verify", str(good), "--allow-pickle"]) == 0
    assert main(["datasets", "verify", str(good)]) == 1
