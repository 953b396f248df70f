"""A stream's per-task data as the continual trainer uses it: loaded, padded, normalised, with the task
indicator the networks read, packed into one device table per task.

Observations reach the networks as ``[task indicator | normalised observation]``: the indicator is a
one-hot task id for ``heads = multi`` (it selects the output head) and ``task-input`` (an input
feature), and absent for ``agnostic``. Streams whose tasks differ in size are zero-padded to the
largest observation and action (``pad: zeros``; padded action dimensions are dropped before an env sees
them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from offrl.continual.streams import Stream, check_quality
from offrl.errors import ConfigError, OffrlError

#: How observations are standardised: ``none`` (OER's TD3+BC runs without a state scaler), ``first-task``
#: (the first task's mean and std, for every task: all a task-agnostic learner can know), ``per-task``
#: (each task's own statistics; needs the task id at test time).
NORMALIZATIONS = ("none", "first-task", "per-task")
OBS_NORM_EPS = 1e-3


@dataclasses.dataclass
class StreamData:
    """The prepared data of every task of a stream (host arrays; the trainer puts them on the device)."""

    stream: Stream
    quality: str
    heads: str
    dataset_ids: list[str]
    sizes: list[int]
    obs_dim: int
    """largest flat observation size over the tasks (before the task indicator)."""
    act_dim: int
    tables: list[np.ndarray]
    """per task, the packed transition table the base learner samples from."""
    norms: list[tuple[np.ndarray, np.ndarray] | None]
    """per task, the (mean, std) its observations are standardised with (None: not standardised)."""
    refs: list[tuple[float, float]]
    """per task, (ref_min, ref_max) returns that map to normalised scores 0 and 100."""
    episode_ends: list[np.ndarray]
    """per task, (rows,) bool: the row ends an episode (termination, truncation or a silent boundary)."""
    spec: Any
    """the learner's :class:`~offrl.datasets.DatasetSpec` (observations as the networks see them)."""
    action_high: float
    checksums: list[str] = dataclasses.field(default_factory=list)
    """per task, its dataset's checksum (empty where the source gives none)."""

    @property
    def n_tasks(self) -> int:
        return len(self.tables)

    @property
    def indicator_dim(self) -> int:
        return 0 if self.heads == "agnostic" else self.n_tasks

    def indicator(self, k: int) -> np.ndarray:
        """Task ``k``'s indicator columns (empty when task-agnostic)."""
        out = np.zeros(self.indicator_dim, np.float32)
        if self.indicator_dim:
            out[k] = 1.0
        return out

    def observations_for(self, k: int, obs: np.ndarray) -> np.ndarray:
        """Env observations of task ``k`` (n, raw) -> what the networks read (n, indicator + obs_dim)."""
        o = _pad(obs.reshape(len(obs), -1).astype(np.float32), self.obs_dim)
        if self.norms[k] is not None:
            mean, std = self.norms[k]
            o = (o - mean) / std
        return np.concatenate([np.broadcast_to(self.indicator(k), (len(o), self.indicator_dim)), o], axis=1)


def _pad(x: np.ndarray, width: int) -> np.ndarray:
    if x.shape[-1] == width:
        return x
    out = np.zeros(x.shape[:-1] + (width,), x.dtype)
    out[..., : x.shape[-1]] = x
    return out


def load_datasets(stream: Stream, quality: str, root=None) -> tuple[list[str], list[Any]]:
    """Every task's dataset of ``quality``; one error naming every missing dataset and how to make it (into
    ``root``, the data root read). A root that cannot be a folder (a file in its place) is refused first, in
    one line: its data would otherwise be reported missing, with commands that collect into that file."""
    from offrl.datasets import load
    from offrl.datasets.registry import check_data_root

    check_quality(quality)
    check_data_root(root, write=False)
    ids = stream.dataset_ids(quality)
    out, missing = [], []
    for i in ids:
        try:
            out.append(load(i, root=root))
        except OffrlError as e:
            missing.append((i, e))
    if missing:
        lines = "\n".join(f"  {i}: {e}" for i, e in missing)
        hint = _missing_data_hint(stream, quality, [i for i, _ in missing], root)
        raise OffrlError(f"stream {stream.name!r} ({quality}): {len(missing)} dataset(s) missing:\n{lines}\n{hint}")
    _check_env_settings(stream, ids, out)
    return ids, out


def _check_env_settings(stream: Stream, ids: list[str], datasets: list[Any]) -> None:
    """Refuse a task whose dataset records another env or other env settings than the task's (a stream file
    whose task ``weak`` sets ``gain: 0.7`` and reads the shipped gain-0.5 data): the learner would train on
    one env, be evaluated on another and be normalized by the data's references. Data that record no env
    settings (downloaded, saved by hand) are not checked."""
    import json

    def canonical(kwargs) -> str:  # 1 and 1.0, key order: equal settings compare equal
        return json.dumps({k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                           for k, v in dict(kwargs or {}).items()}, sort_keys=True, default=str)

    wrong = []
    for task, ds_id, ds in zip(stream.tasks, ids, datasets):
        spec = getattr(ds, "spec", None)
        recorded = (getattr(spec, "extra", None) or {}).get("env_kwargs") if spec is not None else None
        if spec is None or (recorded is None and not spec.env_id):
            continue
        env_differs = bool(spec.env_id) and spec.env_id != task.env_id
        if env_differs or (recorded is not None and canonical(recorded) != canonical(task.kwargs)):
            data_env = f"{spec.env_id} {dict(recorded or {})}"
            wrong.append(f"  task {task.name!r}: {task.env_id} {dict(task.kwargs)}, but {ds_id} was made on {data_env}")
    if wrong:
        raise ConfigError(f"stream {stream.name!r}: task data made on other env settings than their tasks':\n"
                          + "\n".join(wrong) + "\ngive such a task data of its own settings (its own `dataset:` id, "
                          "or a task name whose default id is not taken), or the data's settings in `kwargs`")


