"""Probabilistic dynamics ensemble: the learned model that OER's experience selection (MBES) uses.

A JAX port of d3rlpy 1.1.1's ``ProbabilisticEnsembleDynamics`` as OER's code builds it
(``myd3rlpy/algos/torch/co_impl.py`` at the paper's revision calls d3rlpy's
``create_probabilistic_ensemble_dynamics_model``). It is a model, not a policy learner, so it is not in
the algorithm registry; the continual trainer calls it per task.

What it reproduces:

- ``members`` (5) independent Gaussian models of ``(s', r)`` given ``(s, a)``. Each member is d3rlpy's
  default encoder (``concat(s, a)`` -> ReLU MLP 256-256) with two linear heads, a mean and a log-std
  over ``obs_dim + 1`` outputs. The mean is a *delta* for the state (``s' = s + mu[:-1]``) and the reward
  itself (``r = mu[-1]``).
- The log-std is squashed between learned bounds: ``max - softplus(max - l)`` then
  ``min + softplus(l - min)``, with ``max`` initialised to 2 and ``min`` to -10, and the loss adds
  ``0.01 * (sum(max) - sum(min))`` so that the bounds tighten.
- Spectral normalisation (PyTorch's ``torch.nn.utils.spectral_norm``: one power iteration per training
  forward pass, the stored vectors as they are at prediction) on the hidden layers and the mean head,
  not on the log-std head.
- The loss of one member on one transition is d3rlpy's: :func:`gaussian_nll` (the Gaussian negative log
  likelihood without its constant) plus the bound term. Each member's per-transition losses are
  multiplied by a random 0/1 mask (d3rlpy's bootstrap masks), averaged over the batch, and the
  members' means are summed.
- PyTorch's initialisation of ``nn.Linear`` (weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
  and PyTorch's Adam, with weight decay, if any, added to the gradient (``torch.optim.Adam``'s coupled
  L2, not AdamW).

What is ours: a held-out validation split (its loss logged at every chunk), optional early stopping,
seeds as a vmapped leading axis (``jit(vmap_seeds(scan_steps))`` as :func:`offrl.train.make_chunk_fn`)
and members as a vmapped axis inside each network. See ``docs/oer.md`` for the defaults and why.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from offrl.algos import common
from offrl.algos.base import hp, transition_layout, validate_config
from offrl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class DynamicsConfig:
    """Hyperparameters of the dynamics ensemble and of its training on one task's data.

    Defaults are those of the model OER's code trains (its TD3+BC class builds d3rlpy's ensemble with
    ``model_learning_rate=1e-4``, ``model_optim_factory=AdamFactory()`` and the TD3+BC batch of 1024);
    d3rlpy's own standalone class would use lr 1e-3, weight decay 1e-4 and batch 100.
    """

    members: int = hp(5, "Gaussian models in the ensemble", min=2)
    hidden: tuple[int, ...] = hp((256, 256), "hidden layer sizes of each member (d3rlpy's default encoder)",
                                 positive_items=True)
    lr: float = hp(1e-4, "Adam learning rate (OER's model_learning_rate)", min=0, open_min=True)
    weight_decay: float = hp(0.0, "L2 weight decay added to the gradient as torch.optim.Adam does "
                                  "(OER's AdamFactory(): 0; d3rlpy's standalone class: 1e-4)", min=0)
    batch_size: int = hp(1024, "transitions per gradient step (OER trains the model with its TD3+BC batch)",
                         min=1)
    steps: int = hp(20_000, "gradient steps per task (OER: 500k; see docs/oer.md for why fewer suffice)", min=1)
    chunk: int = hp(1_000, "gradient steps per jitted call; the held-out loss is evaluated after each", min=1)
    holdout_fraction: float = hp(0.1, "share of the task's transitions held out for validation", min=0,
                                 max=0.5, open_min=True)
    max_holdout: int = hp(10_000, "cap on held-out transitions (the validation pass is one batch)", min=1)
    patience: int = hp(0, "stop when no seed's held-out NLL improved for this many evaluations and keep each "
                          "seed's best parameters; 0 trains for all steps and keeps the last", min=0)
    spectral_norm: bool = hp(True, "spectral normalisation of the hidden layers and the mean head (d3rlpy)")
    bootstrap_masks: bool = hp(True, "multiply each member's per-transition loss by a random 0/1 mask (d3rlpy)")
    max_logstd_init: float = hp(2.0, "initial learned upper bound of the log-std")
    min_logstd_init: float = hp(-10.0, "initial learned lower bound of the log-std")
    bound_loss_weight: float = hp(1e-2, "weight of sum(max_logstd) - sum(min_logstd) in the loss", min=0)
    progress: bool = hp(True, "show a progress bar while training")

    def __post_init__(self):
        validate_config(self)
        if self.steps % self.chunk:
            raise ConfigError(f"DynamicsConfig.steps={self.steps} must be a multiple of chunk={self.chunk}")
        if self.max_logstd_init <= self.min_logstd_init:
            raise ConfigError(f"DynamicsConfig.max_logstd_init={self.max_logstd_init} must exceed "
                              f"min_logstd_init={self.min_logstd_init}")


# ----------------------------------------------------------------------------------------- networks
def _torch_uniform(bound: float):
    """PyTorch ``nn.Linear``'s initialiser for weights and biases: U(-bound, bound), bound = 1/sqrt(fan_in)."""
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def _normalize(x):
    """``torch.nn.functional.normalize(x, dim=0, eps=1e-12)``."""
    return x / jnp.maximum(jnp.linalg.norm(x), 1e-12)


