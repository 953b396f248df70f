"""D4RL-protocol datasets regenerated on any CPU from shipped behaviour policies (``offrl collect``).

Levels follow D4RL: ``random`` (uniform actions), ``medium`` (a SAC policy at about a third of the
expert's return), ``expert`` (the final SAC policy), ``medium-replay`` (what the SAC replay buffer
held when the medium policy was saved) and ``medium-expert`` (medium + expert). Policies act
stochastically (tanh-Gaussian samples), as the D4RL data were collected, and their weights ship in
``offrl/assets/policies/<env>/policies.npz`` (trained by :mod:`offrl.online`).

``medium-replay`` is rebuilt from the training run's actor snapshots: the random warm-up, then each
snapshot before the medium one acting for the env steps it acted for during training. It has the
buffer's size and mixture of policies, not its exact transitions (those came from the GPU run).

Collection is deterministic on one platform: ``n_envs`` envs run in lock-step with one seeded
NumPy generator, env ``i`` reset with ``seed * 1000 + i`` (its later resets continue its own RNG),
and every env collects a fixed share of the steps, so the result does not depend on ``workers``.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from offrl.errors import ConfigError, OffrlError, UnknownIdError
from offrl.paths import assets_dir

ENVS = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5"}
LEVELS = ("random", "medium", "medium-replay", "medium-expert", "expert")
DEFAULT_STEPS = 1_000_000
DEFAULT_N_ENVS = 10
#: Transitions per level of a continual task's dataset (``local/<stream>/<task>-<level>-v0``); episodes
#: there last 200 steps, so this is 500 episodes.
TASK_DEFAULT_STEPS = 100_000


@dataclasses.dataclass(frozen=True)
class Source:
    """What a local dataset is collected from: an env (id and keyword arguments) and the shipped
    behaviour policies under ``offrl/assets/policies/<name>/``.

    ``name`` is an env (``hopper``) for the single-task datasets ``local/<env>-<level>-v0``, or
    ``<stream>/<task>`` for a continual task's datasets ``local/<stream>/<task>-<level>-v0``.
    """

    name: str
    env_id: str
    env_kwargs: dict
    levels: tuple[str, ...]
    default_steps: int

    @property
    def is_task(self) -> bool:
        return "/" in self.name

    def dataset_id(self, level: str) -> str:
        return f"local/{self.name}-{level}-v0"

    def make_env_kwargs(self) -> dict:
        return dict(self.env_kwargs)


def source(name: str) -> Source:
    """The :class:`Source` of an env name (``hopper``) or a stream task (``cheetah-vel/v0.5``)."""
    if "/" in name:
        from offrl.continual.streams import QUALITIES, load_stream

        stream_name, _, task_name = name.partition("/")
        task = load_stream(stream_name).task(task_name)
        return Source(name, task.env_id, dict(task.kwargs), QUALITIES, TASK_DEFAULT_STEPS)
    if name not in ENVS:
        raise UnknownIdError("environment", name, ENVS)
    return Source(name, ENVS[name], {}, LEVELS, DEFAULT_STEPS)


def parse_name(name: str) -> tuple[str, str]:
    """``"hopper-medium-replay"`` (or ``local/hopper-medium-replay-v0``) -> ("hopper", "medium-replay");
    ``"cheetah-vel/v0.5-medium-random"`` (or its ``local/...-v0`` id) -> ("cheetah-vel/v0.5", "medium-random")."""
    n = name[len("local/"):] if name.startswith("local/") else name
    if n.endswith("-v0"):
        n = n[:-3]
    if "/" in n:
        from offrl.continual.streams import QUALITIES

        for level in sorted(QUALITIES, key=len, reverse=True):
            if n.endswith("-" + level):
                src = n[: -len(level) - 1]
                source(src)  # unknown stream or task: an error with suggestions
                return src, level
        raise UnknownIdError(f"level of {n.split('-')[0]}", n.rpartition("-")[2], QUALITIES)
    env, _, level = n.partition("-")
    if env not in ENVS:
        raise UnknownIdError("environment", env, ENVS)
    if level not in LEVELS:
        raise UnknownIdError(f"level for {env}", level, LEVELS)
    return env, level


def policy_file(env: str) -> Path:
    """The shipped behaviour policies of a source name (``hopper`` or ``cheetah-vel/v0.5``)."""
    return assets_dir() / "policies" / env / "policies.npz"


def load_behaviour(env: str):
    """The shipped policies of ``env`` (a source name): ({name: TanhGaussianPolicy}, metadata)."""
    from offrl.policies import load_policies

    p = policy_file(env)
    if not p.is_file():
        hint = (" (the continual task policies are made with `offrl online --stream` and "
                "`offrl.collection.build_assets`; see docs/continual.md)") if "/" in env else ""
        raise OffrlError(f"no shipped behaviour policies for {env!r} at {p}{hint}")
    return load_policies(p)


# ---------------------------------------------------------------------------- rollouts
PolicyFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def collect_stream(env_id: str, policy: PolicyFn, steps: int, *, seed: int = 0, n_envs: int = DEFAULT_N_ENVS,
                   workers: int = 0, progress: Any = None, env_kwargs: dict | None = None) -> dict[str, np.ndarray]:
    """``steps`` transitions from ``n_envs`` envs in lock-step, concatenated env by env.

    An env's stream ends mid-episode when its share is used up; that last row is marked truncated.
    ``progress`` is an optional tqdm bar advanced by the number of transitions collected.
    """
    from offrl.envs.pool import EnvPool

    n_envs = max(1, min(n_envs, steps))
    quota = np.full(n_envs, steps // n_envs)
    quota[: steps % n_envs] += 1
    rng = np.random.default_rng(seed)
    cols: list[dict[str, list]] = [{k: [] for k in ("o", "a", "r", "o2", "te", "tr")} for _ in range(n_envs)]
    with EnvPool(env_id, n_envs, workers=workers, env_kwargs=env_kwargs) as pool:
        obs = pool.reset([seed * 1000 + i for i in range(n_envs)])
        done_count = np.zeros(n_envs, np.int64)
        while (done_count < quota).any():
            active = done_count < quota
            acts = policy(obs, rng)
            nxt, r, te, tr, reset_obs = pool.step(acts, active, autoreset=True)
            for i in np.flatnonzero(active):
                c = cols[i]
                c["o"].append(obs[i]), c["a"].append(acts[i]), c["r"].append(r[i]), c["o2"].append(nxt[i])
                last = done_count[i] + 1 == quota[i]
                c["te"].append(te[i]), c["tr"].append(tr[i] or (last and not te[i]))
            done_count += active
            obs = np.where((te | tr)[:, None], reset_obs, nxt)
            if progress is not None:
                progress.update(int(active.sum()))
    cat = lambda k, dt: np.concatenate([np.asarray(c[k], dt).reshape(len(c[k]), -1) for c in cols])  # noqa: E731
    return {"observations": cat("o", np.float32), "actions": cat("a", np.float32),
            "rewards": cat("r", np.float32)[:, 0], "next_observations": cat("o2", np.float32),
            "terminations": cat("te", bool)[:, 0], "truncations": cat("tr", bool)[:, 0]}


def uniform_policy(act_dim: int) -> PolicyFn:
    return lambda obs, rng: rng.uniform(-1.0, 1.0, (len(obs), act_dim)).astype(np.float32)


def sac_policy(pol) -> PolicyFn:
    return lambda obs, rng: pol.act(obs, rng)


def episode_returns(env_id: str, policy: PolicyFn, episodes: int = 100, *, seed: int = 0, workers: int = 0,
                    max_steps: int = 1000, env_kwargs: dict | None = None) -> np.ndarray:
    """Undiscounted returns of ``episodes`` full episodes (env ``i`` reset with ``seed + i``)."""
    from offrl.envs.pool import EnvPool

    rng = np.random.default_rng(seed)
    with EnvPool(env_id, episodes, workers=workers, env_kwargs=env_kwargs) as pool:
        obs = pool.reset([seed + i for i in range(episodes)])
        ret, active = np.zeros(episodes), np.ones(episodes, bool)
        for _ in range(max_steps):
            nxt, r, te, tr, _ = pool.step(policy(obs, rng), active)
            ret += np.where(active, r, 0.0)
            active &= ~(te | tr)
            obs = nxt
            if not active.any():
                break
    return ret


# ---------------------------------------------------------------------------- datasets
def _act_dim(env: str) -> int:
    from offrl.envs.pool import make_env

    src = source(env)
    e = make_env(src.env_id, **src.env_kwargs)
    try:
        return int(np.prod(e.action_space.shape))
    finally:
        e.close()


#: Levels made by concatenating two other levels of the same source, as D4RL's medium-expert is.
COMPOSITE_LEVELS = {"medium-expert": ("medium", "expert"), "medium-random": ("medium", "random")}


def _segments(env: str, level: str, steps: int | None):
    """[(label, PolicyFn, n_steps)] making up a level."""
    default = source(env).default_steps
    if level == "random":
        return [("uniform", uniform_policy(_act_dim(env)), steps or default)]
    pols, meta = load_behaviour(env)
    if level in ("medium", "expert"):
        return [(level, sac_policy(pols[level]), steps or default)]
    if level == "medium-replay":
        every, start = int(meta["snapshot_every"]), int(meta["start_steps"])
        segs = [("uniform", uniform_policy(_act_dim(env)), start)]
        snaps = sorted(k for k in pols if k.startswith("replay_"))
        for k in snaps:
            s0 = int(k.split("_")[1])
            n = every - (start - s0 if s0 < start else 0)
            if n > 0:
                segs.append((k, sac_policy(pols[k]), n))
        total = sum(n for _, _, n in segs)
        if steps and steps < total:  # a smaller replay keeps the policy mixture, scaled down
            segs = [(lbl, f, max(1, round(n * steps / total))) for lbl, f, n in segs]
        return segs
    raise UnknownIdError("level", level, LEVELS)


def minari_copy_id(env: str, level: str) -> str:
    """The Minari id of a collected dataset's copy: ``minari.load_dataset("offrl/<env>-<level>-v0")``."""
    return f"offrl/{env}-{level}-v0"


