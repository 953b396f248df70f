"""D4RL HDF5: q-learning parity, raw mode, every layout quirk, bad input."""

import re

import h5py
import numpy as np
import pytest
from fixtures import episodes_layout, reference_qlearning, write_d4rl

import offrl.datasets as D
from offrl.errors import ConfigError, DataIntegrityError, UnknownIdError


@pytest.fixture
def layout():
    rng = np.random.default_rng(1)
    return episodes_layout(rng, [6, 9, 4, 8], ["timeout", "term", "term", "timeout"])


def _assert_parity(ds, ref):
    np.testing.assert_array_equal(ds.observations, ref["observations"])
    np.testing.assert_array_equal(ds.next_observations, ref["next_observations"])
    np.testing.assert_array_equal(ds.actions, ref["actions"])
    np.testing.assert_array_equal(ds.rewards, ref["rewards"])
    np.testing.assert_array_equal(ds.terminations, ref["terminals"])
    assert not ds.truncations.any()


@pytest.mark.parametrize("quirk", [{}, {"float64": True}, {"column_rewards": True}, {"float_terminals": True},
                                   {"infos": False, "metadata": False}])
def test_qlearning_parity(tmp_path, layout, quirk):
    p = write_d4rl(tmp_path / "x.hdf5", layout, **quirk)
    ds = D.load(p)
    with h5py.File(p) as f:
        raw = {k: f[k][:] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    raw["rewards"], raw["terminals"] = raw["rewards"].reshape(-1), raw["terminals"].reshape(-1)
    ref = reference_qlearning(raw)
    _assert_parity(ds, ref)
    assert ds.observations.dtype == np.float32 and ds.terminations.dtype == bool
    assert len(ds) == 27 - 1 - 1  # last row dropped (a timeout too), plus the timeout at row 5


def test_qlearning_parity_without_timeouts(tmp_path):
    # maze2d-style file (no timeouts): d4rl counts steps with its off-by-one after terminals.
    rng = np.random.default_rng(2)
    d = episodes_layout(rng, [5, 3, 5, 2, 5, 6], ["timeout", "term", "timeout", "term", "timeout", "timeout"])
    p = write_d4rl(tmp_path / "maze.hdf5", d, timeouts=False)
    with pytest.warns(UserWarning, match="max_episode_steps"):
        assert len(D.load(p)) == len(d["rewards"]) - 1  # T=1000 > N: only the last row goes
    ds = D.load(p, max_episode_steps=5)
    raw = {k: d[k] for k in ("observations", "actions", "rewards", "terminals")}
    _assert_parity(ds, reference_qlearning(raw, max_episode_steps=5))


def test_bad_mode(tmp_path, layout):
    with pytest.raises(ConfigError, match="mode"):
        D.load(write_d4rl(tmp_path / "x.hdf5", layout), mode="nope")


def test_terminate_on_end(tmp_path, layout):
    p = write_d4rl(tmp_path / "x.hdf5", layout)
    ds = D.load(p, terminate_on_end=True)
    _assert_parity(ds, reference_qlearning(layout, terminate_on_end=True))


def test_raw_mode_keeps_file_next_obs_and_timeouts(tmp_path, layout):
    p = write_d4rl(tmp_path / "x.hdf5", layout, float64=True)
    ds = D.load(p, mode="raw")
    assert len(ds) == len(layout["rewards"])
    np.testing.assert_allclose(ds.next_observations, layout["next_observations"])
    np.testing.assert_array_equal(ds.truncations, layout["timeouts"])
    np.testing.assert_array_equal(ds.terminations, layout["terminals"])
    assert ds.num_episodes == 4
    np.testing.assert_allclose(ds.episode_returns()[1], layout["rewards"][6:15].sum(), rtol=1e-5)
    assert set(ds.infos) == {"qpos", "qvel", "action_log_probs"}
    assert ds.metadata["algorithm"] == "SAC" and ds.metadata["iteration"] == 123


def test_registry_id_uses_cache_and_d4rl_dir(tmp_path, layout, monkeypatch):
    # A file already in D4RL_DATASET_DIR is used in place, and the registry fills spec facts.
    d4 = tmp_path / "d4rl"
    d4.mkdir(exist_ok=True)
    write_d4rl(d4 / "hopper_medium-v2.hdf5", layout)
    ds = D.load("d4rl/hopper-medium-v2")
    assert ds.spec.id == "d4rl/hopper-medium-v2" and ds.spec.ref_max == 3234.3 and ds.spec.source == "d4rl"
    assert ds.spec.env_id == "Hopper-v5" and ds.spec.max_episode_steps == 1000
    s = ds.stats()
    assert s["episodes"] == ds.num_episodes and "normalized_return" in s
    assert D.info("d4rl/hopper-medium-v2")["present"]


def test_registry_checks_dims(tmp_path, layout):
    d4 = tmp_path / "d4rl"
    d4.mkdir(exist_ok=True)
    write_d4rl(d4 / "halfcheetah_medium-v2.hdf5", layout)  # hopper-sized rows under a halfcheetah name
    with pytest.raises(DataIntegrityError, match="do not match"):
        D.load("d4rl/halfcheetah-medium-v2")


def test_missing_dataset_message(tmp_path):
    with pytest.raises(D.api.OffrlError, match="download=True"):
        D.load("d4rl/hopper-expert-v2")


def test_unknown_id_suggests():
    with pytest.raises(UnknownIdError) as e:
        D.load("d4rl/hopper-meduim-v2")
    assert "d4rl/hopper-medium-v2" in e.value.suggestions


def test_registry_contents():
    ids = D.list_datasets("d4rl/")
    for env in ("halfcheetah", "hopper", "walker2d", "ant"):
        for lvl in ("random", "medium", "medium-replay", "medium-expert", "expert", "full-replay"):
            assert f"d4rl/{env}-{lvl}-v2" in ids
    assert "d4rl/antmaze-large-diverse-v2" in ids and "d4rl/kitchen-mixed-v0" in ids
    assert "d4rl/relocate-cloned-v1" in ids
    assert len(D.list_datasets("neorl2/")) == 14
    np.testing.assert_allclose(D.normalized_score("d4rl/hopper-medium-v2", np.array([1500.0])), [46.712], atol=1e-3)
    np.testing.assert_allclose(D.normalized_score("d4rl/antmaze-umaze-v2", [0.0, 1.0]), [0.0, 100.0])


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_hdf5(tmp_path, layout, damage):
    p = write_d4rl(tmp_path / "x.hdf5", layout)
    b = p.read_bytes()
    p.write_bytes(b[: len(b) // 2] if damage == "truncate" else b[:8] + b"\0" * (len(b) - 8))
    with pytest.raises(DataIntegrityError):
        D.load(p)


def test_shape_mismatch_and_nan(tmp_path, layout):
    bad = dict(layout)
    bad["actions"] = bad["actions"][:-3]
    with pytest.raises(DataIntegrityError, match="row counts"):
        D.load(write_d4rl(tmp_path / "a.hdf5", bad))
    bad = dict(layout)
    bad["observations"] = bad["observations"].copy()
    bad["observations"][3, 2] = np.nan
    with pytest.raises(DataIntegrityError, match="NaN"):
        D.load(write_d4rl(tmp_path / "b.hdf5", bad))
    bad = dict(layout)
    bad["rewards"] = bad["rewards"].copy()
    bad["rewards"][5] = np.inf
    with pytest.raises(DataIntegrityError, match="NaN/inf"):
        D.load(write_d4rl(tmp_path / "c.hdf5", bad), mode="raw")


def test_save_d4rl_roundtrip(tmp_path, layout):
    ds = D.load(write_d4rl(tmp_path / "x.hdf5", layout), mode="raw")
    out = D.save(ds, tmp_path / "y.hdf5", format="d4rl")
    back = D.load(out, mode="raw")
    for k in ("observations", "actions", "rewards", "next_observations", "terminations", "truncations"):
        np.testing.assert_array_equal(getattr(back, k), getattr(ds, k))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.hdf5", "y.hdf5"]  # no temp leftovers
    # the device view
    tr = ds.transitions()
    assert tr["observations"].shape == ds.observations.shape


@pytest.mark.parametrize("mode", ["qlearning", "raw"])
def test_empty_file_is_refused_at_load(tmp_path, layout, mode):
    p = write_d4rl(tmp_path / "empty.hdf5", {k: v[:0] for k, v in layout.items()})
    with pytest.raises(DataIntegrityError, match=re.escape(f"{p}: holds no transitions")):
        D.load(p, mode=mode)
    # one row: the q-learning layout drops the last row, leaving nothing to train on
    p = write_d4rl(tmp_path / "one.hdf5", {k: v[:1] for k, v in layout.items()})
    if mode == "raw":
        assert len(D.load(p, mode=mode)) == 1
    else:
        with pytest.raises(DataIntegrityError, match=re.escape(f"{p}: holds no transitions: d4rl's q-learning")):
            D.load(p, mode=mode)


@pytest.mark.parametrize("key", ["rewards", "terminals", "timeouts", "observations", "actions", "next_observations"])
def test_non_numeric_arrays_name_the_array_and_dtype(tmp_path, layout, key):
    bad = dict(layout)
    bad[key] = np.array([b"a"] * len(layout[key]))  # b"a" (and b"0") would become True as a flag
    if key in ("observations", "actions", "next_observations"):
        bad[key] = np.broadcast_to(bad[key][:, None], layout[key].shape).copy()
    p = write_d4rl(tmp_path / "x.hdf5", bad, infos=False)
    with pytest.raises(DataIntegrityError, match=re.escape(f"{p}: {key} has dtype |S1, not numbers")):
        D.load(p, mode="raw")