class _Linear(nn.Module):
    """``nn.Linear`` with PyTorch's initialisation and, given power-iteration vectors ``uv``, spectral
    normalisation as ``torch.nn.utils.spectral_norm`` applies it: with ``update`` one power iteration
    (no gradient through the vectors), then ``W / (u . W v)``. Returns the output and the vectors."""

    features: int

    @nn.compact
    def __call__(self, x, uv=None, update: bool = False):
        fan_in = x.shape[-1]
        init = _torch_uniform(1.0 / math.sqrt(fan_in))
        kernel = self.param("kernel", init, (fan_in, self.features))  # (in, out) = torch weight transposed
        bias = self.param("bias", init, (self.features,))
        if uv is None:
            return x @ kernel + bias, None
        u, v = uv
        if update:
            v = jax.lax.stop_gradient(_normalize(kernel @ u))    # W^T u
            u = jax.lax.stop_gradient(_normalize(v @ kernel))    # W v
        sigma = jnp.dot(u, v @ kernel)
        return x @ (kernel / sigma) + bias, (u, v)


class _Member(nn.Module):
    """One Gaussian model: ``(obs, act) -> (mean, log_std)`` of ``[s', r]``, the state mean as ``s + delta``."""

    obs_dim: int
    hidden: tuple[int, ...]
    max_logstd_init: float
    min_logstd_init: float
    update: bool = False

    @nn.compact
    def __call__(self, obs, act, sn):
        h = jnp.concatenate([obs, act], -1)
        new_sn = {}
        for i, width in enumerate(self.hidden):
            h, new_sn[f"fc{i}"] = _Linear(width, name=f"fc{i}")(h, sn.get(f"fc{i}"), self.update)
            h = nn.relu(h)
        out = self.obs_dim + 1
        mu, new_sn["mu"] = _Linear(out, name="mu")(h, sn.get("mu"), self.update)
        log_std, _ = _Linear(out, name="logstd")(h)
        hi = self.param("max_logstd", nn.initializers.constant(self.max_logstd_init), (out,))
        lo = self.param("min_logstd", nn.initializers.constant(self.min_logstd_init), (out,))
        log_std = hi - jax.nn.softplus(hi - log_std)
        log_std = lo + jax.nn.softplus(log_std - lo)
        mean = jnp.concatenate([obs + mu[..., :-1], mu[..., -1:]], -1)
        return mean, log_std, {k: v for k, v in new_sn.items() if v is not None}


