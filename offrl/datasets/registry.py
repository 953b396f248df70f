"""The dataset registry: every known id with its env, reference scores, URL(s) and checksum.

Ids are ``<source>/<name>``: ``d4rl/hopper-medium-v2``, ``neorl2/Pipeline-train``,
``minari/mujoco/hopper/medium-v0``, ``d5rl/a1-hiking-v0``, ``local/hopper-medium-v0``,
``uav/expert-v0`` (``uav/dense/expert-v0`` for another UAV scenario preset).
:func:`parse_id` splits an id and :func:`make_id` is its inverse.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from offrl.datasets import constants as C
from offrl.errors import OffrlError, UnknownIdError
from offrl.paths import assets_dir, data_root
from offrl.registry import Registry

SOURCES = ("d4rl", "minari", "neorl2", "d5rl", "local", "uav")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Registry metadata of one dataset id (nothing here needs the data itself).

    ``files`` lists ``(relative cache path, url, checksum)`` triples; checksums carry their
    algorithm as prefix (``md5:…``, ``sha256:…``) or are ``None`` where the source publishes none.
    """

    id: str
    source: str
    env_id: str | None
    ref_min: float | None = None
    ref_max: float | None = None
    max_episode_steps: int | None = None
    obs_dim: int | None = None
    act_dim: int | None = None
    files: tuple[tuple[str, str | None, str | None], ...] = ()
    format: str | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""

    @property
    def name(self) -> str:
        return parse_id(self.id)[1]

    @property
    def urls(self) -> list[str]:
        return [u for _, u, _ in self.files if u]

    @property
    def checksums(self) -> list[str | None]:
        return [c for _, _, c in self.files]


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def parse_id(dataset_id: str) -> tuple[str, str]:
    """``"d4rl/hopper-medium-v2"`` -> ``("d4rl", "hopper-medium-v2")``; inverse of :func:`make_id`."""
    source, sep, name = dataset_id.partition("/")
    if not sep or not name or source not in SOURCES:
        raise UnknownIdError("dataset", dataset_id, DATASETS.names())
    return source, name


def make_id(source: str, name: str) -> str:
    """Inverse of :func:`parse_id`."""
    return f"{source}/{name}"


def looks_like_id(s: str) -> bool:
    """True when ``s`` starts with a known source prefix (``d4rl/``, ``minari/`` ...)."""
    return s.split("/", 1)[0] in SOURCES and "/" in s


def _register(info: DatasetInfo) -> None:
    DATASETS.register(info.id, info)


# ---------------------------------------------------------------------------- D4RL
def _register_d4rl(name: str, rel: str, env_id: str, scores_key: str, max_episode_steps: int,
                   description: str) -> None:
    """One D4RL file: ``name`` as in d4rl (``hopper-medium-v2``), ``rel`` its path under the base URL."""
    lo, hi = C.D4RL_REF_SCORES[scores_key]
    od, ad = C.D4RL_DIMS[scores_key]
    _register(DatasetInfo(
        id=f"d4rl/{name}", source="d4rl", env_id=env_id, ref_min=lo, ref_max=hi,
        max_episode_steps=max_episode_steps, obs_dim=od, act_dim=ad, format="d4rl",
        files=((f"d4rl/{Path(rel).name}", C.D4RL_BASE_URL + rel, None),), options={"d4rl_env": name},
        description=description))


def _d4rl_entries() -> None:
    for env in C.LOCOMOTION_ENVS:
        for level in C.LOCOMOTION_LEVELS:
            _register_d4rl(f"{env}-{level}-v2", f"gym_mujoco_v2/{env}_{level.replace('-', '_')}-v2.hdf5",
                           C.D4RL_GYMNASIUM_ENV[env], env, 1000, f"D4RL Gym-MuJoCo {env} {level} (v2)")
    for name, (stem, steps) in C.ANTMAZE_V2.items():
        _register_d4rl(f"antmaze-{name}-v2", f"ant_maze_v2/{stem}.hdf5",
                       C.ANTMAZE_GYMNASIUM_ENV[name.split("-")[0]], "antmaze", steps,
                       f"D4RL AntMaze {name} (v2); normalised score = success rate x 100")
    for name, rel in C.KITCHEN_V0.items():
        _register_d4rl(f"kitchen-{name}-v0", rel, C.D4RL_GYMNASIUM_ENV["kitchen"], "kitchen", 280,
                       f"D4RL Franka kitchen {name} (v0); returns in [0, 4]")
    for env in C.ADROIT_ENVS:
        for level in C.ADROIT_LEVELS:
            _register_d4rl(f"{env}-{level}-v1", f"hand_dapg_v1/{env}-{level}-v1.hdf5", C.D4RL_GYMNASIUM_ENV[env],
                           env, C.ADROIT_MAX_STEPS[env], f"D4RL Adroit {env} {level} (v1)")