def minari_copy_status(name: str, root=None) -> tuple[str, Path]:
    """State of the Minari copy of the collected ``local/<env>-<level>-v0``: ``"ok"`` (made from the
    native dataset as it is now), ``"missing"`` or ``"stale"`` (made from other data, e.g. when an
    interrupt came between a new native dataset and its copy); with the copy's path."""
    from offrl.datasets.minari_io import copy_source_checksum, is_minari_dir
    from offrl.datasets.native import read_manifest
    from offrl.datasets.registry import local_dataset_dir, minari_write_root

    env, level = parse_name(name)
    path = minari_write_root() / minari_copy_id(env, level)
    if not is_minari_dir(path):
        return "missing", path
    native = read_manifest(local_dataset_dir(f"local/{env}-{level}-v0", root))["spec"].get("checksum")
    return ("ok" if native and copy_source_checksum(path) == native else "stale"), path


def _minari_installed() -> bool:
    from offrl.datasets.minari_io import _minari

    try:
        _minari()
    except OffrlError:
        return False
    return True


def minari_env_problem(name: str) -> str | None:
    """Why no Minari copy of the collected ``name`` can be written, or None when one can.

    A Minari dataset records its env's Gymnasium spec as JSON, and Gymnasium cannot serialise an env
    registered with a Python callable as its entry point, as the continual task families
    (``offrl/PendulumGain-v0``, ``offrl/CheetahVel-v0``, ...) are; checked without collecting anything.
    """
    import gymnasium as gym

    import offrl.envs  # noqa: F401  (registers the continual task families)

    env_id = source(parse_name(name)[0]).env_id
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return None  # not registered: the copy is written without an env spec
    try:
        spec.to_json()
    except (ValueError, TypeError) as e:
        why = ("is registered with a Python callable as its entry point" if not isinstance(spec.entry_point, str)
               else f"has a spec Gymnasium cannot serialise ({str(e).splitlines()[0]})")
        return f"its env {env_id} {why}, which a Minari dataset cannot record"
    return None