class EnsembleNet(nn.Module):
    """``members`` :class:`_Member` networks vmapped over a leading member axis.

    ``__call__(obs, act, sn, update=False)`` with ``obs`` (B, obs_dim), ``act`` (B, act_dim) and ``sn``
    the spectral-norm vectors (member-leading; ``{}`` without spectral normalisation) returns
    ``mean, log_std`` of shape (members, B, obs_dim + 1) and the vectors after this pass.
    """

    obs_dim: int
    members: int
    hidden: tuple[int, ...]
    max_logstd_init: float
    min_logstd_init: float

    @nn.compact
    def __call__(self, obs, act, sn, update: bool = False):
        ens = nn.vmap(_Member, variable_axes={"params": 0}, split_rngs={"params": True},
                      in_axes=0, out_axes=0, axis_size=self.members)
        obs, act = (jnp.broadcast_to(x, (self.members, *x.shape)) for x in (obs, act))
        return ens(self.obs_dim, tuple(self.hidden), self.max_logstd_init, self.min_logstd_init, update,
                   name="members")(obs, act, sn)


@struct.dataclass
class DynamicsState:
    """One seed's ensemble (or, from :func:`init` with several keys, every seed's along a leading axis).

    ``net`` holds the parameters (member-leading) and the Adam state; ``sn`` the spectral-norm
    power-iteration vectors per layer (``{}`` without spectral normalisation).
    """

    net: common.TrainState
    sn: dict
    obs_dim: int = struct.field(pytree_node=False)
    act_dim: int = struct.field(pytree_node=False)


def _network(obs_dim: int, cfg: DynamicsConfig) -> EnsembleNet:
    return EnsembleNet(obs_dim, cfg.members, tuple(cfg.hidden), cfg.max_logstd_init, cfg.min_logstd_init)


def _init_sn(key, obs_dim: int, act_dim: int, cfg: DynamicsConfig) -> dict:
    """PyTorch's starting vectors: u, v ~ N(0, I), normalised, per member and normalised layer."""
    if not cfg.spectral_norm:
        return {}
    sizes = [obs_dim + act_dim, *cfg.hidden]
    layers = {f"fc{i}": (sizes[i + 1], sizes[i]) for i in range(len(cfg.hidden))}
    layers["mu"] = (obs_dim + 1, sizes[-1])
    out = {}
    for (name, (n_out, n_in)), k in zip(sorted(layers.items()), jax.random.split(key, len(layers))):
        ku, kv = jax.random.split(k)
        u = jax.vmap(_normalize)(jax.random.normal(ku, (cfg.members, n_out)))
        v = jax.vmap(_normalize)(jax.random.normal(kv, (cfg.members, n_in)))
        out[name] = (u, v)
    return out


def _optimizer(cfg: DynamicsConfig) -> optax.GradientTransformation:
    adam = common.adam(cfg.lr)
    # torch.optim.Adam(weight_decay=w) adds w * param to the gradient before the moments
    return optax.chain(optax.add_decayed_weights(cfg.weight_decay), adam) if cfg.weight_decay else adam


def _is_batch_of_keys(key) -> bool:
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key.ndim == 1
    return key.ndim == 2


def init(key, obs_dim: int, act_dim: int, cfg: DynamicsConfig = DynamicsConfig()) -> DynamicsState:
    """A fresh ensemble. ``key`` is one PRNG key (one seed's state) or a stack of keys (a state with a
    leading seed axis, one seed per key)."""
    if obs_dim < 1 or act_dim < 1:
        raise ConfigError(f"dynamics: obs_dim={obs_dim} and act_dim={act_dim} must be >= 1")
    if _is_batch_of_keys(key):
        return jax.vmap(lambda k: init(k, obs_dim, act_dim, cfg))(key)
    k_net, k_sn = jax.random.split(key)
    sn = _init_sn(k_sn, obs_dim, act_dim, cfg)
    net = common.make_state(k_net, _network(obs_dim, cfg), (jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)), sn),
                            _optimizer(cfg), update=False)
    # an array step (flax starts from the int 0): train() reads the seed axis from its shape
    return DynamicsState(net.replace(step=jnp.zeros((), jnp.int32)), sn, obs_dim, act_dim)