# ---------------------------------------------------------------------------- NeoRL-2
def _neorl2_entries() -> None:
    for task, t in C.NEORL2_TASKS.items():
        for split in ("train", "val"):
            fname = f"{task}-{split}.npz"
            _register(DatasetInfo(
                id=f"neorl2/{task}-{split}", source="neorl2", env_id=task, ref_min=t["score_min"],
                ref_max=t["score_max"], max_episode_steps=t["horizon"], obs_dim=t["obs_dim"], act_dim=t["act_dim"],
                format="neorl2",
                files=((f"neorl2/{fname}", f"{C.NEORL2_BASE_URL}{task}/{fname}", "md5:" + t[f"{split}_md5"]),),
                options={"task": task, "split": split, "default_traj_num": t["default_traj_num"],
                         "data_score": t["data_score"]},
                description=f"NeoRL-2 {task} {split} split"))


# ---------------------------------------------------------------------------- D5RL
def _d5rl_entries() -> None:
    for name, d in C.D5RL_DATASETS.items():
        _register(DatasetInfo(
            id=f"d5rl/{name}", source="d5rl", env_id=d["env_id"], max_episode_steps=d["max_episode_steps"],
            format=d["format"], files=((f"d5rl/{Path(d['url']).name}", C.D5RL_BASE_URL + d["url"], None),),
            options={"archive": True},
            description=f"D5RL {name}: pickled jaxrl2 replay buffer (needs allow_pickle=True)"))
    for task in C.D5RL_KITCHEN_TASKS:
        _register(DatasetInfo(
            id=f"d5rl/standardkitchen-{task}", source="d5rl", env_id=f"standardkitchen_{task}", max_episode_steps=280,
            format="d5rl-kitchen", options={"task": task},
            description=("D5RL standard Franka kitchen (per-episode npz); place the episodes under "
                         f"<data root>/d5rl/standardkitchen-{task}/ or pass the directory to load()")))


# ---------------------------------------------------------------------------- Minari
def _minari_entries() -> None:
    for env, gym_id in C.MINARI_MUJOCO_ENVS.items():
        for level in C.MINARI_MUJOCO_LEVELS:
            mid = f"mujoco/{env}/{level}-v0"
            _register(DatasetInfo(
                id=f"minari/{mid}", source="minari", env_id=gym_id, max_episode_steps=1000, format="minari",
                options={"minari_id": mid}, description=f"Minari {mid} (ref scores from its metadata.json)"))


# ---------------------------------------------------------------------------- local
def local_reference_scores(env: str) -> tuple[float | None, float | None]:
    """``(ref_min, ref_max)`` from the shipped ``offrl/assets/policies/<env>/reference.json``, else Nones."""
    p = assets_dir() / "policies" / env / "reference.json"
    if not p.is_file():
        return None, None
    try:
        d = json.loads(p.read_text())
        return float(d["ref_min"]), float(d["ref_max"])
    except (ValueError, KeyError, TypeError) as e:
        raise OffrlError(f"{p} is not a valid reference-score file ({e})") from None


def _local_info(env: str, level: str) -> DatasetInfo:
    from offrl.collection import ENVS

    lo, hi = local_reference_scores(env)
    return DatasetInfo(
        id=f"local/{env}-{level}-v0", source="local", env_id=ENVS[env], ref_min=lo, ref_max=hi,
        max_episode_steps=1000, format="offrl", options={"env": env, "level": level},
        description=f"locally collected {ENVS[env]} {level} data (offrl collect {env}-{level})")


def _local_entries() -> None:
    """The ``local/<env>-<level>-v0`` ids are exactly what :mod:`offrl.collection` can make (its ENVS x
    LEVELS), so the registry never lists an id that ``offrl collect`` would refuse."""
    from offrl.collection import ENVS, LEVELS

    for env in ENVS:
        for level in LEVELS:
            _register(_local_info(env, level))