def _missing_data_hint(stream: Stream, quality: str, missing: list[str], root=None) -> str:
    """How to make ``missing`` task datasets: `offrl continual collect` for a shipped stream; for a stream
    file of one's own, `offrl collect` of each dataset of a shipped task's policies, else what to do. With a
    data ``root`` other than the default, the commands write there (their ``--data-root``), not to the
    default root."""
    from offrl.continual.streams import list_streams, parse_task_dataset_id
    from offrl.datasets.registry import data_root_option

    if not all(i.startswith("local/") for i in missing):
        return f"download them first (offrl datasets download ID{data_root_option(root, '--root')})"
    shipped = set(list_streams())
    where = data_root_option(root)
    if stream.name in shipped:
        return (f"make the local task datasets with `offrl continual collect --stream {stream.name} --quality "
                f"{quality}{where}`")
    lines = []
    for i in missing:
        parsed = parse_task_dataset_id(i)
        if parsed is not None and parsed[0] in shipped:
            lines.append(f"`offrl collect {parsed[0]}/{parsed[1]}-{parsed[2]}{where}`")
        else:
            lines.append(f"{i}: no shipped policy makes it; save your data under that id (docs/datasets.md)")
    return ("stream " + repr(stream.name) + " is a file of its own (offrl continual collect makes the shipped "
            "streams' data): " + "; ".join(lines))


def prepare_stream_data(stream: Stream, quality: str, *, algo, cfg, heads: str, normalize: str, root=None,
                        datasets: list | None = None) -> StreamData:
    """Load (or take ``datasets``), pad, normalise and pack every task's data for ``algo``."""
    from offrl.datasets import DatasetSpec, OfflineDataset

    if normalize not in NORMALIZATIONS:
        raise ConfigError(f"normalize={normalize!r} is not one of {list(NORMALIZATIONS)}")
    if normalize == "per-task" and heads == "agnostic":
        raise ConfigError("normalize='per-task' needs the task id at test time; a task-agnostic learner "
                          "(heads='agnostic') can only use 'none' or 'first-task'")
    if datasets is None:
        ids, datasets = load_datasets(stream, quality, root)
    else:
        ids = [d.spec.id for d in datasets]
    obs_dims = [int(np.prod(d.spec.obs_shape)) for d in datasets]
    act_dims = [int(np.prod(d.spec.action_shape)) for d in datasets]
    if (len(set(obs_dims)) > 1 or len(set(act_dims)) > 1) and stream.pad is None:
        raise ConfigError(f"stream {stream.name!r}: the tasks' datasets have observation sizes {obs_dims} and "
                          f"action sizes {act_dims}; declare `pad: zeros` in the stream file to combine them")
    for d, i in zip(datasets, ids):
        if d.spec.ref_min is None or d.spec.ref_max is None:
            raise OffrlError(f"dataset {i!r} has no reference returns (random and expert): continual scores are "
                             "normalised per task; add a reference.json beside its behaviour policies")
    obs_dim, act_dim = max(obs_dims), max(act_dims)
    highs = {float((d.spec.extra or {}).get("action_high", 1.0)) for d in datasets}
    if len(highs) > 1:
        raise ConfigError(f"stream {stream.name!r}: tasks have different action bounds {sorted(highs)}")
    flat = [(_pad(d.observations.reshape(len(d), -1), obs_dim), _pad(d.next_observations.reshape(len(d), -1), obs_dim),
             _pad(d.actions.reshape(len(d), -1), act_dim)) for d in datasets]
    if normalize == "none":
        norms = [None] * len(datasets)
    else:
        stats = [(o.astype(np.float64).mean(0).astype(np.float32), (o.astype(np.float64).std(0) + OBS_NORM_EPS)
                  .astype(np.float32)) for o, _, _ in flat]
        norms = [stats[0]] * len(datasets) if normalize == "first-task" else stats
    n = len(datasets)
    ind_dim = 0 if heads == "agnostic" else n
    spec = DatasetSpec(f"stream:{stream.name}/{quality}", None, (ind_dim + obs_dim,), "float32", (act_dim,),
                       "float32", extra={"task_heads": n if heads == "multi" else 0, "action_high": highs.pop()})
    tables = []
    for k, (d, (o, o2, a)) in enumerate(zip(datasets, flat)):
        if norms[k] is not None:
            mean, std = norms[k]
            o, o2 = (o - mean) / std, (o2 - mean) / std
        ind = np.zeros((len(d), ind_dim), np.float32)
        if ind_dim:
            ind[:, k] = 1.0
        aug = OfflineDataset(np.concatenate([ind, o], 1).astype(np.float32), a.astype(np.float32), d.rewards,
                             np.concatenate([ind, o2], 1).astype(np.float32), d.terminations, d.truncations,
                             spec=spec, validate=False)
        prepared = algo.prepare(aug, cfg)
        if set(prepared) != {"table"}:
            raise ConfigError(f"continual training needs a base learner that samples a packed transition table "
                              f"(bc, td3bc, iql, cql); {algo.name} prepares {sorted(prepared)}")
        tables.append(prepared["table"])
    ends = []
    for d in datasets:
        e = np.zeros(len(d), bool)
        e[np.asarray(d.episode_ends, np.int64)] = True
        ends.append(e)
    return StreamData(stream, quality, heads, ids, [len(d) for d in datasets], obs_dim, act_dim, tables, norms,
                      [(float(d.spec.ref_min), float(d.spec.ref_max)) for d in datasets], ends, spec,
                      float(spec.extra["action_high"]), [str(d.spec.checksum or "") for d in datasets])