# ---------------------------------------------------------------------------------- predictions
def gaussian_nll(x, mean, log_std):
    """d3rlpy's per-sample Gaussian loss: ``0.5 * sum((x - mean)^2 / std^2) + sum(log_std)`` over the
    last axis (the negative log likelihood without its constant ``0.5 * log(2 pi)`` per dimension)."""
    return 0.5 * jnp.sum((mean - x) ** 2 * jnp.exp(-2.0 * log_std), -1) + jnp.sum(log_std, -1)


def ensemble_variance(predictions):
    """d3rlpy's ``variance_type="data"``: the members' unbiased variance of each predicted value (state
    and reward), summed. ``predictions`` is (members, B, obs_dim + 1); returns (B,)."""
    return jnp.sum(jnp.var(predictions, axis=0, ddof=1), -1)


def member_stats(state: DynamicsState, obs, act):
    """Every member's Gaussian over ``[s', r]`` for a batch: ``mean, log_std`` of shape
    (members, B, obs_dim + 1); ``mean[..., :obs_dim]`` is the next state (``s + delta``), ``mean[..., -1]``
    the reward. One seed's ``state``; prediction mode (spectral-norm vectors as stored)."""
    mean, log_std, _ = common.forward(state.net, jnp.asarray(obs, jnp.float32), jnp.asarray(act, jnp.float32),
                                      state.sn, False)
    return mean, log_std


def predict(state: DynamicsState, obs, act, member: int | None = None, key=None):
    """Predicted next states, rewards and the ensemble's disagreement for a batch of ``(obs, act)``.

    Returns ``(next_obs, reward, variance)``: with ``member=None`` every member's prediction along a
    leading member axis, (members, B, obs_dim) and (members, B); with ``member=i`` that member's, (B,
    obs_dim) and (B,). ``variance`` (B,) is :func:`ensemble_variance` over all members. Without ``key``
    the predictions are the members' means; with ``key`` each member draws one sample from its
    Gaussian, which is what d3rlpy's ``predict_with_variance`` (and so OER's code) returns.
    One seed's ``state``; vmap over a leading seed axis.
    """
    mean, log_std = member_stats(state, obs, act)
    pred = mean if key is None else mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    variance = ensemble_variance(pred)
    if member is not None:
        pred = pred[member]
    return pred[..., :-1], pred[..., -1], variance


def as_model(state: DynamicsState):
    """``state`` as the ``model(obs, act) -> (mean, log_std)`` function that offrl.continual.selection takes."""
    return lambda obs, act: member_stats(state, obs, act)


# ------------------------------------------------------------------------------------- training
def _loss(state: DynamicsState, params, batch, mask, cfg: DynamicsConfig):
    """Sum over members of the masked batch mean of d3rlpy's per-transition loss; aux: new vectors."""
    mean, log_std, sn = common.apply(state.net, params, batch["observations"], batch["actions"], state.sn, True)
    target = jnp.concatenate([batch["next_observations"], batch["rewards"][:, None]], -1)
    nll = gaussian_nll(target, mean, log_std)                                     # (members, B)
    bounds = params["members"]
    bound = jnp.sum(bounds["max_logstd"], -1) - jnp.sum(bounds["min_logstd"], -1)  # (members,)
    per_sample = nll + cfg.bound_loss_weight * bound[:, None]
    return jnp.sum(jnp.mean(per_sample * mask, axis=1)), (sn, jnp.mean(nll))


