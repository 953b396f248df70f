"""D4RL HDF5 files, read directly with h5py (no dependency on the unmaintained ``d4rl`` package).

Two modes:

* ``mode="qlearning"`` (default) reproduces ``d4rl.qlearning_dataset`` row for row: rows
  ``i in range(N-1)``, ``next_observations[i] = observations[i+1]`` (the file's own
  ``next_observations`` key is ignored), rows with ``timeouts[i]`` are dropped (never marked
  terminal), the last row is dropped, everything is cast to float32, ``terminations = terminals[i]``
  and ``truncations`` are all False. Without ``timeouts`` the episode-step counter of d4rl (with its
  off-by-one after a terminal) decides which rows are timeouts, counting to ``max_episode_steps``
  (the registry's value for registered ids; 1000, with a warning, for a bare file).
* ``mode="raw"`` keeps every row, uses the file's ``next_observations`` (falling back to the next
  row's observation where the key is missing) and marks ``timeouts`` as truncations.

Quirks handled: float64 replay files, ``(N,1)`` rewards/terminals, float terminals, scalar
``metadata/*`` entries, a missing ``timeouts`` key, arbitrary ``infos/*``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from offrl.datasets.core import DatasetSpec, OfflineDataset, numeric_array
from offrl.errors import ConfigError, DataIntegrityError

REQUIRED = ("observations", "actions", "rewards", "terminals")
MODES = ("qlearning", "raw")
DEFAULT_MAX_EPISODE_STEPS = 1000


def read_hdf5(path: str | os.PathLike, *, infos: bool = True, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every dataset of a D4RL file as ``{key: array}`` (scalars via ``[()]``), like ``get_dataset``.

    ``skip`` names keys not to read (q-learning mode never uses the file's ``next_observations``).
    """
    import h5py

    out: dict[str, Any] = {}
    try:
        with h5py.File(path, "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    if name in skip or (not infos and name.startswith("infos/")):
                        return
                    if name.startswith("metadata/") and obj.shape != ():
                        return  # policy weights: not data, and can be large
                    out[name] = obj[()] if obj.shape == () else obj[:]
            f.visititems(visit)
    except OSError as e:
        raise DataIntegrityError(f"{path}: truncated or corrupt HDF5 file ({e})") from None
    return out


def qlearning_indices(n: int, terminals: np.ndarray, timeouts: np.ndarray | None,
                      max_episode_steps: int | None, terminate_on_end: bool = False) -> np.ndarray:
    """Row indices ``d4rl.qlearning_dataset`` keeps (rows ``i < N-1`` that are not final timesteps)."""
    if n < 2:
        return np.zeros(0, dtype=np.int64)
    if terminate_on_end:
        return np.arange(n - 1)
    if timeouts is not None:
        return np.flatnonzero(~timeouts[: n - 1])
    if max_episode_steps is None:
        import warnings

        warnings.warn("this D4RL file has no 'timeouts' and no max_episode_steps was given; assuming "
                      f"{DEFAULT_MAX_EPISODE_STEPS} (Gym-MuJoCo's limit) to find timeouts the way d4rl does. "
                      "Pass max_episode_steps=<the env's time limit> for other envs", stacklevel=4)
        max_episode_steps = DEFAULT_MAX_EPISODE_STEPS
    # d4rl's counter: a row with episode_step == T-1 is a timeout (skipped, counter -> 0); after a
    # terminal the counter is reset to 0 and then incremented, so the next episode starts at 1.
    term = np.flatnonzero(terminals[: n - 1])
    keep = np.ones(n - 1, dtype=bool)
    pos, step, last = 0, 0, n - 1
    ti = 0
    while pos < last:
        timeout_row = pos + max(0, max_episode_steps - 1 - step)
        while ti < len(term) and term[ti] < pos:
            ti += 1
        t = term[ti] if ti < len(term) else last
        if timeout_row <= t and timeout_row < last:
            keep[timeout_row] = False
            pos, step = timeout_row + 1, 0
        elif t < last:
            pos, step = t + 1, 1
        else:
            break
    return np.flatnonzero(keep)


def _flag(a: np.ndarray | None, n: int, key: str, path) -> np.ndarray | None:
    if a is None:
        return None
    a = numeric_array(a, key, path)  # astype(bool) would turn any non-empty string into True
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.shape != (n,):
        raise DataIntegrityError(f"{path}: {key} has shape {a.shape}, expected ({n},) or ({n}, 1)")
    return a.astype(bool)


def from_arrays(data: dict[str, Any], *, dataset_id: str, mode: str = "qlearning",
                max_episode_steps: int | None = None, terminate_on_end: bool = False,
                env_id: str | None = None, ref_min: float | None = None, ref_max: float | None = None,
                checksum: str | None = None, path: Any = "<arrays>", expected_dims: tuple | None = None,
                source: str = "d4rl") -> OfflineDataset:
    """Build an :class:`OfflineDataset` from the dict :func:`read_hdf5` returns."""
    if mode not in MODES:
        raise ConfigError(f"unknown D4RL mode {mode!r}; choose one of {MODES}")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise DataIntegrityError(f"{path}: not a D4RL file, missing keys {missing}")
    obs = numeric_array(data["observations"], "observations", path)
    n = len(obs)
    act = numeric_array(data["actions"], "actions", path)
    rew = numeric_array(data["rewards"], "rewards", path)
    if rew.ndim == 2 and rew.shape[1] == 1:
        rew = rew[:, 0]
    if len(act) != n or rew.shape != (n,):
        raise DataIntegrityError(f"{path}: row counts disagree (observations {obs.shape}, actions {act.shape}, "
                                 f"rewards {rew.shape})")
    if n == 0:
        raise DataIntegrityError(f"{path}: holds no transitions (its arrays have 0 rows)")
    terminals = _flag(data["terminals"], n, "terminals", path)
    timeouts = _flag(data.get("timeouts"), n, "timeouts", path)
    if expected_dims is not None:
        od, ad = expected_dims
        if (od is not None and obs.shape[1:] != (od,)) or (ad is not None and act.shape[1:] != (ad,)):
            raise DataIntegrityError(f"{path}: observations {obs.shape[1:]} / actions {act.shape[1:]} do not "
                                     f"match {dataset_id!r} (expected ({od},) / ({ad},))")
    f32 = lambda a: a.astype(np.float32, copy=False) if np.issubdtype(a.dtype, np.floating) else a  # noqa: E731
    info_keys = [k for k in data if k.startswith("infos/") and np.ndim(data[k]) >= 1 and len(data[k]) == n]
    metadata = {k[len("metadata/"):]: _plain(v) for k, v in data.items()
                if k.startswith("metadata/") and np.ndim(v) == 0}
    metadata["d4rl_mode"] = mode
    if mode == "qlearning":
        keep = qlearning_indices(n, terminals, timeouts, max_episode_steps, terminate_on_end)
        if not len(keep):
            raise DataIntegrityError(
                f"{path}: holds no transitions: d4rl's q-learning layout drops the last row and timeout rows, "
                f"which leaves none of its {n} row{'s' if n > 1 else ''} (mode='raw' keeps every row)")
        arrays = dict(observations=f32(obs[:-1][keep]), actions=f32(act[:-1][keep]), rewards=f32(rew[:-1][keep]),
                      next_observations=f32(obs[1:][keep]), terminations=terminals[:-1][keep],
                      truncations=np.zeros(len(keep), dtype=bool))
        # pop as we go so each full-length column is freed once its filtered copy exists
        infos = {k[len("infos/"):]: np.asarray(data.pop(k))[:-1][keep] for k in info_keys}
    else:
        if "next_observations" in data:
            nxt = numeric_array(data["next_observations"], "next_observations", path)
            if nxt.shape != obs.shape:
                raise DataIntegrityError(f"{path}: next_observations {nxt.shape} != observations {obs.shape}")
        else:
            nxt = np.concatenate([obs[1:], obs[-1:]]) if n else obs
        arrays = dict(observations=f32(obs), actions=f32(act), rewards=f32(rew), next_observations=f32(nxt),
                      terminations=terminals,
                      truncations=timeouts if timeouts is not None else np.zeros(n, dtype=bool))
        infos = {k[len("infos/"):]: np.asarray(data[k]) for k in info_keys}
    spec = DatasetSpec(id=dataset_id, env_id=env_id, obs_shape=tuple(obs.shape[1:]),
                       obs_dtype=str(arrays["observations"].dtype), action_shape=tuple(act.shape[1:]),
                       action_dtype=str(arrays["actions"].dtype), ref_min=ref_min, ref_max=ref_max, source=source,
                       checksum=checksum, max_episode_steps=max_episode_steps, extra={"d4rl_mode": mode})
    return OfflineDataset(**arrays, spec=spec, infos=infos, metadata=metadata)


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


def load_d4rl(path: str | os.PathLike, *, dataset_id: str | None = None, mode: str = "qlearning",
              infos: bool = True, **kw: Any) -> OfflineDataset:
    """Read a D4RL HDF5 file (see the module docstring for ``mode``)."""
    data = read_hdf5(path, infos=infos, skip=("next_observations",) if mode == "qlearning" else ())
    # from_arrays pops columns from this private dict as it goes, keeping peak memory down
    return from_arrays(data, dataset_id=dataset_id or f"file:{Path(path).name}", path=path, mode=mode, **kw)


def save_d4rl(ds: OfflineDataset, path: str | os.PathLike, *, compression: str | None = "gzip",
              overwrite: bool = True) -> Path:
    """Write ``ds`` as a D4RL-layout HDF5 file (``terminals`` = terminations, ``timeouts`` = truncations).

    Reading it back with ``mode="raw"`` gives the same rows; ``mode="qlearning"`` applies d4rl's
    row dropping again.
    """
    import h5py

    from offrl.atomic import atomic_file

    path = Path(path)
    with atomic_file(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            kw = {"compression": compression} if compression else {}
            for k, a in (("observations", ds.observations), ("next_observations", ds.next_observations),
                         ("actions", ds.actions), ("rewards", ds.rewards), ("terminals", ds.terminations),
                         ("timeouts", ds.truncations)):
                f.create_dataset(k, data=a, **kw)
            for k, a in ds.infos.items():
                f.create_dataset(f"infos/{k}", data=a, **kw)
            for k, v in ds.metadata.items():
                if isinstance(v, (str, int, float, bool, np.generic)):
                    f.create_dataset(f"metadata/{k}", data=np.bytes_(v.encode()) if isinstance(v, str) else v)
    return path
