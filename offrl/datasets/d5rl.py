"""Readers for the D5RL data formats (d5rlbenchmark/d5rl).

* Standard Franka Kitchen: one ``.npz`` per episode (``action``, ``reward`` or per-task
  ``reward <object>``, ``proprio``, camera images ...). As in D5RL's ``load_data``, transition
  ``t`` of an episode with ``T`` rows goes from row ``t-1`` to row ``t`` with ``action[t]`` and
  ``reward[t]``, and the episode's last transition is terminal (D5RL sets ``mask = 0`` there).
  Observations are the ``proprio`` state unless another key is asked for.
* WidowX (roboverse): ``out.npy``, a pickled list of trajectory dicts.
* A1 locomotion: ``buffer.pkl``, a pickled ``jaxrl2`` ``ReplayBuffer`` (capacity-sized arrays; the
  valid rows are ``[:_size]``; ``masks == 0`` marks terminals, ``dones`` episode ends).

The two pickle formats are refused unless the caller passes ``allow_pickle=True``; even then they
are unpickled through an allow-list (:mod:`offrl.datasets._safe_pickle`), never arbitrary classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from offrl.datasets import constants as C
from offrl.datasets._safe_pickle import safe_load_npy_object, safe_loads
from offrl.datasets.core import DatasetSpec, OfflineDataset, numeric_array
from offrl.errors import ConfigError, DataIntegrityError, UnsafeFileError


def _spec(dataset_id: str, env_id: str | None, obs: np.ndarray, act: np.ndarray, max_steps=None, **extra):
    return DatasetSpec(id=dataset_id, env_id=env_id, obs_shape=tuple(obs.shape[1:]), obs_dtype=str(obs.dtype),
                       action_shape=tuple(act.shape[1:]), action_dtype=str(act.dtype), source="d5rl",
                       max_episode_steps=max_steps, extra=extra)


def _f32(a) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a


def _refuse(path, what: str) -> None:
    raise UnsafeFileError(
        f"{path} is a {what} stored with pickle; loading it can run code from the file. If you trust its "
        "source, pass allow_pickle=True (offrl then unpickles it through an allow-list of numpy types)")


# ---------------------------------------------------------------------------- kitchen
def kitchen_episode_files(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    return [p] if p.is_file() else sorted(p.rglob("*.npz"))


def load_kitchen(path: str | os.PathLike, *, dataset_id: str | None = None, task: str = "indistribution",
                 observation_key: str = "proprio", progress: bool = False) -> OfflineDataset:
    """Read D5RL standard-kitchen episode npz files (one file or a directory, searched recursively)."""
    files = kitchen_episode_files(path)
    if not files:
        raise DataIntegrityError(f"{path}: no episode .npz files found")
    if task not in C.D5RL_KITCHEN_TASKS:
        raise ConfigError(f"unknown kitchen task {task!r}; choose one of {sorted(C.D5RL_KITCHEN_TASKS)}")
    objs = C.D5RL_KITCHEN_TASKS[task]
    cols: dict[str, list] = {k: [] for k in ("o", "n", "a", "r", "d")}
    it = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc="reading kitchen episodes", leave=False)
    for f in it:
        try:
            with np.load(f, allow_pickle=False) as z:
                keys = set(z.files)
                if observation_key not in keys or "action" not in keys:
                    raise DataIntegrityError(f"{f}: missing {observation_key!r} or 'action' (keys: {sorted(keys)})")
                obs, act = _f32(z[observation_key]), _f32(z["action"])
                if "reward" in keys:
                    rew = numeric_array(z["reward"], "reward", f, np.float32).reshape(-1)
                else:
                    missing = [o for o in objs if f"reward {o}" not in keys]
                    if missing:
                        raise DataIntegrityError(f"{f}: no 'reward' and no per-task rewards for {missing}")
                    rew = sum(numeric_array(z[f"reward {o}"], f"reward {o}", f, np.float32).reshape(-1) for o in objs)
        except (OSError, ValueError, EOFError) as e:
            raise DataIntegrityError(f"{f}: truncated or corrupt episode file ({e})") from None
        T = len(obs)
        if len(act) != T or len(rew) != T:
            raise DataIntegrityError(f"{f}: {observation_key} has {T} rows, action {len(act)}, reward {len(rew)}")
        if T < 2:
            continue
        obs = obs.reshape(T, -1)
        cols["o"].append(obs[:-1])
        cols["n"].append(obs[1:])
        cols["a"].append(act[1:])
        cols["r"].append(rew[1:])
        d = np.zeros(T - 1, dtype=bool)
        d[-1] = True
        cols["d"].append(d)
    if not cols["o"]:
        raise DataIntegrityError(f"{path}: no episode has two or more steps")
    o, n, a = (np.concatenate(cols[k]) for k in ("o", "n", "a"))
    r, d = np.concatenate(cols["r"]), np.concatenate(cols["d"])
    spec = _spec(dataset_id or f"d5rl/standardkitchen-{task}", f"standardkitchen_{task}", o, a, 280,
                 task=task, observation_key=observation_key)
    return OfflineDataset(o, a, r, n, d, np.zeros(len(r), dtype=bool), spec=spec,
                          metadata={"episodes_files": len(files), "task": task})


# ---------------------------------------------------------------------------- WidowX
def _state(x: Any, key: str) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.dtype != object:
        return x.reshape(len(x), -1)
    rows = list(x)
    if rows and isinstance(rows[0], dict):
        if key not in rows[0]:
            raise DataIntegrityError(f"observation dicts have no {key!r} key (keys: {sorted(rows[0])})")
        rows = [r[key] for r in rows]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


def load_widowx(path: str | os.PathLike, *, dataset_id: str | None = None, allow_pickle: bool = False,
                observation_key: str = "state") -> OfflineDataset:
    """Read a roboverse ``out.npy`` (pickled list of trajectory dicts); needs ``allow_pickle=True``."""
    if not allow_pickle:
        _refuse(path, "WidowX/roboverse out.npy trajectory list")
    try:
        trajs = safe_load_npy_object(path)
    except (OSError, ValueError, EOFError) as e:
        raise DataIntegrityError(f"{path}: truncated or corrupt npy file ({e})") from None
    if isinstance(trajs, np.ndarray):
        trajs = list(trajs.reshape(-1))
    cols: dict[str, list] = {k: [] for k in ("o", "n", "a", "r", "t", "u")}
    for i, tr in enumerate(trajs):
        if not isinstance(tr, dict) or not {"observations", "actions", "rewards"} <= set(tr):
            raise DataIntegrityError(f"{path}: trajectory {i} is not a dict with observations/actions/rewards")
        o = _state(tr["observations"], observation_key)
        n = _state(tr["next_observations"], observation_key) if "next_observations" in tr else None
        a = numeric_array(tr["actions"], f"trajectory {i} actions", path, np.float32).reshape(len(tr["actions"]), -1)
        r = numeric_array(tr["rewards"], f"trajectory {i} rewards", path, np.float32).reshape(-1)
        T = len(a)
        if n is None:
            o, n = o[:-1], o[1:]
        if not (len(o) == len(n) == len(r) == T):
            raise DataIntegrityError(f"{path}: trajectory {i} has inconsistent lengths "
                                     f"(obs {len(o)}, next {len(n)}, actions {T}, rewards {len(r)})")
        term = (numeric_array(tr["terminals"], f"trajectory {i} terminals", path, bool).reshape(-1)
                if "terminals" in tr else np.zeros(T, dtype=bool))
        trunc = np.zeros(T, dtype=bool)
        if T and not term[-1]:
            trunc[-1] = True
        for k, v in zip("onartu", (o, n, a, r, term, trunc)):
            cols[k].append(v)
    if not cols["o"]:
        raise DataIntegrityError(f"{path}: no trajectories")
    o, n, a, r, t, u = (np.concatenate(cols[k]) for k in "onartu")
    spec = _spec(dataset_id or f"file:{Path(path).name}", None, o, a, observation_key=observation_key)
    return OfflineDataset(o, a, r, n, t, u, spec=spec, metadata={"trajectories": len(cols["o"])})


# ---------------------------------------------------------------------------- A1
def load_a1(path: str | os.PathLike, *, dataset_id: str | None = None, allow_pickle: bool = False,
            env_id: str | None = None, max_episode_steps: int | None = None) -> OfflineDataset:
    """Read a pickled jaxrl2 ``ReplayBuffer`` (D5RL A1 ``buffer.pkl``); needs ``allow_pickle=True``."""
    if not allow_pickle:
        _refuse(path, "D5RL A1 replay-buffer pickle")
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DataIntegrityError(f"{path}: unreadable ({e})") from None
    buf = safe_loads(data)
    dd = getattr(buf, "dataset_dict", None) if not isinstance(buf, dict) else buf.get("dataset_dict", buf)
    if not isinstance(dd, dict) or not {"observations", "actions", "rewards"} <= set(dd):
        raise DataIntegrityError(f"{path}: not a jaxrl2 replay buffer (no dataset_dict with observations/"
                                 "actions/rewards)")
    size = getattr(buf, "_size", None) if not isinstance(buf, dict) else buf.get("_size")
    size = int(size) if size is not None else len(dd["rewards"])
    o = _f32(dd["observations"])[:size]
    a = _f32(dd["actions"])[:size]
    r = numeric_array(dd["rewards"], "rewards", path, np.float32).reshape(-1)[:size]
    n = _f32(dd["next_observations"])[:size] if "next_observations" in dd else None
    if n is None:
        raise DataIntegrityError(f"{path}: replay buffer has no next_observations")
    masks = numeric_array(dd.get("masks", np.ones(size)), "masks", path, np.float32).reshape(-1)[:size]
    dones = numeric_array(dd.get("dones", np.zeros(size)), "dones", path, bool).reshape(-1)[:size]
    if not (len(o) == len(a) == len(r) == len(n) == len(masks) == len(dones) == size):
        raise DataIntegrityError(f"{path}: buffer arrays are shorter than its size {size}")
    term = masks == 0
    trunc = dones & ~term
    spec = _spec(dataset_id or f"file:{Path(path).name}", env_id, o, a, max_episode_steps)
    return OfflineDataset(o, a, r, n, term, trunc, spec=spec, metadata={"buffer_size": size})