def check_minari_copy(name: str) -> None:
    """Raise :class:`OffrlError` (one line) when no Minari copy of ``name`` can be written
    (:func:`minari_env_problem`): for a copy asked for explicitly, before anything is collected."""
    problem = minari_env_problem(name)
    if problem:
        env, level = parse_name(name)
        raise OffrlError(_no_copy_message(f"local/{env}-{level}-v0", problem))


def _check_other_id(dataset_id: str, name: str, minari: bool | None) -> None:
    """Refuse a ``collect(name, dataset_id=...)`` whose id is not a ``local/`` id of its own: writing under
    another registered dataset's id (``local/hopper-expert-v0`` for ``hopper-medium`` data) would make those
    data stand in for that dataset."""
    from offrl.datasets import registry as R

    if not dataset_id.startswith("local/"):
        raise ConfigError(f"collect {name}: dataset_id {dataset_id!r} must be a local/... id")
    if dataset_id in R.DATASETS:
        raise ConfigError(f"collect {name}: dataset_id {dataset_id!r} is another registered dataset's id; "
                          "name the data by what differs, e.g. their size (local/hopper-medium-20k-v0)")
    R.local_dataset_dir(dataset_id)  # an invalid name fails here, before any collection
    if minari:
        raise ConfigError(f"collect {name}: no Minari copy of data saved as {dataset_id} (the copy is named "
                          f"{minari_copy_id(*parse_name(name))}, which belongs to the default data)")


def _no_copy_message(ds_id: str, problem: str) -> str:
    return f"{ds_id}: no Minari copy can be written: {problem}; collect it without --minari (nothing was collected)"


def _before_collecting(name: str, *, root, minari: bool | None, overwrite: bool):
    """Checks of :func:`collect` before any collection: returns ``(minari, dataset)``.

    The native dataset directory appears in one rename with its ``card.json`` and ``card.md``
    inside (checksummed in its manifest), so an interrupt never leaves a dataset without its card
    or with a stale one; the Minari copy is derived from it and written next. Hence:

    * a dataset whose env Minari cannot record (:func:`minari_env_problem`: the continual task
      families) gets no copy: ``minari=True`` (asked for explicitly) raises :class:`OffrlError`
      before anything is collected, ``minari=None`` (the default) skips the copy with a one-line note;
    * without the ``minari`` package the copy is skipped, with a warning now rather than an error
      after the collection (``minari`` comes back False);
    * a collected dataset whose copy is missing or stale (:func:`minari_copy_status`, e.g. after an
      interrupt between the two) gets its copy re-made from the native dataset, which is returned:
      nothing is collected again.
    """
    import sys
    import warnings

    from offrl.datasets import load, local_dataset_dir
    from offrl.datasets.registry import data_root_option

    env, level = parse_name(name)
    ds_id = f"local/{env}-{level}-v0"
    out_dir = local_dataset_dir(ds_id, root)
    if minari is not False:
        problem = minari_env_problem(name)
        if problem and minari:
            raise OffrlError(_no_copy_message(ds_id, problem))
        if problem:
            if overwrite or not out_dir.exists():  # (an existing dataset is refused by collect, in one line)
                print(f"note: {ds_id}: no Minari copy: {problem}; only the native dataset is written",
                      file=sys.stderr)
        minari = not problem  # None (the default) becomes True where the copy can be written
    if minari and not _minari_installed():
        warnings.warn(f"{ds_id}: the minari package is not installed, so only the native dataset is written, "
                      f"no Minari copy (pip install 'offrl[minari]', then `offrl collect {env}-{level}"
                      f"{data_root_option(root)}` makes the copy from it without collecting again)", stacklevel=3)
        minari = False
    if minari and out_dir.exists() and not overwrite:
        status, copy_path = minari_copy_status(ds_id, root)
        if status != "ok":
            ds = load(ds_id, root=root)
            _write_minari_copy(ds, env, level)
            print(f"{ds_id} exists at {out_dir}; its Minari copy was {status}: re-made it at {copy_path}",
                  file=sys.stderr)
            return minari, ds
    return minari, None


