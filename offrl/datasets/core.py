"""The one dataset type every loader produces and every trainer consumes.

An :class:`OfflineDataset` is a flat table of transitions (numpy, on the host) in time order, with
terminations and truncations kept apart (Gymnasium/Minari semantics), plus a :class:`DatasetSpec`
that says where it came from and how to normalise scores on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from offrl.errors import DataIntegrityError

ARRAY_KEYS = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: its id, the env to evaluate on, shapes, reference scores and provenance.

    ``ref_min``/``ref_max`` are the returns that map to normalized scores 0 and 100
    (``None`` where the source publishes none). ``checksum`` is a content hash of the arrays
    (see :func:`array_checksum`) or of the source file, with its algorithm as prefix.
    """

    id: str
    env_id: str | None
    obs_shape: tuple[int, ...]
    obs_dtype: str
    action_shape: tuple[int, ...]
    action_dtype: str
    ref_min: float | None = None
    ref_max: float | None = None
    source: str = "unknown"
    checksum: str | None = None
    max_episode_steps: int | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["obs_shape"], d["action_shape"] = list(self.obs_shape), list(self.action_shape)
        d["extra"] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DatasetSpec":
        d = dict(d)
        d["obs_shape"], d["action_shape"] = tuple(d["obs_shape"]), tuple(d["action_shape"])
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})

    def normalize(self, returns):
        """100 * (R - ref_min) / (ref_max - ref_min); raises if the spec has no reference scores."""
        if self.ref_min is None or self.ref_max is None:
            raise DataIntegrityError(f"dataset {self.id!r} has no reference scores to normalise with")
        return normalize_returns(returns, self.ref_min, self.ref_max)


def normalize_returns(returns, ref_min: float, ref_max: float):
    """D4RL-style normalised score: 100 * (R - ref_min) / (ref_max - ref_min), arrays in and out."""
    r = np.asarray(returns, dtype=np.float64)
    return 100.0 * (r - ref_min) / (ref_max - ref_min)


def array_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over the named arrays' dtype, shape and bytes, in a fixed key order."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def numeric_array(a, name: str, where: str, dtype=None) -> np.ndarray:
    """``a`` as an array of numbers or bools, cast to ``dtype`` when given.

    Raises DataIntegrityError naming ``where`` (a file or dataset), the array ``name`` and its dtype
    when ``a`` holds anything else (strings, bytes, Python objects, complex numbers): casting those
    fails with a bare ValueError or silently changes the values.
    """
    a = np.asarray(a)
    if not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DataIntegrityError(f"{where}: {name} has dtype {a.dtype}, not numbers")
    return a if dtype is None else a.astype(dtype, copy=False)


