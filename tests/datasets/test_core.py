"""OfflineDataset itself: episode boundaries, returns-to-go, device views, stats, integrity checks."""

import numpy as np
import pytest

from offrl.datasets import DatasetSpec, OfflineDataset, concatenate, normalize_returns
from offrl.errors import DataIntegrityError


def make(n=10, obs_dim=2, term=(), trunc=(), gap=(), ref=(0.0, 10.0)):
    obs = np.arange(n * obs_dim, dtype=np.float32).reshape(n, obs_dim)
    nxt = np.roll(obs, -1, 0).copy()
    for i in gap:  # D4RL q-learning layout: a dropped timeout row leaves next_obs != obs[i+1]
        nxt[i] += 100.0
    t = np.zeros(n, bool)
    t[list(term)] = True
    tr = np.zeros(n, bool)
    tr[list(trunc)] = True
    spec = DatasetSpec("toy", None, (obs_dim,), "float32", (1,), "float32", *ref)
    return OfflineDataset(obs, np.zeros((n, 1), np.float32), np.arange(n, dtype=np.float32), nxt, t, tr, spec=spec)


def test_episode_boundaries_from_flags_and_silent_gaps():
    ds = make(term=[2], trunc=[5], gap=[7])
    np.testing.assert_array_equal(ds.episode_ends, [2, 5, 7, 9])
    np.testing.assert_array_equal(ds.episode_starts, [0, 3, 6, 8])
    np.testing.assert_allclose(ds.episode_returns(), [0 + 1 + 2, 3 + 4 + 5, 6 + 7, 8 + 9])
    assert [len(e) for e in ds.episodes()] == [3, 3, 2, 2]


def test_returns_to_go_and_timesteps_by_hand():
    ds = make(term=[2], trunc=[5], gap=[7])
    np.testing.assert_allclose(ds.returns_to_go(), [3, 3, 2, 12, 9, 5, 13, 7, 17, 9])
    np.testing.assert_array_equal(ds.timesteps(), [0, 1, 2, 0, 1, 2, 0, 1, 0, 1])


def test_device_views():
    ds = make(term=[4])
    tr = ds.transitions()
    assert set(tr) == {"observations", "actions", "rewards", "next_observations", "terminations", "truncations"}
    assert str(tr["observations"].dtype) == "float32" and str(tr["terminations"].dtype) == "bool"
    seq = ds.sequences(3)
    np.testing.assert_array_equal(np.asarray(seq["episode_end"]), [4] * 5 + [9] * 5)
    assert int(seq["context_len"]) == 3
    np.testing.assert_allclose(np.asarray(seq["returns_to_go"])[:5], [10, 10, 9, 7, 4])


def test_stats_and_normalization():
    ds = make(term=[4])
    st = ds.stats()
    assert st["episodes"] == 2 and st["terminations"] == 1 and st["transitions"] == 10
    assert st["return"]["mean"] == pytest.approx((10 + 35) / 2)
    assert st["normalized_return"]["mean"] == pytest.approx(100 * 22.5 / 10)
    np.testing.assert_allclose(normalize_returns([0.0, 5.0, 10.0], 0.0, 10.0), [0, 50, 100])
    no_ref = make(ref=(None, None))
    assert "normalized_return" not in no_ref.stats()
    with pytest.raises(DataIntegrityError, match="no reference scores"):
        no_ref.spec.normalize([1.0])


def test_subset_and_concatenate_keep_episodes():
    a, b = make(term=[4]), make(term=[9])
    both = concatenate([a, b], a.spec)
    # a's last episode is cut off at its end: it must not run on into b's first episode
    assert len(both) == 20 and both.num_episodes == 3 and both.truncations[9] and not a.truncations[9]
    sub = both.subset(slice(0, 5), id="toy/head")
    assert sub.spec.id == "toy/head" and sub.num_episodes == 1
    assert a.checksum() == make(term=[4]).checksum() != b.checksum()


def test_integrity_errors():
    ds = make()
    with pytest.raises(DataIntegrityError, match="rows"):
        OfflineDataset(ds.observations[:5], ds.actions, ds.rewards, ds.next_observations, ds.terminations,
                       ds.truncations, spec=ds.spec)
    bad = ds.observations.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataIntegrityError, match="NaN/inf in 1 rows .first at row 3"):
        OfflineDataset(bad, ds.actions, ds.rewards, ds.next_observations, ds.terminations, ds.truncations,
                       spec=ds.spec)
    with pytest.raises(DataIntegrityError, match="spec says"):
        OfflineDataset(ds.observations, np.zeros((10, 2)), ds.rewards, ds.next_observations, ds.terminations,
                       ds.truncations, spec=ds.spec)


def test_no_transitions_and_non_numeric_arrays_are_refused():
    ds = make()
    with pytest.raises(DataIntegrityError, match="'toy' holds no transitions"):
        ds.subset(slice(0, 0)).validate()
    with pytest.raises(DataIntegrityError, match="'toy' holds no transitions"):
        OfflineDataset(*(a[:0] for a in ds.arrays().values()), spec=ds.spec)
    # the casts in __init__ run even without validate(): strings are named with their dtype, never a bare
    # ValueError (rewards) or silently True (flags: b"0" would cast to True)
    arrays = ds.arrays()
    for k, bad in (("rewards", np.array([b"a"] * 10)), ("terminations", np.array([b"0"] * 10)),
                   ("observations", np.array([["x", "y"]] * 10)), ("actions", np.array([[1j]] * 10))):
        with pytest.raises(DataIntegrityError, match=f"'toy': {k} has dtype {bad.dtype}, not numbers"):
            OfflineDataset(**{**arrays, k: bad}, spec=ds.spec, validate=False)
