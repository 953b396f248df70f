"""Offline multi-agent datasets of the UAV env: poor, medium, expert and mixed behaviour.

Behaviour policies (all evaluated on the team count of associated users):

* ``poor``   - uniformly random valid moves;
* ``medium`` - distributed SARSA after ``medium_fraction`` of its training, with epsilon = 0.1;
* ``expert`` - fully trained distributed SARSA with epsilon = 0.05 (a little noise for coverage);
* ``mixed``  - the union of the three, the same number of episodes from each.

Layout (``offrl.datasets.OfflineDataset``): ``observations``/``next_observations`` (N, U, obs_dim),
``actions`` (N, U) int32, ``rewards`` (N,) the shared team reward (number of UAV-associated users),
``terminations`` always False, ``truncations`` True on the last step of each episode. ``infos``:
``agent_rewards`` (N, U), ``avail_actions``/``next_avail_actions`` (N, U, 5) bool, ``state``/
``next_state`` (N, state_dim), ``n_assoc`` (N,), ``episode`` (N,). Normalised scores use
``ref_min`` = random policy's and ``ref_max`` = trained SARSA's mean return on held-out layouts.

Ids and folders (registered in :mod:`offrl.datasets.registry`, so ``offrl.datasets.load(id)`` finds
them): ``uav/<level>-v0`` in ``<data_root>/uav/<level>-v0`` for the default ``urban`` preset,
``uav/<preset>/<level>-v0`` in ``<data_root>/uav/<preset>/<level>-v0`` for the others, so that data
of different scenarios never share an id or a folder. The metadata records the preset name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from offrl.datasets.registry import UAV_DEFAULT_PRESET, UAV_ENV_ID, UAV_LEVELS, uav_dataset_id, uav_dataset_name
from offrl.envs.uav.baselines import TabularConfig, train_tabular
from offrl.envs.uav.params import PRESETS, EnvParams
from offrl.envs.uav.policies import Policy, evaluate, random_policy, rollout, tabular_policy
from offrl.errors import ConfigError, OffrlError

LEVELS = UAV_LEVELS
ENV_ID = UAV_ENV_ID
ENV_VERSION = 0


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """How the UAV datasets are collected."""

    episodes: int = 100
    """Episodes per level (mixed gets this many from each of poor/medium/expert)."""
    seed: int = 0
    """Seed of the behaviour training and of the collection layouts."""
    tabular: TabularConfig = TabularConfig()
    """Training of the SARSA behaviour policy."""
    medium_fraction: float = 0.2
    """Fraction of SARSA training after which its snapshot is the medium policy."""
    ref_episodes: int = 32
    """Held-out episodes for the reference (normalisation) returns."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        if self.episodes < 1:
            raise ConfigError(f"episodes: must be >= 1 (got {self.episodes})")
        if not 0 < self.medium_fraction < 1:
            raise ConfigError(f"medium_fraction: must be in (0, 1) (got {self.medium_fraction})")
        if self.ref_episodes < 1:
            raise ConfigError(f"ref_episodes: must be >= 1 (got {self.ref_episodes})")
        self.tabular.validate()


def params_hash(params: EnvParams) -> str:
    """Short stable hash of every scenario parameter (static and physical)."""
    d = {f: np.asarray(getattr(params, f)).tolist() for f in params.__dataclass_fields__}
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def collect(policy: Policy, params: EnvParams, key, n_episodes: int) -> dict[str, np.ndarray]:
    """Roll ``policy`` for ``n_episodes`` (vmapped) and flatten to transition rows (numpy)."""
    keys = jax.random.split(key, n_episodes)
    out = jax.jit(jax.vmap(lambda k: rollout(policy, k, params, record=True)))(keys)
    out = jax.tree_util.tree_map(np.asarray, out)
    t = params.episode_len
    flat = {k: v.reshape(n_episodes * t, *v.shape[2:]) for k, v in out.items() if k not in ("users", "start_pos")}
    flat["episode"] = np.repeat(np.arange(n_episodes, dtype=np.int32), t)
    return flat