@dataclasses.dataclass
class Episode:
    """One episode's arrays (views into the dataset), ``len(ep)`` transitions."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def ret(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))


class OfflineDataset:
    """A flat table of N transitions in time order, plus a :class:`DatasetSpec`.

    Arrays: ``observations`` (N, *obs_shape), ``actions`` (N, *action_shape), ``rewards`` (N,)
    float32, ``next_observations`` (N, *obs_shape), ``terminations`` and ``truncations`` (N,) bool.
    ``infos`` holds optional per-row extras (e.g. ``qpos``); ``metadata`` holds free-form facts.

    An episode ends at row i when it terminates, is truncated, is the last row, or when
    ``next_observations[i]`` differs from ``observations[i+1]`` (D4RL's q-learning layout drops
    timeout rows, which leaves such silent boundaries).
    """

    def __init__(self, observations, actions, rewards, next_observations, terminations, truncations,
                 spec: DatasetSpec, infos: Mapping[str, np.ndarray] | None = None,
                 metadata: Mapping[str, Any] | None = None, *, validate: bool = True):
        # the casts run before (and without) validate(): check the dtypes first, or strings would fail
        # with numpy's bare ValueError (rewards) or silently become True (flags, b"0" included)
        where = f"dataset {spec.id!r}"
        self.observations = numeric_array(observations, "observations", where)
        self.actions = numeric_array(actions, "actions", where)
        self.rewards = numeric_array(rewards, "rewards", where, np.float32).reshape(-1)
        self.next_observations = numeric_array(next_observations, "next_observations", where)
        self.terminations = numeric_array(terminations, "terminations", where, bool).reshape(-1)
        self.truncations = numeric_array(truncations, "truncations", where, bool).reshape(-1)
        self.spec = spec
        self.infos = dict(infos or {})
        self.metadata = dict(metadata or {})
        self._episode_ends: np.ndarray | None = None
        if validate:
            self.validate()

    # ------------------------------------------------------------------ integrity
    def validate(self) -> None:
        """Check that there are rows, row counts, shapes against the spec and finiteness; raise
        DataIntegrityError."""
        n = len(self.rewards)
        if n == 0:  # nothing to train on: say so here, not as an obscure crash in the first batch
            raise DataIntegrityError(f"dataset {self.spec.id!r} holds no transitions")
        for k in ARRAY_KEYS:
            if len(getattr(self, k)) != n:
                raise DataIntegrityError(
                    f"dataset {self.spec.id!r}: {k} has {len(getattr(self, k))} rows, rewards has {n}")
        for k, shape in (("observations", self.spec.obs_shape), ("next_observations", self.spec.obs_shape),
                         ("actions", self.spec.action_shape)):
            got = tuple(getattr(self, k).shape[1:])
            if got != tuple(shape):
                raise DataIntegrityError(
                    f"dataset {self.spec.id!r}: {k} rows have shape {got}, the spec says {tuple(shape)}")
        for k in ("observations", "actions", "rewards", "next_observations"):
            a = getattr(self, k)
            if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
                bad = np.argwhere(~np.isfinite(a.reshape(len(a), -1)).all(axis=1)).ravel()
                raise DataIntegrityError(
                    f"dataset {self.spec.id!r}: {k} holds NaN/inf in {len(bad)} rows (first at row {bad[0]})")

    def __len__(self) -> int:
        return len(self.rewards)

    def __repr__(self) -> str:
        return (f"OfflineDataset(id={self.spec.id!r}, n={len(self)}, episodes={self.num_episodes}, "
                f"obs={self.spec.obs_shape}, act={self.spec.action_shape}, source={self.spec.source!r})")

    def arrays(self) -> dict[str, np.ndarray]:
        """The six transition arrays by name."""
        return {k: getattr(self, k) for k in ARRAY_KEYS}

    def checksum(self) -> str:
        """Content hash of the six arrays (independent of the file they came from)."""
        return array_checksum(self.arrays())

    # ------------------------------------------------------------------ episodes
    @property
    def episode_ends(self) -> np.ndarray:
        """Row index of the last transition of every episode (sorted, includes N-1)."""
        if self._episode_ends is None:
            n = len(self)
            end = self.terminations | self.truncations
            if n > 1:
                o_next = self.next_observations[:-1].reshape(n - 1, -1)
                o = self.observations[1:].reshape(n - 1, -1)
                if np.issubdtype(o.dtype, np.floating):
                    gap = np.abs(o_next.astype(np.float64) - o).max(axis=1) > 1e-6
                else:
                    gap = (o_next != o).any(axis=1)
                end = end.copy()
                end[:-1] |= gap
            if n:
                end = end.copy()
                end[-1] = True
            self._episode_ends = np.flatnonzero(end)
        return self._episode_ends

    @property
    def episode_starts(self) -> np.ndarray:
        ends = self.episode_ends
        return np.concatenate([[0], ends[:-1] + 1]).astype(np.int64) if len(ends) else ends

    @property
    def num_episodes(self) -> int:
        return len(self.episode_ends)

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of every episode (float64)."""
        if not len(self):
            return np.zeros(0)
        c = np.concatenate([[0.0], np.cumsum(self.rewards, dtype=np.float64)])
        return c[self.episode_ends + 1] - c[self.episode_starts]

    def episodes(self) -> Iterator[Episode]:
        """Iterate episodes as :class:`Episode` views."""
        for s, e in zip(self.episode_starts, self.episode_ends):
            sl = slice(int(s), int(e) + 1)
            yield Episode(*(getattr(self, k)[sl] for k in ARRAY_KEYS))

    def returns_to_go(self) -> np.ndarray:
        """Per-row undiscounted sum of rewards from that row to its episode's end (float32)."""
        c = np.concatenate([[0.0], np.cumsum(self.rewards, dtype=np.float64)])
        end_of_row = np.repeat(self.episode_ends, self.episode_ends - self.episode_starts + 1)
        return (c[end_of_row + 1] - c[:-1]).astype(np.float32)

    def timesteps(self) -> np.ndarray:
        """Per-row step index within its episode (int32)."""
        lens = self.episode_ends - self.episode_starts + 1
        start_of_row = np.repeat(self.episode_starts, lens)
        return (np.arange(len(self)) - start_of_row).astype(np.int32)

    # ------------------------------------------------------------------ device views
    def transitions(self, dtype=np.float32) -> dict:
        """The transitions as a pytree of jax arrays, placed on the default device once.

        Float arrays are cast to ``dtype``; flags stay bool. Discrete actions keep their int dtype.
        """
        import jax

        out = {}
        for k, a in self.arrays().items():
            if np.issubdtype(a.dtype, np.floating):
                a = a.astype(dtype, copy=False)
            out[k] = a
        return jax.device_put(out)

    def sequences(self, context_len: int, dtype=np.float32) -> dict:
        """Device arrays for sampling length-``context_len`` windows inside jit.

        Returns the flat per-row arrays plus ``returns_to_go``, ``timesteps`` and ``episode_end``
        (last row of the row's episode). A window starting at row s covers rows s..s+K-1, and its
        positions past ``episode_end[s]`` are padding (masked out); nothing is dropped or copied
        per episode, so episodes shorter than the context are kept whole.
        """
        import jax

        lens = self.episode_ends - self.episode_starts + 1
        out = {k: (a.astype(dtype, copy=False) if np.issubdtype(a.dtype, np.floating) else a)
               for k, a in self.arrays().items()}
        out["returns_to_go"] = self.returns_to_go().astype(dtype)
        out["timesteps"] = self.timesteps()
        out["episode_end"] = np.repeat(self.episode_ends, lens).astype(np.int32)
        out["context_len"] = np.int32(context_len)
        return jax.device_put(out)

    # ------------------------------------------------------------------ summaries
    def stats(self) -> dict[str, Any]:
        """Episode count, return distribution and (when the spec has reference scores) normalized returns."""
        rets = self.episode_returns()
        lens = self.episode_ends - self.episode_starts + 1
        s: dict[str, Any] = {
            "id": self.spec.id,
            "transitions": len(self),
            "episodes": int(len(rets)),
            "terminations": int(self.terminations.sum()),
            "truncations": int(self.truncations.sum()),
            "episode_length": _describe(lens),
            "return": _describe(rets),
        }
        if self.spec.ref_min is not None and self.spec.ref_max is not None and len(rets):
            s["normalized_return"] = _describe(self.spec.normalize(rets))
        return s

    def subset(self, rows: np.ndarray | slice, *, id: str | None = None) -> "OfflineDataset":
        """A new dataset holding the given rows (and matching infos)."""
        spec = self.spec if id is None else dataclasses.replace(self.spec, id=id)
        arrays = {k: v[rows] for k, v in self.arrays().items()}
        return OfflineDataset(**arrays, spec=spec, infos={k: v[rows] for k, v in self.infos.items()},
                              metadata=self.metadata, validate=False)


def _describe(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, dtype=np.float64)
    if not len(x):
        return {"n": 0}
    return {"n": int(len(x)), "mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()),
            "p25": float(np.percentile(x, 25)), "median": float(np.median(x)),
            "p75": float(np.percentile(x, 75)), "max": float(x.max())}


def concatenate(datasets: list[OfflineDataset], spec: DatasetSpec) -> OfflineDataset:
    """Row-wise concatenation (e.g. medium-expert = medium + expert); episodes stay intact.

    A part whose last episode is cut off (last row neither terminated nor truncated) gets that row
    marked truncated, so it cannot run on into the next part's first episode.
    """
    keys = set.intersection(*(set(d.infos) for d in datasets)) if datasets else set()
    arrays = {k: np.concatenate([getattr(d, k) for d in datasets]) for k in ARRAY_KEYS}
    ends = np.cumsum([len(d) for d in datasets])[:-1] - 1
    if len(ends):
        arrays["truncations"][ends] |= ~arrays["terminations"][ends]
    return OfflineDataset(**arrays, spec=spec, infos={k: np.concatenate([d.infos[k] for d in datasets]) for k in keys})
