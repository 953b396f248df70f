"""The algorithm interface: pure functions over pytrees, found through one registry.

An :class:`Algorithm` bundles a frozen config dataclass with pure functions. The trainer
(:mod:`offrl.train`) never branches on algorithm names; it calls these functions inside
``jit(vmap(scan(...)))``, so every function must be traceable and free of Python side effects.

Conventions:
- ``init(key, spec, cfg) -> state``: one seed's state (params, optimiser states, targets, step).
- ``sample(cfg, data, key, spec) -> batch``: draws one update's batch (``cfg.batch_size`` rows) from the
  device-resident ``data`` returned by ``prepare``; runs inside the jit, so there is no host round trip per step.
- ``update(cfg, state, batch, key) -> (state, metrics)``: one call = ``cfg.steps_per_call`` gradient
  steps (TD3's policy delay is written as trace-time structure: two critic steps then one actor step).
  Metrics are flat dicts with namespaced keys (``critic/loss``).
- ``act(cfg, state, carry, obs, prev_reward, key) -> (action, carry)``: deterministic evaluation
  action for a batch of observations. ``carry`` is per-env policy memory (a Decision Transformer's
  context window; ``()`` for MLP policies); ``prev_reward`` is the reward of the previous env step.
- ``init_carry(cfg, state, n, variant) -> carry``: fresh policy memory for ``n`` envs under one
  evaluation variant (e.g. one target return); ``eval_variants(cfg)`` lists the variants, the
  first being the headline one reported as the run's score.
- ``bind_data(cfg, state, data) -> state``: put constants derived from the prepared data into a
  fresh state once (e.g. MO-DT's k-means region codebook); identity by default.
- ``resolve(cfg, spec) -> cfg``: fill dataset-dependent defaults (e.g. a Decision Transformer's
  per-env target returns) once the dataset is known; identity by default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from offrl.errors import ConfigError
from offrl.registry import Registry

PyTree = Any


def default_init_carry(cfg, state, n: int, variant: Mapping[str, Any]):
    """MLP policies carry no memory between steps."""
    return ()


def default_eval_variants(cfg) -> list[tuple[str, dict]]:
    return [("default", {})]


def default_resolve(cfg, spec):
    return cfg


def default_bind_data(cfg, state, data):
    return state


def default_prepare(dataset, cfg) -> dict[str, np.ndarray]:
    """Pack transitions into one float32 matrix so that a batch is a single gather.

    Columns: observations | actions | rewards | next_observations | terminations (as 0/1).
    ``layout`` records the column slices (static Python ints, fixed at trace time).
    """
    obs = dataset.observations.reshape(len(dataset), -1)
    nxt = dataset.next_observations.reshape(len(dataset), -1)
    act = dataset.actions.reshape(len(dataset), -1)
    cols = [obs, act, dataset.rewards[:, None], nxt, dataset.terminations[:, None]]
    return {"table": np.concatenate([c.astype(np.float32, copy=False) for c in cols], axis=1)}


def transition_layout(obs_dim: int, act_dim: int) -> dict[str, slice]:
    """Column slices of the packed transition table built by :func:`default_prepare`."""
    o, a = obs_dim, act_dim
    return {"observations": slice(0, o), "actions": slice(o, o + a), "rewards": slice(o + a, o + a + 1),
            "next_observations": slice(o + a + 1, 2 * o + a + 1), "terminations": slice(2 * o + a + 1, 2 * o + a + 2)}


def sample_transitions(data: Mapping[str, Any], key, batch_size: int, obs_dim: int, act_dim: int,
                       leading: tuple[int, ...] = ()) -> dict[str, Any]:
    """Uniformly sample rows of the packed table with one gather; ``leading`` adds batch axes."""
    import jax
    import jax.numpy as jnp

    table = data["table"]
    idx = jax.random.randint(key, (*leading, batch_size), 0, table.shape[0])
    rows = jnp.take(table, idx, axis=0)
    lay = transition_layout(obs_dim, act_dim)
    batch = {k: rows[..., s] for k, s in lay.items()}
    batch["rewards"] = batch["rewards"][..., 0]
    batch["terminations"] = batch["terminations"][..., 0]
    return batch


def sample_uniform(cfg, data: Mapping[str, Any], key, spec) -> dict[str, Any]:
    """The default ``sample``: ``cfg.batch_size`` uniform rows of the packed transition table."""
    return sample_transitions(data, key, cfg.batch_size, int(np.prod(spec.obs_shape)),
                              int(np.prod(spec.action_shape)))


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """A registered offline-RL algorithm (see the module docstring for each function's contract)."""

    name: str
    config_cls: type
    init: Callable[..., PyTree]
    update: Callable[..., tuple[PyTree, dict]]
    act: Callable[..., tuple[Any, PyTree]]
    sample: Callable[..., PyTree] = sample_uniform
    prepare: Callable[..., dict] = default_prepare
    init_carry: Callable[..., PyTree] = default_init_carry
    eval_variants: Callable[..., list] = default_eval_variants
    resolve: Callable[..., Any] = default_resolve
    bind_data: Callable[..., PyTree] = default_bind_data
    description: str = ""

    def make_config(self, **overrides) -> Any:
        """The default config with ``overrides`` applied and validated (errors name the field; an unknown
        name is answered with close matches and the algorithm's hyperparameter names)."""
        # the names are listed as well: without them a name with no close match left the user nowhere to look
        return build_config(self.config_cls, overrides, f"{self.name}: unknown hyperparameter(s)", list_known=True,
                            owner=self.name, known_label=f"{self.name} hyperparameters")


ALGORITHMS: Registry[Algorithm] = Registry(
    "algorithm", unknown_hint="one of your own is known once its module is named in OFFRL_PLUGINS: docs/extending.md")


def register(algo: Algorithm) -> Algorithm:
    """Add ``algo`` to :data:`ALGORITHMS` under ``algo.name``."""
    return ALGORITHMS.register(algo.name, algo)


def build_config(config_cls: type, overrides: dict, unknown_message: str, list_known: bool = False,
                 owner: str | None = None, known_label: str = "options"):
    """``config_cls(**overrides)``, validated; unknown names raise one :class:`ConfigError` that starts
    with ``unknown_message`` and suggests close names (and, with ``list_known``, then lists every name
    after ``known_label``); a value out of range names ``owner.field`` (``td3bc.alpha``), else the config
    class's field."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        from offrl.errors import suggest

        hints = {u: suggest(u, fields) for u in unknown}
        raise ConfigError(f"{unknown_message} " + ", ".join(
            f"{u!r}" + (f" (did you mean {hints[u][0]!r}?)" if hints[u] else "") for u in unknown)
            + (f"; {known_label}: {sorted(fields) or 'none'}" if list_known else ""))
    defaults = {f.name: f.default for f in dataclasses.fields(config_cls)}
    fixed = [k for k in FIXED_FIELDS if k in overrides and overrides[k] != defaults.get(k)]
    if fixed:
        raise ConfigError(f"{owner or config_cls.__qualname__}.{fixed[0]}={overrides[fixed[0]]!r}: fixed by the "
                          f"algorithm ({defaults[fixed[0]]}: the gradient steps one update call makes), not a "
                          "hyperparameter; the trainer counts steps by it, so another value would train another "
                          "number of steps than the run says")
    cfg = config_cls(**overrides)
    validate_config(cfg, owner)
    return cfg


FIXED_FIELDS = ("steps_per_call",)
"""Config fields an algorithm fixes (its own structure, not a setting): given with another value than the
default they are refused, and ``--list-hp`` does not list them."""


def validate_config(cfg, owner: str | None = None) -> None:
    """Check a config dataclass against the constraints in its fields' metadata.

    Fields declare constraints as ``metadata={"min": 0, "max": 1, "open_min": True, "choices": (...)}``
    (see :func:`hp`). The error names the field, its value and the allowed range.
    """
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        m = f.metadata
        name = f"{owner or type(cfg).__qualname__}.{f.name}"
        if "choices" in m and v not in m["choices"]:
            raise ConfigError(f"{name}={v!r} is not one of {list(m['choices'])}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if not np.isfinite(v):
                raise ConfigError(f"{name}={v!r} must be finite")
            lo, hi = m.get("min"), m.get("max")
            if lo is not None and (v < lo or (m.get("open_min") and v == lo)):
                raise ConfigError(f"{name}={v!r} must be {'>' if m.get('open_min') else '>='} {lo}")
            if hi is not None and v > hi:
                raise ConfigError(f"{name}={v!r} must be <= {hi}")
        if m.get("positive_items") and any(x <= 0 for x in v):
            raise ConfigError(f"{name}={v!r}: every entry must be > 0")


def hp(default, doc: str = "", **constraints):
    """A config field with a default, a docstring-like help text and validation constraints."""
    return dataclasses.field(default=default, metadata={"help": doc, **constraints})


COMPUTE_DTYPES = ("float32", "bfloat16")


def compute_dtype_hp(default: str = "float32"):
    """The ``compute_dtype`` field every network-based config shares: the dtype of the matrix products.

    ``bfloat16`` runs them on the GPU's tensor cores at full rate; parameters, optimiser states,
    normalisations and losses stay float32. On CPU it is slower, not faster.
    """
    return hp(default, "matmul dtype of the networks (params, optimiser and losses stay float32)",
              choices=COMPUTE_DTYPES)


def first_moment_dtype_hp(default: str = "float32"):
    """The ``first_moment_dtype`` field of the MLP-based configs: storage dtype of Adam's first moment.

    ``bfloat16`` halves that state's memory traffic; the second moment stays float32 (its 0.999 decay
    is below bfloat16's resolution).
    """
    return hp(default, "storage dtype of Adam's first moment", choices=COMPUTE_DTYPES)


def flat_optimizer_hp(default: bool = False):
    """The ``flat_optimizer`` field every network-based config shares (see ``common.adam``)."""
    return hp(default, "run the optimiser on one flat parameter vector (same arithmetic, fewer GPU kernels)")
