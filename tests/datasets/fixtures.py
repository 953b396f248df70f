"""Writers of tiny files in each published layout (quirks included), shared by the dataset tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def episodes_layout(rng, lengths, ends, obs_dim=11, act_dim=3):
    """Concatenated episodes: per episode `T` rows; `ends` = 'term' | 'timeout' per episode."""
    obs, nxt, act, rew, term, tout = [], [], [], [], [], []
    for T, end in zip(lengths, ends):
        o = rng.standard_normal((T + 1, obs_dim)).astype(np.float32)
        obs.append(o[:-1])
        nxt.append(o[1:])
        act.append(rng.uniform(-1, 1, (T, act_dim)).astype(np.float32))
        rew.append(rng.standard_normal(T).astype(np.float32))
        t = np.zeros(T, bool)
        u = np.zeros(T, bool)
        (t if end == "term" else u)[-1] = True
        term.append(t)
        tout.append(u)
    return {k: np.concatenate(v) for k, v in zip(
        ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts"),
        (obs, nxt, act, rew, term, tout))}


def write_d4rl(path: Path, d: dict, *, float64=False, column_rewards=False, timeouts=True, infos=True,
               metadata=True, float_terminals=False):
    """A D4RL-layout HDF5 file (gzip, scalar metadata, infos/*) with the chosen quirks."""
    n = len(d["rewards"])
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        cast = (lambda a: a.astype(np.float64)) if float64 else (lambda a: a)
        f.create_dataset("observations", data=cast(d["observations"]), compression="gzip")
        f.create_dataset("next_observations", data=cast(d["next_observations"]), compression="gzip")
        f.create_dataset("actions", data=cast(d["actions"]), compression="gzip")
        r, t = d["rewards"], d["terminals"]
        if float_terminals:
            t = t.astype(np.float32)
        if column_rewards:
            r, t = r[:, None], t[:, None]
        f.create_dataset("rewards", data=cast(r), compression="gzip")
        f.create_dataset("terminals", data=t, compression="gzip")
        if timeouts:
            f.create_dataset("timeouts", data=d["timeouts"], compression="gzip")
        if infos:
            f.create_dataset("infos/qpos", data=rng.standard_normal((n, 6)).astype(np.float32))
            f.create_dataset("infos/qvel", data=rng.standard_normal((n, 6)).astype(np.float32))
            f.create_dataset("infos/action_log_probs", data=rng.standard_normal(n))
        if metadata:
            f.create_dataset("metadata/algorithm", data=np.bytes_(b"SAC"))
            f.create_dataset("metadata/iteration", data=np.int32(123))
            f.create_dataset("metadata/policy/fc0/weight", data=np.zeros((4, 11), np.float32))
    return path


def reference_qlearning(d: dict, max_episode_steps=1000, terminate_on_end=False):
    """Plain transcription of d4rl.qlearning_dataset's loop (d4rl/__init__.py)."""
    N = d["rewards"].shape[0]
    obs_, next_obs_, action_, reward_, done_ = [], [], [], [], []
    use_timeouts = "timeouts" in d
    episode_step = 0
    for i in range(N - 1):
        obs = d["observations"][i].astype(np.float32)
        new_obs = d["observations"][i + 1].astype(np.float32)
        action = d["actions"][i].astype(np.float32)
        reward = d["rewards"][i].astype(np.float32)
        done_bool = bool(d["terminals"][i])
        if use_timeouts:
            final_timestep = d["timeouts"][i]
        else:
            final_timestep = episode_step == max_episode_steps - 1
        if (not terminate_on_end) and final_timestep:
            episode_step = 0
            continue
        if done_bool or final_timestep:
            episode_step = 0
        obs_.append(obs)
        next_obs_.append(new_obs)
        action_.append(action)
        reward_.append(reward)
        done_.append(done_bool)
        episode_step += 1
    return {"observations": np.array(obs_), "actions": np.array(action_), "next_observations": np.array(next_obs_),
            "rewards": np.array(reward_), "terminals": np.array(done_)}


def write_neorl2(path: Path, rng, task_dims=(52, 1), lengths=(5, 7, 4), done_last=(False, True, False),
                 truncated=True, reward_2d=False, int_done=False):
    od, ad = task_dims
    obs, nxt, act, rew, done, trunc, index = [], [], [], [], [], [], []
    start = 0
    for T, dl in zip(lengths, done_last):
        o = rng.standard_normal((T + 1, od)).astype(np.float32)
        obs.append(o[:-1]); nxt.append(o[1:])
        act.append(rng.standard_normal((T, ad)).astype(np.float32))
        rew.append(rng.standard_normal(T).astype(np.float32))
        dd = np.zeros(T, bool); dd[-1] = dl
        tt = np.zeros(T, bool); tt[-1] = not dl
        done.append(dd); trunc.append(tt); index.append(start)
        start += T
    arrays = dict(obs=np.concatenate(obs), next_obs=np.concatenate(nxt), action=np.concatenate(act),
                  reward=np.concatenate(rew), done=np.concatenate(done), index=np.array(index))
    if reward_2d:
        arrays["reward"] = arrays["reward"][:, None]
    if int_done:
        arrays["done"] = arrays["done"].astype(np.float32)[:, None]
    if truncated:
        arrays["truncated"] = np.concatenate(trunc)
    np.savez(path, **arrays)
    return arrays
