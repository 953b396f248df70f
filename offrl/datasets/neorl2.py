"""NeoRL-2 ``{Task}-{train,val}.npz`` files (polixir/NeoRL2).

Keys: ``obs``, ``next_obs``, ``action``, ``reward``, ``done``, optional ``truncated`` and ``index``
(row where each trajectory begins). Episode ends are ``done | truncated`` (plus the row before each
``index`` start); ``done`` becomes terminations, the other ends truncations. dtypes are not
guaranteed by the source, so everything is cast (float32 arrays, bool flags, 1-D rewards).

Default truncation, as in the NeoRL-2 repo: RocketRecovery keeps its first 100 train trajectories,
Fusion its first 20; the val split keeps ``int(traj_num / 4)``. Pass ``traj_num="all"`` to keep
everything, or an int to choose.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from offrl.datasets import constants as C
from offrl.datasets.core import DatasetSpec, OfflineDataset, numeric_array
from offrl.errors import ConfigError, DataIntegrityError

KEYS = ("obs", "next_obs", "action", "reward", "done")


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an npz (pickles refused), with corrupt files reported clearly."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise DataIntegrityError(f"{path}: truncated or corrupt npz file ({e})") from None


def _task_split(name: str) -> tuple[str | None, str | None]:
    stem = Path(name).name.removesuffix(".npz")
    for task in C.NEORL2_TASKS:
        for split in ("train", "val"):
            if stem == f"{task}-{split}":
                return task, split
    return None, None


def load_neorl2(path: str | os.PathLike, *, dataset_id: str | None = None, task: str | None = None,
                split: str | None = None, traj_num: int | str | None = None,
                checksum: str | None = None) -> OfflineDataset:
    """Read a NeoRL-2 npz. ``task``/``split`` default to what the file name says."""
    path = Path(path)
    ft, fs = _task_split(path.name)
    task, split = task or ft, split or fs or "train"
    data = read_npz(path)
    missing = [k for k in KEYS if k not in data]
    if missing:
        raise DataIntegrityError(f"{path}: not a NeoRL-2 file, missing keys {missing}")
    # every cast checks the dtype first: strings would fail with a bare ValueError or become True flags
    obs = numeric_array(data["obs"], "obs", path, np.float32)
    n = len(obs)
    if n == 0:
        raise DataIntegrityError(f"{path}: holds no transitions (obs has 0 rows)")
    nxt = numeric_array(data["next_obs"], "next_obs", path, np.float32)
    act = numeric_array(data["action"], "action", path)
    act = act.astype(np.float32) if np.issubdtype(act.dtype, np.floating) else act
    if act.ndim == 1:
        act = act[:, None]
    rew = numeric_array(data["reward"], "reward", path, np.float32).reshape(-1)
    done = numeric_array(data["done"], "done", path).reshape(-1).astype(bool)
    trunc = (numeric_array(data["truncated"], "truncated", path).reshape(-1).astype(bool) if "truncated" in data
             else np.zeros(n, dtype=bool))
    for k, a in (("next_obs", nxt), ("action", act), ("reward", rew), ("done", done), ("truncated", trunc)):
        if len(a) != n:
            raise DataIntegrityError(f"{path}: {k} has {len(a)} rows, obs has {n}")
    if nxt.shape != obs.shape:
        raise DataIntegrityError(f"{path}: next_obs {nxt.shape} != obs {obs.shape}")
    if "index" in data:
        starts = numeric_array(data["index"], "index", path, np.float64).reshape(-1)
        # a start that is no row means the file is broken or belongs to other arrays; dropping it
        # silently would merge trajectories (n, one past the last row, only marks the end: allowed)
        bad = starts[~((starts >= 0) & (starts <= n) & (starts == np.round(starts)))]
        if len(bad):
            raise DataIntegrityError(f"{path}: index holds {len(bad)} trajectory start(s) that are not rows of obs "
                                     f"(0..{n - 1}); first: {bad[0]:g}")
        starts = starts.astype(np.int64)
        starts = starts[starts > 0]
        end_rows = np.concatenate([starts - 1, [n - 1]])
        trunc = trunc.copy()
        trunc[end_rows] |= ~done[end_rows]
    else:
        trunc = trunc.copy()
        trunc[-1] |= not done[-1]
    t = C.NEORL2_TASKS.get(task) if task else None
    if traj_num is None:
        traj_num = t["default_traj_num"] if t else None
        if traj_num is not None and split == "val":
            traj_num = int(traj_num / 4)
    if traj_num == "all":
        traj_num = None
    if traj_num is not None:
        if not isinstance(traj_num, int) or traj_num < 1:
            raise ConfigError(f"traj_num must be a positive int or 'all', got {traj_num!r}")
        ends = np.flatnonzero(done | trunc)
        if len(ends) > traj_num:
            cut = int(ends[traj_num - 1]) + 1
            obs, nxt, act, rew, done, trunc = obs[:cut], nxt[:cut], act[:cut], rew[:cut], done[:cut], trunc[:cut]
    if t is not None and (obs.shape[1:] != (t["obs_dim"],) or act.shape[1:] != (t["act_dim"],)):
        raise DataIntegrityError(f"{path}: obs {obs.shape[1:]} / action {act.shape[1:]} do not match NeoRL-2 "
                                 f"{task} (({t['obs_dim']},) / ({t['act_dim']},))")
    spec = DatasetSpec(
        id=dataset_id or (f"neorl2/{task}-{split}" if task else f"file:{path.name}"), env_id=task,
        obs_shape=tuple(obs.shape[1:]), obs_dtype=str(obs.dtype), action_shape=tuple(act.shape[1:]),
        action_dtype=str(act.dtype), ref_min=t["score_min"] if t else None, ref_max=t["score_max"] if t else None,
        source="neorl2", checksum=checksum, max_episode_steps=t["horizon"] if t else None,
        extra={"split": split, "traj_num": traj_num})
    meta: dict[str, Any] = {"task": task, "split": split, "traj_num": traj_num}
    return OfflineDataset(obs, act, rew, nxt, done, trunc, spec=spec, metadata=meta)