def _write_minari_copy(ds, env: str, level: str) -> Path:
    """(Re)write the Minari copy of ``ds``; it is derived data, so an older copy is always replaced."""
    from offrl.datasets import save as save_ds

    return save_ds(ds, minari_copy_id(env, level), format="minari", overwrite=True)


def collect(name: str, *, steps: int | None = None, seed: int = 0, n_envs: int = DEFAULT_N_ENVS, workers: int = 0,
            root=None, save: bool = True, minari: bool | None = None, overwrite: bool = False, progress: bool = True,
            expect_checksum: str | None = None, dataset_id: str | None = None):
    """Collect ``local/<env>-<level>-v0`` or a continual task's ``local/<stream>/<task>-<level>-v0``;
    writes the native dataset (and a Minari copy) atomically.

    ``minari``: None (default) writes the Minari copy where one can be written (not for the continual
    task envs, which Minari cannot record: a one-line note says so); True asks for it, and raises
    :class:`OffrlError` before collecting when it cannot be written; False writes none.

    ``dataset_id``: save (and label) the data under this ``local/...`` id instead of ``name``'s own, e.g.
    ``local/hopper-medium-20k-v0`` for 20,000 transitions of ``hopper-medium``, so that data of another size
    never stand in for the default ones. Only the native dataset is written (the Minari copy's name is
    ``name``'s). The progress bar names the id written; without ``save`` or ``dataset_id`` nothing is
    written and it names what is collected (``collect hopper-medium``).

    ``steps`` defaults to D4RL's 1M for the single-task datasets (medium-replay: the replay buffer's
    size) and to :data:`TASK_DEFAULT_STEPS` for task datasets; the composite levels
    (:data:`COMPOSITE_LEVELS`) hold ``steps`` of each part. Returns the
    :class:`~offrl.datasets.OfflineDataset`.

    ``root``: the data root written to (default ``$OFFRL_DATA_DIR`` or ``~/.offrl/data``); with ``save``, one
    that cannot hold data (a file in its place, a parent that is not writable) raises :class:`OffrlError`
    before anything is collected (:func:`offrl.datasets.registry.check_data_root`).
    """
    from tqdm.auto import tqdm

    from offrl.datasets import DatasetSpec, OfflineDataset, local_dataset_dir
    from offrl.datasets.core import array_checksum
    from offrl.datasets.registry import local_reference_scores

    # `steps or default` below would read 0 as the default (1M transitions): refuse it before any work
    if steps is not None and (isinstance(steps, bool) or steps < 1):
        raise ConfigError(f"collect: steps={steps} must be >= 1 (leave it out for the default)")
    if n_envs < 1:
        raise ConfigError(f"collect: n_envs={n_envs} must be >= 1")
    if workers < 0:
        raise ConfigError(f"collect: workers={workers} must be >= 0 (0: in this process)")
    env, level = parse_name(name)
    src = source(env)
    if save:  # a file in the root's place would otherwise fail the save, after all the collecting
        from offrl.datasets.registry import check_data_root

        check_data_root(root)
    if dataset_id == src.dataset_id(level):
        dataset_id = None
    if dataset_id is not None:
        _check_other_id(dataset_id, name, minari)
        minari = False
    elif save:  # what can be known before collecting for minutes (see _before_collecting)
        minari, made = _before_collecting(name, root=root, minari=minari, overwrite=overwrite)
        if made is not None:
            return made
    ds_id = dataset_id or src.dataset_id(level)
    out_dir = local_dataset_dir(ds_id, root)
    if save and out_dir.exists() and not overwrite:
        raise OffrlError(f"{ds_id} already exists at {out_dir}; pass --overwrite to collect it again")
    t0 = time.time()
    if level in COMPOSITE_LEVELS:
        part_levels = COMPOSITE_LEVELS[level]
        parts = [_existing_or_collect(env, lv, steps=steps, seed=seed, n_envs=n_envs, workers=workers, root=root,
                                      progress=progress) for lv in part_levels]
        arrays = {k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0].arrays()}
        segments = [(lv, None, len(p)) for lv, p in zip(part_levels, parts)]
    else:
        segments = _segments(env, level, steps)
        total = sum(n for _, _, n in segments)
        # the bar names the id written: a sized id (the quickstart's, the quick check's) read as the default
        # id's would claim the 1M-transition dataset was being made
        label = ds_id if save or dataset_id else f"{env}-{level}"
        # `disable` only when asked: an explicit disable=False would override TQDM_DISABLE in logs
        bar = tqdm(total=total, desc=f"collect {label}", unit="step", dynamic_ncols=True,
                   **({} if progress else {"disable": True}))
        chunks = [collect_stream(src.env_id, f, n, seed=seed * 7919 + j, n_envs=n_envs, workers=workers, progress=bar,
                                 env_kwargs=src.env_kwargs) for j, (_, f, n) in enumerate(segments)]
        bar.close()
        arrays = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    elapsed = time.time() - t0
    lo, hi = local_reference_scores(env)
    checksum = array_checksum(arrays)
    if expect_checksum and expect_checksum != checksum:  # refuse before anything is written
        raise OffrlError(f"{ds_id}: checksum mismatch: expected {expect_checksum}, collected {checksum} "
                         f"(platform {platform.system()}-{platform.machine()}, numpy {np.__version__})")
    recorded = check_recorded(env, level, len(arrays["rewards"]), seed, n_envs, checksum)
    spec = DatasetSpec(ds_id, src.env_id, arrays["observations"].shape[1:], "float32", arrays["actions"].shape[1:],
                       "float32", lo, hi, "local", checksum, _episode_steps(src),
                       {"env_kwargs": src.env_kwargs} if src.env_kwargs else {})
    card = dataset_card(env, level, spec, arrays, segments, seed, n_envs, elapsed)
    card["recorded_checksum"] = recorded
    ds = OfflineDataset(**arrays, spec=spec, metadata={"card": card})
    card["stats"] = ds.stats()
    if save:
        from offrl.datasets import save as save_ds

        save_ds(ds, ds_id, format="offrl", root=root, overwrite=overwrite,
                extra_files={"card.json": json.dumps(card, indent=1), "card.md": card_markdown(card)})
        if minari:
            _write_minari_copy(ds, env, level)
    return ds