def to_dataset(rows: dict[str, np.ndarray], params: EnvParams, name: str, ref: tuple[float, float],
               metadata: dict[str, Any]):
    """Transition rows -> :class:`offrl.datasets.OfflineDataset` with id ``uav/<name>``."""
    from offrl.datasets import DatasetSpec, OfflineDataset

    n = len(rows["team_reward"])
    spec = DatasetSpec(id=f"uav/{name}", env_id=ENV_ID, obs_shape=(params.n_uavs, params.obs_dim),
                       obs_dtype="float32", action_shape=(params.n_uavs,), action_dtype="int32",
                       ref_min=float(ref[0]), ref_max=float(ref[1]), source="offrl.envs.uav",
                       max_episode_steps=params.episode_len,
                       extra={"n_agents": params.n_uavs, "n_actions": 5, "agents": params.agents})
    infos = {"agent_rewards": rows["agent_rewards"].astype(np.float32),
             "avail_actions": rows["avail_actions"].astype(bool),
             "next_avail_actions": rows["next_avail_actions"].astype(bool),
             "state": rows["state"].astype(np.float32), "next_state": rows["next_state"].astype(np.float32),
             "n_assoc": rows["n_assoc"].astype(np.int32), "episode": rows["episode"].astype(np.int32)}
    return OfflineDataset(rows["obs"].astype(np.float32), rows["actions"].astype(np.int32),
                          rows["team_reward"].astype(np.float32), rows["next_obs"].astype(np.float32),
                          np.zeros(n, bool), rows["truncated"].astype(bool), spec=spec, infos=infos,
                          metadata=metadata)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    offset, eps = 0, []
    for p in parts:
        eps.append(p["episode"] + offset)
        offset += int(p["episode"].max()) + 1
    out["episode"] = np.concatenate(eps)
    return out


def _check_preset_and_levels(preset: str, levels: tuple[str, ...]) -> None:
    if preset not in PRESETS:
        raise ConfigError(f"preset: unknown UAV scenario preset {preset!r}; known: {', '.join(PRESETS)}")
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad:
        raise ConfigError(f"levels: unknown level {bad[0]!r}; known: {', '.join(LEVELS)}")