def _local_task_info(dataset_id: str) -> DatasetInfo | None:
    """Registry entry of a continual task's dataset ``local/<stream>/<task>-<level>-v0`` of a shipped
    stream, with the task's env kwargs and reference scores; None for other ids."""
    from offrl.continual.streams import list_streams, load_stream, parse_task_dataset_id

    parsed = parse_task_dataset_id(dataset_id)
    if parsed is None or parsed[0] not in list_streams():
        return None
    stream, task_name, level = parsed
    task = {t.name: t for t in load_stream(stream).tasks}.get(task_name)
    if task is None:
        return None
    lo, hi = local_reference_scores(f"{stream}/{task_name}")
    from offrl.envs.tasks import TASK_EPISODE_STEPS

    return DatasetInfo(
        id=dataset_id, source="local", env_id=task.env_id, ref_min=lo, ref_max=hi,
        max_episode_steps=TASK_EPISODE_STEPS, format="offrl",
        options={"env": f"{stream}/{task_name}", "level": level, "env_kwargs": dict(task.kwargs)},
        description=f"continual task {task_name} of stream {stream}, {level} data "
                    f"(offrl collect {stream}/{task_name}-{level})")


def _local_task_entries() -> None:
    """Register the task datasets of every shipped stream whose behaviour policies are shipped."""
    from offrl.continual.streams import QUALITIES, list_streams, load_stream

    for stream in list_streams():
        for task in load_stream(stream).tasks:
            if (assets_dir() / "policies" / stream / task.name / "policies.npz").is_file():
                for level in QUALITIES:
                    info = _local_task_info(f"local/{stream}/{task.name}-{level}-v0")
                    if info is not None:
                        _register(info)


# ---------------------------------------------------------------------------- UAV (offrl uav datasets)
# Kept here rather than imported from offrl.envs.uav, which needs JAX: the registry stays light.
# tests/uav checks that they agree with offrl.envs.uav.params.PRESETS and offrl.envs.uav.data.LEVELS.
UAV_PRESETS = ("urban", "suburban", "dense")
UAV_DEFAULT_PRESET = "urban"
UAV_LEVELS = ("poor", "medium", "expert", "mixed")
UAV_ENV_ID = "offrl/UAVOffload-v0"


def uav_dataset_name(level: str, preset: str = UAV_DEFAULT_PRESET) -> str:
    """Name (id without ``uav/``) of a UAV dataset: ``expert-v0`` for the default preset, else
    ``<preset>/expert-v0``, so that data of different scenarios never share an id or a folder."""
    if preset not in UAV_PRESETS:
        raise OffrlError(f"preset: unknown UAV scenario preset {preset!r}; known: {', '.join(UAV_PRESETS)}")
    if level not in UAV_LEVELS:
        raise OffrlError(f"level: unknown UAV dataset level {level!r}; known: {', '.join(UAV_LEVELS)}")
    return f"{level}-v0" if preset == UAV_DEFAULT_PRESET else f"{preset}/{level}-v0"


def uav_dataset_id(level: str, preset: str = UAV_DEFAULT_PRESET) -> str:
    """``uav/expert-v0`` (default preset) or ``uav/<preset>/expert-v0``."""
    return make_id("uav", uav_dataset_name(level, preset))


def uav_make_command(level: str, preset: str = UAV_DEFAULT_PRESET) -> str:
    """The command that writes the UAV dataset of ``level`` and ``preset``."""
    return "offrl uav datasets" + ("" if preset == UAV_DEFAULT_PRESET else f" --preset {preset}") + f" --levels {level}"


def _uav_entries() -> None:
    """``uav/<level>-v0`` (urban preset) and ``uav/<preset>/<level>-v0``: what ``offrl uav datasets`` writes
    under ``<data root>/uav/``. Reference scores live in each dataset's own spec (they depend on the
    behaviour training), so the entries carry none."""
    for preset in UAV_PRESETS:
        for level in UAV_LEVELS:
            _register(DatasetInfo(
                id=uav_dataset_id(level, preset), source="uav", env_id=UAV_ENV_ID, format="offrl",
                options={"preset": preset, "level": level},
                description=f"multi-agent UAV offloading, {preset} preset, {level} behaviour; made locally by "
                            f"`{uav_make_command(level, preset)}` (reference scores in the dataset's spec)"))


def get_info(dataset_id: str) -> DatasetInfo:
    """Registry entry of ``dataset_id``; local ids re-read their reference scores (shipped later).

    Unregistered ``minari/...`` ids get an on-the-fly entry (any local Minari dataset is loadable).
    """
    if dataset_id.startswith("local/") and dataset_id in DATASETS:
        o = DATASETS[dataset_id].options
        return _local_task_info(dataset_id) if "/" in o["env"] else _local_info(o["env"], o["level"])
    task_info = _local_task_info(dataset_id) if dataset_id.startswith("local/") else None
    if task_info is not None:
        return task_info
    if dataset_id in DATASETS:
        return DATASETS[dataset_id]
    if dataset_id.startswith("minari/") and MINARI_ID.match(dataset_id[len("minari/"):]):
        mid = dataset_id[len("minari/"):]
        return DatasetInfo(id=dataset_id, source="minari", env_id=None, format="minari", options={"minari_id": mid})
    if dataset_id.startswith("local/") and _LOCAL_NAME.match(dataset_id[len("local/"):]):
        return DatasetInfo(id=dataset_id, source="local", env_id=None, format="offrl")
    raise UnknownIdError("dataset", dataset_id, DATASETS.names())