def _episode_steps(src: Source) -> int | None:
    """The time limit of ``src``'s env (from its Gymnasium registration)."""
    import gymnasium as gym

    import offrl.envs  # noqa: F401  (registers the task families)

    try:
        return gym.spec(src.env_id).max_episode_steps
    except gym.error.Error:
        return None


def _versions() -> dict[str, str]:
    import gymnasium
    import mujoco

    return {"gymnasium": gymnasium.__version__, "mujoco": mujoco.__version__, "numpy": np.__version__,
            "platform": f"{platform.system()}-{platform.machine()}"}


def check_recorded(env: str, level: str, transitions: int, seed: int, n_envs: int, checksum: str) -> dict | None:
    """Compare with the checksum recorded in ``assets/policies/<env>/checksums.json`` for this setting.

    Returns ``{"matches": bool, "versions": ...}`` or None when nothing is recorded. A mismatch
    under the recorded versions is an error (the pipeline is not deterministic); under other
    versions (MuJoCo, NumPy/BLAS, CPU) it is a warning, since bit-identity holds on one platform.
    """
    import warnings

    path = policy_file(env).parent / "checksums.json"
    if not path.is_file():
        return None
    for rec in json.loads(path.read_text()):
        if (rec["level"], rec["transitions"], rec["seed"], rec["n_envs"]) == (level, transitions, seed, n_envs):
            same_versions = rec["versions"] == _versions()
            if rec["checksum"] == checksum:
                return {"matches": True, "versions": rec["versions"]}
            msg = (f"local/{env}-{level}-v0 ({transitions} transitions, seed {seed}, {n_envs} envs): checksum "
                   f"{checksum} differs from the recorded {rec['checksum']} (recorded with {rec['versions']}, "
                   f"now {_versions()})")
            if same_versions:
                raise OffrlError(msg + "; collection is not deterministic here")
            warnings.warn(msg + "; expected when library versions or the platform differ", stacklevel=3)
            return {"matches": False, "versions": rec["versions"]}
    return None


def _existing_or_collect(env, level, *, steps, seed, n_envs, workers, root, progress):
    """A part of medium-expert: reuse the saved local dataset when it was collected the same way."""
    from offrl.datasets import load, local_dataset_dir

    src = source(env)
    card_path = local_dataset_dir(src.dataset_id(level), root) / "card.json"
    if card_path.is_file():
        card = json.loads(card_path.read_text())
        if (card.get("seed"), card.get("n_envs"), card.get("transitions")) == (seed, n_envs, steps or src.default_steps):
            return load(src.dataset_id(level), root=root)
    return collect(f"{env}-{level}", steps=steps, seed=seed, n_envs=n_envs, workers=workers, root=root, save=False,
                   progress=progress)


