"""Behaviour policies as plain NumPy: shipped weight files and a deterministic forward pass.

Dataset collection runs on CPUs anywhere, so the shipped SAC actors are evaluated in float64
NumPy (no JAX, no accelerator): with a seeded generator the same weights give the same dataset on
one platform. A policy file is an ``.npz`` with ``hidden_{i}_w``/``hidden_{i}_b``, ``mean_w``/``mean_b``,
``log_std_w``/``log_std_b`` (weights stored as (in, out)) and scalar metadata.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from offrl.errors import DataIntegrityError

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0  # must match offrl.algos.networks


@dataclasses.dataclass
class TanhGaussianPolicy:
    """SAC's actor: ReLU MLP -> (mean, log_std); action = tanh(mean + std * noise)."""

    hidden: list[tuple[np.ndarray, np.ndarray]]
    mean: tuple[np.ndarray, np.ndarray]
    log_std: tuple[np.ndarray, np.ndarray]
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def obs_dim(self) -> int:
        return self.hidden[0][0].shape[0]

    @property
    def act_dim(self) -> int:
        return self.mean[0].shape[1]

    def distribution(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pre-tanh mean and log-std for a batch of observations (float64)."""
        h = np.asarray(obs, np.float64)
        for w, b in self.hidden:
            h = np.maximum(h @ w + b, 0.0)
        mean = h @ self.mean[0] + self.mean[1]
        log_std = np.clip(h @ self.log_std[0] + self.log_std[1], LOG_STD_MIN, LOG_STD_MAX)
        return mean, log_std

    def act(self, obs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Sampled action (``rng`` given) or the deterministic tanh(mean); float32, in [-1, 1]."""
        mean, log_std = self.distribution(obs)
        if rng is None:
            return np.tanh(mean).astype(np.float32)
        return np.tanh(mean + np.exp(log_std) * rng.standard_normal(mean.shape)).astype(np.float32)

    def astype(self, dtype) -> "TanhGaussianPolicy":
        """A copy with weights rounded to ``dtype`` (e.g. float16 for compact replay snapshots)."""
        cast = lambda wb: (wb[0].astype(dtype).astype(np.float64), wb[1].astype(dtype).astype(np.float64))  # noqa: E731
        return TanhGaussianPolicy([cast(l) for l in self.hidden], cast(self.mean), cast(self.log_std), dict(self.meta))

    def to_arrays(self, prefix: str = "", dtype=np.float32) -> dict[str, np.ndarray]:
        out = {}
        for i, (w, b) in enumerate(self.hidden):
            out[f"{prefix}hidden_{i}_w"], out[f"{prefix}hidden_{i}_b"] = w.astype(dtype), b.astype(dtype)
        out[f"{prefix}mean_w"], out[f"{prefix}mean_b"] = self.mean[0].astype(dtype), self.mean[1].astype(dtype)
        out[f"{prefix}log_std_w"], out[f"{prefix}log_std_b"] = (self.log_std[0].astype(dtype),
                                                                self.log_std[1].astype(dtype))
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str = "", meta: dict | None = None) -> "TanhGaussianPolicy":
        try:
            n = len([k for k in arrays if k.startswith(prefix + "hidden_") and k.endswith("_w")])
            f = lambda k: np.asarray(arrays[prefix + k], np.float64)  # noqa: E731
            hidden = [(f(f"hidden_{i}_w"), f(f"hidden_{i}_b")) for i in range(n)]
            return cls(hidden, (f("mean_w"), f("mean_b")), (f("log_std_w"), f("log_std_b")), dict(meta or {}))
        except KeyError as e:
            raise DataIntegrityError(f"policy weights lack {e}") from None

    @classmethod
    def from_flax(cls, params, obs_dim: int | None = None, act_dim: int | None = None) -> "TanhGaussianPolicy":
        """From :class:`offrl.algos.networks.TanhGaussianActor` params, cropping padded inputs/outputs."""
        mlp = params["MLP_0"]
        hidden = [(np.asarray(mlp[f"Dense_{i}"]["kernel"], np.float64), np.asarray(mlp[f"Dense_{i}"]["bias"], np.float64))
                  for i in range(len(mlp))]
        if obs_dim is not None:
            hidden[0] = (hidden[0][0][:obs_dim], hidden[0][1])
        heads = [(np.asarray(params[k]["kernel"], np.float64), np.asarray(params[k]["bias"], np.float64))
                 for k in ("Dense_0", "Dense_1")]
        if act_dim is not None:
            heads = [(w[:, :act_dim], b[:act_dim]) for w, b in heads]
        return cls(hidden, heads[0], heads[1])


def save_policies(path: str | Path, policies: dict[str, TanhGaussianPolicy], meta: dict | None = None,
                  dtypes: dict[str, Any] | None = None) -> None:
    """Write several named policies into one ``.npz`` (atomically), with JSON metadata."""
    import json

    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    for name, pol in policies.items():
        arrays.update(pol.to_arrays(prefix=f"{name}/", dtype=(dtypes or {}).get(name, np.float32)))
    arrays["__meta__"] = np.frombuffer(json.dumps(meta or {}).encode(), dtype=np.uint8)
    from offrl.atomic import atomic_file

    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_policies(path: str | Path) -> tuple[dict[str, TanhGaussianPolicy], dict]:
    """Read a file written by :func:`save_policies`: ({name: policy}, metadata)."""
    import json

    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode()) if "__meta__" in arrays else {}
    names = sorted({k.split("/", 1)[0] for k in arrays})
    return {n: TanhGaussianPolicy.from_arrays(arrays, prefix=f"{n}/", meta=meta.get("policies", {}).get(n))
            for n in names}, meta
