"""Online SAC over task x seed slots: padded spaces, snapshots exported per env."""

import json

import numpy as np

from offrl.online import OnlineConfig, train_online
from offrl.policies import load_policies


def test_online_sac_trains_two_tasks_in_one_vmapped_update(tmp_path):
    cfg = OnlineConfig(envs=("Hopper-v5", "HalfCheetah-v5"), seeds=(0,), env_steps=96, envs_per_slot=4,
                       start_steps=48, snapshot_every=48, keep_snapshots_until=48, keep_last=1,
                       out=str(tmp_path), hp=("hidden=16,16", "batch_size=8"), log_every_s=1e9)
    summary = train_online(cfg)
    assert summary["env_steps_done"] == 96
    hop, meta = load_policies(tmp_path / "hopper.npz")
    # the shared network is padded to HalfCheetah's sizes; the exported hopper actor is cropped back
    pol = next(iter(hop.values()))
    assert (pol.obs_dim, pol.act_dim) == (11, 3) and meta["obs_dim"] == 11
    late, _ = load_policies(tmp_path / "halfcheetah_late.npz")
    assert next(iter(late.values())).act_dim == 6
    assert set(hop) == {"snap_0000000", "snap_0000048"}
    a = pol.act(np.zeros((2, 11)), np.random.default_rng(0))
    assert a.shape == (2, 3) and np.all(np.abs(a) <= 1)
    assert json.loads((tmp_path / "summary.json").read_text())["envs"]["Hopper-v5"]["act_dim"] == 3
