"""Minari datasets (both HDF5 and Arrow backends), read and written through the ``minari`` package.

Minari stores episodes with ``T+1`` observations and ``T`` actions/rewards/flags; we flatten them
into rows whose ``next_observations`` are the episode's observations shifted by one. Non-Box
observation spaces (Dict, Tuple) are flattened the Gymnasium way (``gymnasium.spaces.flatten``).

Writing: ``minari.create_dataset_from_buffers`` silently drops reference scores when no env is
given, so we build the storage directly and write ``ref_min_score``/``ref_max_score`` into
``metadata.json`` ourselves; an episode that ends with neither flag set is stored as truncated (as
Minari's ``DataCollector`` does).
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from offrl.atomic import atomic_dir
from offrl.datasets.core import DatasetSpec, OfflineDataset
from offrl.errors import DataIntegrityError, OffrlError


def _minari():
    try:
        import minari  # noqa: F401
        from minari.dataset.minari_storage import MinariStorage  # noqa: F401
    except ImportError as e:
        raise OffrlError(f"Minari datasets need the minari package: pip install 'offrl[minari]' ({e})") from None
    import minari

    return minari


def is_minari_dir(path: str | os.PathLike) -> bool:
    """True for a Minari dataset directory (``<id>/`` with ``data/metadata.json``) or its ``data/``."""
    p = Path(path)
    for d in (p / "data", p):
        m = d / "metadata.json"
        if m.is_file():
            try:
                meta = json.loads(m.read_text())
            except (ValueError, OSError):
                return False
            return "data_format" in meta or "total_episodes" in meta
    return False


def _data_dir(path: Path) -> Path:
    return path / "data" if (path / "data" / "metadata.json").is_file() else path


def _flat_batch(space, x) -> np.ndarray:
    """Flatten a batch (leading axis) of samples of ``space`` to ``(B, flatdim)``."""
    import gymnasium as gym

    if isinstance(space, gym.spaces.Box):
        return np.asarray(x).reshape(len(x), -1)
    if isinstance(space, gym.spaces.Dict):
        return np.concatenate([_flat_batch(s, x[k]).astype(np.float64) for k, s in space.spaces.items()], axis=1)
    if isinstance(space, gym.spaces.Tuple):
        return np.concatenate([_flat_batch(s, x[i]).astype(np.float64) for i, s in enumerate(space.spaces)], axis=1)
    if isinstance(space, gym.spaces.Discrete):
        return np.asarray(x).reshape(len(x), 1)
    return np.asarray(x).reshape(len(x), -1)


PROGRESS_DELAY_S = 1.0
"""A progress bar of reading episodes shows only once reading has taken this long: none for a quick read."""


def load_minari(path: str | os.PathLike, *, dataset_id: str | None = None, progress: bool = False) -> OfflineDataset:
    """Read a Minari dataset directory (either backend) into an :class:`OfflineDataset`."""
    import gymnasium as gym

    minari = _minari()
    data_dir = _data_dir(Path(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mds = minari.MinariDataset(data_dir)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise DataIntegrityError(f"{path}: unreadable Minari dataset ({type(e).__name__}: {e})") from None
    meta = dict(mds.storage.metadata)
    ospace, aspace = mds.observation_space, mds.action_space
    obs_l, nxt_l, act_l, rew_l, term_l, trunc_l = [], [], [], [], [], []
    it = mds.iterate_episodes()
    if progress:
        from tqdm import tqdm

        # no bar for a quick read (delay), none left behind when it ends (leave=False)
        it = tqdm(it, total=mds.total_episodes, desc=f"reading {data_dir.parent.name}", leave=False,
                  delay=PROGRESS_DELAY_S)
    try:
        for ep in it:
            o = ep.observations
            flat = isinstance(ospace, gym.spaces.Box)
            o = np.asarray(o) if flat else _flat_batch(ospace, o)
            T = len(ep.rewards)
            if len(o) != T + 1:
                raise DataIntegrityError(f"{path}: episode {ep.id} has {len(o)} observations for {T} steps "
                                         "(Minari stores T+1)")
            a = np.asarray(ep.actions)
            if not isinstance(aspace, gym.spaces.Box):
                a = _flat_batch(aspace, ep.actions)
                if isinstance(aspace, gym.spaces.Discrete):
                    a = a.reshape(-1)
            obs_l.append(o[:-1])
            nxt_l.append(o[1:])
            act_l.append(a)
            rew_l.append(np.asarray(ep.rewards, dtype=np.float32))
            term_l.append(np.asarray(ep.terminations, dtype=bool))
            trunc_l.append(np.asarray(ep.truncations, dtype=bool))
    except (OSError, KeyError, ValueError) as e:
        raise DataIntegrityError(f"{path}: corrupt Minari episode data ({type(e).__name__}: {e})") from None
    if not obs_l:
        raise DataIntegrityError(f"{path}: Minari dataset has no episodes")
    obs, nxt, act = np.concatenate(obs_l), np.concatenate(nxt_l), np.concatenate(act_l)
    facts = metadata_facts(meta)  # env, time limit and reference scores, as offrl.datasets.info reads them
    offrl_spec = _json_dict(meta.get("offrl_spec")) or {}
    mid = meta.get("dataset_id")
    spec = DatasetSpec(
        id=dataset_id or offrl_spec.get("id") or (f"minari/{mid}" if mid else f"file:{Path(path).name}"),
        env_id=facts["env_id"], obs_shape=tuple(obs.shape[1:]), obs_dtype=str(obs.dtype),
        action_shape=tuple(act.shape[1:]), action_dtype=str(act.dtype),
        ref_min=facts["ref_min"], ref_max=facts["ref_max"], source="minari",
        max_episode_steps=facts["max_episode_steps"],
        extra={"minari_id": mid, "data_format": meta.get("data_format")})
    keep = {k: meta[k] for k in ("algorithm_name", "description", "author", "minari_version", "data_format",
                                 "total_episodes", "total_steps") if k in meta}
    return OfflineDataset(obs, act, np.concatenate(rew_l), nxt, np.concatenate(term_l), np.concatenate(trunc_l),
                          spec=spec, metadata=keep)


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def _json_dict(v: Any) -> dict | None:
    """``v`` as a dict: itself, or the JSON object a string holds (Minari stores env specs, spaces and our
    spec as JSON strings); None for anything else."""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return None
    return v if isinstance(v, dict) else None


def _flat_size(space: Any) -> int | None:
    """Columns a serialised Minari space (``{"type": "Box", "shape": [...]}``...) takes in the rows of
    :func:`load_minari` (flattened as :func:`_flat_batch` does: a Discrete value is one column); None for
    a space it cannot size (or one that is no serialised space: only the raw ``metadata.json`` is read)."""
    s = _json_dict(space)
    if s is None:
        return None
    kind = s.get("type")
    if kind == "Box" and isinstance(s.get("shape"), list):
        return int(np.prod(s["shape"], dtype=np.int64))
    if kind == "Discrete":
        return 1
    if kind in ("Dict", "Tuple"):
        subs = s.get("subspaces")
        subs = list(subs.values()) if isinstance(subs, dict) else subs
        sizes = [_flat_size(x) for x in subs] if isinstance(subs, list) else [None]
        return None if any(n is None for n in sizes) else sum(sizes)
    return None


def read_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """The raw ``metadata.json`` of the Minari dataset at ``path`` (its folder or ``data/``), read without
    ``minari`` and without its episodes; None when there is none or it does not parse."""
    try:
        meta = json.loads((_data_dir(Path(path)) / "metadata.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def metadata_facts(meta: dict[str, Any]) -> dict[str, Any]:
    """What a Minari dataset's metadata say of it: ``env_id`` and ``max_episode_steps`` (its env spec,
    else the offrl spec it was saved with), ``ref_min``/``ref_max`` (``ref_min_score``/``ref_max_score``),
    ``obs_dim``/``act_dim`` (the columns of its rows, None where unknown). :func:`load_minari` takes its
    spec's env, time limit and scores from here, and :func:`offrl.datasets.info` all of them, so that the
    two agree without ``info`` reading a single episode."""
    env_spec = _json_dict(meta.get("env_spec")) or {}
    offrl_spec = _json_dict(meta.get("offrl_spec")) or {}
    return {"env_id": env_spec.get("id") or offrl_spec.get("env_id"),
            "max_episode_steps": env_spec.get("max_episode_steps") or offrl_spec.get("max_episode_steps"),
            "ref_min": _float(meta.get("ref_min_score")), "ref_max": _float(meta.get("ref_max_score")),
            "obs_dim": _flat_size(meta.get("observation_space")), "act_dim": _flat_size(meta.get("action_space"))}


def _box(shape, dtype):
    import gymnasium as gym

    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return gym.spaces.Box(-np.inf, np.inf, tuple(shape), dtype)
    info = np.iinfo(dtype)
    return gym.spaces.Box(info.min, info.max, tuple(shape), dtype)


def save_minari(ds: OfflineDataset, path: str | os.PathLike, *, dataset_id: str, data_format: str = "hdf5",
                overwrite: bool = False, author: str | None = None, description: str | None = None,
                algorithm_name: str | None = None) -> Path:
    """Write ``ds`` as a Minari dataset directory at ``path`` (which will contain ``data/``).

    ``dataset_id`` is the Minari id recorded in the metadata (``namespace/name-vN``); the spec's
    checksum, when it has one, as ``offrl_source_checksum`` (:func:`copy_source_checksum`).
    """
    import gymnasium as gym

    minari = _minari()
    from minari.data_collector import EpisodeBuffer
    from minari.dataset.minari_storage import MinariStorage

    if data_format not in ("hdf5", "arrow"):
        raise OffrlError(f"unknown Minari data_format {data_format!r}; choose 'hdf5' or 'arrow'")
    path = Path(path)
    env_spec = None
    if ds.spec.env_id:
        try:
            env_spec = gym.spec(ds.spec.env_id)
        except gym.error.Error:
            env_spec = None
    ospace = _box(ds.spec.obs_shape, ds.observations.dtype)
    if np.issubdtype(ds.actions.dtype, np.integer) and ds.actions.ndim == 1:
        aspace = gym.spaces.Discrete(int(ds.actions.max()) + 1 if len(ds) else 1)
    else:
        aspace = _box(ds.spec.action_shape, ds.actions.dtype)
    buffers = []
    for i, (s, e) in enumerate(zip(ds.episode_starts, ds.episode_ends)):
        sl = slice(int(s), int(e) + 1)
        term = ds.terminations[sl].copy()
        trunc = ds.truncations[sl].copy()
        if not (term[-1] or trunc[-1]):
            trunc[-1] = True
        buffers.append(EpisodeBuffer(
            id=i, observations=np.concatenate([ds.observations[sl], ds.next_observations[int(e)][None]]),
            actions=ds.actions[sl], rewards=ds.rewards[sl].astype(np.float64), terminations=term,
            truncations=trunc))
    meta: dict[str, Any] = {"dataset_id": dataset_id, "minari_version": str(minari.__version__),
                            "offrl_spec": json.dumps(dataclasses.replace(ds.spec, checksum=None).to_dict())}
    if ds.spec.checksum:  # which data the copy was made from: a copy of other data is stale
        meta["offrl_source_checksum"] = ds.spec.checksum
    if ds.spec.ref_min is not None and ds.spec.ref_max is not None:
        meta["ref_min_score"], meta["ref_max_score"] = float(ds.spec.ref_min), float(ds.spec.ref_max)
    for k, v in (("author", {author} if author else None), ("description", description),
                 ("algorithm_name", algorithm_name)):
        if v is not None:
            meta[k] = v
    with atomic_dir(path, overwrite=overwrite) as tmp:
        data = tmp / "data"
        data.mkdir()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            st = MinariStorage.new(data, observation_space=ospace, action_space=aspace, env_spec=env_spec,
                                   data_format=data_format)
            st.update_metadata(meta)
            st.update_episodes(buffers)
    return path


def copy_source_checksum(path: str | os.PathLike) -> str | None:
    """The checksum of the dataset a Minari copy written by :func:`save_minari` was made from (None
    when the directory is no Minari dataset or does not record it); read without ``minari``."""
    meta = read_metadata(path)
    value = meta.get("offrl_source_checksum") if meta is not None else None
    return value if isinstance(value, str) else None


def ensure_namespace_metadata(root: Path, minari_id: str) -> None:
    """Create ``namespace_metadata.json`` (``{}``) in each namespace directory, as Minari does."""
    parts = minari_id.split("/")[:-1]
    d = root
    for p in parts:
        d = d / p
        d.mkdir(parents=True, exist_ok=True)
        f = d / "namespace_metadata.json"
        if not f.exists():
            f.write_text("{}")
