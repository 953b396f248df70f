"""Quadratic-anchor regularisation: L2 to the previous task's parameters, and EWC.

Both keep, for every trained network of the learner (actor, critic, value), an anchor (the parameters at
the end of the previous task) and per-parameter weights, and add ``coef * sum(weight * (theta -
anchor)^2)`` to every loss the base learner optimises that network with (:func:`anchor_penalty`,
chained in front of the network's optimiser). They differ only in the weights:

- ``l2``: weight 1 for every parameter (Continual World's L2 baseline); the output heads of tasks
  not trained yet get weight 0 (multi-head networks: :func:`head_mask`).
- ``ewc``: the diagonal Fisher information (Kirkpatrick et al. 2017), summed over the tasks seen so
  far, with the anchor moved to the latest parameters (the usual continual-RL form; Continual World's
  EWC). Each network's outputs are read as the means of unit-variance Gaussians (actions for the actor,
  Q-values for the critic), so the Fisher diagonal is E_s[sum_j (d f_j(s) / d theta)^2] over the task's
  data, from per-sample Jacobians on ``fisher_samples`` rows.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from offrl.algos import common
from offrl.algos.base import hp
from offrl.continual.methods.base import (NETWORK_INPUTS, Method, anchor_of, anchor_penalty_value, base_update,
                                          head_mask, register, rows_to_batch, set_anchor, trained_networks,
                                          with_anchor)


@dataclasses.dataclass(frozen=True)
class L2Config:
    """L2 to the previous task's parameters."""

    coef: float = hp(1.0, "penalty coefficient: coef * sum((theta - theta_prev)^2) per network", min=0)


@dataclasses.dataclass(frozen=True)
class EWCConfig:
    """Elastic weight consolidation with a diagonal Fisher."""

    coef: float = hp(100.0, "penalty coefficient: coef * sum(F * (theta - theta_prev)^2) per network", min=0)
    fisher_samples: int = hp(1024, "dataset rows the Fisher diagonal is averaged over at the end of a task", min=1)
    fisher_chunk: int = hp(64, "rows per batched Jacobian (memory: chunk x outputs x parameters floats)", min=1)


def _prepare(ctx, mcfg, learner):
    return learner.replace(**{n: with_anchor(getattr(learner, n), mcfg.coef) for n in trained_networks(learner)})


def _make_update(ctx, mcfg, k):
    update = base_update(ctx)

    def with_penalty_metric(cfg, state, batch, key):
        state, metrics = update(cfg, state, batch, key)
        for n in trained_networks(state.learner):
            metrics[f"reg/{n}_penalty"] = anchor_penalty_value(getattr(state.learner, n), mcfg.coef)
        return state, metrics

    return with_penalty_metric


def _end_task_l2(ctx, mcfg, state, k, data, key):
    learner = state.learner
    for n in trained_networks(learner):
        ts = getattr(learner, n)
        learner = learner.replace(**{n: set_anchor(ts, ts.params, head_mask(ts.params, k))})
    return state.replace(learner=learner)


def fisher_diagonal(ctx, ts: common.TrainState, inputs_of, rows, chunk: int):
    """E over ``rows`` of sum over outputs of (d output / d params)^2, by batched per-sample Jacobians."""
    batch = rows_to_batch(ctx, rows)
    inputs = inputs_of(batch)
    n = rows.shape[0] // chunk * chunk

    def outputs(params, *x):
        out = common.apply(ts, params, *(xi[None] for xi in x))
        return jnp.concatenate([jnp.ravel(o) for o in jax.tree_util.tree_leaves(out)])

    def chunk_sum(xs):
        jac = jax.vmap(jax.jacrev(outputs), in_axes=(None, *([0] * len(xs))))(ts.params, *xs)
        return jax.tree_util.tree_map(lambda j: jnp.sum(j**2, axis=(0, 1)), jac)

    chunks = tuple(x[:n].reshape(n // chunk, chunk, *x.shape[1:]) for x in inputs)
    sums = jax.lax.map(chunk_sum, chunks)
    return jax.tree_util.tree_map(lambda s: jnp.sum(s, axis=0) / n, sums)


def _end_task_ewc(ctx, mcfg, state, k, data, key):
    table = data["table"]
    rows = jnp.take(table, jax.random.randint(key, (max(mcfg.fisher_samples, mcfg.fisher_chunk),), 0,
                                              table.shape[0]), axis=0)
    learner = state.learner
    for n in trained_networks(learner):
        ts = getattr(learner, n)
        fisher = fisher_diagonal(ctx, ts, NETWORK_INPUTS[n], rows, mcfg.fisher_chunk)
        weight = jax.tree_util.tree_map(jnp.add, anchor_of(ts).weight, fisher)
        learner = learner.replace(**{n: set_anchor(ts, ts.params, weight)})
    return state.replace(learner=learner)


L2 = register(Method("l2", L2Config, "L2 penalty to the previous task's parameters (all trained networks)",
                     prepare_learner=_prepare, make_update=_make_update, end_task=_end_task_l2))
EWC = register(Method("ewc", EWCConfig, "elastic weight consolidation: diagonal-Fisher penalty, Fisher summed over tasks",
                      prepare_learner=_prepare, make_update=_make_update, end_task=_end_task_ewc))