def default_transitions(name: str) -> int:
    """How many transitions ``offrl collect NAME`` makes without ``--steps`` (``hopper-medium``: 1M; a
    composite level: its parts' sum; a continual task's data: :data:`TASK_DEFAULT_STEPS`)."""
    env, level = parse_name(name)
    if level in COMPOSITE_LEVELS:
        return sum(default_transitions(f"{env}-{part}") for part in COMPOSITE_LEVELS[level])
    return int(sum(n for _, _, n in _segments(env, level, None)))


def collected_otherwise(dataset_id: str, root=None) -> str | None:
    """For a saved ``local/*`` dataset collected with other settings than ``offrl collect``'s defaults
    (another size, seed or env count, e.g. ``--steps 5000``): what differs, in words; None when it was
    collected with the defaults, or is not saved, or its card cannot be read (other checks name those)."""
    from offrl.datasets import local_dataset_dir

    try:
        card = json.loads((local_dataset_dir(dataset_id, root) / "card.json").read_text())
        expected = {"transitions": default_transitions(dataset_id), "seed": 0, "n_envs": DEFAULT_N_ENVS}
    except (OSError, ValueError, OffrlError):
        return None
    diff = [f"{k} {card.get(k)!r} (default {v!r})" for k, v in expected.items() if card.get(k) != v]
    return ", ".join(diff) or None


def collect_command(name: str, root=None) -> str:
    """The ``offrl collect`` command that makes the saved dataset of ``name`` (``hopper-medium``) again as it
    was collected: with its card's size, seed and env count where they are not the defaults (``offrl
    collect hopper-medium --steps 5000``), and ``--data-root`` where ``root`` is not the default data root;
    the plain command (with that root) when its card cannot be read."""
    from offrl.datasets import local_dataset_dir
    from offrl.datasets.registry import data_root_option

    command = f"offrl collect {name}"
    try:
        card = json.loads((local_dataset_dir(f"local/{name}-v0", root) / "card.json").read_text())
    except (OSError, ValueError, OffrlError):
        return command + data_root_option(root)
    parts = len(COMPOSITE_LEVELS.get(parse_name(name)[1], (None,)))  # --steps is per part of a composite
    if isinstance(card.get("transitions"), int) and card["transitions"] != default_transitions(name):
        command += f" --steps {card['transitions'] // parts}"
    if card.get("seed") not in (None, 0):
        command += f" --seed {card['seed']}"
    if card.get("n_envs") not in (None, DEFAULT_N_ENVS):
        command += f" --n-envs {card['n_envs']}"
    return command + data_root_option(root)


def dataset_card(env, level, spec, arrays, segments, seed, n_envs, elapsed) -> dict[str, Any]:
    """Provenance of a collected dataset: versions, policies, steps, time, checksum."""
    pol_meta = {}
    if level != "random" and policy_file(env).is_file():
        _, meta = load_behaviour(env)
        pol_meta = {k: meta.get(k) for k in ("source", "seed", "env_steps", "medium_step", "expert_step",
                                             "returns_100", "returns_100_deterministic")}
    return {"id": spec.id, "env_id": spec.env_id, "level": level, "transitions": int(len(arrays["rewards"])),
            "seed": seed, "n_envs": n_envs, "collect_seconds": round(elapsed, 2),
            "steps_per_second": round(len(arrays["rewards"]) / max(elapsed, 1e-9), 1),
            "segments": [[lbl, int(n)] for lbl, _, n in segments], "policy": pol_meta,
            "ref_min": spec.ref_min, "ref_max": spec.ref_max, "checksum": spec.checksum,
            "versions": {**_versions(), "python": platform.python_version()}}