# Minari's own id grammar (minari/dataset/minari_dataset.py), namespace required by us.
MINARI_ID = re.compile(r"^(?:(?P<namespace>[-_\w][-_\w/]*[-_\w]+)/)(?P<dataset>[-_\w]+?)(?:-v(?P<version>\d+))?$")
# a local name is <name> or, for a continual task's data, <stream>/<task>-<level>-v0
_LOCAL_NAME = re.compile(r"^[A-Za-z0-9][-_.A-Za-z0-9]*(/[A-Za-z0-9][-_.+A-Za-z0-9]*)?$")


def local_dataset_dir(name_or_id: str, root: str | os.PathLike | None = None) -> Path:
    """Where the native-format dataset ``local/<name>`` lives: ``data_root(root)/local/<name>``.

    Accepts ``"hopper-medium-v0"`` or ``"local/hopper-medium-v0"``; ``"hopper-medium"`` gets ``-v0``.
    """
    name = name_or_id[len("local/"):] if name_or_id.startswith("local/") else name_or_id
    if not _LOCAL_NAME.match(name):
        raise OffrlError(f"invalid local dataset name {name!r} (letters, digits, '-', '_', '.')")
    if not re.search(r"-v\d+$", name):
        name += "-v0"
    return data_root(root) / "local" / name


def is_default_root(root: str | os.PathLike | None = None) -> bool:
    """Whether the data root ``root`` is the one every command uses when given none (``$OFFRL_DATA_DIR``,
    else ``~/.offrl/data``): True for None and for that folder written out."""
    return root is None or data_root(root) == data_root(None)


def data_root_option(root: str | os.PathLike | None = None, flag: str = "--data-root") -> str:
    """What a suggested command line must add to read or write the data root ``root``: ``" --data-root DIR"``
    (``flag``: the command's option, e.g. ``--root`` for ``offrl datasets``), quoted for a shell; "" for the
    default root (:func:`is_default_root`), which the command finds by itself."""
    import shlex

    return "" if is_default_root(root) else f" {flag} {shlex.quote(str(data_root(root)))}"


def data_root_problem(root: str | os.PathLike | None = None, *, write: bool = True) -> str | None:
    """Why the data root ``root`` cannot hold data, worded to follow its path (``is not a directory``), found
    without creating anything; None when it can. ``write``: it must take new data (collections, downloads):
    a missing root needs a writable nearest existing parent (:func:`offrl.runlock.folder_problem`); else it is
    only read, and only something other than a folder in its place is a problem (a missing or read-only root
    may still hold, or be about to hold, the data)."""
    from offrl.runlock import folder_problem

    return folder_problem(data_root(root), write=write)


def check_data_root(root: str | os.PathLike | None = None, *, write: bool = True, fix: str | None = None) -> Path:
    """The data root ``root`` (:func:`offrl.paths.data_root`), refused up front with one
    :class:`~offrl.errors.OffrlError` naming it when it cannot hold data (:func:`data_root_problem`): a file
    in its place is otherwise found only after minutes of collecting, or taken for a root without the data.

    ``fix``: what to do instead, worded for the caller (default: pass ``--data-root DIR``, the option of
    ``offrl collect``, ``offrl train``, ``offrl continual collect|train|list`` and ``offrl quickstart``: a
    folder you can write to, or with ``write=False`` the folder that holds the data)."""
    path = data_root(root)
    if problem := data_root_problem(root, write=write):
        where = (f"data root {path}" if root is not None else
                 f"data root {path} (from $OFFRL_DATA_DIR)" if os.environ.get("OFFRL_DATA_DIR") else
                 f"data root {path} (the default)")
        if fix is None:
            fix = f"pass --data-root DIR, {'a folder you can write to' if write else 'the folder that holds the data'}"
        raise OffrlError(f"{where} {problem}; {fix}")
    return path


def minari_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for Minari datasets: ``<data root>/minari``, then Minari's own root."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    theirs = Path(env).expanduser() if env else Path.home() / ".minari" / "datasets"
    ours = data_root(root) / "minari"
    return [ours] if ours == theirs else [ours, theirs]