def _as_table(data, obs_dim: int, act_dim: int) -> np.ndarray:
    """The packed transition table of :func:`offrl.algos.base.default_prepare` from a dataset, a
    prepared ``{"table": ...}`` or a mapping of arrays; checks shapes and finiteness."""
    width = 2 * obs_dim + act_dim + 2
    if isinstance(data, Mapping) and "table" in data:
        table = np.asarray(data["table"], dtype=np.float32)
        if table.ndim != 2 or table.shape[1] != width:
            raise ConfigError(f"dynamics: the packed table has shape {table.shape}; obs_dim={obs_dim} and "
                              f"act_dim={act_dim} need (N, {width})")
    else:
        get = (lambda k: data[k]) if isinstance(data, Mapping) else (lambda k: getattr(data, k))
        try:
            cols = {k: np.asarray(get(k), dtype=np.float32) for k in
                    ("observations", "actions", "rewards", "next_observations")}
        except (KeyError, AttributeError) as e:
            raise ConfigError(f"dynamics: training data lacks {e}; give observations, actions, rewards and "
                              "next_observations, an OfflineDataset or a prepared {'table': ...}") from None
        n = len(cols["rewards"])
        want = {"observations": obs_dim, "actions": act_dim, "rewards": 1, "next_observations": obs_dim}
        for k, d in want.items():
            c = cols[k].reshape(len(cols[k]), -1)
            if len(c) != n or c.shape[1] != d:
                raise ConfigError(f"dynamics: {k} has shape {cols[k].shape}; expected ({n}, {d}) rows")
            cols[k] = c
        zeros = np.zeros((n, 1), np.float32)  # the terminations column, unused by the model
        table = np.concatenate([cols["observations"], cols["actions"], cols["rewards"],
                                cols["next_observations"], zeros], axis=1)
    if not np.isfinite(table).all():
        raise ConfigError("dynamics: the training data holds NaN or inf")
    return table


def _batch(table, rows, obs_dim: int, act_dim: int) -> dict:
    x = jnp.take(table, rows, axis=0)
    out = {k: x[:, s] for k, s in transition_layout(obs_dim, act_dim).items() if k != "terminations"}
    out["rewards"] = out["rewards"][:, 0]
    return out


def _split_sizes(n: int, cfg: DynamicsConfig) -> tuple[int, int]:
    n_hold = min(cfg.max_holdout, max(1, int(round(cfg.holdout_fraction * n))))
    if n - n_hold < 1:
        raise ConfigError(f"dynamics: {n} transitions are too few to hold {n_hold} out for validation")
    return n_hold, n - n_hold


def make_chunk_fn(obs_dim: int, act_dim: int, n: int, cfg: DynamicsConfig):
    """``jit(vmap_seeds(scan(cfg.chunk gradient steps)))`` followed by the held-out evaluation.

    Signature: ``(states, keys, perms, table) -> (states, keys, metrics)``; ``states``, ``keys`` and
    ``perms`` (each seed's row permutation: held-out rows first) carry a leading seed axis, ``table`` is
    shared. ``metrics`` per seed: the chunk's mean training loss and NLL, the held-out NLL and the
    squared errors of the ensemble-mean next state and reward.
    """
    n_hold, n_train = _split_sizes(n, cfg)

    def one_step(carry, _):
        state, key, perm, table = carry
        key, k_rows, k_mask = jax.random.split(key, 3)
        rows = perm[n_hold + jax.random.randint(k_rows, (cfg.batch_size,), 0, n_train)]
        batch = _batch(table, rows, obs_dim, act_dim)
        if cfg.bootstrap_masks:
            mask = jax.random.bernoulli(k_mask, 0.5, (cfg.members, cfg.batch_size)).astype(jnp.float32)
        else:
            mask = jnp.ones((cfg.members, cfg.batch_size), jnp.float32)
        net, loss, (sn, nll) = common.grad_step(state.net, lambda p: _loss(state, p, batch, mask, cfg))
        return (state.replace(net=net, sn=sn), key, perm, table), (loss, nll)

    def validate(state, perm, table):
        b = _batch(table, perm[:n_hold], obs_dim, act_dim)
        mean, log_std = member_stats(state, b["observations"], b["actions"])
        target = jnp.concatenate([b["next_observations"], b["rewards"][:, None]], -1)
        avg = jnp.mean(mean, 0)
        return {"val/nll": jnp.mean(gaussian_nll(target, mean, log_std)),
                "val/obs_mse": jnp.mean((avg[:, :-1] - target[:, :-1]) ** 2),
                "val/reward_mse": jnp.mean((avg[:, -1] - target[:, -1]) ** 2)}

    def chunk(state, key, perm, table):
        (state, key, _, _), (loss, nll) = jax.lax.scan(one_step, (state, key, perm, table), None, length=cfg.chunk)
        return state, key, {"train/loss": jnp.mean(loss), "train/nll": jnp.mean(nll), **validate(state, perm, table)}

    return jax.jit(jax.vmap(chunk, in_axes=(0, 0, 0, None)))