def build_datasets(params: EnvParams, cfg: DatasetConfig = DatasetConfig(), *,
                   levels: tuple[str, ...] = LEVELS, preset: str = UAV_DEFAULT_PRESET,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the behaviour policies and collect the requested levels; returns datasets and refs.

    ``preset`` names the scenario ``params`` were made from (``make_params(preset, ...)``): it picks
    the dataset ids (``uav/<level>-v0`` for ``urban``, else ``uav/<preset>/<level>-v0``) and is
    recorded in the metadata next to the hash of every parameter.
    """
    cfg.validate()
    _check_preset_and_levels(preset, levels)

    def tick(msg):
        if progress is not None:
            progress(msg)

    res = train_tabular("sarsa", params.replace(reward_mode="local"), cfg.tabular, [cfg.seed])
    tick("trained SARSA behaviour policy")
    q_expert = res["q"][0]
    done = res["eval_episodes"]
    medium_idx = int(np.argmin(np.abs(done - cfg.medium_fraction * cfg.tabular.episodes)))
    q_medium = res["snapshots"][medium_idx, 0]
    policies = {"poor": random_policy(), "medium": tabular_policy(q_medium, 0.1),
                "expert": tabular_policy(q_expert, 0.05)}
    ref_key = jax.random.PRNGKey(10_000)
    t = params.episode_len
    ref_min = float(np.asarray(evaluate(random_policy(), ref_key, params, cfg.ref_episodes)).mean()) * t
    ref_max = float(np.asarray(evaluate(tabular_policy(q_expert), ref_key, params, cfg.ref_episodes)).mean()) * t
    tick("reference returns")
    base_key = jax.random.PRNGKey(cfg.seed + 777)
    rows: dict[str, dict[str, np.ndarray]] = {}
    needed = set(levels) - {"mixed"} | ({"poor", "medium", "expert"} if "mixed" in levels else set())
    for i, lv in enumerate(("poor", "medium", "expert")):
        if lv in needed:
            rows[lv] = collect(policies[lv], params, jax.random.fold_in(base_key, i), cfg.episodes)
            tick(f"collected {lv}")
    if "mixed" in levels:
        rows["mixed"] = _concat([rows["poor"], rows["medium"], rows["expert"]])
    meta = {"env_version": ENV_VERSION, "preset": preset, "params_hash": params_hash(params), "seed": cfg.seed,
            "behaviour": {"poor": "random", "medium": f"sarsa@{int(done[medium_idx])}ep eps=0.1",
                          "expert": f"sarsa@{cfg.tabular.episodes}ep eps=0.05",
                          "mixed": "poor+medium+expert"},
            "tabular_config": dataclasses.asdict(cfg.tabular)}
    out = {lv: to_dataset(rows[lv], params, uav_dataset_name(lv, preset), (ref_min, ref_max),
                          dict(meta, level=lv, behaviour=meta["behaviour"][lv])) for lv in levels}
    return {"datasets": out, "ref_min": ref_min, "ref_max": ref_max, "q_expert": q_expert, "q_medium": q_medium}


def dataset_dir(name: str, root=None) -> Path:
    """``<data_root>/uav/<name>`` (``name`` as in :func:`offrl.datasets.registry.uav_dataset_name`)."""
    from offrl.paths import data_root

    return data_root(root) / "uav" / name


def level_dir(level: str, preset: str = UAV_DEFAULT_PRESET, root=None) -> Path:
    """Folder of the dataset of ``level`` and ``preset``: ``<data_root>/uav/[<preset>/]<level>-v0``."""
    _check_preset_and_levels(preset, (level,))
    return dataset_dir(uav_dataset_name(level, preset), root)


def _refuse(existing: list[Path]) -> None:
    if existing:
        one = len(existing) == 1
        raise OffrlError(f"{', '.join(str(d) for d in existing)} already exist{'s' if one else ''}; pass --overwrite "
                         f"(overwrite=True) to replace {'it' if one else 'them'}")


def refuse_existing(levels: tuple[str, ...], preset: str = UAV_DEFAULT_PRESET, *, root=None,
                    overwrite: bool = False) -> None:
    """Raise :class:`OffrlError` naming every existing destination of ``levels`` unless ``overwrite``.

    Called before any training so that a run which would only fail at the end fails at once.
    """
    _check_preset_and_levels(preset, tuple(levels))
    if overwrite:
        return
    existing = [level_dir(lv, preset, root) for lv in dict.fromkeys(levels)]
    existing = [d for d in existing if d.exists()]
    _refuse(existing)


def save_datasets(datasets: dict[str, Any], *, root=None, overwrite: bool = False) -> dict[str, Path]:
    """Write every dataset atomically in the offrl native format under ``<data_root>/uav/``, each in the
    folder of its id (``uav/expert-v0`` -> ``uav/expert-v0``, ``uav/dense/expert-v0`` ->
    ``uav/dense/expert-v0``). Every destination is checked before the first is written."""
    from offrl.datasets import save

    dirs = {lv: dataset_dir(ds.spec.id.removeprefix("uav/"), root) for lv, ds in datasets.items()}
    existing = [d for d in dirs.values() if d.exists()]
    if not overwrite:
        _refuse(existing)
    return {lv: save(ds, dirs[lv], format="offrl", overwrite=overwrite) for lv, ds in datasets.items()}


def load_dataset(level: str, *, preset: str = UAV_DEFAULT_PRESET, root=None):
    """Load the saved UAV dataset of ``level`` (``poor``/``medium``/``expert``/``mixed``) and ``preset``
    by its id (the same as ``offrl.datasets.load("uav/[<preset>/]<level>-v0")``, whose error for a missing
    one names the ``offrl uav datasets`` command that makes it)."""
    from offrl.datasets import load

    _check_preset_and_levels(preset, (level,))
    return load(uav_dataset_id(level, preset), root=root)