def card_markdown(card: dict) -> str:
    st = card.get("stats", {})
    ret, ns = st.get("return", {}), st.get("normalized_return", {})
    lines = [f"# {card['id']}", "", f"- env: `{card['env_id']}` (gymnasium {card['versions']['gymnasium']}, "
             f"mujoco {card['versions']['mujoco']}, {card['versions']['platform']})",
             f"- level: {card['level']}; transitions: {card['transitions']:,}; episodes: {st.get('episodes')}",
             f"- episode return: mean {ret.get('mean', float('nan')):.1f} ± {ret.get('std', float('nan')):.1f} "
             f"(min {ret.get('min', float('nan')):.1f}, max {ret.get('max', float('nan')):.1f})"]
    if ns:
        lines.append(f"- normalized return: mean {ns['mean']:.1f} (ref_min {card['ref_min']:.1f}, "
                     f"ref_max {card['ref_max']:.1f})")
    lines += [f"- policy: {json.dumps(card['policy'])}", f"- segments: {card['segments']}",
              f"- collection: seed {card['seed']}, {card['n_envs']} envs, {card['collect_seconds']} s "
              f"({card['steps_per_second']:.0f} steps/s)", f"- checksum: `{card['checksum']}`", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- shipped assets
def build_assets(run_dir: str | Path, env: str, *, out: str | Path | None = None, candidates: int = 6,
                 screen_episodes: int = 20, final_episodes: int = 100, workers: int = 0) -> dict:
    """Pick the expert and medium policies from an :mod:`offrl.online` run and write the shipped assets.

    ``env`` is a source name (:func:`source`): an env (``hopper``) or a stream task (``cheetah-vel/v0.5``),
    whose snapshots the run wrote to ``<run_dir>/<env>.npz``.
    Expert: the best of the last snapshots over ``screen_episodes``. Medium: among the snapshots
    whose training return is nearest the medium target, the one whose screened return is closest to
    it; the target is a third of the expert's return for the single-task envs (D4RL's convention, where
    random returns are near zero) and a third of the way from the random to the expert return for
    stream tasks, whose returns can be negative. Replay snapshots (single-task envs only, for
    medium-replay): every snapshot before the medium one (float16). Task policies are stored in float16
    and scored as stored. Reference scores: ``final_episodes`` episodes of the uniform-random and the
    expert policy.
    """
    from offrl.policies import load_policies, save_policies

    run_dir = Path(run_dir)
    early, meta = load_policies(run_dir / f"{env}.npz")
    late = load_policies(run_dir / f"{env}_late.npz")[0] if (run_dir / f"{env}_late.npz").exists() else {}
    snaps = {int(k.split("_")[1]): p for k, p in {**early, **late}.items()}
    src = source(env)
    env_id, env_kwargs = src.env_id, src.env_kwargs
    if src.is_task:  # compact weights; selected and scored exactly as shipped
        snaps = {k: p.astype(np.float16) for k, p in snaps.items()}

    def returns_of(policy, n, seed):
        return episode_returns(env_id, policy, n, seed=seed, workers=workers, env_kwargs=env_kwargs)

    def score(pol, n, seed):
        r = returns_of(sac_policy(pol), n, seed)
        return float(r.mean()), float(r.std())

    last = sorted(snaps)[-candidates:]
    screened = {k: score(snaps[k], screen_episodes, 500_000)[0] for k in last}
    expert_step = max(screened, key=screened.get)
    expert = score(snaps[expert_step], final_episodes, 900_000)
    rnd = returns_of(uniform_policy(snaps[0].act_dim), final_episodes, 900_000)
    target = rnd.mean() + (expert[0] - rnd.mean()) / 3.0 if src.is_task else expert[0] / 3.0
    curve = {int(e): r for e, r, n in meta["curve"] if n}
    # snapshot k acts during the window ending at k + every; rank by that window's training return
    every = int(meta["snapshot_every"])
    near = sorted((k for k in snaps if k > 0 and k + every in curve and k < expert_step),
                  key=lambda k: abs(curve[k + every] - target))[:candidates]
    med_screen = {k: score(snaps[k], screen_episodes, 600_000)[0] for k in near}
    medium_step = min(med_screen, key=lambda k: abs(med_screen[k] - target))
    medium = score(snaps[medium_step], final_episodes, 900_000)
    returns = {"expert": expert, "medium": medium, "random": (float(rnd.mean()), float(rnd.std()))}
    deterministic = {k: returns_of(lambda o, rng, p=pol: p.act(o), final_episodes, 900_000)
                     for k, pol in (("expert", snaps[expert_step]), ("medium", snaps[medium_step]))}
    out = Path(out) if out else policy_file(env).parent
    out.mkdir(parents=True, exist_ok=True)
    pols = {"expert": snaps[expert_step], "medium": snaps[medium_step]}
    if not src.is_task:
        pols.update({f"replay_{k:07d}": snaps[k] for k in sorted(snaps) if k < medium_step})
    dtypes = {k: np.float16 for k in pols if k.startswith("replay_") or src.is_task}
    new_meta = {"source": "offrl.online SAC (benchmarks/RESULTS.md)", "env_id": env_id, "env_kwargs": env_kwargs,
                "seed": meta.get("seed"),
                "env_steps": meta.get("env_steps"), "snapshot_every": every, "start_steps": meta["start_steps"],
                "expert_step": expert_step, "medium_step": medium_step,
                "returns_100": {k: {"mean": m, "std": sd} for k, (m, sd) in returns.items()},
                "returns_100_deterministic": {k: {"mean": float(r.mean()), "std": float(r.std())}
                                              for k, r in deterministic.items()},
                "screening": {"expert": screened, "medium": med_screen, "target": target},
                "curve": meta["curve"]}
    save_policies(out / "policies.npz", pols, new_meta, dtypes)
    (out / "reference.json").write_text(json.dumps(
        {"ref_min": returns["random"][0], "ref_max": returns["expert"][0], "episodes": final_episodes,
         "ref_min_policy": "uniform random", "ref_max_policy": f"expert (SAC snapshot {expert_step}, stochastic)"},
        indent=1))
    return new_meta


def _build_assets_job(args):
    run_dir, name, out_root = args
    out = Path(out_root) / name if out_root else None
    meta = build_assets(run_dir, name, out=out)
    return name, {k: meta[k] for k in ("returns_100", "returns_100_deterministic", "expert_step", "medium_step")}


def build_stream_assets(run_dir: str | Path, names: list[str], *, out_root: str | Path | None = None,
                        processes: int = 1) -> dict[str, dict]:
    """:func:`build_assets` for many sources (e.g. every task of the streams an :mod:`offrl.online`
    run trained), ``processes`` at a time; ``out_root`` replaces ``offrl/assets/policies`` as the
    parent of the ``<name>/`` folders. Returns each source's reference returns and chosen snapshots."""
    jobs = [(str(run_dir), n, str(out_root) if out_root else None) for n in names]
    if processes <= 1:
        return dict(map(_build_assets_job, jobs))
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(processes) as pool:
        return dict(pool.imap_unordered(_build_assets_job, jobs))


@dataclasses.dataclass(frozen=True)
class CollectArgs:
    """offrl collect <env>-<level> | <stream>/<task>-<level>: regenerate a local dataset from the shipped policies."""

    name: tyro.conf.Positional[str]
    """<env>-<level>, e.g. hopper-medium (envs: hopper, halfcheetah, walker2d; levels: random, medium,
    medium-replay, medium-expert, expert), or a continual task's <stream>/<task>-<level>, e.g.
    pendulum-gain/forward-medium (levels: medium, medium-random, expert, random; `offrl continual list`)."""
    steps: Annotated[int | None, tyro.conf.arg(metavar="INT")] = None
    """transitions (default: D4RL's 1M, medium-replay: the training buffer's size; task datasets: 100k per part)."""
    seed: int = 0
    """collection seed."""
    n_envs: int = DEFAULT_N_ENVS
    """envs stepped in lock-step (part of what the checksum depends on)."""
    workers: int = 0
    """env worker processes (does not change the data)."""
    expect_checksum: Annotated[str | None, tyro.conf.arg(metavar="SHA256")] = None
    """fail unless the collected arrays have this checksum (reproducibility check)."""
    minari: bool = True
    """also write a Minari copy (minari.load_dataset('offrl/<env>-<level>-v0')); skipped with a warning
    when the minari package is missing, and with a note for the continual task datasets, whose envs Minari
    cannot record (an explicit --minari then fails before collecting); rerunning re-makes a missing or
    stale copy without collecting."""
    overwrite: bool = False
    """replace an existing dataset."""
    dataset_id: Annotated[str | None, tyro.conf.arg(metavar="local/NAME-v0")] = None
    """save the data under this local/... id instead of the name's own, e.g. local/hopper-medium-50k-v0
    for --steps 50000: data of another size or seed never stand in for the default dataset (no Minari copy)."""
    data_root: Annotated[str | None, tyro.conf.arg(metavar="DIR")] = None
    """data root to write to (default $OFFRL_DATA_DIR or ~/.offrl/data), as `offrl continual collect
    --data-root` and `offrl continual train --data-root` read; the Minari copy still goes to Minari's own root."""


def main(argv: list[str]) -> int:
    a = tyro.cli(CollectArgs, args=argv, prog="offrl collect")
    parse_name(a.name)
    # --minari given explicitly (True) must make the copy; the default (None) makes it where it can
    minari = (True if "--minari" in argv else None) if a.minari else False
    if a.dataset_id is not None and minari is None:
        minari = False  # the copy's name belongs to the default data (collect refuses an explicit --minari)
    t0 = time.time()
    ds = collect(a.name, steps=a.steps, seed=a.seed, n_envs=a.n_envs, workers=a.workers, minari=minari,
                 overwrite=a.overwrite, expect_checksum=a.expect_checksum, dataset_id=a.dataset_id, root=a.data_root)
    st = ds.stats()
    print(f"{ds.spec.id}: {len(ds):,} transitions, {st['episodes']} episodes, return "
          f"{st['return']['mean']:.1f} ± {st['return']['std']:.1f}"
          + (f", normalized {st['normalized_return']['mean']:.1f}" if "normalized_return" in st else "")
          + f"; {time.time() - t0:.1f} s; checksum {ds.spec.checksum}"
          + (" (matches the recorded one)" if (ds.metadata["card"].get("recorded_checksum") or {}).get("matches")
             else ""))
    if a.dataset_id is None and (other := collected_otherwise(ds.spec.id, a.data_root)):
        print(f"note: {ds.spec.id} is saved with {other}: sweeps, `offrl reproduce` and the reference tables "
              f"that name this id expect the default data (--dataset-id local/NAME-v0 saves other data under "
              f"an id of their own)", file=sys.stderr)
    if minari is not False and "/" not in parse_name(a.name)[0]:  # task datasets get no copy (the note says why)
        status, path = minari_copy_status(a.name, a.data_root)
        if status == "ok":  # written outside the data root: say where, and by which id it loads
            env, level = parse_name(a.name)
            print(f"Minari copy: {path} (loads as minari/{minari_copy_id(env, level)}, or "
                  f"minari.load_dataset({minari_copy_id(env, level)!r}))")
    return 0