@jax.jit
def _keep_best(best, state, improved):
    return jax.tree_util.tree_map(
        lambda b, s: jnp.where(improved.reshape((-1,) + (1,) * (s.ndim - 1)), s, b), best, state)


def train(state: DynamicsState, data, key, cfg: DynamicsConfig = DynamicsConfig()):
    """Train the ensemble on one task's transitions for ``cfg.steps`` gradient steps per seed.

    ``state`` comes from :func:`init` (with or without a leading seed axis). ``data`` is an
    :class:`~offrl.datasets.OfflineDataset`, a mapping with ``observations, actions, rewards,
    next_observations``, or the packed ``{"table": ...}`` of ``algo.prepare``; give it in the observation
    space the model will be used in (OER's code used raw observations). ``key`` is one key (split per
    seed) or one key per seed. Each seed holds out its own random ``holdout_fraction`` of the rows
    (at most ``max_holdout``) and trains on the rest with uniform batches.

    Returns ``(state, log)``; ``log`` holds numpy arrays with one row per evaluation (every
    ``cfg.chunk`` steps) and one column per seed (no seed axis if ``state`` had none): ``step``,
    ``train/loss``, ``train/nll``, ``val/nll``, ``val/obs_mse``, ``val/reward_mse``, plus ``best_step``
    (per seed, the step of the lowest held-out NLL) and ``stopped_step`` (where training ended). With
    ``cfg.patience`` each seed's best parameters are returned, else the last ones.
    """
    single = state.net.step.ndim == 0
    if single:
        state = jax.tree_util.tree_map(lambda x: x[None], state)
    n_seeds = state.net.step.shape[0]
    keys = key if _is_batch_of_keys(key) else jax.random.split(key, n_seeds)
    if len(keys) != n_seeds:
        raise ConfigError(f"dynamics.train: {len(keys)} keys for {n_seeds} seeds")
    table = _as_table(data, state.obs_dim, state.act_dim)
    n = len(table)
    _split_sizes(n, cfg)
    keys, perm_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(perm_keys).astype(jnp.int32)
    table = jax.device_put(table)
    chunk_fn = make_chunk_fn(state.obs_dim, state.act_dim, n, cfg)

    rows: list[dict] = []
    best_val = np.full(n_seeds, np.inf)
    best_step = np.zeros(n_seeds, np.int64)
    best_state = state
    step = 0
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, desc="dynamics ensemble", unit="step", dynamic_ncols=True, leave=False)
    try:
        while step < cfg.steps:
            state, keys, metrics = chunk_fn(state, keys, perms, table)
            step += cfg.chunk
            m = {k: np.asarray(v) for k, v in metrics.items()}
            rows.append({"step": np.full(n_seeds, step), **m})
            val = m["val/nll"]
            if not np.isfinite(val).all():
                raise ConfigError(f"dynamics: the held-out loss became non-finite at step {step} "
                                  f"(seeds {np.flatnonzero(~np.isfinite(val)).tolist()}); lower the learning rate")
            improved = val < best_val
            best_val = np.where(improved, val, best_val)
            best_step = np.where(improved, step, best_step)
            if cfg.patience:
                best_state = _keep_best(best_state, state, jnp.asarray(improved))
            if bar is not None:
                bar.update(cfg.chunk)
                bar.set_postfix(val_nll=f"{val.mean():.3f}")
            if cfg.patience and np.all((step - best_step) >= cfg.patience * cfg.chunk):
                break
    finally:
        if bar is not None:
            bar.close()
    if cfg.patience:
        state = best_state
    log = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    log["best_step"] = best_step
    log["stopped_step"] = np.full(n_seeds, step)
    if single:
        state = jax.tree_util.tree_map(lambda x: x[0], state)
        log = {k: v[..., 0] for k, v in log.items()}
    return state, log


__all__ = ["DynamicsConfig", "DynamicsState", "EnsembleNet", "as_model", "ensemble_variance", "gaussian_nll",
           "init", "make_chunk_fn", "member_stats", "predict", "train"]