def minari_write_root() -> Path:
    """Minari's own root (``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``), where ``minari.load_dataset`` looks."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env).expanduser() if env else Path.home() / ".minari" / "datasets"


def candidate_paths(info: DatasetInfo, rel: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Where a registered file may already sit: our cache first, then the source's own cache."""
    out = [data_root(root) / rel]
    fname = Path(rel).name
    if info.source == "d4rl":
        out.append(Path(os.environ.get("D4RL_DATASET_DIR", Path.home() / ".d4rl" / "datasets")).expanduser() / fname)
    elif info.source == "neorl2":
        out.append(Path.home() / ".neorl2" / "datasets" / fname)
    return out


def list_datasets(prefix: str | None = None) -> list[str]:
    """All registered dataset ids, optionally only those starting with ``prefix`` (e.g. ``"d4rl/"``)."""
    return [n for n in DATASETS.names() if prefix is None or n.startswith(prefix)]


def _saved_local_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """The native dataset folders directly under the data root's ``local/``. Hidden ones are left out: they
    are the temporary names of writes in progress or interrupted (:func:`offrl.atomic.atomic_dir`)."""
    from offrl.datasets.native import is_native

    base = data_root(root) / "local"
    if not base.is_dir():
        return []
    return sorted(d for d in base.iterdir() if not d.name.startswith(".") and d.is_dir() and is_native(d))


def _loads_itself(d: Path, root: str | os.PathLike | None) -> bool:
    """Whether the id ``local/<folder name>`` loads exactly the folder ``d`` (a name without ``-vN`` gets
    ``-v0``, so it names another folder; a name with other characters is no id)."""
    try:
        return local_dataset_dir(d.name, root) == d
    except OffrlError:
        return False


def saved_local_ids(root: str | os.PathLike | None = None) -> list[str]:
    """Ids of the ``local/...`` datasets saved under the data root that the registry does not list
    (``offrl quickstart``'s smaller dataset, ``offrl datasets convert ... local/<name>``). Only folders that
    their id loads are listed; :func:`unloadable_local_dirs` names the others."""
    return [f"local/{d.name}" for d in _saved_local_dirs(root)
            if _loads_itself(d, root) and f"local/{d.name}" not in DATASETS]


def unloadable_local_dirs(root: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """Native dataset folders under the data root's ``local/`` whose name gives no id that loads them, each
    with why and the rename that makes it loadable (:func:`local_dir_rename_hint`): a folder ``mydata``
    has no ``-vN`` version, so ``local/mydata`` loads ``local/mydata-v0`` (or fails) instead of it."""
    return [(d, local_dir_rename_hint(d, root)) for d in _saved_local_dirs(root) if not _loads_itself(d, root)]


def local_dir_rename_hint(d: Path, root: str | os.PathLike | None = None) -> str:
    """Why no id loads the native dataset folder ``d`` under the data root's ``local/`` and how to rename it
    so that one does: to its name with the lowest ``-vN`` not taken (letters, digits, '-', '_', '.' only)."""
    import shlex

    versioned = re.search(r"-v\d+$", d.name) is not None
    if _LOCAL_NAME.match(d.name) and not versioned:
        why = (f"its name has no -vN version, so the id local/{d.name} names "
               f"{local_dataset_dir(d.name, root)}, not this folder")
        stem = d.name
    else:
        why = "its name is no local dataset id (letters, digits, '-', '_', '.', starting with a letter or digit)"
        stem = re.sub(r"[^-_.A-Za-z0-9]+", "-", d.name).lstrip("-_.") or "data"
        if versioned:
            stem = re.sub(r"-v\d+$", "", stem) or "data"
    version = 0
    while (d.parent / f"{stem}-v{version}").exists():
        version += 1
    new = d.with_name(f"{stem}-v{version}")
    return f"{why}; rename it to load it as local/{new.name}: mv {shlex.quote(str(d))} {shlex.quote(str(new))}"


def unreadable_local_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders under the data root's ``local/`` that hold an offrl manifest which cannot be read as one (a
    damaged ``offrl.json``): no id lists them as present, so listings name them apart."""
    from offrl.datasets.native import MANIFEST, is_native

    base = data_root(root) / "local"
    if not base.is_dir():
        return []
    return sorted(d for d in base.iterdir() if (d / MANIFEST).is_file() and not is_native(d))


_d4rl_entries()
_neorl2_entries()
_d5rl_entries()
_minari_entries()
_local_entries()
_local_task_entries()
_uav_entries()
